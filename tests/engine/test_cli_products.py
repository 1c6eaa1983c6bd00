"""``segment --vector/--min-area/--simplify/--stats/--report/--quicklook/--uncertain-below`` end to end, on
the demo raster and on a raster in a geographic CRS."""

import json
from pathlib import Path

import pytest
from osgeo import gdal, ogr
from raster_fixtures import TEST_METHOD, pattern, write_raster
from test_analysis_areas import wgs84_wkt

from engine.analysis.areas import UNCERTAIN_VALUE, read_areas
from engine.cli import main

DEMO = Path(__file__).resolve().parents[2] / "engine" / "data" / "demo" / "oem_koeln_50.tif"
LABELS = "dark: shadow; mid: grey; bright: roofs"


def segment(*args):
    return main(["segment", *map(str, args), "--method", TEST_METHOD, "--labels", LABELS])


def test_demo_with_every_product(tmp_path, capsys):
    out = tmp_path / "demo.tif"
    assert segment(
        DEMO, out, "--confidence", tmp_path / "conf.tif", "--vector", tmp_path / "demo.gpkg",
        "--min-area", "10", "--stats", tmp_path / "areas.json",
        "--report", tmp_path / "report.html", "--quicklook", tmp_path / "quick.png",
    ) == 0
    printed = capsys.readouterr().out
    stats = json.loads((tmp_path / "areas.json").read_text())
    assert stats["valid_m2"] == pytest.approx(1000 * 1000 * 0.25)  # the demo: 1000 x 1000 pixels of 0.5 m
    stored = read_areas(gdal.Open(str(out)).GetMetadata())
    assert [row.pixels for row in stored] == [row["pixels"] for row in stats["classes"]]
    source = ogr.Open(str(tmp_path / "demo.gpkg"))
    layer = source.GetLayerByName("classes")
    assert layer.GetFeatureCount() > 0 and min(f.GetField("area_m2") for f in layer) >= 10 - 1e-6
    assert sum(f.GetField("area_m2") for f in layer) == pytest.approx(250000.0)
    assert 'type="paletted"' in (tmp_path / "demo.qml").read_text()  # the raster's style, not the polygons'
    assert (tmp_path / "quick.png").stat().st_size > 1000
    assert "data:image/png;base64," in (tmp_path / "report.html").read_text()
    assert "polygons" in printed and "ha (" in printed


def test_geographic_raster_with_uncertain_class(tmp_path, capsys):
    rgb = pattern(60, 80)
    rgb[:, :10, :] = 74  # halfway between the dark and mid reference colours: unsure
    src = write_raster(
        tmp_path / "geo.tif", rgb, geotransform=(7.0, 0.0001, 0.0, 51.0, 0.0, -0.0001),
        projection=wgs84_wkt(),
    )
    assert segment(
        src, tmp_path / "out.tif", "--tile", 32, "--overlap", 8, "--confidence", tmp_path / "c.tif",
        "--uncertain-below", 90, "--vector", tmp_path / "v.gpkg", "--simplify", 0.0002, "--stats", tmp_path / "s.csv",
    ) == 0
    lines = (tmp_path / "s.csv").read_text().splitlines()
    assert lines[0] == "value,name,pixels,m2,hectares,percent" and lines[-1].startswith(f"{UNCERTAIN_VALUE},uncertain,")
    source = ogr.Open(str(tmp_path / "v.gpkg"))
    layer = source.GetLayerByName("classes")
    total = sum(float(line.split(",")[3]) for line in lines[1:])
    assert sum(f.GetField("area_m2") for f in layer) == pytest.approx(total, rel=1e-6)  # simplified: no gaps
    assert 3.7e5 < total < 3.8e5  # 80 x 60 cells of 0.0001 deg at 51 N: about 7.0 m x 11.1 m each
    assert int(lines[-1].split(",")[2]) >= 10 * 80  # the unsure rows


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--vector", "x.shp"], "GeoPackage"),
        (["--stats", "x.txt"], "csv or .json"),
        (["--report", "x.pdf"], ".html"),
        (["--uncertain-below", "50"], "--confidence"),
        (["--simplify", "2"], "--vector"),
        (["--vector", "x.gpkg", "--min-area", "lots"], "m2 or pixels"),
    ],
)
def test_bad_products_fail_before_the_run(tmp_path, capsys, args, message):
    src = write_raster(tmp_path / "in.tif", pattern(20, 20))
    arguments = [a if not a.startswith("x.") else str(tmp_path / a) for a in args]
    assert segment(src, tmp_path / "out.tif", *arguments) != 0
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out.tif").exists()


def test_polygonize_command_on_an_existing_raster(tmp_path, capsys):
    out = tmp_path / "out.tif"
    assert segment(write_raster(tmp_path / "in.tif", pattern(30, 30)), out) == 0
    gpkg, stats = tmp_path / "p.gpkg", tmp_path / "p.json"
    assert main(["polygonize", str(out), str(gpkg), "--min-area", "3px", "--stats", str(stats)]) == 0
    assert "polygons" in capsys.readouterr().out
    source = ogr.Open(str(gpkg))
    total = sum(f.GetField("area_m2") for f in source.GetLayerByName("classes"))
    assert total == pytest.approx(json.loads(stats.read_text())["valid_m2"]) == pytest.approx(30 * 30 * 0.25)
    assert main(["polygonize", str(out), str(tmp_path / "p.shp")]) != 0
    assert "GeoPackage" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("driver", "name", "option"), [("GPKG", "in.gpkg", "--vector"), ("PNG", "in.png", "--quicklook")]
)
def test_products_never_overwrite_the_input(tmp_path, capsys, driver, name, option):
    src = write_raster(tmp_path / name, pattern(20, 20), driver=driver)
    before = src.read_bytes()
    assert segment(src, tmp_path / "out.tif", option, tmp_path / name) != 0
    assert "a file of the input" in capsys.readouterr().err
    assert src.read_bytes() == before and not (tmp_path / "out.tif").exists()
    classes = tmp_path / "classes.gpkg"
    write_raster(classes, pattern(20, 20)[:1], driver="GPKG")
    assert main(["polygonize", str(classes), str(classes)]) != 0
    assert "a file of the input" in capsys.readouterr().err
