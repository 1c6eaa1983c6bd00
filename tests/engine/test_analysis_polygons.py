"""Polygons of a classified raster: joined across strips, sieved, simplified without gaps or overlaps,
with attributes checked against the raster itself."""

import numpy as np
import pytest
from osgeo import ogr
from raster_fixtures import write_raster
from scipy import ndimage
from test_analysis_areas import wgs84_wkt

from engine.analysis.areas import UNCERTAIN_VALUE, raster_areas
from engine.analysis.polygons import MinArea, polygonize_raster
from engine.errors import CancelledError, InputError

G = (350000.0, 2.0, 0.0, 5650000.0, 0.0, -2.0)
NAMES = ["water", "trees", "roofs"]
COLORS = [(0, 0, 255), (0, 160, 0), (200, 50, 50)]


def blocky(height, width, seed=0, nodata=True):
    """Class values 1..3 in random 5x5 blocks with single-pixel specks; a nodata corner when asked."""
    rng = np.random.default_rng(seed)
    classes = np.kron(rng.integers(1, 4, size=(height // 5 + 1, width // 5 + 1)), np.ones((5, 5), int))
    classes = classes[:height, :width].astype(np.uint8)
    specks = rng.random((height, width)) < 0.02
    classes[specks] = rng.integers(1, 4, size=int(specks.sum()))
    if nodata:
        classes[: height // 4, : width // 4] = 0
    return classes


def save(tmp_path, classes, name="c.tif", g=G, projection="utm32"):
    return write_raster(tmp_path / name, classes[None], geotransform=g, projection=projection)


def features(path):
    source = ogr.Open(str(path))
    layer = source.GetLayerByName("classes")
    rows = [
        (f.GetField("class_value"), f.GetField("class_name"), f.GetField("area_m2"), f.GetGeometryRef().Clone(),
         f.GetField("confidence") if layer.GetLayerDefn().GetFieldIndex("confidence") >= 0 else None)
        for f in layer
    ]
    return rows


def regions(classes):
    """Number of 4-connected regions of one class, counted independently with scipy."""
    return sum(ndimage.label(classes == v)[1] for v in np.unique(classes) if v)


def test_regions_are_joined_across_strips(tmp_path):
    classes = blocky(43, 57)
    src = save(tmp_path, classes)
    whole = features(polygonize_raster(src, tmp_path / "whole.gpkg", NAMES, COLORS, strip_rows=1000).path)
    strips = features(polygonize_raster(src, tmp_path / "strips.gpkg", NAMES, COLORS, strip_rows=4).path)
    assert len(whole) == len(strips) == regions(classes)
    key = lambda row: (row[0], round(row[2], 6), row[3].Centroid().ExportToWkt())  # noqa: E731
    for a, b in zip(sorted(whole, key=key), sorted(strips, key=key), strict=True):
        assert a[:3] == b[:3]
        assert a[3].SymDifference(b[3]).GetArea() == 0


def test_one_class_over_many_strips_is_one_polygon(tmp_path):
    classes = np.ones((40, 30), dtype=np.uint8)
    classes[10:30, 5:25] = 2  # a ring of class 1 around a block of class 2: the ring has a hole
    rows = features(polygonize_raster(save(tmp_path, classes), tmp_path / "o.gpkg", NAMES, COLORS, strip_rows=3).path)
    assert sorted((r[0], r[3].GetGeometryCount()) for r in rows) == [(1, 2), (2, 1)]
    assert sorted(r[2] for r in rows) == [4 * 400.0, 4 * (1200.0 - 400.0)]


def test_areas_and_names_match_the_raster(tmp_path):
    classes = blocky(50, 40, seed=3)
    src = save(tmp_path, classes)
    rows = features(polygonize_raster(src, tmp_path / "o.gpkg", NAMES, COLORS, strip_rows=7).path)
    table = raster_areas(src, NAMES)
    for row in table.rows:
        assert sum(r[2] for r in rows if r[0] == row.value) == pytest.approx(row.m2)
        assert {r[1] for r in rows if r[0] == row.value} == {row.name}


def test_geographic_areas_match_the_raster(tmp_path):
    classes = blocky(30, 40, seed=4)
    src = save(tmp_path, classes, g=(7.0, 0.001, 0.0, 50.0, 0.0, -0.001), projection=wgs84_wkt())
    rows = features(polygonize_raster(src, tmp_path / "o.gpkg", NAMES, COLORS, strip_rows=6).path)
    for row in raster_areas(src, NAMES).rows:
        assert sum(r[2] for r in rows if r[0] == row.value) == pytest.approx(row.m2, rel=1e-9)


def test_sieve_removes_regions_under_the_minimum_area(tmp_path):
    classes = np.ones((20, 20), dtype=np.uint8)
    classes[5, 5] = 2  # one pixel
    classes[10:13, 10:13] = 3  # nine pixels
    src = save(tmp_path, classes)
    assert {r[0] for r in features(polygonize_raster(src, tmp_path / "a.gpkg", NAMES, COLORS).path)} == {1, 2, 3}
    pixels = features(polygonize_raster(src, tmp_path / "b.gpkg", NAMES, COLORS, min_area=MinArea.parse("2px")).path)
    assert sorted(r[0] for r in pixels) == [1, 3]
    m2 = features(polygonize_raster(src, tmp_path / "c.gpkg", NAMES, COLORS, min_area=MinArea.parse("40")).path)
    assert [r[0] for r in m2] == [1] and m2[0][2] == pytest.approx(400 * 4.0)  # 40 m2 = 10 pixels of 4 m2


def test_simplified_polygons_have_no_gaps_or_overlaps(tmp_path):
    field = ndimage.gaussian_filter(np.random.default_rng(5).normal(size=(60, 50)), 4)
    classes = (np.digitize(field, np.quantile(field, [0.33, 0.66])) + 1).astype(np.uint8)  # wiggly regions
    classes[20, 20] = 4 - classes[20, 20] if classes[20, 20] != 2 else 1  # and an island of one pixel
    src = save(tmp_path, classes)
    exact = features(polygonize_raster(src, tmp_path / "e.gpkg", NAMES, COLORS, strip_rows=9).path)
    rows = features(polygonize_raster(src, tmp_path / "s.gpkg", NAMES, COLORS, simplify=5.0, strip_rows=9).path)
    assert len(rows) == len(exact)
    geometries = [r[3] for r in rows]
    assert all(g.IsValid() for g in geometries)
    union = ogr.Geometry(ogr.wkbMultiPolygon)
    for g in geometries:
        union.AddGeometry(g)
    assert union.UnionCascaded().GetArea() == pytest.approx(60 * 50 * 4.0)  # no gaps
    assert sum(g.GetArea() for g in geometries) == pytest.approx(60 * 50 * 4.0)  # no overlaps
    for i, a in enumerate(geometries):
        for b in geometries[i + 1 :]:
            meeting = a.Intersection(b)
            assert meeting.IsEmpty() or meeting.GetDimension() < 2 or meeting.GetArea() == pytest.approx(0, abs=1e-9)
    assert vertices(rows) < 0.6 * vertices(exact)


def vertices(rows):
    """Vertices of every ring of every polygon."""
    return sum(r[3].GetGeometryRef(i).GetPointCount() for r in rows for i in range(r[3].GetGeometryCount()))


def test_uncertain_pixels_and_mean_confidence(tmp_path):
    classes = np.ones((10, 10), dtype=np.uint8)
    classes[:, 5:] = 2
    confidence = np.full((10, 10), 80, dtype=np.uint8)
    confidence[:, 5:] = 60
    confidence[:3, :3] = 10  # an unsure corner of class 1
    src, conf = save(tmp_path, classes), save(tmp_path, confidence, "conf.tif")
    out = polygonize_raster(src, tmp_path / "u.gpkg", NAMES, COLORS, confidence_path=conf, uncertain_below=50)
    rows = {r[0]: r for r in features(out.path)}
    assert set(rows) == {1, 2, UNCERTAIN_VALUE} and rows[UNCERTAIN_VALUE][1] == "uncertain"
    assert rows[UNCERTAIN_VALUE][2] == pytest.approx(9 * 4.0) and rows[UNCERTAIN_VALUE][4] == pytest.approx(10)
    assert rows[2][4] == pytest.approx(60) and rows[1][4] == pytest.approx(80)
    with pytest.raises(InputError, match="confidence raster"):
        polygonize_raster(src, tmp_path / "x.gpkg", NAMES, COLORS, uncertain_below=50)


def test_failure_or_cancel_leaves_nothing(tmp_path):
    src = save(tmp_path, blocky(40, 40))
    existing = tmp_path / "keep.gpkg"
    existing.write_bytes(b"old")
    calls = iter([False, False, True])
    with pytest.raises(CancelledError):
        polygonize_raster(src, existing, NAMES, COLORS, strip_rows=5, is_cancelled=lambda: next(calls, True),
                          min_area=MinArea(3, pixels=True))
    assert existing.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.tif", "keep.gpkg"]
    with pytest.raises(InputError, match="GeoPackage"):
        polygonize_raster(src, tmp_path / "x.shp", NAMES, COLORS)
    with pytest.raises(InputError, match="m2 or pixels"):
        MinArea.parse("big")


def test_style_has_the_class_colours_and_names(tmp_path):
    src = save(tmp_path, blocky(10, 10))
    raster_style = tmp_path / "c.qml"
    raster_style.write_text("the raster's own style")
    out = polygonize_raster(src, tmp_path / "c.gpkg", NAMES, COLORS)  # same stem as the raster
    assert raster_style.read_text() == "the raster's own style"
    source = ogr.Open(str(out.path))
    styles = source.GetLayerByName("layer_styles")
    row = next(iter(styles))
    assert (row.GetField("f_table_name"), row.GetField("f_geometry_column"), row.GetField("useAsDefault")) == (
        "classes", "geom", 1,
    )
    qml = row.GetField("styleQML")
    assert 'attr="class_value"' in qml and 'label="trees"' in qml and "0,160,0,255" in qml
    assert out.features == len(features(out.path))
    assert source.GetLayerByName("classes").GetSpatialRef().GetAuthorityCode(None) == "32632"
