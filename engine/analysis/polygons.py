"""Polygons of a classified raster as a GeoPackage, by strips of rows so that memory stays bounded.

Each strip of :data:`STRIP_ROWS` rows is labelled into 4-connected regions of one class (scipy), and GDAL's
Polygonize turns the label image into exactly one polygon per region, in pixel coordinates (exact integers).
Regions that meet across the seam between two strips (the same class on both sides of the seam, in the same
column) are joined (union-find; their polygons are collected and unioned once, when the region is final), so
no polygon is cut by the tiling: the result is
the same for any strip height. A region is final once it does not reach the bottom row of the strip.

Before that, optionally: pixels below a confidence threshold become the class ``uncertain``
(:func:`.areas.mask_uncertain`), and regions smaller than the minimum mapping unit are merged into their
largest neighbour (GDAL's SieveFilter, 4-connected, into a temporary raster beside the output). After it,
optionally, the polygons are simplified with shared boundaries simplified once (:mod:`.topology`), so
neighbours keep no gaps or overlaps. The polygons are then moved into map coordinates (the geotransform)
and written with the class value, class name, area in m2 (:func:`.areas.polygon_area_m2`) and, with a
confidence raster, the mean confidence in percent. The GeoPackage is written as a temporary file and renamed
into place only when complete: a failure or cancel leaves no output. Its QGIS style (categorized by class
value, the raster's colours and names) is stored inside it, as the default style of the layer in QGIS's
``layer_styles`` table, so QGIS shows it when the layer is opened; a ``<stem>.qml`` beside it would be the
style file of a raster of the same stem (the run's output, or the input).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CancelledError, InputError, RasterError
from .areas import PixelArea, check_threshold, class_value_names, mask_uncertain, polygon_area_m2

if TYPE_CHECKING:
    import numpy as np

STRIP_ROWS = 512
LAYER = "classes"
FIELDS = ("class_value", "class_name", "area_m2", "confidence")


@dataclass(frozen=True)
class MinArea:
    """A minimum mapping unit: ``value`` in m2 (``pixels`` False) or in pixels."""

    value: float
    pixels: bool = False

    @classmethod
    def parse(cls, text: str) -> MinArea:
        """``"5000"`` (m2) or ``"20px"`` (pixels); :class:`InputError` otherwise."""
        raw = text.strip().lower()
        pixels = raw.endswith("px")
        try:
            value = float(raw[:-2] if pixels else raw)
        except ValueError:
            raise InputError(
                f"minimum area must be a number of m2 or pixels (e.g. 5000 or 20px), got {text!r}"
            ) from None
        if not value >= 0:
            raise InputError(f"minimum area must be >= 0, got {text!r}")
        return cls(value, pixels)

    def in_pixels(self, pixel_area: PixelArea, height: int, width: int) -> int:
        """The threshold in whole pixels (m2 over the area of a pixel at the raster's centre)."""
        if self.pixels:
            return math.ceil(self.value)
        if not pixel_area.georeferenced:
            raise InputError("a minimum area in m2 needs a georeferenced raster; give it in pixels (e.g. 20px)")
        import numpy as np

        centre = float(np.mean(pixel_area.block(width // 2, height // 2, 1, 1)))
        return math.ceil(self.value / centre)


@dataclass
class Piece:
    """A region of one class being assembled: its polygon (pixel coordinates) and sums for the attributes."""

    geometry: Any
    value: int
    pixels: int
    confidence_sum: float


@dataclass(frozen=True)
class PolygonResult:
    """What :func:`polygonize_raster` wrote."""

    path: Path
    features: int
    classes: dict[int, str] = field(default_factory=dict)


def raster_classes(path: str | os.PathLike[str]) -> tuple[list[str], list[tuple[int, int, int]]]:
    """Names and colours of the classes 1..n of a classified raster: from its colour table and category names
    (``.aux.xml``), else its paletted QGIS style (``<stem>.qml``), else ``class <value>`` in default colours
    up to the raster's largest value."""
    from ..labels import default_color
    from ..raster.qml import read_paletted_style
    from ..raster.reader import open_raster
    from ..raster.writer import read_class_table

    try:
        return read_class_table(path)
    except RasterError:
        pass
    style = read_paletted_style(path)
    dataset = open_raster(path)
    largest = max(style) if style else int(dataset.GetRasterBand(1).ComputeRasterMinMax(False)[1])
    if largest > 255:
        raise InputError(f"class values must be 1..255 (0 = nodata), the raster has {largest}")
    names = [style.get(value, (f"class {value}",))[0] for value in range(1, largest + 1)]
    colors = [style[value][1] if value in style else default_color(value - 1) for value in range(1, largest + 1)]
    return names, colors


def check_vector_path(path: str | os.PathLike[str]) -> Path:
    """An absolute ``.gpkg`` output path in a writable folder; :class:`InputError` for another name."""
    from ..raster.writer import check_output_path

    target = check_output_path(path)
    if target.suffix.lower() != ".gpkg":
        raise InputError(f"polygons are written as a GeoPackage named .gpkg, got {target.name}")
    return target


def _labels(classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """4-connected regions of equal non-zero class: a label image (1..n) and each label's class value."""
    import numpy as np
    from scipy import ndimage

    labels = np.zeros(classes.shape, dtype=np.int32)
    values = [0]
    for value in np.unique(classes):
        if value == 0:
            continue
        regions, count = ndimage.label(classes == value)
        inside = regions > 0
        labels[inside] = regions[inside] + (len(values) - 1)
        values += [int(value)] * count
    return labels, np.asarray(values, dtype=np.int64)


def _strip_polygons(labels: np.ndarray, y: int) -> dict[int, Any]:
    """GDAL's polygons of a label strip (pixel coordinates, the strip's top at row ``y``): label -> polygon."""
    from osgeo import gdal, ogr

    height, width = labels.shape
    raster = gdal.GetDriverByName("MEM").Create("", width, height, 1, gdal.GDT_Int32)
    raster.SetGeoTransform((0.0, 1.0, 0.0, float(y), 0.0, 1.0))
    band = raster.GetRasterBand(1)
    band.WriteArray(labels)
    mask = gdal.GetDriverByName("MEM").Create("", width, height, 1, gdal.GDT_Byte)
    mask.GetRasterBand(1).WriteArray((labels > 0).astype("uint8"))
    source = ogr.GetDriverByName("Memory").CreateDataSource("")
    layer = source.CreateLayer("p", geom_type=ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("label", ogr.OFTInteger))
    if gdal.Polygonize(band, mask.GetRasterBand(1), layer, 0, [], callback=None) != 0:
        raise RasterError(f"GDAL could not polygonize rows {y}..{y + height}: {gdal.GetLastErrorMsg()}")
    return {feature.GetField(0): feature.GetGeometryRef().Clone() for feature in layer}


def _find(parent: dict[int, int], key: int) -> int:
    """Union-find root of ``key``, with path halving."""
    while parent[key] != key:
        parent[key] = parent[parent[key]]
        key = parent[key]
    return key


def assemble(
    strips: Iterator[tuple[int, np.ndarray, np.ndarray | None]], height: int
) -> Iterator[Piece]:
    """Whole regions (pixel coordinates) from strips ``(y, classes, confidence or None)`` of a raster,
    regions joined across every seam; yields each region once it is final (see the module docstring)."""
    import numpy as np
    from osgeo import ogr

    carried: dict[int, Piece] = {}
    bottom_ids: np.ndarray | None = None  # ids (of carried pieces) of the previous strip's last row
    bottom_classes: np.ndarray | None = None
    next_id = 1
    for y, classes, confidence in strips:
        labels, values = _labels(classes)
        count = len(values) - 1
        pixels = np.bincount(labels.ravel(), minlength=count + 1)
        conf = (
            np.bincount(labels.ravel(), weights=confidence.ravel().astype(np.float64), minlength=count + 1)
            if confidence is not None
            else np.zeros(count + 1)
        )
        pieces = dict(carried)
        for label, geometry in _strip_polygons(labels, y).items():
            pieces[label + next_id - 1] = Piece(geometry, int(values[label]), int(pixels[label]), float(conf[label]))
        parent = {key: key for key in pieces}
        ids = np.where(labels > 0, labels + next_id - 1, 0)
        if bottom_ids is not None and bottom_classes is not None:
            joined = (bottom_ids > 0) & (ids[0] > 0) & (bottom_classes == classes[0])
            for above, below in set(zip(bottom_ids[joined].tolist(), ids[0][joined].tolist(), strict=True)):
                root_a, root_b = _find(parent, above), _find(parent, below)
                if root_a != root_b:
                    parent[root_b] = root_a
        groups: dict[int, list[int]] = {}
        for key in pieces:
            groups.setdefault(_find(parent, key), []).append(key)
        merged: dict[int, Piece] = {}
        for root, keys in groups.items():
            if len(keys) == 1:
                merged[root] = pieces[keys[0]]
                continue
            parts = ogr.Geometry(ogr.wkbMultiPolygon)  # unioned once, when the region is final
            for key in keys:
                for part in _polygons(pieces[key].geometry):
                    parts.AddGeometry(part)
            merged[root] = Piece(
                parts,
                pieces[root].value,
                sum(pieces[key].pixels for key in keys),
                sum(pieces[key].confidence_sum for key in keys),
            )
        next_id += count
        last = classes.shape[0] + y == height
        bottom_ids = np.array([_find(parent, key) if key else 0 for key in ids[-1].tolist()], dtype=np.int64)
        bottom_classes = classes[-1].copy()
        reaching = set() if last else set(bottom_ids[bottom_ids > 0].tolist())
        carried = {}
        for root, piece in merged.items():
            if root in reaching:
                carried[root] = piece
            else:
                if piece.geometry.GetGeometryCount() > 1 and _is_multi(piece.geometry):
                    piece.geometry = piece.geometry.UnionCascaded()
                yield piece


def _prepared_strips(
    dataset: Any,
    confidence: Any | None,
    uncertain_below: float | None,
    strip_rows: int,
    is_cancelled: Callable[[], bool] | None,
) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
    """Strips ``(y, classes, confidence)`` of a classified raster (its nodata value as 0), uncertain pixels
    masked."""
    width, height = dataset.RasterXSize, dataset.RasterYSize
    nodata = dataset.GetRasterBand(1).GetNoDataValue()
    for y in range(0, height, strip_rows):
        if is_cancelled is not None and is_cancelled():
            raise CancelledError("polygonizing cancelled; nothing was written")
        rows = min(strip_rows, height - y)
        classes = dataset.GetRasterBand(1).ReadAsArray(0, y, width, rows)
        if nodata is not None and nodata != 0:
            classes[classes == nodata] = 0
        conf = confidence.GetRasterBand(1).ReadAsArray(0, y, width, rows) if confidence is not None else None
        for source in (dataset, confidence):  # GDAL's block cache would otherwise grow with the raster
            if source is not None:
                source.FlushCache()
        yield y, mask_uncertain(classes, conf, uncertain_below), conf


def _sieved_copy(dataset: Any, threshold: int, path: Path, strips: Iterator[Any]) -> Any:
    """The (masked) classes copied into the temporary GeoTIFF ``path`` and sieved in place: regions under
    ``threshold`` pixels merged into their largest neighbour; nodata (0) neither grows nor is absorbed."""
    from osgeo import gdal

    copy = gdal.GetDriverByName("GTiff").Create(
        str(path), dataset.RasterXSize, dataset.RasterYSize, 1, gdal.GDT_Byte, ["TILED=YES", "SPARSE_OK=TRUE"]
    )
    if copy is None:
        raise RasterError(f"cannot create a temporary raster in {path.parent}: {gdal.GetLastErrorMsg()}")
    band = copy.GetRasterBand(1)
    band.SetNoDataValue(0)
    for y, classes, _ in strips:
        band.WriteArray(classes, 0, y)
    band.FlushCache()
    size = 2
    while True:  # GDAL merges a small region only into a neighbour not smaller than the threshold: grow it
        size = min(size, threshold)
        if gdal.SieveFilter(band, band.GetMaskBand(), band, size, 4, callback=None) != 0:
            raise RasterError(f"GDAL's sieve failed: {gdal.GetLastErrorMsg()}")
        if size == threshold:
            break
        size *= 4
    copy.FlushCache()
    return copy


def _to_map(geometry: Any, g: Sequence[float]) -> Any:
    """The polygon moved from pixel to map coordinates by the geotransform ``g``."""
    from osgeo import ogr

    polygon = ogr.Geometry(ogr.wkbPolygon)
    for index in range(geometry.GetGeometryCount()):
        ring = ogr.Geometry(ogr.wkbLinearRing)
        for px, py, *_ in geometry.GetGeometryRef(index).GetPoints():
            ring.AddPoint_2D(g[0] + px * g[1] + py * g[2], g[3] + px * g[4] + py * g[5])
        polygon.AddGeometry(ring)
    return polygon


def _is_multi(geometry: Any) -> bool:
    """True for a multipolygon."""
    from osgeo import ogr

    return ogr.GT_Flatten(geometry.GetGeometryType()) == ogr.wkbMultiPolygon


def _polygons(geometry: Any) -> list[Any]:
    """The polygons of a polygon or multipolygon (a union can return either)."""
    if not _is_multi(geometry):
        return [geometry]
    return [geometry.GetGeometryRef(i).Clone() for i in range(geometry.GetGeometryCount())]


def polygonize_raster(
    raster_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    names: Sequence[str],
    colors: Sequence[tuple[int, int, int]],
    *,
    confidence_path: str | os.PathLike[str] | None = None,
    uncertain_below: float | None = None,
    min_area: MinArea | None = None,
    simplify: float | None = None,
    strip_rows: int = STRIP_ROWS,
    is_cancelled: Callable[[], bool] | None = None,
) -> PolygonResult:
    """Write the polygons of a classified raster (value k+1 = ``names[k]``) to a GeoPackage (module docstring).

    ``simplify``: tolerance in map units (None or 0: exact pixel outlines). ``uncertain_below`` (percent)
    needs ``confidence_path``. Raises :class:`InputError` for bad options, :class:`CancelledError` when
    ``is_cancelled()`` turns true; either way no file is left behind.
    """
    from ..raster.outputs import check_product_paths
    from ..raster.qml import categorized_style
    from ..raster.reader import open_raster
    from ..raster.temporaries import create_temporary
    from .topology import simplify_coverage

    target = check_vector_path(output_path)
    check_threshold(uncertain_below)
    if uncertain_below is not None and confidence_path is None:
        raise InputError("the uncertain class needs the confidence raster (--confidence)")
    if simplify is not None and simplify < 0:
        raise InputError(f"simplification tolerance must be >= 0, got {simplify}")
    if strip_rows < 1:
        raise InputError(f"strip height must be at least 1 row, got {strip_rows}")
    dataset = open_raster(raster_path)
    confidence = open_raster(confidence_path) if confidence_path is not None else None
    for source in (dataset, confidence):
        if source is not None:
            check_product_paths((target,), source)
    if confidence is not None and (confidence.RasterXSize, confidence.RasterYSize) != (
        dataset.RasterXSize,
        dataset.RasterYSize,
    ):
        raise InputError("the confidence raster and the class raster differ in size")
    value_names = class_value_names(names, uncertain_below is not None)
    pixel_area = PixelArea.of_dataset(dataset)
    geotransform = dataset.GetGeoTransform()
    height, width = dataset.RasterYSize, dataset.RasterXSize
    temporaries: list[Path] = []
    sieved = None
    try:
        strips = _prepared_strips(dataset, confidence, uncertain_below, strip_rows, is_cancelled)
        threshold = min_area.in_pixels(pixel_area, height, width) if min_area is not None else 0
        if threshold > 1:
            temporaries.append(create_temporary(target, ".sieve.tif"))
            sieved = _sieved_copy(dataset, threshold, temporaries[-1], strips)
            strips = _prepared_strips(sieved, confidence, None, strip_rows, is_cancelled)
        pieces: Iterator[Piece] = assemble(strips, height)
        if simplify:
            pixel_size = math.sqrt(abs(geotransform[1] * geotransform[5] - geotransform[2] * geotransform[4]))
            pieces = iter(simplify_coverage(list(pieces), simplify / pixel_size))
        temporary = create_temporary(target, ".gpkg")
        temporaries.append(temporary)
        temporary.unlink()  # the GeoPackage driver creates the file itself
        features = _write_gpkg(
            temporary,
            pieces,
            names=value_names,
            geotransform=geotransform,
            dataset=dataset,
            pixel_area=pixel_area,
            confidence=confidence,
            style=categorized_style(value_names, colors),
        )
        sieved = None
        os.replace(temporary, target)
    except BaseException:
        sieved = None
        for path in temporaries:
            for name in (path, Path(f"{path}-journal"), Path(f"{path}-wal"), Path(f"{path}-shm")):
                name.unlink(missing_ok=True)
        raise
    for path in temporaries:
        path.unlink(missing_ok=True)
    return PolygonResult(target, features, value_names)


def _write_gpkg(
    path: Path,
    pieces: Iterator[Piece],
    *,
    names: dict[int, str],
    geotransform: Sequence[float],
    dataset: Any,
    pixel_area: PixelArea,
    confidence: Any | None,
    style: str,
) -> int:
    """Write every piece as a feature of layer :data:`LAYER`, and ``style`` as its default QGIS style;
    returns the number of features."""
    from osgeo import gdal, ogr, osr

    driver = ogr.GetDriverByName("GPKG")
    source = driver.CreateDataSource(str(path))
    if source is None:
        raise RasterError(f"cannot create a GeoPackage in {path.parent}")
    srs = None
    if dataset.GetProjection():
        srs = osr.SpatialReference()
        srs.ImportFromWkt(dataset.GetProjection())
    layer = source.CreateLayer(LAYER, srs=srs, geom_type=ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("class_value", ogr.OFTInteger))
    layer.CreateField(ogr.FieldDefn("class_name", ogr.OFTString))
    layer.CreateField(ogr.FieldDefn("area_m2", ogr.OFTReal))
    if confidence is not None:
        layer.CreateField(ogr.FieldDefn("confidence", ogr.OFTReal))
    definition = layer.GetLayerDefn()
    count = 0
    layer.StartTransaction()
    for piece in pieces:
        for polygon in _polygons(piece.geometry):
            mapped = _to_map(polygon, geotransform)
            feature = ogr.Feature(definition)
            feature.SetGeometry(mapped)
            feature.SetField("class_value", piece.value)
            feature.SetField("class_name", names.get(piece.value, str(piece.value)))
            area = polygon_area_m2(mapped, pixel_area)
            if area is not None:
                feature.SetField("area_m2", area)
            if confidence is not None and piece.pixels:
                feature.SetField("confidence", piece.confidence_sum / piece.pixels)
            if layer.CreateFeature(feature) != 0:
                raise RasterError(f"cannot write {path}: {gdal.GetLastErrorMsg()}")
            count += 1
    layer.CommitTransaction()
    _write_default_style(source, layer, style)
    source = None
    return count


STYLE_TABLE_FIELDS = (  # QGIS's layer_styles table (as its OGR provider creates it)
    "f_table_catalog", "f_table_schema", "f_table_name", "f_geometry_column", "styleName", "styleQML", "styleSLD",
)


def _write_default_style(source: Any, layer: Any, qml: str) -> None:
    """Store ``qml`` as the default QGIS style of ``layer`` in the GeoPackage's ``layer_styles`` table."""
    from osgeo import ogr

    table = source.CreateLayer("layer_styles", geom_type=ogr.wkbNone)
    for name in STYLE_TABLE_FIELDS:
        table.CreateField(ogr.FieldDefn(name, ogr.OFTString))
    default = ogr.FieldDefn("useAsDefault", ogr.OFTInteger)
    default.SetSubType(ogr.OFSTBoolean)
    table.CreateField(default)
    for name in ("description", "owner", "ui"):
        table.CreateField(ogr.FieldDefn(name, ogr.OFTString))
    table.CreateField(ogr.FieldDefn("update_time", ogr.OFTDateTime))
    row = ogr.Feature(table.GetLayerDefn())
    values = ("", "", layer.GetName(), layer.GetGeometryColumn(), layer.GetName(), qml, "")
    for name, value in zip(STYLE_TABLE_FIELDS, values, strict=True):
        row.SetField(name, value)
    row.SetField("useAsDefault", 1)
    row.SetField("description", "classes in the colours of the classified raster")
    if table.CreateFeature(row) != 0:
        raise RasterError(f"cannot write the style into {source.GetDescription()}")
