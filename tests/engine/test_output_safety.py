"""What a run writes, and what it refuses to write: never a file of the input, under any spelling, nor of
another output; only GeoTIFF names; permissions of a normal new file; a colour table of exactly the classes
and a QGIS style beside every output."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from osgeo import gdal
from raster_fixtures import TEST_METHOD, ColourMethod, labels, pattern, write_raster

from engine.cli import main
from engine.errors import RasterError
from engine.labels import parse_labels
from engine.pipeline import segment_raster

LABELS = "dark: shadow; mid: grey; bright: roofs"
TILE = ["--tile", "32", "--overlap", "4"]


def segment(*args: object) -> int:
    return main(["segment", *map(str, args), "--method", TEST_METHOD, "--labels", LABELS, *TILE])


@pytest.fixture
def scene(tmp_path):
    """``tmp_path/dir/a.tif`` and its bytes."""
    (tmp_path / "dir").mkdir()
    path = write_raster(tmp_path / "dir" / "a.tif", pattern(30, 40))
    return path, path.read_bytes()


def _refused(capsys, message: str) -> None:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


@pytest.mark.parametrize("spelling", ["relative-up", "dot-dot", "symlink-input", "hard-link"])
def test_the_input_under_another_spelling_is_refused(scene, tmp_path, monkeypatch, capsys, spelling):
    path, before = scene
    if spelling == "relative-up":  # `segment a.tif ../dir/a.tif` from inside dir
        monkeypatch.chdir(path.parent)
        args = ("a.tif", "../dir/a.tif")
    elif spelling == "dot-dot":
        args = (path, tmp_path / "dir" / ".." / "dir" / "." / "a.tif")
    elif spelling == "symlink-input":  # the input through a link, its target as the output
        link = tmp_path / "link.tif"
        link.symlink_to(path)
        args = (link, path)
    else:
        twin = tmp_path / "twin.tif"
        os.link(path, twin)
        args = (path, twin)
    assert segment(*args) == 2
    _refused(capsys, "would overwrite the input")
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.tif"]


@pytest.mark.parametrize("option", ["--probabilities", "--confidence"])
def test_every_output_is_checked_against_the_input(scene, tmp_path, capsys, option):
    path, before = scene
    assert segment(path, tmp_path / "o.tif", option, tmp_path / "dir" / ".." / "dir" / "a.tif") == 2
    _refused(capsys, "would overwrite the input")
    assert path.read_bytes() == before and not (tmp_path / "o.tif").exists()


def test_a_file_a_vrt_input_reads_is_refused(scene, tmp_path, capsys):
    path, before = scene
    vrt = tmp_path / "v.vrt"
    gdal.Translate(str(vrt), str(path), format="VRT")
    assert segment(vrt, tmp_path / "dir" / "." / "a.tif") == 2
    _refused(capsys, f"a file of the input {vrt}")
    assert path.read_bytes() == before


def test_the_style_of_the_input_is_refused(scene, capsys):
    """Output ``a.tiff`` beside input ``a.tif`` would write ``a.qml``, which QGIS applies to the input."""
    path, _ = scene
    assert segment(path, path.with_suffix(".tiff")) == 2
    _refused(capsys, f"would overwrite {path.with_suffix('.qml')}, a file of the input")
    assert not path.with_suffix(".qml").exists()


def test_outputs_may_not_share_a_file(scene, tmp_path, capsys):
    path, _ = scene
    assert segment(path, tmp_path / "o.tif", "--confidence", tmp_path / "o.tiff") == 2
    _refused(capsys, "written for another output of the run")
    assert segment(path, tmp_path / "o.tif", "--confidence", tmp_path / "." / "o.tif") == 2
    assert list(tmp_path.glob("o.*")) == []


@pytest.mark.parametrize("name", ["out.png", "out.txt", "out", "out.tif.aux.xml", "a.tif.ovr"])
def test_output_must_be_named_tif_or_tiff(scene, tmp_path, capsys, name):
    path, _ = scene
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert segment(path, tmp_path / "dir" / name) == 2
    _refused(capsys, "output must be a GeoTIFF named .tif or .tiff")
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_python_api_refuses_other_formats_before_model_work(scene, tmp_path):
    path, _ = scene
    method = ColourMethod()
    with pytest.raises(RasterError, match=r"output must be a GeoTIFF named \.tif or \.tiff"):
        segment_raster(path, tmp_path / "o.png", method, labels(), tile=32, overlap=4)
    with pytest.raises(RasterError, match="would overwrite the input"):
        segment_raster(
            path, tmp_path / "o.tif", method, labels(), tile=32, overlap=4,
            confidence_path=path.parent / ".." / "dir" / "a.tif",
        )
    assert method.calls == [] and method.prepared is None
    assert segment_raster(path, tmp_path / "O.TIFF", method, labels(), tile=32, overlap=4).output_path.exists()


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_outputs_get_the_permissions_of_a_new_file(scene, tmp_path, umask):
    path, _ = scene
    previous = os.umask(umask)
    try:
        assert segment(path, tmp_path / "o.tif", "--confidence", tmp_path / "c.tif") == 0
    finally:
        os.umask(previous)
    written = ["o.tif", "o.tif.aux.xml", "o.qml", "c.tif", "c.qml"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == sorted(written)
    for name in written:
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def test_colour_table_has_exactly_the_classes_and_nodata(scene, tmp_path):
    path, _ = scene
    out = tmp_path / "o.tif"
    assert segment(path, out) == 0
    dataset = gdal.Open(str(out))
    band = dataset.GetRasterBand(1)
    table = band.GetColorTable()
    expected = [(0, 0, 0, 0), *((*color, 255) for color in parse_labels(LABELS).colors)]
    assert [table.GetColorEntry(i) for i in range(table.GetCount())] == expected
    assert band.GetColorInterpretation() == gdal.GCI_PaletteIndex
    assert band.GetCategoryNames() == ["nodata", "dark", "mid", "bright"]


def test_a_style_is_written_beside_every_output(scene, tmp_path):
    path, _ = scene
    paths = {"o": tmp_path / "o.tif", "p": tmp_path / "p.tif", "c": tmp_path / "c.tif"}
    assert segment(path, paths["o"], "--probabilities", paths["p"], "--confidence", paths["c"]) == 0
    styles = {key: ET.parse(value.with_suffix(".qml")).getroot() for key, value in paths.items()}
    entries = [
        (e.get("value"), e.get("label"), e.get("color")) for e in styles["o"].iter("paletteEntry")
    ]
    colors = ["#{:02x}{:02x}{:02x}".format(*c) for c in parse_labels(LABELS).colors]
    assert entries == list(zip(["1", "2", "3"], ["dark", "mid", "bright"], colors, strict=True))
    for key, low, high in (("p", 0.0, 1.0), ("c", 1.0, 100.0)):
        renderer = styles[key].find("pipe/rasterrenderer")
        assert renderer.get("type") == "singlebandgray" and renderer.get("grayBand") == "1"
        assert float(renderer.findtext("contrastEnhancement/minValue")) == low
        assert float(renderer.findtext("contrastEnhancement/maxValue")) == high
    data = gdal.Open(str(paths["c"])).ReadAsArray()
    assert np.all((data >= 1) & (data <= 100))
