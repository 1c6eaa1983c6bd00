"""Windowed reading of any GDAL raster into the methods' input: RGB float32 in 0..255 plus a validity mask.

- Band mapping: three 1-based band numbers feed R, G, B (IRRG false colour is just a mapping); one number is
  repeated to all three. The default is bands 1, 2, 3, or band 1 repeated (with a warning, see
  :func:`band_mapping_warning`) when the raster has fewer than three colour (non-alpha) bands.
- Stretch: Byte bands pass through unchanged. Other types are mapped linearly from their ``(low, high)``
  percentiles (2 and 98 by default) to 0..255 and clipped; the percentiles are computed once per raster, over
  valid pixels only, from a decimated read (GDAL uses overviews when the file has them), so every tile gets
  the same stretch. ``stretch=None`` only clips non-Byte values to 0..255.
- Validity: a pixel is invalid when any mapped band's GDAL mask says so (nodata values, internal or
  external masks, alpha bands) or its value is not finite. Invalid pixels are filled with the nearest valid
  pixel's value before prediction, so they look like their surroundings rather than dark objects.

GDAL is used without turning on its global exceptions (QGIS shares the interpreter); failures are checked
and turned into :class:`RasterError` with one line of message.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import RasterError
from .tiles import Window

if TYPE_CHECKING:
    import numpy as np

STATS_SAMPLE_SIZE = 1024  # long side of the decimated read the stretch percentiles come from


@dataclass(frozen=True)
class RasterInfo:
    """What the pipeline needs to know about an input raster, and the warnings it deserves."""

    path: str
    driver: str
    width: int
    height: int
    band_count: int
    data_types: tuple[str, ...]
    color_bands: tuple[int, ...]  # 1-based numbers of the bands that are not alpha
    projection: str
    geotransform: tuple[float, ...]
    has_geotransform: bool
    warnings: tuple[str, ...]


_SIGNATURES = (  # leading bytes of files that are often picked by mistake
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (open the raster inside it, e.g. /vsizip/archive.zip/image.tif)"),
    (b"\x1f\x8b", "a gzip archive (open it as /vsigzip/...)"),
    (b"SQLite format 3", "an SQLite database (a GeoPackage without raster tiles?)"),
)


def _content_guess(name: str) -> str:
    """What the file looks like from its first bytes (a known signature, text, or unknown binary data)."""
    try:
        with open(name, "rb") as stream:
            head = stream.read(4096)
    except OSError:
        return ""
    for signature, what in _SIGNATURES:
        if head.startswith(signature):
            return f"it looks like {what}"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a character cut by the 4096-byte read is still text
        text = head[: exc.start].decode("utf-8") if exc.start >= len(head) - 3 else "\0"
    if "\0" in text:
        return "its content is binary data of a format GDAL does not know"
    first = text.lstrip()[:1]
    kind = {"{": "JSON", "<": "XML/HTML"}.get(first, "plain")
    return f"it looks like a {kind} text file, not an image"


def open_raster(path: str | os.PathLike[str]) -> Any:
    """Open ``path`` read-only as a GDAL raster dataset; :class:`RasterError` with the reason otherwise."""
    from osgeo import gdal

    name = os.fspath(path)
    if not os.path.exists(name) and not name.startswith("/vsi"):
        raise RasterError(f"input raster not found: {name}")
    if os.path.isdir(name):
        raise RasterError(f"input is a folder, not a raster: {name}")
    if os.path.isfile(name) and os.path.getsize(name) == 0:
        raise RasterError(f"input file is empty (0 bytes): {name}")
    gdal.PushErrorHandler("CPLQuietErrorHandler")
    try:
        gdal.ErrorReset()
        dataset = gdal.OpenEx(name, gdal.OF_RASTER | gdal.OF_READONLY)
        reason = gdal.GetLastErrorMsg()
    finally:
        gdal.PopErrorHandler()
    if dataset is None:
        detail = "; ".join(filter(None, (reason, _content_guess(name))))
        raise RasterError(f"not a raster GDAL can read: {name}" + (f" ({detail})" if detail else ""))
    if dataset.RasterCount == 0:
        subdatasets = dataset.GetSubDatasets()
        hint = (
            f"; open one of its {len(subdatasets)} subdatasets, e.g. {subdatasets[0][0]}"
            if subdatasets
            else ""
        )
        raise RasterError(f"raster has no bands: {name}{hint}")
    if dataset.RasterXSize < 1 or dataset.RasterYSize < 1:
        raise RasterError(f"raster has zero size ({dataset.RasterXSize} x {dataset.RasterYSize}): {name}")
    return dataset


def describe_raster(dataset: Any) -> RasterInfo:
    """A :class:`RasterInfo` for an open dataset, with warnings for missing or unusual georeferencing."""
    from osgeo import gdal

    bands = [dataset.GetRasterBand(i + 1) for i in range(dataset.RasterCount)]
    color_bands = tuple(
        i + 1 for i, band in enumerate(bands) if band.GetColorInterpretation() != gdal.GCI_AlphaBand
    )
    geotransform = tuple(dataset.GetGeoTransform(can_return_null=True) or (0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    has_geotransform = dataset.GetGeoTransform(can_return_null=True) is not None
    projection = dataset.GetProjection() or ""
    name = dataset.GetDescription()
    warnings = []
    if not projection and not dataset.GetGCPProjection():
        warnings.append(f"{name} has no coordinate reference system; the output will have none either")
    if not has_geotransform and not dataset.GetGCPCount():
        warnings.append(f"{name} has no georeferencing; the output is in pixel coordinates")
    if has_geotransform and (geotransform[2] != 0.0 or geotransform[4] != 0.0):
        warnings.append(
            f"{name} has a rotated geotransform; it is copied as is (some software ignores rotation)"
        )
    return RasterInfo(
        path=name,
        driver=dataset.GetDriver().ShortName,
        width=dataset.RasterXSize,
        height=dataset.RasterYSize,
        band_count=dataset.RasterCount,
        data_types=tuple(gdal.GetDataTypeName(band.DataType) for band in bands),
        color_bands=color_bands,
        projection=projection,
        geotransform=geotransform,
        has_geotransform=has_geotransform,
        warnings=tuple(warnings),
    )


def resolve_bands(bands: Sequence[int] | None, info: RasterInfo) -> tuple[int, int, int]:
    """The three 1-based bands feeding R, G, B (see the module docstring); :class:`RasterError` if invalid."""
    if bands is None:
        return (1, 2, 3) if len(info.color_bands) >= 3 else (info.color_bands or (1,))[:1] * 3
    chosen = tuple(int(b) for b in bands)
    if len(chosen) not in (1, 3):
        raise RasterError(f"give one band or three bands (R,G,B), got {len(chosen)}: {list(chosen)}")
    for band in chosen:
        if not 1 <= band <= info.band_count:
            raise RasterError(f"band {band} is out of range: {info.path} has {info.band_count} band(s)")
    return chosen * 3 if len(chosen) == 1 else chosen  # type: ignore[return-value]


def band_mapping_warning(bands: Sequence[int] | None, info: RasterInfo) -> str | None:
    """A warning when the default mapping is not bands 1, 2, 3 (fewer than three colour bands); else None.

    The help and the dock say "default 1,2,3", so a raster that gets band 1 three times must be told so.
    """
    if bands is not None or len(info.color_bands) >= 3:
        return None
    first = resolve_bands(None, info)[0]
    return (
        f"{info.path} has {len(info.color_bands)} colour band(s), not the 3 of the default mapping 1,2,3: "
        f"band {first} feeds R, G and B (choose the bands to use others)"
    )


def resolve_window(window: Window | None, info: RasterInfo) -> Window:
    """The region to segment: ``window`` checked against the raster, or the whole raster."""
    if window is None:
        return Window(0, 0, info.width, info.height)
    if window.width < 1 or window.height < 1:
        raise RasterError(f"window has zero size ({window.width} x {window.height})")
    if window.x < 0 or window.y < 0 or window.x_end > info.width or window.y_end > info.height:
        raise RasterError(
            f"window {window.x},{window.y} {window.width}x{window.height} is outside the raster "
            f"({info.width} x {info.height})"
        )
    return window


@dataclass(frozen=True)
class Stretch:
    """Linear map of each source band (1-based number) ``low..high`` -> 0..255; absent bands pass as is."""

    ranges: dict[int, tuple[float, float]]

    def apply(self, band: int, values: np.ndarray) -> np.ndarray:
        """``values`` of ``band`` mapped to float32 in 0..255."""
        import numpy as np

        if band not in self.ranges and values.dtype == np.uint8:
            return values.astype(np.float32)  # already 0..255: the same values, without the float64 round trip
        low, high = self.ranges.get(band, (0.0, 255.0))
        scale = 255.0 / (high - low) if high > low else 1.0
        out = (values.astype(np.float64) - low) * scale
        return np.clip(out, 0.0, 255.0).astype(np.float32)


class RasterReader:
    """Reads windows of the mapped bands of one raster as model input (see the module docstring)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        bands: Sequence[int] | None = None,
        stretch: tuple[float, float] | None = (2.0, 98.0),
        window: Window | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.dataset = open_raster(path)
        self.info = describe_raster(self.dataset)
        self.bands = resolve_bands(bands, self.info)
        mapping = band_mapping_warning(bands, self.info)
        self.warnings = self.info.warnings + ((mapping,) if mapping else ())  # the raster's, then this read's
        self.region = resolve_window(window, self.info)
        self._unique = tuple(dict.fromkeys(self.bands))
        self._mask_bands = self._masks_to_read()
        self._preview_valid: np.ndarray | None = None
        self.stretch = self._compute_stretch(stretch)
        self.release()

    def _masks_to_read(self) -> tuple[int, ...]:
        """Bands whose GDAL mask must be read (one for a per-dataset mask, none if all pixels are valid)."""
        from osgeo import gdal

        needed: list[int] = []
        for number in self._unique:
            flags = self.dataset.GetRasterBand(number).GetMaskFlags()
            if flags & gdal.GMF_ALL_VALID:
                continue
            if flags & gdal.GMF_PER_DATASET:
                return (number,)
            needed.append(number)
        return tuple(needed)

    def _read_raw(self, window: Window, buf: tuple[int, int] | None = None) -> tuple[dict, np.ndarray]:
        """Raw values per unique band and the validity mask for a region window, optionally decimated."""
        import numpy as np

        kwargs = {"buf_xsize": buf[0], "buf_ysize": buf[1]} if buf else {}
        region = window.shifted(self.region.x, self.region.y)
        raw = {}
        for number in self._unique:
            values = self.dataset.GetRasterBand(number).ReadAsArray(
                region.x, region.y, region.width, region.height, **kwargs
            )
            if values is None:
                raise RasterError(f"cannot read band {number} of {self.info.path} at {region}")
            raw[number] = values
        shape = next(iter(raw.values())).shape
        valid = np.ones(shape, dtype=bool)
        for number in self._mask_bands:
            mask = (
                self.dataset.GetRasterBand(number)
                .GetMaskBand()
                .ReadAsArray(region.x, region.y, region.width, region.height, **kwargs)
            )
            if mask is None:
                raise RasterError(f"cannot read the mask of band {number} of {self.info.path}")
            valid &= mask > 0
        for values in raw.values():
            if values.dtype.kind == "f":
                valid &= np.isfinite(values)
        return raw, valid

    def _compute_stretch(self, percentiles: tuple[float, float] | None) -> Stretch:
        """Per-band percentiles of the valid pixels of a decimated read of the region (non-Byte bands)."""
        import numpy as np
        from osgeo import gdal

        to_stretch = [b for b in self._unique if self.dataset.GetRasterBand(b).DataType != gdal.GDT_Byte]
        if percentiles is None or not to_stretch:
            return Stretch({})
        raw, valid = self._read_preview()
        ranges = {}
        for band in to_stretch:
            sample = raw[band][valid]
            if sample.size:
                low, high = np.percentile(sample.astype(np.float64), percentiles)
                ranges[band] = (float(low), float(high))
        return Stretch(ranges)

    def _read_preview(self) -> tuple[dict, np.ndarray]:
        """The whole region read decimated to at most :data:`STATS_SAMPLE_SIZE` pixels a side (GDAL uses the
        overviews when the file has them); its validity is kept for :meth:`likely_valid`."""
        scale = min(1.0, STATS_SAMPLE_SIZE / max(self.region.width, self.region.height))
        buf = (max(1, round(self.region.width * scale)), max(1, round(self.region.height * scale)))
        raw, valid = self._read_raw(Window(0, 0, self.region.width, self.region.height), buf)
        self._preview_valid = valid
        return raw, valid

    def likely_valid(self, windows: Sequence[Window]) -> list[bool]:
        """For each window of the region, whether the decimated preview shows a valid pixel in it.

        A cheap guess for the progress estimate (a valid area smaller than the decimation step can be
        missed), never used to skip work: :meth:`read` decides that. Without masks or floating-point bands
        every pixel is valid and nothing is read.
        """
        from osgeo import gdal

        types = (gdal.GetDataTypeName(self.dataset.GetRasterBand(b).DataType) for b in self._unique)
        floats = any(name.startswith(("Float", "CFloat")) for name in types)
        if not self._mask_bands and not floats:
            return [True] * len(windows)
        valid = self._preview_valid if self._preview_valid is not None else self._read_preview()[1]
        sy, sx = valid.shape[0] / self.region.height, valid.shape[1] / self.region.width
        guesses = []
        for w in windows:
            y0, x0 = int(w.y * sy), int(w.x * sx)
            y1, x1 = max(y0 + 1, math.ceil(w.y_end * sy)), max(x0 + 1, math.ceil(w.x_end * sx))
            guesses.append(bool(valid[y0:y1, x0:x1].any()))
        return guesses

    def read(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """RGB ``(3, h, w)`` float32 in 0..255 and validity ``(h, w)`` for a window of the region.

        Invalid pixels are filled with the nearest valid pixel; a window with no valid pixel is returned
        unfilled (the pipeline skips it).
        """
        import numpy as np

        raw, valid = self._read_raw(window)
        rgb = np.stack([self.stretch.apply(band, raw[band]) for band in self.bands])
        if not valid.all() and valid.any():
            rgb = fill_invalid(rgb, valid)
        return rgb, valid

    def reopened(self) -> RasterReader:
        """The same reader (bands, region, stretch, masks) on a new GDAL dataset handle of the same raster.

        GDAL dataset handles are not thread-safe: a thread that reads gets its own.
        """
        twin = copy.copy(self)
        twin.dataset = open_raster(self.path)
        return twin

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without its GDAL handle and preview: a Dask task carries the reader to a worker, which
        calls :meth:`reopened` (unpickling opens nothing: Dask's scheduler unpickles tasks too)."""
        return {**self.__dict__, "dataset": None, "_preview_valid": None}

    def release(self) -> None:
        """Drop the blocks GDAL cached for this dataset, so memory stays bounded on huge rasters."""
        self.dataset.FlushCache()

    def close(self) -> None:
        """Close the dataset."""
        self.dataset = None


def fill_invalid(image: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``image`` ``(C, h, w)`` with every invalid pixel replaced by its nearest valid pixel (Euclidean)."""
    from scipy import ndimage

    _, (rows, cols) = ndimage.distance_transform_edt(~valid, return_indices=True)
    return image[:, rows, cols]
