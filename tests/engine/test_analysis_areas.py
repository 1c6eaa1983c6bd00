"""Areas per class: checked against areas computed another way (shoelace of the corners, geodesic
polygons from pyproj, numerical integration), and written by a run into its output's metadata."""

import csv
import json
import math

import numpy as np
import pytest
from osgeo import gdal, ogr, osr
from raster_fixtures import ColourMethod, labels, pattern, write_raster

from engine.analysis.areas import (
    UNCERTAIN_VALUE,
    AreaCounter,
    PixelArea,
    class_value_names,
    raster_areas,
    read_areas,
    write_stats,
)
from engine.errors import InputError
from engine.pipeline import segment_raster


def wgs84_wkt() -> str:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    return srs.ExportToWkt()


def classes_raster(path, classes, geotransform, projection="utm32"):
    return write_raster(path, classes[None].astype(np.uint8), geotransform=geotransform, projection=projection)


def test_utm_raster_of_known_size(tmp_path):
    rng = np.random.default_rng(1)
    classes = rng.integers(0, 4, size=(80, 100)).astype(np.uint8)  # 0 = nodata
    path = classes_raster(tmp_path / "c.tif", classes, (350000.0, 2.0, 0.0, 5650000.0, 0.0, -2.0))
    table = raster_areas(path, ["a", "b", "c"])
    for row in table.rows:
        pixels = int((classes == row.value).sum())
        assert row.pixels == pixels
        assert row.m2 == pytest.approx(4.0 * pixels)
        assert row.hectares == pytest.approx(4.0 * pixels / 10_000)
        assert row.percent == pytest.approx(100 * pixels / int((classes > 0).sum()))
    assert table.valid_m2 == pytest.approx(4.0 * (classes > 0).sum())


def test_rotated_geotransform_matches_the_shoelace_area_of_the_corners(tmp_path):
    g = (350000.0, 0.3, 0.4, 5650000.0, 0.4, -0.3)  # rotated and sheared: |det| = 0.25
    classes = np.ones((50, 70), dtype=np.uint8)
    path = classes_raster(tmp_path / "r.tif", classes, g)
    ring = ogr.Geometry(ogr.wkbLinearRing)
    for px, py in ((0, 0), (70, 0), (70, 50), (0, 50), (0, 0)):
        ring.AddPoint_2D(*gdal.ApplyGeoTransform(g, px, py))
    polygon = ogr.Geometry(ogr.wkbPolygon)
    polygon.AddGeometry(ring)
    assert raster_areas(path, ["all"]).valid_m2 == pytest.approx(polygon.GetArea(), rel=1e-12)


def zone_by_quadrature(phi1: float, phi2: float, a: float, f: float) -> float:
    """Area per radian of longitude between two latitudes: the integral of M N cos(phi), by Simpson's rule."""
    e2 = f * (2 - f)
    phi = np.linspace(phi1, phi2, 2001)
    w = 1 - e2 * np.sin(phi) ** 2
    integrand = a * (1 - e2) / w**1.5 * a / np.sqrt(w) * np.cos(phi)
    h = (phi2 - phi1) / 2000
    return h / 3 * (integrand[0] + integrand[-1] + 4 * integrand[1:-1:2].sum() + 2 * integrand[2:-1:2].sum())


def test_geographic_rows_match_numerical_integration():
    g = (10.0, 0.01, 0.0, 60.0, 0.0, -0.01)
    areas = PixelArea.of(g, wgs84_wkt()).block(0, 0, 5, 300)
    a, f = 6378137.0, 1 / 298.257223563
    for row in (0, 137, 299):
        top, bottom = math.radians(60.0 - 0.01 * row), math.radians(60.0 - 0.01 * (row + 1))
        expected = zone_by_quadrature(bottom, top, a, f) * math.radians(0.01)
        assert areas[row, 0] == pytest.approx(expected, rel=1e-9)


def geodesic_area(points) -> float:
    """Area of a lon/lat polygon on WGS 84, edges densified so that geodesics follow parallels closely."""
    pyproj = pytest.importorskip("pyproj")
    geod = pyproj.Geod(ellps="WGS84")
    dense = []
    for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1], strict=True):
        for t in np.linspace(0, 1, 2000, endpoint=False):
            dense.append((x1 + t * (x2 - x1), y1 + t * (y2 - y1)))
    area, _ = geod.polygon_area_perimeter([p[0] for p in dense], [p[1] for p in dense])
    return abs(area)


