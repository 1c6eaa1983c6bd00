"""``python -m engine segment``: end to end on the shipped demo raster, and one clear line per bad input."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal
from raster_fixtures import TEST_METHOD, expected_classes, pattern, write_raster

from engine.cli import main
from engine.models import RANDOM_WEIGHTS_WARNING

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "engine" / "data" / "demo" / "oem_koeln_50.tif"
LABELS = "dark: shadow; mid: grey; bright: roofs"


def segment(*args):
    return main(["segment", *map(str, args)])


def test_demo_raster_ships_with_attribution():
    ds = gdal.Open(str(DEMO))
    assert (ds.RasterXSize, ds.RasterYSize, ds.RasterCount) == (1000, 1000, 3)
    assert ds.GetMetadata_Dict("IMAGE_STRUCTURE")["COMPRESSION"] == "DEFLATE"
    readme = (DEMO.parent / "README.md").read_text()
    assert "OpenEarthMap" in readme and "CC BY-NC-SA 4.0" in readme


def test_demo_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OVSS_WEIGHTS", raising=False)
    out = tmp_path / "demo.tif"
    assert (
        segment(
            DEMO,
            out,
            "--method",
            TEST_METHOD,
            "--labels",
            LABELS,
            "--tile",
            512,
            "--overlap",
            64,
            "--confidence",
            tmp_path / "conf.tif",
        )
        == 0
    )
    captured = capsys.readouterr()
    assert captured.err == ""  # not a terminal: no progress bar, and the demo is georeferenced
    assert f"wrote {out}: 1000 x 1000 pixels, 3 classes, 9 tiles" in captured.out
    ds_in, ds_out = gdal.Open(str(DEMO)), gdal.Open(str(out))
    assert ds_out.GetGeoTransform() == ds_in.GetGeoTransform()
    assert np.array_equal(ds_out.ReadAsArray(), expected_classes(ds_in.ReadAsArray()))
    assert ds_out.GetMetadataItem("OVSS_WEIGHTS") == "default"


@pytest.mark.parametrize("how", ["flag", "env"])
def test_random_weights_are_announced(tmp_path, capsys, monkeypatch, how):
    src = write_raster(tmp_path / "in.tif", pattern(30, 40))
    extra = []
    if how == "flag":
        extra = ["--weights", "random"]
    else:
        monkeypatch.setenv("OVSS_WEIGHTS", "random")
    assert (
        segment(
            src,
            tmp_path / "o.tif",
            "--method",
            TEST_METHOD,
            "--labels",
            LABELS,
            "--tile",
            32,
            "--overlap",
            4,
            *extra,
        )
        == 0
    )
    assert RANDOM_WEIGHTS_WARNING in capsys.readouterr().err
    assert gdal.Open(str(tmp_path / "o.tif")).GetMetadataItem("OVSS_WEIGHTS") == "random"


@pytest.fixture
def rgb(tmp_path):
    return write_raster(tmp_path / "in.tif", pattern(30, 40))


BAD_INPUTS = [
    (["MISSING", "OUT", "--labels", LABELS], "error: input raster not found: "),
    (["NOTRASTER", "OUT", "--labels", LABELS], "error: not a raster GDAL can read: "),
    (["EMPTY", "OUT", "--labels", LABELS], "error: input file is empty (0 bytes): "),
    (["ZERO", "OUT", "--labels", LABELS], "error: not a raster GDAL can read: "),
    (["IN", "OUT", "--labels", LABELS, "--bands", "1,2,9"], "error: band 9 is out of range: "),
    (["IN", "OUT", "--labels", LABELS, "--bands", "red"], "error: --bands takes band numbers separated by"),
    (
        ["IN", "OUT", "--labels", LABELS, "--tile", "4"],
        "error: tile size 4 is smaller than the method accepts (at least 8)",
    ),
    (
        ["IN", "OUT", "--labels", LABELS, "--tile", "64", "--overlap", "32"],
        "error: overlap 32 must be less than half the tile size 64",
    ),
    (["IN", "NOFOLDER", "--labels", LABELS], "error: output folder does not exist: "),
    (["IN", "OUT", "--labels", "roads; ; water"], "error: "),
    (["IN", "OUT", "--labels", "water"], "error: label text: at least two classes are needed"),
    (["IN", "OUT", "--labels", "water; Water"], "error: label text: duplicate class name"),
    (["IN", "OUT", "--preset", "no-such-preset"], "error: unknown preset 'no-such-preset'"),
    (
        ["IN", "OUT", "--labels", LABELS, "--method", "no-such-method"],
        "error: unknown method 'no-such-method'",
    ),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUTS)
def test_bad_input_gives_one_clear_line(tmp_path, rgb, capsys, args, message):
    (tmp_path / "notes.tif").write_text("hello")
    (tmp_path / "empty.tif").write_bytes(b"")
    (tmp_path / "zero.vrt").write_text(
        '<VRTDataset rasterXSize="0" rasterYSize="5"><VRTRasterBand dataType="Byte" band="1"/></VRTDataset>'
    )
    paths = {
        "MISSING": tmp_path / "missing.tif",
        "NOTRASTER": tmp_path / "notes.tif",
        "EMPTY": tmp_path / "empty.tif",
        "ZERO": tmp_path / "zero.vrt",
        "IN": rgb,
        "OUT": tmp_path / "out.tif",
        "NOFOLDER": tmp_path / "nowhere" / "out.tif",
    }
    argv = [str(paths.get(a, a)) for a in args]
    if "--method" not in argv:
        argv += ["--method", TEST_METHOD]
    assert main(["segment", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err
    assert not (tmp_path / "out.tif").exists()


def test_no_traceback_from_the_real_command(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "segment",
            str(tmp_path / "nope.tif"),
            str(tmp_path / "o.tif"),
            "--method",
            "any",
            "--labels",
            LABELS,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unknown method 'any'; known methods: ")
    assert "Traceback" not in proc.stderr


def test_band_mapping_option(tmp_path, rgb, capsys):
    assert (
        segment(
            rgb,
            tmp_path / "o.tif",
            "--method",
            TEST_METHOD,
            "--labels",
            LABELS,
            "--bands",
            "3,1,2",
            "--tile",
            32,
            "--overlap",
            4,
        )
        == 0
    )
    data = gdal.Open(str(rgb)).ReadAsArray()
    assert np.array_equal(gdal.Open(str(tmp_path / "o.tif")).ReadAsArray(), expected_classes(data[[2, 0, 1]]))


def test_two_band_raster_warns_about_the_band_mapping(tmp_path, capsys):
    src = write_raster(tmp_path / "two.tif", pattern(30, 40)[:2])
    assert segment(src, tmp_path / "o.tif", "--method", TEST_METHOD, "--labels", LABELS, "--tile", 32,
                   "--overlap", 4) == 0
    err = capsys.readouterr().err
    assert "warning: " in err and "2 colour band(s)" in err and "band 1 feeds R, G and B" in err
