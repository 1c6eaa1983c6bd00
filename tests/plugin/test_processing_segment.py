"""``ovss:segment`` through Processing: provider identity, outputs (CRS, extent, classes), extent windows,
method parameters, random-weights warning, progress and cancellation, and clear validation messages."""

from __future__ import annotations

import math

import numpy as np
import processing
import pytest
from processing_doubles import (
    CLASS_NAMES,
    EPSG,
    GEOTRANSFORM,
    LABEL_TEXT,
    TEST_METHOD,
    RecordingFeedback,
    expected_classes,
    ovss_provider,  # noqa: F401 - the fixture used by every test below
    pattern,
    read_band,
    write_raster,
)
from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsPalettedRasterRenderer,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsRasterLayer,
    QgsSingleBandGrayRenderer,
)

HEIGHT, WIDTH = 30, 40

pytestmark = pytest.mark.usefixtures("ovss_provider")


@pytest.fixture
def source(tmp_path):
    image = pattern(HEIGHT, WIDTH)
    return write_raster(tmp_path / "scene.tif", image), image


def params(path, out, **extra):
    return {
        "INPUT": str(path),
        "METHOD": TEST_METHOD,
        "LABELS": LABEL_TEXT,
        "TILE": 16,
        "OVERLAP": 4,
        "OUTPUT": str(out),
        **extra,
    }


def test_provider_has_id_icon_and_its_algorithms():
    from ovss.ovss_plugin.processing.provider import OVSSProvider

    registry = QgsApplication.processingRegistry()
    provider = registry.providerById("ovss")
    assert isinstance(provider, OVSSProvider)
    assert not provider.icon().isNull()
    ids = sorted(alg.id() for alg in provider.algorithms())
    assert ids == [
        "ovss:download_weights", "ovss:evaluate", "ovss:polygonize", "ovss:segment", "ovss:setup_environment"
    ]
    segment = registry.algorithmById("ovss:segment")
    assert segment.displayName() == "Segment raster with open-vocabulary labels"
    assert registry.algorithmById("ovss:evaluate").displayName() == "Assess classification accuracy"
    help_text = segment.shortHelpString()
    assert "building: buildings, man-made buildings" in help_text and ";" in help_text


def test_method_parameters_are_one_advanced_text_with_the_defaults_in_the_help():
    from qgis.core import QgsProcessingParameterDefinition

    alg = QgsApplication.processingRegistry().algorithmById("ovss:segment")
    names = [definition.name() for definition in alg.parameterDefinitions()]
    assert len(names) < 30 and not any(name.startswith(("SDCI", "SEGEARTH", "ALIGNCLIP", "TEST_")) for name in names)
    definition = alg.parameterDefinition("METHOD_PARAMS")
    assert definition.flags() & QgsProcessingParameterDefinition.FlagAdvanced
    assert definition.flags() & QgsProcessingParameterDefinition.FlagOptional
    help_text = alg.shortHelpString()
    assert f"<b>{TEST_METHOD}</b>: temperature=400.0, swap=false" in help_text
    from ovss.engine.methods.alignclip import METHOD_CONFIGS

    variant = METHOD_CONFIGS["alignclip-d"]  # the variant's own values, not the config class's defaults
    alignclip_d = help_text.split("<b>alignclip-d</b>: ")[1].split("<br>")[0]
    assert f"alpha={variant.alpha}," in alignclip_d and f"beta={variant.beta}," in alignclip_d
    assert TEST_METHOD in alg.parameterDefinition("METHOD").options()


def test_output_has_input_crs_extent_and_expected_classes(source, tmp_path):
    path, image = source
    result = processing.run(
        "ovss:segment", params(path, tmp_path / "classes.tif", CONFIDENCE=str(tmp_path / "conf.tif"))
    )
    layer = QgsRasterLayer(result["OUTPUT"], "out")
    original = QgsRasterLayer(str(path), "in")
    assert layer.crs() == QgsCoordinateReferenceSystem(f"EPSG:{EPSG}")
    assert layer.extent() == original.extent()
    assert (layer.width(), layer.height()) == (WIDTH, HEIGHT)
    np.testing.assert_array_equal(read_band(result["OUTPUT"]), expected_classes(image))

    from ovss.engine.raster.writer import read_class_table

    assert read_class_table(result["OUTPUT"])[0] == list(CLASS_NAMES)
    confidence = read_band(result["CONFIDENCE"])
    assert confidence.shape == (HEIGHT, WIDTH)
    assert confidence.min() >= math.floor(100 / 3) and confidence.max() <= 100  # top of 3 probabilities