def test_geographic_raster_total_matches_a_geodesic_polygon(tmp_path):
    g = (6.5, 0.002, 0.0, 51.2, 0.0, -0.002)
    classes = np.full((250, 400), 2, dtype=np.uint8)
    classes[:, :100] = 1
    path = classes_raster(tmp_path / "g.tif", classes, g, projection=wgs84_wkt())
    table = raster_areas(path, ["west", "east"])
    west = geodesic_area([(6.5, 51.2), (6.7, 51.2), (6.7, 50.7), (6.5, 50.7)])
    total = geodesic_area([(6.5, 51.2), (7.3, 51.2), (7.3, 50.7), (6.5, 50.7)])
    assert table.rows[0].m2 == pytest.approx(west, rel=1e-6)
    assert table.valid_m2 == pytest.approx(total, rel=1e-6)
    assert table.rows[0].percent == pytest.approx(25.0, rel=1e-9)  # equal-width columns: same share


def test_rotated_geographic_raster_matches_a_geodesic_polygon():
    angle = math.radians(20)
    step = 0.001
    g = (7.0, step * math.cos(angle), step * math.sin(angle), 50.0, step * math.sin(angle), -step * math.cos(angle))
    counter = AreaCounter(PixelArea.of(g, wgs84_wkt()))
    counter.add(0, 0, np.ones((300, 200), dtype=np.uint8))
    corners = [gdal.ApplyGeoTransform(g, px, py) for px, py in ((0, 0), (200, 0), (200, 300), (0, 300))]
    assert counter.table({1: "x"}).valid_m2 == pytest.approx(geodesic_area(corners), rel=1e-6)


def test_no_georeferencing_gives_pixels_only(tmp_path):
    path = classes_raster(tmp_path / "n.tif", np.ones((10, 10), dtype=np.uint8), None, projection=None)
    table = raster_areas(path, ["x"])
    assert table.rows[0].pixels == 100 and table.rows[0].m2 is None and table.rows[0].percent == 100.0


def test_uncertain_pixels_are_a_class_of_their_own(tmp_path):
    g = (350000.0, 1.0, 0.0, 5650000.0, 0.0, -1.0)
    classes = np.array([[1, 1, 2, 0]], dtype=np.uint8)
    confidence = np.array([[90, 30, 20, 0]], dtype=np.uint8)
    path = classes_raster(tmp_path / "c.tif", classes, g)
    conf = classes_raster(tmp_path / "conf.tif", confidence, g)
    table = raster_areas(path, ["a", "b"], confidence_path=conf, uncertain_below=50)
    rows = [(r.value, r.name, r.pixels) for r in table.rows]
    assert rows == [(1, "a", 1), (2, "b", 0), (UNCERTAIN_VALUE, "uncertain", 2)]
    with pytest.raises(InputError, match="percent"):
        raster_areas(path, ["a", "b"], confidence_path=conf, uncertain_below=0)
    other_nodata = write_raster(tmp_path / "n.tif", np.array([[[1, 9, 9]]], dtype=np.uint8), nodata=9, geotransform=g)
    low = classes_raster(tmp_path / "low.tif", np.array([[10, 10, 10]], dtype=np.uint8), g)
    rows = raster_areas(other_nodata, ["a"], confidence_path=low, uncertain_below=50).rows
    assert [(r.name, r.pixels) for r in rows] == [("a", 0), ("uncertain", 1)]  # the nodata 9 is no class at all
    with pytest.raises(InputError, match="fewer than"):
        class_value_names([str(i) for i in range(255)], uncertain=True)


def test_stats_files(tmp_path):
    g = (350000.0, 1.0, 0.0, 5650000.0, 0.0, -1.0)
    classes = np.array([[1, 1, 2, 2, 2]], dtype=np.uint8)
    table = raster_areas(classes_raster(tmp_path / "c.tif", classes, g), ["a", "b"])
    rows = list(csv.DictReader(write_stats(table, tmp_path / "s.csv").open()))
    assert [(r["name"], float(r["m2"]), float(r["percent"])) for r in rows] == [("a", 2.0, 40.0), ("b", 3.0, 60.0)]
    data = json.loads(write_stats(table, tmp_path / "s.json").read_text())
    assert data["valid_m2"] == 5.0 and data["classes"][1]["pixels"] == 3
    with pytest.raises(InputError, match=r"csv or \.json"):
        write_stats(table, tmp_path / "s.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.tif", "s.csv", "s.json"]


def test_run_writes_its_areas_into_the_output_metadata(tmp_path):
    src = write_raster(tmp_path / "in.tif", pattern(90, 70))
    out = tmp_path / "out.tif"
    result = segment_raster(src, out, ColourMethod(), labels(), tile=32, overlap=8, batch=1)
    dataset = gdal.Open(str(out))
    written = dataset.GetRasterBand(1).ReadAsArray()
    stored = read_areas(dataset.GetMetadata())
    assert [row.name for row in stored] == list(labels().names)
    for row in stored:
        assert row.pixels == int((written == row.value).sum())
        assert row.m2 == pytest.approx(0.25 * row.pixels)  # the fixture's 0.5 m pixels
    assert result.areas is not None and list(result.areas.rows) == stored
