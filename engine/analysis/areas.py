"""Areas per class of a classified raster: pixels, hectares and percent of the valid area, for any CRS.

Projected CRS: every pixel has the area ``|a e - b d|`` of the geotransform's 2x2 part (rotation included)
times the square of the CRS's linear unit in metres. Geographic CRS: a pixel is a cell of the CRS's
ellipsoid; a north-up cell between latitudes phi1 and phi2 and ``dlon`` radians wide has the exact area
``dlon * (Z(phi2) - Z(phi1))`` with the ellipsoidal zone integral
``Z(phi) = b^2 (sin phi / (2 (1 - e^2 sin^2 phi)) + atanh(e sin phi) / (2 e))``, so the area is computed once
per row; a rotated geographic geotransform uses the local area element ``M N cos phi`` at each pixel's centre.
A raster without CRS or geotransform has areas in pixels only (hectares and square metres are None).

Areas are summed block by block (:class:`AreaCounter`), so memory stays bounded: the pipeline feeds its
written blocks, :func:`raster_areas` reads a finished raster in strips of rows.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError

if TYPE_CHECKING:
    import numpy as np

STRIP_ROWS = 256  # rows per block when a finished raster is read
UNCERTAIN_NAME = "uncertain"
UNCERTAIN_VALUE = 255  # the class value of pixels below the confidence threshold (vector and statistics)
METADATA_KEY = "OVSS_AREAS"
STATS_SUFFIXES = (".csv", ".json")


@dataclass(frozen=True)
class PixelArea:
    """How big the pixels of a raster are, in m2 (``unit_m2`` None: no georeferencing, pixels only).

    ``geotransform``: GDAL's six terms; ``angular``: radians per CRS unit for a geographic CRS (else None);
    ``ellipsoid``: semi-major axis (m) and first eccentricity of a geographic CRS.
    """

    geotransform: tuple[float, ...]
    unit_m2: float | None
    angular: float | None = None
    ellipsoid: tuple[float, float] = (6378137.0, 0.0)

    @classmethod
    def of(cls, geotransform: Sequence[float] | None, projection: str) -> PixelArea:
        """The pixel areas of a raster with this geotransform and CRS (WKT; empty: none)."""
        from osgeo import osr

        if geotransform is None or not projection:
            return cls(tuple(geotransform or (0.0, 1.0, 0.0, 0.0, 0.0, 1.0)), None)
        srs = osr.SpatialReference()
        if srs.ImportFromWkt(projection) != 0:
            return cls(tuple(geotransform), None)
        if srs.IsGeographic():
            a, inverse_flattening = srs.GetSemiMajor(), srs.GetInvFlattening()
            f = 1.0 / inverse_flattening if inverse_flattening else 0.0
            return cls(tuple(geotransform), 1.0, srs.GetAngularUnits(), (a, math.sqrt(f * (2.0 - f))))
        return cls(tuple(geotransform), srs.GetLinearUnits() ** 2)

    @classmethod
    def of_dataset(cls, dataset: Any) -> PixelArea:
        """The pixel areas of an open GDAL dataset."""
        return cls.of(dataset.GetGeoTransform(can_return_null=True), dataset.GetProjection() or "")

    @property
    def georeferenced(self) -> bool:
        """True when areas in m2 are known."""
        return self.unit_m2 is not None

    def block(self, x: int, y: int, width: int, height: int) -> np.ndarray | float:
        """The area in m2 of each pixel of a block: a number (projected), ``(h, 1)`` rows (geographic,
        north-up) or ``(h, w)`` (rotated geographic); 1.0 per pixel when not georeferenced."""
        import numpy as np

        g = self.geotransform
        if self.unit_m2 is None:
            return 1.0
        det = abs(g[1] * g[5] - g[2] * g[4])
        if self.angular is None:
            return det * self.unit_m2
        a, e = self.ellipsoid
        if g[2] == 0.0 and g[4] == 0.0:
            edges = (g[3] + g[5] * np.arange(y, y + height + 1, dtype=np.float64)) * self.angular
            zone = _zone_integral(edges, a, e)
            return (np.abs(np.diff(zone)) * abs(g[1]) * self.angular)[:, None]
        cols = np.arange(x, x + width, dtype=np.float64) + 0.5
        rows = np.arange(y, y + height, dtype=np.float64)[:, None] + 0.5
        phi = (g[3] + cols * g[4] + rows * g[5]) * self.angular
        sin2 = np.sin(phi) ** 2
        meridional = a * (1 - e * e) / (1 - e * e * sin2) ** 1.5
        normal = a / np.sqrt(1 - e * e * sin2)
        return det * self.angular**2 * meridional * normal * np.cos(phi)


def _zone_integral(phi: np.ndarray, a: float, e: float) -> np.ndarray:
    """Area per radian of longitude between the equator and latitude ``phi`` (radians) on the ellipsoid."""
    import numpy as np

    s = np.sin(np.clip(phi, -math.pi / 2, math.pi / 2))
    b2 = a * a * (1 - e * e)
    if e == 0.0:
        return b2 * s
    return b2 * (s / (2 * (1 - e * e * s * s)) + np.arctanh(e * s) / (2 * e))


@dataclass(frozen=True)
class ClassArea:
    """One row of the area table."""

    value: int
    name: str
    pixels: int
    m2: float | None
    hectares: float | None
    percent: float


@dataclass(frozen=True)
class AreaTable:
    """Areas per class (value order) and the valid total; percent of the valid area (m2, else pixels)."""

    rows: tuple[ClassArea, ...]
    valid_pixels: int
    valid_m2: float | None

    def metadata(self) -> dict[str, str]:
        """The table as GDAL metadata items of the output (``OVSS_AREAS``: JSON list of the rows)."""
        return {
            METADATA_KEY: json.dumps([asdict(row) for row in self.rows]),
            "OVSS_VALID_PIXELS": str(self.valid_pixels),
            "OVSS_VALID_AREA_M2": "" if self.valid_m2 is None else f"{self.valid_m2:.3f}",
        }

    def lines(self) -> list[str]:
        """One human-readable line per class (command line summary, Processing log)."""
        lines = []
        for row in self.rows:
            size = f"{row.hectares:.2f} ha" if row.hectares is not None else f"{row.pixels} px"
            lines.append(f"{row.name}: {size} ({row.percent:.1f} %)")
        return lines


class AreaCounter:
    """Sums pixels and m2 per class value over the blocks of one raster (value 0: nodata, not counted)."""

    def __init__(self, pixel_area: PixelArea) -> None:
        import numpy as np

        self.pixel_area = pixel_area
        self.pixels = np.zeros(256, dtype=np.int64)
        self.m2 = np.zeros(256, dtype=np.float64)

    def add(self, x: int, y: int, classes: np.ndarray) -> None:
        """Count a block of class values (``(h, w)`` integers 0..255) whose top-left pixel is ``(x, y)``."""
        import numpy as np

        height, width = classes.shape
        area = self.pixel_area.block(x, y, width, height)
        flat = classes.ravel().astype(np.intp)
        pixels = np.bincount(flat, minlength=256)[:256]
        self.pixels += pixels
        if np.ndim(area) == 0:  # every pixel the same size: no weighted count needed
            self.m2 += pixels * float(area)
        else:
            weights = np.broadcast_to(area, classes.shape).ravel()
            self.m2 += np.bincount(flat, weights=weights, minlength=256)[:256]

    def table(self, names: dict[int, str]) -> AreaTable:
        """The table of the named class values (every one listed, counted or not)."""
        georeferenced = self.pixel_area.georeferenced
        values = sorted(names)
        valid_pixels = int(sum(int(self.pixels[v]) for v in values))
        valid_m2 = float(sum(float(self.m2[v]) for v in values)) if georeferenced else None
        rows = []
        for value in values:
            m2 = float(self.m2[value]) if georeferenced else None
            share = (m2 / valid_m2 if valid_m2 else 0.0) if m2 is not None else (
                int(self.pixels[value]) / valid_pixels if valid_pixels else 0.0
            )
            rows.append(
                ClassArea(
                    value,
                    names[value],
                    int(self.pixels[value]),
                    m2,
                    None if m2 is None else m2 / 10_000.0,
                    100.0 * share,
                )
            )
        return AreaTable(tuple(rows), valid_pixels, valid_m2)


def class_value_names(names: Sequence[str], uncertain: bool = False) -> dict[int, str]:
    """Value -> name of a classified raster's classes (value k+1 = class k), with the uncertain value."""
    table = {index + 1: name for index, name in enumerate(names)}
    if uncertain:
        if len(names) >= UNCERTAIN_VALUE:
            raise InputError(f"the uncertain class needs fewer than {UNCERTAIN_VALUE} classes")
        table[UNCERTAIN_VALUE] = UNCERTAIN_NAME
    return table


