"""Streaming, atomic GeoTIFF writer with the georeferencing of the input copied exactly.

Blocks are written as they are finished into a temporary *uncompressed* tiled GeoTIFF in the target's
folder (random-access writes of any rectangle, no recompression of partly written blocks), flushed from
GDAL's block cache as they go so memory stays bounded. :meth:`GeoTiffWriter.commit` then copies it strip
by strip into a compressed second temporary file (DEFLATE, 256 x 256 tiles, horizontal or floating-point
predictor; BigTIFF when needed), puts the colour table and category names into its ``.aux.xml`` sidecar,
and renames both over the target, with the layer's QGIS style (``<stem>.qml``) when the spec has one. A
failed or cancelled run calls :meth:`GeoTiffWriter.abort`: the temporary files go and an existing target is
untouched. Temporary files are named after their owner process; the temporaries of killed runs are removed
by the next writer into the folder (:mod:`.temporaries`).

The colour table is kept in the ``.aux.xml`` rather than in the TIFF: a TIFF colour map of a Byte raster
always has 256 entries (GDAL reads them all, and QGIS would list them all in the legend), while GDAL's
sidecar keeps exactly one entry per value in use (nodata and the classes); GDAL readers prefer it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import RasterError
from .qml import style_path
from .temporaries import create_temporary, remove_stale_temporaries
from .tiles import Window

if TYPE_CHECKING:
    from types import TracebackType

    import numpy as np

BLOCK_SIZE = 256
COMPRESS = "DEFLATE"


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """``path`` made absolute, once its folder exists and is writable; :class:`RasterError` if not."""
    target = Path(path).absolute()
    folder = target.parent
    if target.is_dir():
        raise RasterError(f"output path is a folder: {target}")
    if not folder.is_dir():
        raise RasterError(f"output folder does not exist: {folder}")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise RasterError(f"output folder is not writable: {folder} ({exc.strerror})") from None
    return target


@dataclass(frozen=True)
class Georeference:
    """Where a raster lies: geotransform (rotation terms included), CRS, or ground control points."""

    geotransform: tuple[float, ...] | None
    projection: str
    gcps: tuple[Any, ...] = ()
    gcp_projection: str = ""

    @classmethod
    def of(cls, dataset: Any, window: Window | None = None) -> Georeference:
        """The georeferencing of ``dataset``, moved to the top-left corner of ``window`` if given."""
        geotransform = dataset.GetGeoTransform(can_return_null=True)
        gcps = tuple(dataset.GetGCPs() or ())
        if window is not None and (window.x or window.y):
            if geotransform is not None:
                g = geotransform
                geotransform = (
                    g[0] + window.x * g[1] + window.y * g[2],
                    g[1],
                    g[2],
                    g[3] + window.x * g[4] + window.y * g[5],
                    g[4],
                    g[5],
                )
            gcps = tuple(_shift_gcp(gcp, window) for gcp in gcps)
        return cls(
            tuple(geotransform) if geotransform is not None else None,
            dataset.GetProjection() or "",
            gcps,
            dataset.GetGCPProjection() or "",
        )

    def apply(self, dataset: Any) -> None:
        """Set this georeferencing on a dataset open for writing."""
        if self.geotransform is not None:
            dataset.SetGeoTransform(self.geotransform)
        if self.projection:
            dataset.SetProjection(self.projection)
        if self.gcps and self.geotransform is None:
            dataset.SetGCPs(list(self.gcps), self.gcp_projection)


def _shift_gcp(gcp: Any, window: Window) -> Any:
    """A copy of a GDAL ground control point with its pixel/line moved into ``window``'s frame."""
    from osgeo import gdal

    return gdal.GCP(
        gcp.GCPX, gcp.GCPY, gcp.GCPZ, gcp.GCPPixel - window.x, gcp.GCPLine - window.y, gcp.Info, gcp.Id
    )