def naive_window(bounds, geotransform, width, height):
    """Pixels whose square overlaps the extent with positive area, by looping over every pixel."""
    xmin, ymin, xmax, ymax = bounds
    x0, dx, _, y0, _, dy = geotransform
    cols = [c for c in range(width) if x0 + c * dx < xmax and x0 + (c + 1) * dx > xmin]
    rows = [r for r in range(height) if y0 + (r + 1) * dy < ymax and y0 + r * dy > ymin]
    return cols, rows


@pytest.mark.parametrize(
    "bounds",
    [
        (350002.0, 5649990.0, 350010.0, 5649996.5),  # on pixel edges
        (350002.3, 5649990.2, 350010.1, 5649996.4),  # inside pixels
        (349990.0, 5649980.0, 350003.2, 5649999.7),  # past the left and bottom edges
    ],
)
def test_extent_to_window_matches_a_pixel_loop(bounds):
    from ovss.ovss_plugin.processing.segment import extent_to_window

    window = extent_to_window(bounds, GEOTRANSFORM, WIDTH, HEIGHT)
    cols, rows = naive_window(bounds, GEOTRANSFORM, WIDTH, HEIGHT)
    assert (window.x, window.width) == (cols[0], len(cols))
    assert (window.y, window.height) == (rows[0], len(rows))


def test_extent_window_output_is_the_crop(source, tmp_path):
    path, image = source
    extent = f"350002.0,350010.0,5649990.0,5649996.5 [EPSG:{EPSG}]"  # columns 4..19, rows 7..19
    result = processing.run("ovss:segment", params(path, tmp_path / "part.tif", EXTENT=extent))
    layer = QgsRasterLayer(result["OUTPUT"], "part")
    got = layer.extent()
    assert (got.xMinimum(), got.xMaximum(), got.yMinimum(), got.yMaximum()) == (
        350002.0,
        350010.0,
        5649990.0,
        5649996.5,
    )
    np.testing.assert_array_equal(read_band(result["OUTPUT"]), expected_classes(image)[7:20, 4:20])