def mask_uncertain(classes: np.ndarray, confidence: np.ndarray | None, below: float | None) -> np.ndarray:
    """``classes`` with valid pixels of confidence (percent) below ``below`` set to :data:`UNCERTAIN_VALUE`."""
    import numpy as np

    if below is None or confidence is None:
        return classes
    return np.where((classes > 0) & (confidence < below), np.uint8(UNCERTAIN_VALUE), classes).astype(np.uint8)


def check_threshold(below: float | None) -> None:
    """:class:`InputError` unless the uncertainty threshold is a confidence in percent (0, 100]."""
    if below is not None and not 0 < below <= 100:
        raise InputError(f"the confidence threshold is in percent, 0 < T <= 100, got {below}")


def raster_areas(
    path: str | os.PathLike[str],
    names: Sequence[str],
    *,
    confidence_path: str | os.PathLike[str] | None = None,
    uncertain_below: float | None = None,
) -> AreaTable:
    """The area table of a classified raster file (value 0 and the band's nodata: no class), read in strips
    of :data:`STRIP_ROWS` rows.

    With ``uncertain_below`` (percent) and the run's confidence raster, pixels below it count as the
    class ``uncertain`` instead of their own.
    """
    from ..raster.reader import open_raster

    check_threshold(uncertain_below)
    dataset = open_raster(path)
    confidence = open_raster(confidence_path) if confidence_path is not None else None
    counter = AreaCounter(PixelArea.of_dataset(dataset))
    band = dataset.GetRasterBand(1)
    nodata = band.GetNoDataValue()
    width, height = dataset.RasterXSize, dataset.RasterYSize
    for y in range(0, height, STRIP_ROWS):
        rows = min(STRIP_ROWS, height - y)
        strip = band.ReadAsArray(0, y, width, rows)
        if nodata is not None and nodata != 0:
            strip[strip == nodata] = 0  # never counted, not even as uncertain
        conf = confidence.GetRasterBand(1).ReadAsArray(0, y, width, rows) if confidence is not None else None
        for source in (dataset, confidence):  # GDAL's block cache would otherwise grow with the raster
            if source is not None:
                source.FlushCache()
        counter.add(0, y, mask_uncertain(strip, conf, uncertain_below))
    uncertain = uncertain_below is not None and confidence is not None
    return counter.table(class_value_names(names, uncertain))


