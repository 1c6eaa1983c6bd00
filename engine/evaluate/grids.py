"""Putting a reference raster on a classified raster's pixel grid, for map-space accuracy assessment.

Two rasters are compared pixel for pixel where their grids match: CRSs equivalent as GDAL/PROJ judge them
(``IsSame`` ignoring axis order, or, for the same CRS written differently, e.g. an unnamed LCC with TOWGS84
against NAD83(HARN) / North Carolina, coordinates that transform onto themselves), the same pixel size and
origins a whole number of pixels apart. Otherwise the reference is warped onto the classified grid on the fly
(nearest neighbour, a virtual raster: nothing is written), with an alpha band marking where it has data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import RasterError
from ..raster.tiles import Window

_GRID_TOLERANCE = 1e-3  # of a pixel: origins this close to a whole pixel apart are aligned
_SAME_POINT = 1e-3  # of a pixel: a point that moves less than this under the CRS transformation stays put
_IS_SAME_OPTIONS = ["IGNORE_DATA_AXIS_TO_SRS_AXIS_MAPPING=YES", "CRITERION=EQUIVALENT_EXCEPT_AXIS_ORDER_GEOGCRS"]


@dataclass(frozen=True)
class Grid:
    """A raster's pixel grid: size, geotransform and CRS (WKT, '' when none)."""

    width: int
    height: int
    geotransform: tuple[float, ...]
    crs_wkt: str

    def corners(self) -> list[tuple[float, float]]:
        """The map coordinates of the four corners and the centre."""
        x0, dx, rx, y0, ry, dy = self.geotransform
        pixels = [(0, 0), (self.width, 0), (0, self.height), (self.width, self.height)]
        pixels.append((self.width / 2, self.height / 2))
        return [(x0 + c * dx + r * rx, y0 + c * ry + r * dy) for c, r in pixels]

    @property
    def pixel(self) -> float:
        """The smaller pixel side in map units."""
        return min(abs(self.geotransform[1]), abs(self.geotransform[5]))


def _srs(wkt: str) -> Any:
    """An ``osr.SpatialReference`` in x/y (easting/northing, longitude/latitude) axis order."""
    from osgeo import osr

    srs = osr.SpatialReference(wkt=wkt)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def _transform(points: Sequence[tuple[float, float]], source: str, target: str) -> list[tuple[float, float]]:
    """``points`` from CRS ``source`` to ``target`` (WKT); RasterError when PROJ cannot transform them."""
    from osgeo import osr

    try:
        transformation = osr.CoordinateTransformation(_srs(source), _srs(target))
        return [tuple(transformation.TransformPoint(x, y)[:2]) for x, y in points]  # type: ignore[misc]
    except (RuntimeError, TypeError) as exc:
        raise RasterError(f"cannot transform between the rasters' CRSs ({exc})") from None


def same_crs(a: Grid, b: Grid) -> bool:
    """Whether ``b``'s coordinates mean the same places in ``a``'s CRS: GDAL's ``IsSame`` ignoring axis order,
    else ``b``'s corners transform onto themselves (names and datum-shift metadata that change nothing).

    A raster without a CRS is taken to be in the other's.
    """
    if not a.crs_wkt or not b.crs_wkt:
        return True
    if _srs(a.crs_wkt).IsSame(_srs(b.crs_wkt), _IS_SAME_OPTIONS):
        return True
    corners = b.corners()
    try:
        moved = _transform(corners, b.crs_wkt, a.crs_wkt)
    except RasterError:
        return False
    limit = _SAME_POINT * min(a.pixel, b.pixel)
    return all(math.dist(p, q) <= limit for p, q in zip(corners, moved, strict=True))


def aligned_windows(a: Grid, b: Grid) -> tuple[Window, Window] | None:
    """The windows of ``a`` and ``b`` covering the area both share, pixel for pixel; None when the grids
    differ (rotation, pixel size, origins not a whole number of pixels apart), :class:`RasterError` when they
    match but do not overlap. The CRSs are assumed the same (:func:`same_crs`)."""
    ax, adx, arx, ay, ary, ady = a.geotransform
    bx, bdx, brx, by, bry, bdy = b.geotransform
    if arx or ary or brx or bry:
        return None
    if not (math.isclose(adx, bdx, rel_tol=1e-6) and math.isclose(ady, bdy, rel_tol=1e-6)):
        return None
    shift_x, shift_y = (bx - ax) / adx, (by - ay) / ady
    if abs(shift_x - round(shift_x)) > _GRID_TOLERANCE or abs(shift_y - round(shift_y)) > _GRID_TOLERANCE:
        return None
    dx, dy = round(shift_x), round(shift_y)  # b's pixel (0, 0) is a's pixel (dx, dy)
    x0, y0 = max(0, dx), max(0, dy)
    x1, y1 = min(a.width, dx + b.width), min(a.height, dy + b.height)
    if x1 <= x0 or y1 <= y0:
        raise RasterError("the classified raster and the reference raster do not overlap")
    window = Window(x0, y0, x1 - x0, y1 - y0)
    return window, window.shifted(-dx, -dy)


@dataclass
class ReferenceOnGrid:
    """The reference as read over ``window`` of the classified raster: its band 1 over ``reference_window``,
    and an alpha band (0 = no reference data) when it was warped; ``note`` says how it was matched."""

    dataset: Any
    window: Window
    reference_window: Window
    note: str
    alpha_band: int | None = None


def _bounds(grid: Grid, crs_wkt: str) -> tuple[float, float, float, float]:
    """``grid``'s extent (xmin, ymin, xmax, ymax) in ``crs_wkt`` (its corners transformed)."""
    points = grid.corners()
    if crs_wkt and grid.crs_wkt:
        points = _transform(points, grid.crs_wkt, crs_wkt)
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return min(xs), min(ys), max(xs), max(ys)


def reference_on_grid(classified: Grid, reference: Any, reference_grid: Grid) -> ReferenceOnGrid:
    """The reference dataset matched to the classified grid: read as it is when the grids match, else warped
    (nearest neighbour, exact transformation) to a virtual raster on the classified grid."""
    from osgeo import gdal

    crs_same = same_crs(classified, reference_grid)
    windows = aligned_windows(classified, reference_grid) if crs_same else None
    if windows is not None:
        return ReferenceOnGrid(reference, windows[0], windows[1], "the reference is on the classified grid")
    if classified.geotransform[2] or classified.geotransform[4]:
        raise RasterError("the classified raster is rotated; warp it to a north-up grid first")
    xmin, ymin, xmax, ymax = _bounds(reference_grid, classified.crs_wkt)
    cxmin, cymin, cxmax, cymax = _bounds(classified, classified.crs_wkt)
    if xmax <= cxmin or xmin >= cxmax or ymax <= cymin or ymin >= cymax:
        raise RasterError("the classified raster and the reference raster do not overlap")
    warped = gdal.Warp(
        "",
        reference,
        format="VRT",
        outputBounds=(cxmin, cymin, cxmax, cymax),
        width=classified.width,
        height=classified.height,
        dstSRS=classified.crs_wkt or None,
        resampleAlg="near",
        errorThreshold=0,
        dstAlpha=True,
    )
    if warped is None:
        raise RasterError(f"cannot reproject the reference raster ({gdal.GetLastErrorMsg()})")
    why = "another CRS" if not crs_same else "another pixel grid (pixel size or alignment)"
    whole = Window(0, 0, classified.width, classified.height)
    note = f"the reference is in {why}: reprojected on the fly onto the classified grid (nearest neighbour)"
    return ReferenceOnGrid(warped, whole, whole, note, alpha_band=warped.RasterCount)