@dataclass(frozen=True)
class RasterSpec:
    """What an output raster holds: band count, GDAL data type name, nodata, labels of values and bands."""

    band_count: int
    data_type: str  # GDAL name: "Byte", "Float32"
    nodata: float | None = None
    metadata: Mapping[str, str] | None = None
    colors: Sequence[tuple[int, int, int, int]] | None = None  # colour table entries from value 0
    category_names: Sequence[str] | None = None  # from value 0
    band_descriptions: Sequence[str] | None = None
    style: str | None = None  # QGIS style (QML text) written beside the target


class GeoTiffWriter:
    """Write a raster block by block, then compress and rename it over the target (module docstring)."""

    def __init__(
        self, path: str | os.PathLike[str], width: int, height: int, spec: RasterSpec, georef: Georeference
    ) -> None:
        from osgeo import gdal

        self.target = check_output_path(path)
        self.spec = spec
        remove_stale_temporaries(self.target.parent)
        self._raw = create_temporary(self.target, ".raw.tif")
        self._final = create_temporary(self.target, ".tif")
        gdal_type = gdal.GetDataTypeByName(spec.data_type)
        options = [
            "TILED=YES",
            f"BLOCKXSIZE={BLOCK_SIZE}",
            f"BLOCKYSIZE={BLOCK_SIZE}",
            "BIGTIFF=IF_SAFER",
            "SPARSE_OK=TRUE",
            "INTERLEAVE=BAND",
        ]
        self._dataset = gdal.GetDriverByName("GTiff").Create(
            str(self._raw), width, height, spec.band_count, gdal_type, options
        )
        if self._dataset is None:
            self.abort()
            raise RasterError(
                f"cannot create a temporary raster in {self.target.parent}: {gdal.GetLastErrorMsg()}"
            )
        self._georef = georef
        georef.apply(self._dataset)

    def _describe(self, dataset: Any) -> None:
        """Nodata, band descriptions and metadata of the final raster."""
        spec = self.spec
        if spec.metadata:
            dataset.SetMetadata({str(k): str(v) for k, v in spec.metadata.items()})
        for index in range(spec.band_count):
            band = dataset.GetRasterBand(index + 1)
            if spec.nodata is not None:
                band.SetNoDataValue(spec.nodata)
            if spec.band_descriptions:
                band.SetDescription(spec.band_descriptions[index])

    def _describe_classes(self) -> None:
        """Colour table and category names of band 1 into the final raster's ``.aux.xml`` (module docstring).

        The raster is opened read-only, so GDAL keeps them in the sidecar rather than in the TIFF.
        """
        from osgeo import gdal

        spec = self.spec
        if not spec.colors and not spec.category_names:
            return
        dataset = gdal.Open(str(self._final), gdal.GA_ReadOnly)
        if dataset is None:
            raise RasterError(f"cannot write {self.target}: {gdal.GetLastErrorMsg()}")
        band = dataset.GetRasterBand(1)
        if spec.colors:
            table = gdal.ColorTable()
            for value, color in enumerate(spec.colors):
                table.SetColorEntry(value, tuple(color))
            band.SetRasterColorTable(table)
            band.SetRasterColorInterpretation(gdal.GCI_PaletteIndex)
        if spec.category_names:
            band.SetCategoryNames(list(spec.category_names))
        band = None
        dataset = None

    def write(self, window: Window, array: np.ndarray) -> None:
        """Write ``array`` (``(bands, h, w)``, or ``(h, w)`` for one band) at ``window``."""
        data = array if array.ndim == 3 else array[None]
        for index in range(self.spec.band_count):
            band = self._dataset.GetRasterBand(index + 1)
            if band.WriteArray(data[index], window.x, window.y) != 0:
                raise RasterError(f"cannot write to {self._raw}: disk full or file not writable")

    def flush(self) -> None:
        """Write GDAL's cached blocks to disk and drop them from memory."""
        self._dataset.FlushCache()

    def commit(self) -> Path:
        """Compress into the final file and rename it over the target; returns the target path."""
        try:
            self._compress()
            self._describe_classes()
            os.replace(self._final, self.target)
            aux = Path(f"{self._final}.aux.xml")
            target_aux = Path(f"{self.target}.aux.xml")
            if aux.exists():
                os.replace(aux, target_aux)
            else:
                target_aux.unlink(missing_ok=True)
            if self.spec.style is not None:
                self._write_style()
        except BaseException:
            self.abort()
            raise
        self._remove(self._raw)
        return self.target

    def _compress(self) -> None:
        """Copy the temporary raster into the compressed one, one strip of whole blocks at a time.

        Each strip is flushed out of GDAL's block cache on both sides (``gdal.Translate`` would let the
        cache grow to its maximum, by default 5 % of RAM), so memory stays at one strip.
        """
        from osgeo import gdal

        raw, width, height = self._dataset, self._dataset.RasterXSize, self._dataset.RasterYSize
        raw.FlushCache()
        predictor = 3 if self.spec.data_type.startswith("Float") else 2
        options = [
            f"COMPRESS={COMPRESS}",
            f"PREDICTOR={predictor}",
            "TILED=YES",
            f"BLOCKXSIZE={BLOCK_SIZE}",
            f"BLOCKYSIZE={BLOCK_SIZE}",
            "BIGTIFF=IF_SAFER",
            "NUM_THREADS=ALL_CPUS",
        ]
        final = gdal.GetDriverByName("GTiff").Create(
            str(self._final),
            width,
            height,
            self.spec.band_count,
            gdal.GetDataTypeByName(self.spec.data_type),
            options,
        )
        if final is None:
            raise RasterError(f"cannot write {self.target}: {gdal.GetLastErrorMsg()}")
        self._georef.apply(final)
        self._describe(final)
        for index in range(1, self.spec.band_count + 1):
            source, target = raw.GetRasterBand(index), final.GetRasterBand(index)
            for y in range(0, height, BLOCK_SIZE):
                rows = min(BLOCK_SIZE, height - y)
                if target.WriteArray(source.ReadAsArray(0, y, width, rows), 0, y) != 0:
                    raise RasterError(f"cannot write {self.target}: disk full or file not writable")
                final.FlushCache()
                raw.FlushCache()
        final = None
        self._dataset = None

    def _write_style(self) -> None:
        """The spec's QGIS style, renamed into place as ``<stem>.qml`` beside the target."""
        style = create_temporary(self.target, ".qml")
        try:
            style.write_text(self.spec.style or "", encoding="utf-8")
            os.replace(style, style_path(self.target))
        except BaseException:
            style.unlink(missing_ok=True)
            raise

    def abort(self) -> None:
        """Remove the temporary files; the target is left as it was."""
        self._dataset = None
        for name in (getattr(self, "_raw", None), getattr(self, "_final", None)):
            if name is not None:
                self._remove(name)

    @staticmethod
    def _remove(name: Path) -> None:
        """Delete a temporary file and its sidecar, if present."""
        for path in (name, Path(f"{name}.aux.xml")):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def __enter__(self) -> GeoTiffWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Abort on an exception; the caller commits explicitly on success."""
        if exc_type is not None:
            self.abort()


def read_class_table(path: str | os.PathLike[str]) -> tuple[list[str], list[tuple[int, int, int]]]:
    """Class names and colours of a classified raster written by this module (value k+1 = class k).

    The inverse of the output contract: GDAL category names and colour table of band 1, without the
    entry for value 0 (nodata). The colour table is read first: GDAL 3.6 loads the ``.aux.xml`` category
    names lazily and only returns them once the colour table has been touched.
    """
    from osgeo import gdal

    dataset = gdal.OpenEx(str(path), gdal.OF_RASTER)
    if dataset is None:
        raise RasterError(f"cannot open classified raster: {path}")
    band = dataset.GetRasterBand(1)
    table = band.GetColorTable()
    names = list(band.GetCategoryNames() or [])[1:]
    if table is None or not names:
        raise RasterError(f"not a classified raster (no colour table or class names): {path}")
    colors = [tuple(table.GetColorEntry(value + 1)[:3]) for value in range(len(names))]
    return names, colors