class MessageFeedback(QgsProcessingFeedback):
    """Records every message Processing or the algorithm gives."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def pushInfo(self, info: str) -> None:
        self.messages.append(info)

    def pushWarning(self, warning: str) -> None:
        self.messages.append(warning)

    def reportError(self, error: str, fatalError: bool = False) -> None:
        self.messages.append(error)


@pytest.mark.parametrize("text", ["swap=true", "swap = true\n\ntemperature=400", '{"swap": true, "temperature": 400}'])
def test_method_parameters_reach_the_method_and_only_changes_are_logged(source, tmp_path, text):
    path, image = source
    feedback = MessageFeedback()
    result = processing.run(
        "ovss:segment", params(path, tmp_path / "swap.tif", METHOD_PARAMS=text), feedback=feedback
    )
    np.testing.assert_array_equal(read_band(result["OUTPUT"]), expected_classes(image, swap=True))
    from osgeo import gdal

    assert '"swap": true' in gdal.Open(result["OUTPUT"]).GetMetadataItem("OVSS_PARAMS")
    logged = [message for message in feedback.messages if message.startswith("Method parameters")]
    assert logged == ["Method parameters changed from the defaults: swap=true"]


@pytest.mark.parametrize("method", [None, 0, "0"])  # the option's name, its number, its number as text
def test_method_and_preset_accept_the_option_number(source, tmp_path, method):
    from ovss.engine.labels import list_presets, load_preset
    from ovss.engine.raster.writer import read_class_table

    path, _ = source
    alg = QgsApplication.processingRegistry().algorithmById("ovss:segment")
    methods = alg.parameterDefinition("METHOD").options()
    index = methods.index(TEST_METHOD)
    value = TEST_METHOD if method is None else type(method)(index)
    preset = list_presets().index("vaihingen-ori")
    parameters = params(path, tmp_path / "by_number.tif", METHOD=value, LABELS="", PRESET=str(preset))
    ok, message = alg.checkParameterValues(parameters, QgsProcessingContext())
    assert ok, message
    result = processing.run("ovss:segment", parameters)
    assert read_class_table(result["OUTPUT"])[0] == list(load_preset("vaihingen-ori").labels.names)


def test_missing_output_folder_is_reported_once_before_any_model_is_built(source, tmp_path, monkeypatch):
    from processing_doubles import ColourMethod

    builds = []
    original = ColourMethod.__init__
    monkeypatch.setattr(ColourMethod, "__init__", lambda self, **kw: (builds.append(1), original(self, **kw))[1])
    path, _ = source
    missing = tmp_path / "no such folder"
    for name in ("OUTPUT", "CONFIDENCE"):
        outputs = {"OUTPUT": str(tmp_path / "ok.tif"), name: str(missing / "out.tif")}
        parameters = {**params(path, tmp_path / "ok.tif"), **outputs}
        alg = QgsApplication.processingRegistry().createAlgorithmById("ovss:segment")
        ok, text = alg.checkParameterValues(parameters, QgsProcessingContext())
        assert not ok and f"output folder does not exist: {missing}" in text
        assert alg.parameterDefinition(name).description() in text
        feedback = MessageFeedback()
        with pytest.raises(QgsProcessingException):
            processing.run("ovss:segment", parameters, feedback=feedback)
        assert sum("output folder does not exist" in message for message in feedback.messages) == 1
    assert builds == [] and not (tmp_path / "ok.tif").exists()


@pytest.mark.parametrize(
    ("content", "guess"),
    [("x,y,z\nnot numbers\n", "plain text file"), ("%PDF-1.4 ...", "PDF document"), ("", "empty (0 bytes)")],
)
def test_a_file_that_is_not_a_raster_says_what_is_wrong(tmp_path, content, guess):
    path = tmp_path / "notes.txt"
    path.write_text(content)
    alg = QgsApplication.processingRegistry().createAlgorithmById("ovss:segment")
    ok, text = alg.checkParameterValues(params(path, tmp_path / "never.tif"), QgsProcessingContext())
    assert not ok and str(path) in text and guess in text
    assert "no raster layer given" not in text


def test_random_weights_are_announced_and_recorded(source, tmp_path, monkeypatch):
    from osgeo import gdal

    path, _ = source
    monkeypatch.setenv("OVSS_WEIGHTS", "random")
    warnings = []
    feedback = QgsProcessingFeedback()
    feedback.pushWarning = warnings.append
    result = processing.run("ovss:segment", params(path, tmp_path / "random.tif"), feedback=feedback)
    assert any("RANDOM WEIGHTS" in text for text in warnings)
    dataset = gdal.Open(result["OUTPUT"])
    assert dataset.GetMetadataItem("OVSS_WEIGHTS") == "random"
    assert "NOT a real segmentation" in dataset.GetMetadataItem("OVSS_WARNING")


def test_progress_reaches_100_in_tile_steps(source, tmp_path):
    path, _ = source
    feedback = RecordingFeedback()
    processing.run("ovss:segment", params(path, tmp_path / "p.tif"), feedback=feedback)
    tiles = 3 * 3  # 40 x 30 pixels, tile 16, stride 12
    steps = [v for v in feedback.values if v > 0]
    assert steps == sorted(steps) and steps[-1] == 100.0
    assert steps[0] == pytest.approx(100.0 / tiles)


def test_cancel_stops_without_output(source, tmp_path):
    path, _ = source
    out = tmp_path / "cancelled.tif"
    with pytest.raises(QgsProcessingException, match="stopped after"):
        processing.run("ovss:segment", params(path, out), feedback=RecordingFeedback(cancel_at=1.0))
    assert not out.exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"LABELS": ""}, "Give Labels"),
        ({"LABELS": "building; ; road"}, "empty class"),
        ({"LABELS": "building"}, "at least two classes"),
        ({"LABELS": "", "PRESET": "potsdam-gem"}, "unknown preset 'potsdam-gem'; did you mean potsdam-gen"),
        ({"PRESET": "potsdam-gen"}, "not both"),
        ({"BAND_RED": 3, "BAND_GREEN": 2, "BAND_BLUE": 5}, "band 5 is out of range"),
        ({"BAND_GREEN": 2}, "set all three"),
        ({"METHOD": "sdci-v9"}, "unknown method 'sdci-v9'"),
        ({"METHOD": "99"}, "option 99 does not exist"),
        ({"METHOD_PARAMS": "colour=red"}, "unknown parameter 'colour' for test-colours"),
        ({"METHOD_PARAMS": "temperature=hot"}, "test-colours parameter temperature must be a float"),
        ({"METHOD_PARAMS": "swap"}, "takes KEY=VALUE"),
        ({"METHOD_PARAMS": '{"swap": tru}'}, "not valid JSON"),
        ({"METHOD_PARAMS": "swap=true; swap=false"}, "swap is given twice"),
        ({"TILE": 8, "OVERLAP": 4}, "overlap 4 must be less than half the tile size 8"),
        ({"TILE": 6, "OVERLAP": 0}, "smaller than the method accepts (at least 8)"),
        ({"EXTENT": f"360000,360010,5649990,5649996 [EPSG:{EPSG}]"}, "does not overlap"),
    ],
)
def test_validation_errors_are_clear_messages(source, tmp_path, changes, message):
    path, _ = source
    parameters = params(path, tmp_path / "never.tif", **changes)
    alg = QgsApplication.processingRegistry().createAlgorithmById("ovss:segment")
    ok, text = alg.checkParameterValues(parameters, QgsProcessingContext())
    assert not ok and message in text
    with pytest.raises(QgsProcessingException):
        processing.run("ovss:segment", parameters)
    assert not (tmp_path / "never.tif").exists()


def test_preset_gives_its_classes(source, tmp_path):
    from ovss.engine.labels import load_preset
    from ovss.engine.raster.writer import read_class_table

    path, _ = source
    result = processing.run("ovss:segment", params(path, tmp_path / "preset.tif", LABELS="", PRESET="vaihingen-ori"))
    assert read_class_table(result["OUTPUT"])[0] == list(load_preset("vaihingen-ori").labels.names)


def test_single_red_band_is_repeated(tmp_path):
    grey = pattern(HEIGHT, WIDTH)[:1]
    two_band = np.concatenate([np.full_like(grey, 7), grey])  # band 2 is the grey image
    path = write_raster(tmp_path / "two.tif", two_band)
    result = processing.run("ovss:segment", params(path, tmp_path / "grey.tif", BAND_RED=2))
    np.testing.assert_array_equal(read_band(result["OUTPUT"]), expected_classes(np.repeat(grey, 3, axis=0)))


@pytest.mark.parametrize(
    ("output", "confidence", "message"),
    [
        ("{dir}/../{dir_name}/scene.tif", None, "would overwrite the input"),
        ("{dir}/out.tif", "{dir}/./scene.tif", "would overwrite the input"),
        ("{dir}/scene.tiff", None, "scene.qml, a file of the input"),
        ("{dir}/out.png", None, "output must be a GeoTIFF named .tif or .tiff"),
        ("{dir}/out", None, "output must be a GeoTIFF named .tif or .tiff"),
        ("{dir}/out.tif", "{dir}/out.TIF", "written for another output of the run"),
    ],
)
def test_outputs_never_replace_the_input(source, tmp_path, output, confidence, message):
    path, _ = source
    before = path.read_bytes()
    names = {"dir": tmp_path, "dir_name": tmp_path.name}
    extra = {"CONFIDENCE": confidence.format(**names)} if confidence else {}
    parameters = params(path, output.format(**names), **extra)
    alg = QgsApplication.processingRegistry().createAlgorithmById("ovss:segment")
    ok, text = alg.checkParameterValues(parameters, QgsProcessingContext())
    assert not ok and message in text, text
    with pytest.raises(QgsProcessingException, match=r"would overwrite|must be a GeoTIFF"):
        processing.run("ovss:segment", parameters)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name not in ("scene.tif", "scene.tif.aux.xml")] == []


def test_outputs_open_styled_in_qgis_without_the_plugin(source, tmp_path):
    """QGIS applies the engine's ``.qml`` by itself; without it the legend is still exactly the classes."""
    path, _ = source
    out, confidence = tmp_path / "classes.tif", tmp_path / "confidence.tif"
    processing.run("ovss:segment", params(path, out, CONFIDENCE=str(confidence)))
    layer = QgsRasterLayer(str(out), "classes", "gdal")
    assert isinstance(layer.renderer(), QgsPalettedRasterRenderer)  # the default style, out.qml
    assert [(c.value, c.label) for c in layer.renderer().classes()] == [(1, "dark"), (2, "mid"), (3, "bright")]
    assert len(layer.dataProvider().colorTable(1)) == 1 + len(CLASS_NAMES)
    bare = QgsRasterLayer(str(out), "bare", "gdal")
    bare.setRenderer(QgsSingleBandGrayRenderer(bare.dataProvider(), 1))
    message, ok = bare.loadNamedStyle(str(out.with_suffix(".qml")))
    assert ok, message
    legend = [label for label, _color in bare.renderer().legendSymbologyItems()]
    assert legend == list(CLASS_NAMES)
    grey = QgsRasterLayer(str(confidence), "confidence", "gdal").renderer()
    assert isinstance(grey, QgsSingleBandGrayRenderer)
    enhancement = grey.contrastEnhancement()
    assert (enhancement.minimumValue(), enhancement.maximumValue()) == (1.0, 100.0)
    out.with_suffix(".qml").unlink()
    default = QgsRasterLayer(str(out), "no style", "gdal").renderer()
    assert isinstance(default, QgsPalettedRasterRenderer) and len(default.classes()) == 1 + len(CLASS_NAMES)


