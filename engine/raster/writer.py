"""Streaming, atomic GeoTIFF writer with the georeferencing of the input copied exactly.

Blocks are written as they are finished into a temporary *uncompressed* tiled GeoTIFF in the target's
folder (random-access writes of any rectangle, no recompression of partly written blocks), flushed from
GDAL's block cache as they go so memory stays bounded. As soon as every row of a strip of whole blocks is
final (:meth:`GeoTiffWriter.compress_rows`, called by the pipeline's writing thread) the strip is copied into
a compressed second temporary file (DEFLATE, 256 x 256 tiles, horizontal or floating-point predictor;
BigTIFF when needed), so compression overlaps the run instead of following it. :meth:`GeoTiffWriter.commit`
copies what is left, puts the colour table and category names into the ``.aux.xml`` sidecar, and renames
both over the target, with the layer's QGIS style (``<stem>.qml``) when the spec has one. A
failed or cancelled run calls :meth:`GeoTiffWriter.abort`: the temporary files go and an existing target is
untouched. Temporary files are named after their owner process; the temporaries of killed runs are removed
by the next writer into the folder (:mod:`.temporaries`).

The colour table is kept in the ``.aux.xml`` rather than in the TIFF: a TIFF colour map of a Byte raster
always has 256 entries (GDAL reads them all, and QGIS would list them all in the legend), while GDAL's
sidecar keeps exactly one entry per value in use (nodata and the classes); GDAL readers prefer it.

Every GDAL call that writes runs under :func:`gdal_failures`: GDAL's errors are collected quietly (QGIS shares
the interpreter, so GDAL's global exceptions stay off) and the first one stops the run with one line, "no
space left on <folder> (needs about N MB)" for a full disk. :func:`check_free_space` compares the free space
of the output folders with :func:`disk_needs` before a run starts.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
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
NO_SPACE = "No space left on device"  # strerror(ENOSPC), as GDAL's file layer reports it
MB = 1024 * 1024


def raster_bytes(width: int, height: int, bands: int, data_type: str) -> int:
    """Uncompressed size of a raster: what its temporary file takes on disk at most."""
    from osgeo import gdal

    return width * height * bands * gdal.GetDataTypeSize(gdal.GetDataTypeByName(data_type)) // 8


def disk_needs(outputs: Iterable[tuple[Path, int]]) -> dict[Path, int]:
    """Peak bytes on the file system of each output ``(target, uncompressed size)`` of one run.

    Every output's uncompressed temporary file and its compressed copy (compressed <= uncompressed) grow side
    by side during the run (:meth:`GeoTiffWriter.compress_rows`), so the peak of a file system is twice the sum
    of the uncompressed sizes of the outputs on it.
    """
    pairs = [(target, target.parent.stat().st_dev, size) for target, size in outputs]
    sizes: dict[int, int] = {}
    for _, device, size in pairs:
        sizes[device] = sizes.get(device, 0) + size
    return {target: 2 * sizes[device] for target, device, _ in pairs}


def check_free_space(outputs: Iterable[tuple[Path, int]]) -> None:
    """:class:`RasterError` when an output's folder has less free space than the run needs there."""
    for target, need in disk_needs(outputs).items():
        free = shutil.disk_usage(target.parent).free
        if need > free:
            raise RasterError(f"{no_space_message(target.parent, need)}, {free / MB:.0f} MB free")


def no_space_message(folder: Path, need: int) -> str:
    """The one line that says a folder is too full for a run."""
    return f"no space left on {folder} (needs about {max(1, round(need / MB))} MB)"