def check_stats_path(path: str | os.PathLike[str]) -> Path:
    """An absolute statistics path named ``.csv`` or ``.json``; :class:`InputError` for another name."""
    from ..raster.writer import check_output_path

    target = check_output_path(path)
    if target.suffix.lower() not in STATS_SUFFIXES:
        raise InputError(f"statistics are written as .csv or .json, got {target.name}")
    return target


def write_stats(table: AreaTable, path: str | os.PathLike[str]) -> Path:
    """Write the table as CSV or JSON (by the extension), atomically (a temporary renamed into place)."""
    from ..raster.temporaries import create_temporary

    target = check_stats_path(path)
    temporary = create_temporary(target, target.suffix)
    try:
        with temporary.open("w", encoding="utf-8", newline="") as stream:
            if target.suffix.lower() == ".json":
                json.dump(
                    {
                        "classes": [asdict(row) for row in table.rows],
                        "valid_pixels": table.valid_pixels,
                        "valid_m2": table.valid_m2,
                    },
                    stream,
                    indent=2,
                )
            else:
                writer = csv.writer(stream)
                writer.writerow(("value", "name", "pixels", "m2", "hectares", "percent"))
                for row in table.rows:
                    writer.writerow(astuple_row(row))
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target


def astuple_row(row: ClassArea) -> tuple[Any, ...]:
    """A table row as CSV cells (empty where the area in m2 is unknown)."""
    return (row.value, row.name, row.pixels, _cell(row.m2), _cell(row.hectares), f"{row.percent:.4f}")


def _cell(number: float | None) -> str:
    """A CSV cell of an optional number."""
    return "" if number is None else f"{number:.3f}"


def read_areas(metadata: dict[str, str]) -> list[ClassArea]:
    """The area rows stored in an output's metadata (empty when it has none)."""
    text = metadata.get(METADATA_KEY)
    return [ClassArea(**row) for row in json.loads(text)] if text else []


def polygon_area_m2(geometry: Any, pixel_area: PixelArea) -> float | None:
    """Area in m2 of an OGR polygon in the raster's map coordinates (None without georeferencing).

    Projected: the planar area times the unit squared. Geographic: Green's theorem with the zone integral,
    ``|sum over edges of the integral of Z(phi) d lambda|`` per ring (shell minus holes), exact on edges of
    constant latitude (all edges of north-up pixels), Simpson's rule along sloped edges.
    """
    import numpy as np

    if pixel_area.unit_m2 is None:
        return None
    if pixel_area.angular is None:
        return geometry.GetArea() * pixel_area.unit_m2
    a, e = pixel_area.ellipsoid
    total = 0.0
    for index in range(geometry.GetGeometryCount()):
        points = np.asarray(geometry.GetGeometryRef(index).GetPoints(), dtype=np.float64)[:, :2]
        lam, phi = points[:, 0] * pixel_area.angular, points[:, 1] * pixel_area.angular
        weights = np.array([1.0, 4.0, 1.0]) / 6.0
        t = np.array([0.0, 0.5, 1.0])[:, None]
        zone = _zone_integral(phi[:-1] + t * (phi[1:] - phi[:-1]), a, e)  # (3, edges)
        ring = abs(float(((weights[:, None] * zone).sum(axis=0) * np.diff(lam)).sum()))
        total += ring if index == 0 else -ring
    return total