def test_a_tile_too_big_for_the_memory_stops_with_the_estimate_and_the_limit(source, tmp_path, monkeypatch):
    from processing_doubles import ColourMethod

    from ovss.engine import memory

    monkeypatch.setattr(memory, "available_memory", lambda: 1024**2)
    built = []
    build = ColourMethod.__init__
    monkeypatch.setattr(ColourMethod, "__init__", lambda self, **kwargs: built.append(self) or build(self, **kwargs))
    path, _ = source
    out = tmp_path / "never.tif"
    with pytest.raises(QgsProcessingException, match=r"needs about \d+\.\d GB of memory, only 0\.0 GB is free"):
        processing.run("ovss:segment", params(path, out))
    assert not out.exists() and built == []


def test_batch_is_an_advanced_parameter_that_reaches_the_run(source, tmp_path):
    import json

    from osgeo import gdal
    from qgis.core import QgsProcessingParameterDefinition

    alg = QgsApplication.processingRegistry().algorithmById("ovss:segment")
    definition = alg.parameterDefinition("BATCH")
    assert definition.flags() & QgsProcessingParameterDefinition.FlagAdvanced
    assert definition.flags() & QgsProcessingParameterDefinition.FlagOptional  # older models lack it
    assert definition.defaultValue() == 0 and definition.minimum() == 0
    path, image = source
    for batch, expected in ((4, 4), (None, 1)):  # 0 (default): automatic, 1 for a method without predict_batch
        out = tmp_path / f"batch_{batch}.tif"
        extra = {} if batch is None else {"BATCH": batch}
        processing.run("ovss:segment", params(path, out, **extra))
        assert json.loads(gdal.Open(str(out)).GetMetadataItem("OVSS_SETTINGS"))["batch"] == expected
        assert np.array_equal(read_band(out), expected_classes(image))
    ok, _ = alg.checkParameterValues(params(path, tmp_path / "never.tif", BATCH=-1), QgsProcessingContext())
    assert not ok