@contextlib.contextmanager
def gdal_failures(folder: Path, need: int, what: str) -> Iterator[None]:
    """Run GDAL write calls with their errors collected quietly; raise :class:`RasterError` on the first.

    A full disk is said as :func:`no_space_message` (``need``: bytes the run needs in ``folder``); any other
    failure as ``cannot write <what>: <GDAL's message>``. GDAL's handler stack is per thread, so a run in a
    QGIS task does not hide other threads' messages.
    """
    from osgeo import gdal

    failures: list[str] = []

    def collect(err_class: int, _number: int, message: str) -> None:
        if err_class >= gdal.CE_Failure:
            failures.append(message)

    def failure() -> RasterError:
        if any(NO_SPACE in message for message in failures):
            return RasterError(no_space_message(folder, need))
        return RasterError(f"cannot write {what}: {failures[0]}")

    gdal.PushErrorHandler(collect)
    try:
        yield
    except RasterError:
        if failures:  # GDAL's own reason beats the caller's "GDAL refused"
            raise failure() from None
        raise
    finally:
        gdal.PopErrorHandler()
    if failures:
        raise failure()


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
        self,
        path: str | os.PathLike[str],
        width: int,
        height: int,
        spec: RasterSpec,
        georef: Georeference,
        *,
        disk_need: int | None = None,
    ) -> None:
        """``disk_need``: bytes the whole run needs in the target's folder (for the no-space message;
        default: this raster's own need, see :func:`disk_needs`)."""
        from osgeo import gdal

        self.target = check_output_path(path)
        self.spec = spec
        size = raster_bytes(width, height, spec.band_count, spec.data_type)
        self.disk_need = disk_need if disk_need is not None else 2 * size
        remove_stale_temporaries(self.target.parent)
        self._style: Path | None = None
        self._late_metadata: dict[str, str] = {}  # items known only at the end (areas), see add_metadata
        self._compressed: Any = None  # the compressed temporary, open while strips are copied into it
        self._compressed_rows = 0  # rows copied into it so far
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
        try:
            with self._checked():
                self._dataset = gdal.GetDriverByName("GTiff").Create(
                    str(self._raw), width, height, spec.band_count, gdal_type, options
                )
                if self._dataset is None:
                    raise RasterError(f"cannot create a temporary raster in {self.target.parent}")
                georef.apply(self._dataset)
        except BaseException:
            self.abort()
            raise
        self._georef = georef

    def _checked(self) -> contextlib.AbstractContextManager[None]:
        """:func:`gdal_failures` for this output."""
        return gdal_failures(self.target.parent, self.disk_need, str(self.target))

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
        with self._checked():
            for index in range(self.spec.band_count):
                band = self._dataset.GetRasterBand(index + 1)
                if band.WriteArray(data[index], window.x, window.y) != 0:
                    raise RasterError(f"cannot write {self.target}: GDAL refused the block at {window}")

    def flush(self) -> None:
        """Write GDAL's cached blocks to disk and drop them from memory (a failed write raises here)."""
        with self._checked():
            self._dataset.FlushCache()

    def compress_rows(self, rows: int) -> None:
        """Copy the strips of whole blocks above row ``rows`` into the compressed temporary (all rows when
        ``rows`` is the height): the caller promises that no row above ``rows`` is written again."""
        height = self._dataset.RasterYSize
        end = height if rows >= height else rows // BLOCK_SIZE * BLOCK_SIZE
        if end <= self._compressed_rows:
            return
        with self._checked():
            self._copy_strips(end)

    def compress(self) -> None:
        """Write the rest of the compressed raster (and its style) as temporary files and drop the uncompressed
        one.

        The last step of a commit that needs disk space: a run compresses all its outputs before it renames
        any into place, so a full disk leaves none of them (and every existing target as it was).
        """
        try:
            with self._checked():
                self._compress()
                self._describe_classes()
            if self.spec.style is not None:
                self._style = create_temporary(self.target, ".qml")
                self._style.write_text(self.spec.style, encoding="utf-8")
        except OSError as exc:
            self.abort()
            if exc.errno == errno.ENOSPC:
                raise RasterError(no_space_message(self.target.parent, self.disk_need)) from None
            raise
        except BaseException:
            self.abort()
            raise
        self._remove(self._raw)

    def commit(self) -> Path:
        """Compress (unless :meth:`compress` ran) and rename into place; returns the target path."""
        if self._dataset is not None:
            self.compress()
        try:
            os.replace(self._final, self.target)
            aux = Path(f"{self._final}.aux.xml")
            target_aux = Path(f"{self.target}.aux.xml")
            if aux.exists():
                os.replace(aux, target_aux)
            else:
                target_aux.unlink(missing_ok=True)
            if self._style is not None:
                os.replace(self._style, style_path(self.target))
        except BaseException:
            self.abort()
            raise
        return self.target

    def add_metadata(self, items: Mapping[str, str]) -> None:
        """Metadata items known only once every block is written (the areas per class), set at compression."""
        self._late_metadata.update(items)

    def _compress(self) -> None:
        """Copy every strip not copied yet, set the late metadata items and close both temporary rasters."""
        self._copy_strips(self._dataset.RasterYSize)
        if self._late_metadata:
            self._compressed.SetMetadata({**self._compressed.GetMetadata(), **self._late_metadata})
        self._compressed = None
        self._dataset = None

    def _open_compressed(self) -> Any:
        """Create the compressed temporary raster (georeferencing, nodata, descriptions, metadata)."""
        from osgeo import gdal

        raw = self._dataset
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
            raw.RasterXSize,
            raw.RasterYSize,
            self.spec.band_count,
            gdal.GetDataTypeByName(self.spec.data_type),
            options,
        )
        if final is None:
            raise RasterError(f"cannot write {self.target}: {gdal.GetLastErrorMsg()}")
        self._georef.apply(final)
        self._describe(final)
        return final

    def _copy_strips(self, end: int) -> None:
        """Copy the rows from the last copied one up to ``end`` into the compressed raster, one strip of whole
        blocks (every band) at a time, each flushed out of GDAL's block cache on both sides (``gdal.Translate``
        would let the cache grow to its maximum, by default 5 % of RAM), so memory stays at one strip."""
        raw = self._dataset
        if self._compressed is None:
            self._compressed = self._open_compressed()
        final, width = self._compressed, raw.RasterXSize
        raw.FlushCache()
        for y in range(self._compressed_rows, end, BLOCK_SIZE):
            rows = min(BLOCK_SIZE, end - y)
            for index in range(1, self.spec.band_count + 1):
                strip = raw.GetRasterBand(index).ReadAsArray(0, y, width, rows)
                if strip is None or final.GetRasterBand(index).WriteArray(strip, 0, y) != 0:
                    raise RasterError(f"cannot write {self.target}: GDAL failed at row {y}")
            final.FlushCache()
            raw.FlushCache()
            self._compressed_rows = y + rows

    def abort(self) -> None:
        """Remove the temporary files; the target is left as it was.

        Closing a temporary raster on a full disk fails again; those messages are kept quiet (the run's
        error already says why).
        """
        from osgeo import gdal

        gdal.PushErrorHandler("CPLQuietErrorHandler")
        try:
            self._compressed = None
            self._dataset = None
        finally:
            gdal.PopErrorHandler()
        for name in (getattr(self, "_raw", None), getattr(self, "_final", None), getattr(self, "_style", None)):
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
