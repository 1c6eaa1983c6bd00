"""The dock: presets fill the table, validation, band pickers, settings round trip, runs, missing weights."""

from __future__ import annotations

import json

import pytest
from plugin_doubles import NEEDS_WEIGHTS, TINY, TinyConfig, make_geotiff, register_doubles, wait_for
from qgis.core import QgsMultiBandColorRenderer, QgsPalettedRasterRenderer, QgsProject, QgsRasterLayer, QgsSettings
from qgis.PyQt.QtCore import QSettings
from qgis.PyQt.QtWidgets import QWidget

LABELS = "red #dc1e1e: red roofs; green #1edc1e: trees; blue #1e1edc: water"


@pytest.fixture
def tiny_methods(monkeypatch):
    return register_doubles(monkeypatch)


@pytest.fixture
def profile(tmp_path, monkeypatch):
    """A throw-away settings file and user presets folder, so tests never touch the user's profile."""
    import ovss.ovss_plugin.panels.classes_panel as classes_module

    QgsSettings().remove("ovss/dock")
    monkeypatch.setattr(classes_module, "user_presets_dir", lambda: tmp_path / "presets")
    monkeypatch.delenv("OVSS_WEIGHTS", raising=False)
    yield tmp_path
    QgsSettings().remove("ovss/dock")
    QgsProject.instance().removeAllMapLayers()


@pytest.fixture
def dock(profile, tiny_methods, qgis_iface):
    from ovss.ovss_plugin.dock import OVSSDock

    widget = OVSSDock(None, iface=qgis_iface)
    yield widget
    widget.shutdown()
    widget.deleteLater()


def add_layer(path, name="scene", bands=3):
    make_geotiff(path, bands=bands)
    layer = QgsRasterLayer(str(path), name, "gdal")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    return layer


def choose(combo, data):
    index = combo.findData(data)
    assert index >= 0, data
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def test_presets_fill_the_table(dock):
    from ovss.engine.labels import list_presets, load_preset

    offered = [dock.classes_panel.preset_combo.itemData(i) for i in range(dock.classes_panel.preset_combo.count())]
    assert [f"builtin:{name}" for name in list_presets()] == [d for d in offered if d]
    for name in ("potsdam-ori", "loveda-gen"):
        choose(dock.classes_panel.preset_combo, f"builtin:{name}")
        assert dock.classes_panel.table.labels() == load_preset(name).labels
        assert dock.classes_panel.table.rowCount() == len(load_preset(name).labels)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([("water", ""), ("", "")], "Class 2 is empty"),
        ([("Water", "lake"), ("water", "river")], "Duplicate class name \u201cwater\u201d (classes 1 and 2)"),
        ([("water", "lake")], "At least two classes are needed (there are 1)"),
        ([("a;b", ""), ("c", "")], "Class 1:"),
    ],
)
def test_validation_explains_and_disables_run(dock, tmp_path, rows, expected):
    from ovss.ovss_plugin.classes_table import ClassRow

    add_layer(tmp_path / "scene.tif")
    dock.input_panel.layer_combo.setLayer(QgsProject.instance().mapLayersByName("scene")[0])
    dock.classes_panel.table.set_rows([ClassRow(name, prompts, (1, 2, 3)) for name, prompts in rows])
    assert expected in dock.classes_panel.validation_label.text()
    assert not dock.run_panel.run_button.isEnabled()
    dock.classes_panel.table.set_rows([ClassRow("water", "", (1, 2, 3)), ClassRow("land", "soil, rock", (4, 5, 6))])
    assert dock.classes_panel.validation_label.text() == ""
    assert dock.run_panel.run_button.isEnabled()


def test_table_rows_round_trip_and_editing(dock, monkeypatch):
    from ovss.engine.labels import parse_labels

    labels = parse_labels("water: lake, river; tree #00ff00; road (background)")
    dock.classes_panel.table.set_labels(labels)
    assert dock.classes_panel.table.labels() == labels
    dock.classes_panel.table.setCurrentCell(0, 0)
    dock.classes_panel.table.move_selected(1)
    assert dock.classes_panel.table.labels().names == ("tree", "water", "road")
    assert dock.classes_panel.table.labels().background == 2
    dock.classes_panel.table.remove_selected()  # the moved row is still the selected one
    assert dock.classes_panel.table.labels().names == ("tree", "road")
    dock.classes_panel.table.add_class()
    assert dock.classes_panel.table.rowCount() == 3 and "Class 3 is empty" in dock.classes_panel.validation_label.text()

    monkeypatch.setattr(dock.dialogs, "ask_text", lambda *args, **kwargs: "a: x, y\nb\nc: z")
    dock.classes_panel.paste_labels()
    assert dock.classes_panel.table.labels() == parse_labels("a: x, y; b; c: z")


def test_band_pickers_follow_the_layer(dock, tmp_path):
    make_geotiff(tmp_path / "rgb.tif")
    rgb = QgsRasterLayer(str(tmp_path / "rgb.tif"), "rgb", "gdal")
    rgb.setRenderer(QgsMultiBandColorRenderer(rgb.dataProvider(), 3, 1, 2))
    QgsProject.instance().addMapLayer(rgb)
    grey = add_layer(tmp_path / "grey.tif", "grey", bands=1)
    dock.input_panel.layer_combo.setLayer(rgb)
    assert dock.input_panel.bands() == (3, 1, 2)
    assert dock.input_panel.band_mapping_label.text() == "Uses band 3 as red, band 1 as green, band 2 as blue."
    dock.input_panel.layer_combo.setLayer(grey)
    assert dock.input_panel.bands() == (1, 1, 1)
    assert dock.input_panel.band_mapping_label.text() == (
        "The layer has 1 band(s): band 1 is used as red, green and blue.")
    two = add_layer(tmp_path / "two.tif", "two", bands=2)
    dock.input_panel.layer_combo.setLayer(two)
    assert dock.input_panel.bands() == (1, 1, 1) and "has 2 band(s): band 1 is used as red, green and blue" in (
        dock.input_panel.band_mapping_label.text())
    dock.input_panel.band_combos[1].setBand(2)
    assert dock.input_panel.band_mapping_label.text() == "Uses band 1 as red, band 2 as green, band 1 as blue."
    plain = add_layer(tmp_path / "plain.tif", "plain", bands=4)
    plain.setRenderer(QgsPalettedRasterRenderer(plain.dataProvider(), 1, []))
    dock.input_panel.layer_combo.setLayer(plain)
    assert dock.input_panel.bands() == (1, 2, 3)


def test_settings_round_trip(profile):
    from ovss.ovss_plugin.settings import DockSettings, load_settings, save_settings

    store = QgsSettings(str(profile / "settings.ini"), QSettings.IniFormat)
    chosen = DockSettings(
        labels_text="a; b",
        method="sdci-v2",
        area="canvas",
        tile=384,
        overlap=32,
        precision="fp32",
        device="cpu",
        output_mode="file",
        output_path="/tmp/x.tif",
        confidence=True,
        keep_models=False,
        weights_dir="/w",
    ).with_params("sdci-v2", {"k": 3})
    save_settings(chosen, store)
    store.sync()
    assert load_settings(QgsSettings(str(profile / "settings.ini"), QSettings.IniFormat)) == chosen
    assert chosen.params_for("sdci-v2") == {"k": 3} and chosen.params_for("other") == {}
    raw = QSettings(str(profile / "settings.ini"), QSettings.IniFormat)
    for key, value in (("tile", "many"), ("area", "everywhere"), ("confidence", "maybe")):
        raw.setValue(f"ovss/dock/{key}", value)
    raw.sync()
    damaged = load_settings(QgsSettings(str(profile / "settings.ini"), QSettings.IniFormat))
    assert (damaged.tile, damaged.area, damaged.confidence) == (512, "layer", False)


def test_dock_restores_its_settings(dock, profile, tiny_methods, qgis_iface):
    from ovss.engine.labels import parse_labels
    from ovss.ovss_plugin.dock import OVSSDock

    dock.classes_panel.table.set_labels(parse_labels(LABELS))
    dock.method_panel.method_combo.setCurrentIndex(dock.method_panel.method_combo.findData(TINY))
    dock.findChild(QWidget, "ovss_param_sharpness").setValue(0.25)
    dock.findChild(QWidget, "ovss_param_normalise").setChecked(False)
    dock.options_panel.tile_spin.setValue(256)
    dock.options_panel.overlap_spin.setValue(16)
    dock.input_panel.area_combo.setCurrentIndex(dock.input_panel.area_combo.findData("canvas"))
    dock.output_panel.output_file.setChecked(True)
    dock.output_panel.output_path_widget.setFilePath(str(profile / "out.tif"))
    dock.output_panel.confidence_check.setChecked(True)
    dock.output_panel.polygons_check.setChecked(True)
    dock.options_panel.keep_models_check.setChecked(False)
    dock.shutdown()  # saves, as unloading the plugin does

    again = OVSSDock(None, iface=qgis_iface)
    try:
        assert again.current_settings() == dock.current_settings()
        assert again.classes_panel.table.labels() == parse_labels(LABELS)
        assert again.method_params() == {"sharpness": 0.25, "normalise": False}
        assert again.output_panel.output_file.isChecked() and again.options_panel.tile_spin.value() == 256
        assert again.output_panel.polygons_check.isChecked() and again.current_settings().polygons
    finally:
        again.shutdown()


def test_method_description_parameters_and_reset(dock):
    from ovss.engine.methods.base import available_methods, method_info

    methods = dock.method_panel.method_combo
    assert [methods.itemData(i) for i in range(methods.count())] == available_methods()
    dock.method_panel.method_combo.setCurrentIndex(dock.method_panel.method_combo.findData(TINY))
    assert dock.method_panel.method_description.text() == method_info(TINY).description
    spin = dock.findChild(QWidget, "ovss_param_sharpness")
    levels = dock.findChild(QWidget, "ovss_param_levels")
    assert spin.value() == TinyConfig.sharpness and levels.value() == TinyConfig.levels
    spin.setValue(0.5)
    levels.setValue(7)
    assert dock.method_params() == {"sharpness": 0.5, "levels": 7}
    dock.method_panel.reset_params_button.click()
    assert dock.method_params() == {}


def test_user_presets_save_rename_delete_import_export(dock, profile, monkeypatch):
    from ovss.engine.labels import parse_labels, read_preset_file

    dock.classes_panel.table.set_labels(parse_labels(LABELS))
    dock.method_panel.method_combo.setCurrentIndex(dock.method_panel.method_combo.findData(TINY))
    dock.findChild(QWidget, "ovss_param_levels").setValue(5)
    answers = iter(["my classes", "renamed"])
    monkeypatch.setattr(dock.dialogs, "ask_text", lambda *args, **kwargs: next(answers))
    dock.classes_panel.save_preset()
    assert dock.classes_panel.preset_combo.currentData() == "user:my classes"
    saved = read_preset_file(profile / "presets" / "my classes.json")
    assert saved.labels == parse_labels(LABELS) and saved.params == {TINY: {"levels": 5}}

    dock.classes_panel.rename_preset()
    assert sorted(p.name for p in (profile / "presets").iterdir()) == ["renamed.json"]
    exported = profile / "exported.json"
    monkeypatch.setattr(dock.dialogs, "ask_save_path", lambda *args: str(exported))
    dock.classes_panel.export_preset()
    assert read_preset_file(exported).labels == parse_labels(LABELS)

    monkeypatch.setattr(dock.dialogs, "confirm", lambda question: "renamed" in question)
    dock.classes_panel.delete_preset()
    assert list((profile / "presets").iterdir()) == []
    monkeypatch.setattr(dock.dialogs, "ask_open_path", lambda *args: str(exported))
    dock.classes_panel.import_preset()
    assert dock.classes_panel.preset_combo.currentData() == "user:renamed"
    choose(dock.classes_panel.preset_combo, "builtin:potsdam-ori")
    choose(dock.classes_panel.preset_combo, "user:renamed")
    assert dock.classes_panel.table.labels() == parse_labels(LABELS)
    assert dock.method_params() == {"levels": 5}  # the preset's parameters for this method


def test_random_weights_warning_and_device(dock, monkeypatch):
    from ovss.engine.device import resolve_runtime

    dock.refresh_status()
    assert dock.random_warning.isHidden()
    monkeypatch.setenv("OVSS_WEIGHTS", "random")
    dock.refresh_status()
    assert not dock.random_warning.isHidden() and "RANDOM" in dock.random_warning.text()
    dock.options_panel.device_combo.setCurrentText("cpu")
    dock.options_panel.precision_combo.setCurrentText("fp32")
    dock.refresh_device()
    wait_for(lambda: "finding" not in dock.method_panel.device_label.text())  # the first time, the engine loads first
    assert dock.method_panel.device_label.text() == f"Runs on: {resolve_runtime('cpu', 'fp32').describe()}"


def test_run_from_the_dock_adds_a_new_layer_each_time(dock, tmp_path, monkeypatch):
    from ovss.engine.labels import parse_labels

    monkeypatch.setenv("OVSS_WEIGHTS", "random")
    layer = add_layer(tmp_path / "scene.tif")
    dock.input_panel.layer_combo.setLayer(layer)
    dock.classes_panel.table.set_labels(parse_labels(LABELS))
    dock.method_panel.method_combo.setCurrentIndex(dock.method_panel.method_combo.findData(TINY))
    dock.options_panel.tile_spin.setValue(64)
    dock.options_panel.overlap_spin.setValue(8)
    paths = []
    for _ in range(2):
        task = dock.start_run()
        assert task is not None and not dock.run_panel.run_button.isEnabled()
        assert dock.run_panel.cancel_button.isEnabled()
        wait_for(lambda: dock.task is None)
        assert dock.last_outcome.ok and dock.last_outcome.request.weights == "random"
        paths.append(str(dock.last_outcome.result.output_path))
    added = [lyr for lyr in QgsProject.instance().mapLayers().values() if lyr.source() in paths]
    assert len(added) == 2
    assert added[0].source() != added[1].source()
    assert all(lyr.isValid() and lyr.id() in QgsProject.instance().mapLayers() for lyr in added)
    assert dock.run_panel.progress_bar.value() == 100 and "tiles" in dock.run_panel.progress_label.text()
    assert dock.run_panel.run_button.isEnabled()
    warnings = dock.iface.messageBar().get_messages(1)
    assert any("Random weights" in m for m in warnings)


def test_chosen_output_is_replaced_only_when_the_user_agrees(dock, tmp_path, monkeypatch):
    from ovss.engine.labels import parse_labels

    layer = add_layer(tmp_path / "scene.tif")
    dock.input_panel.layer_combo.setLayer(layer)
    dock.classes_panel.table.set_labels(parse_labels(LABELS))
    dock.method_panel.method_combo.setCurrentIndex(dock.method_panel.method_combo.findData(TINY))
    target = tmp_path / "mine.tif"
    target.write_bytes(b"keep me")
    dock.output_panel.output_file.setChecked(True)
    dock.output_panel.output_path_widget.setFilePath(str(target))
    monkeypatch.setattr(dock.dialogs, "confirm", lambda question: False)
    assert dock.start_run() is None
    assert target.read_bytes() == b"keep me"
    monkeypatch.setattr(dock.dialogs, "confirm", lambda question: str(target) in question)
    assert dock.start_run() is not None
    wait_for(lambda: dock.task is None)
    assert dock.last_outcome.ok and dock.last_outcome.result.output_path == target


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("{dir}/sub/../scene.tif", "would overwrite the input {dir}/scene.tif"),
        ("{dir}/link.tif", "would overwrite the input {dir}/scene.tif"),
        ("{dir}/scene.TIF", "would overwrite {dir}/scene.qml, a file of the input {dir}/scene.tif"),
    ],
)
def test_output_that_is_the_input_is_refused_before_anything_is_replaced(
    dock, tmp_path, monkeypatch, spelling, expected
):
    """The input layer's file under another spelling: refused, no question asked, the layer stays."""
    from ovss.engine.labels import parse_labels

    layer = add_layer(tmp_path / "scene.tif")
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.tif").symlink_to(tmp_path / "scene.tif")
    before = (tmp_path / "scene.tif").read_bytes()
    dock.input_panel.layer_combo.setLayer(layer)
    dock.classes_panel.table.set_labels(parse_labels(LABELS))
    dock.method_panel.method_combo.setCurrentIndex(dock.method_panel.method_combo.findData(TINY))
    dock.output_panel.output_file.setChecked(True)
    dock.output_panel.output_path_widget.setFilePath(spelling.format(dir=tmp_path))
    monkeypatch.setattr(dock.dialogs, "confirm", lambda question: pytest.fail(f"asked: {question}"))
    assert dock.start_run() is None
    assert dock.iface.messageBar().get_messages(1)[-1].endswith(expected.format(dir=tmp_path))
    assert layer.id() in QgsProject.instance().mapLayers()
    assert (tmp_path / "scene.tif").read_bytes() == before


def test_missing_weights_offers_download_or_folder(dock, tmp_path, monkeypatch):
    from ovss.engine.labels import parse_labels

    monkeypatch.setenv("OVSS_WEIGHTS_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("OVSS_CACHE_DIR", str(tmp_path / "cache"))
    layer = add_layer(tmp_path / "scene.tif")
    dock.input_panel.layer_combo.setLayer(layer)
    dock.classes_panel.table.set_labels(parse_labels(LABELS))
    dock.method_panel.method_combo.setCurrentIndex(dock.method_panel.method_combo.findData(NEEDS_WEIGHTS))
    dock.options_panel.weights_dir_widget.setFilePath(str(tmp_path / "weights"))
    dock.start_run()
    wait_for(lambda: dock.task is None)
    assert dock.last_outcome.missing_weights
    assert not dock.weights_help.isHidden()
    assert "clip_jbu_stack_cocostuff.ckpt" in dock.weights_help.weights_message.text()

    items = dock.download_items()
    assert [item.dest for item in items] == [tmp_path / "weights" / "clip_jbu_stack_cocostuff.ckpt"]
    questions = []
    monkeypatch.setattr(dock.dialogs, "confirm", lambda question: questions.append(question) or False)
    assert dock.offer_download() is None  # no consent, no download
    assert "clip_jbu_stack_cocostuff.ckpt" in questions[0] and items[0].url in questions[0]
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "clip_jbu_stack_cocostuff.ckpt").write_bytes(b"x")
    assert dock.download_items() == []


def test_settings_keep_params_of_each_method(dock):
    settings = dock.current_settings().with_params("other", {"x": 1})
    assert json.loads(settings.method_params)["other"] == {"x": 1}


def drag_on_canvas(canvas, start, end) -> None:
    """What a user does with the active map tool: press at ``start``, drag to ``end``, release (pixels)."""
    from qgis.gui import QgsMapMouseEvent
    from qgis.PyQt.QtCore import QEvent, QPoint, Qt

    tool = canvas.mapTool()
    for kind, point, handler in (
        (QEvent.MouseButtonPress, start, tool.canvasPressEvent),
        (QEvent.MouseMove, end, tool.canvasMoveEvent),
        (QEvent.MouseButtonRelease, end, tool.canvasReleaseEvent),
    ):
        handler(QgsMapMouseEvent(canvas, kind, QPoint(*point), Qt.LeftButton, Qt.LeftButton))


def test_drawn_extent_is_clipped_to_the_layer(dock, tmp_path):
    import math

    from plugin_doubles import EPSG, ORIGIN, PIXEL
    from qgis.core import QgsCoordinateReferenceSystem, QgsRectangle
    from qgis.PyQt.QtCore import QPoint

    from ovss.engine.labels import parse_labels

    layer = add_layer(tmp_path / "scene.tif")  # 96 x 80 pixels
    dock.input_panel.layer_combo.setLayer(layer)
    dock.classes_panel.table.set_labels(parse_labels(LABELS))
    dock.method_panel.method_combo.setCurrentIndex(dock.method_panel.method_combo.findData(TINY))
    canvas = dock.iface.mapCanvas()
    canvas.setDestinationCrs(QgsCoordinateReferenceSystem(f"EPSG:{EPSG}"))
    canvas.setExtent(QgsRectangle(ORIGIN[0] - 20, ORIGIN[1] - 60, ORIGIN[0] + 80, ORIGIN[1] + 10))
    dock.input_panel.area_combo.setCurrentIndex(dock.input_panel.area_combo.findData("custom"))
    assert not dock.input_panel.extent_widget.isHidden()

    dock.input_panel.extent_widget.setOutputExtentFromDrawOnCanvas()  # the widget's "Draw on Canvas" button
    to_map = canvas.getCoordinateTransform()
    start = to_map.transform(ORIGIN[0] + 10.2, ORIGIN[1] - 7.3)  # inside the layer
    end = to_map.transform(ORIGIN[0] + 70.0, ORIGIN[1] - 30.6)  # east of the layer: must be clipped
    start, end = (round(start.x()), round(start.y())), (round(end.x()), round(end.y()))
    drag_on_canvas(canvas, start, end)

    corners = [to_map.toMapCoordinates(QPoint(*p)) for p in (start, end)]
    x_min, x_max = sorted(p.x() for p in corners)
    y_min, y_max = sorted(p.y() for p in corners)
    drawn = dock.input_panel.extent_widget.outputExtent()
    assert (drawn.xMinimum(), drawn.xMaximum(), drawn.yMinimum(), drawn.yMaximum()) == pytest.approx(
        (x_min, x_max, y_min, y_max))
    request = dock.build_request()
    window = request.source.window
    expected_columns = [c for c in range(96)
                        if ORIGIN[0] + (c + 1) * PIXEL > x_min and ORIGIN[0] + c * PIXEL < x_max]
    expected_rows = [r for r in range(80)
                     if ORIGIN[1] - r * PIXEL > y_min and ORIGIN[1] - (r + 1) * PIXEL < y_max]
    assert expected_columns[-1] == 95 and expected_columns[0] > 0 and math.isclose(x_max, ORIGIN[0] + 70, abs_tol=1)
    assert (window.x, window.width) == (expected_columns[0], len(expected_columns))
    assert (window.y, window.height) == (expected_rows[0], len(expected_rows))


def test_input_follows_the_active_layer_but_not_results(dock, tmp_path, qgis_iface):
    from qgis.core import QgsVectorLayer

    from ovss.ovss_plugin.task import RESULT_PROPERTY

    first = add_layer(tmp_path / "first.tif", "first")
    second = add_layer(tmp_path / "second.tif", "second")
    result = add_layer(tmp_path / "result.tif", "result")
    result.setCustomProperty(RESULT_PROPERTY, TINY)
    vector = QgsVectorLayer("Point?crs=EPSG:4326", "points", "memory")
    QgsProject.instance().addMapLayer(vector)
    signal = qgis_iface.currentLayerChanged
    connected = qgis_iface.receivers(signal)
    assert connected >= 1  # the dock listens to the active layer

    dock.input_panel.layer_combo.setLayer(first)
    dock._follow_active_layer(second)  # what currentLayerChanged delivers when the user selects a layer
    assert dock.input_panel.layer_combo.currentLayer() is second and dock.input_panel.bands() == (1, 2, 3)
    for ignored in (result, vector, None):
        dock._follow_active_layer(ignored)
        assert dock.input_panel.layer_combo.currentLayer() is second
    dock._follow_active_layer(first)
    assert dock.input_panel.layer_combo.currentLayer() is first

    dock.shutdown()
    assert qgis_iface.receivers(signal) == connected - 1  # unloading stops listening


def plugin_with_file_output(recording_iface, tmp_path, tile):
    """The loaded plugin whose dock is set to segment a new layer into ``out/classes.tif`` with confidence."""
    import ovss
    from ovss.engine.labels import parse_labels

    layer = add_layer(tmp_path / "scene.tif")
    plugin = ovss.classFactory(recording_iface)
    plugin.initGui()
    dock = plugin.dock
    dock.input_panel.layer_combo.setLayer(layer)
    dock.classes_panel.table.set_labels(parse_labels(LABELS))
    dock.method_panel.method_combo.setCurrentIndex(dock.method_panel.method_combo.findData(TINY))
    dock.options_panel.tile_spin.setValue(tile)
    dock.options_panel.overlap_spin.setValue(0)
    output = tmp_path / "out" / "classes.tif"
    output.parent.mkdir()
    dock.output_panel.output_file.setChecked(True)
    dock.output_panel.output_path_widget.setFilePath(str(output))
    dock.output_panel.confidence_check.setChecked(True)
    return plugin, layer, output


@pytest.mark.parametrize("tile", [16, 128])  # 30 tiles, or one tile: cancelled during the last tile
def test_unloading_during_a_run_cancels_it_and_leaves_nothing(profile, tiny_methods, recording_iface, tmp_path, tile):
    import threading
    import time

    from qgis.core import QgsApplication, QgsTask
    from qgis.PyQt import sip
    from qgis.PyQt.QtCore import QCoreApplication, QEvent

    plugin, layer, output = plugin_with_file_output(recording_iface, tmp_path, tile)
    dock = plugin.dock

    started = threading.Event()
    tiles: list[int] = []
    holder: list = []

    def hold_until_cancelled() -> None:
        """Per tile, in the task's thread: say the run is under way, then wait until it is cancelled."""
        tiles.append(1)
        started.set()
        deadline = time.monotonic() + 20
        while not (holder and holder[0].isCanceled()) and time.monotonic() < deadline:
            time.sleep(0.005)

    tiny_methods.hook = hold_until_cancelled
    task = dock.start_run()
    assert task is not None
    holder.append(task)
    assert started.wait(20)
    layers_before = set(QgsProject.instance().mapLayers())

    plugin.unload()
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)
    wait_for(lambda: QgsApplication.taskManager().countActiveTasks() == 0)
    QCoreApplication.processEvents()

    assert sip.isdeleted(task) or task.status() == QgsTask.Complete  # cancelled, not failed
    assert len(tiles) == 1  # stopped after the tile that was running, well before the 30 tiles
    assert recording_iface.docks == [] and plugin.dock is None
    assert set(QgsProject.instance().mapLayers()) == layers_before == {layer.id()}
    assert list(output.parent.iterdir()) == []  # neither the classes nor the confidence file


def test_unloading_after_the_run_wrote_its_output_but_before_the_layer_was_added(
    profile, tiny_methods, recording_iface, tmp_path
):
    """The task finished in its thread, but the main thread has not yet handled its end when the plugin unloads."""
    import time

    from qgis.core import QgsApplication

    plugin, layer, output = plugin_with_file_output(recording_iface, tmp_path, 128)
    task = plugin.dock.start_run()
    assert task is not None
    deadline = time.monotonic() + 20
    while task.outcome is None and time.monotonic() < deadline:  # no events processed: finished() waits
        time.sleep(0.01)
    assert task.outcome is not None and task.outcome.ok and output.exists()

    plugin.unload()
    wait_for(lambda: QgsApplication.taskManager().countActiveTasks() == 0)
    assert set(QgsProject.instance().mapLayers()) == {layer.id()}
    assert list(output.parent.iterdir()) == []


def test_a_tile_too_big_for_the_memory_is_said_in_the_message_bar(dock, tiny_methods, tmp_path, monkeypatch):
    from ovss.engine import memory
    from ovss.engine.labels import parse_labels

    monkeypatch.setattr(memory, "available_memory", lambda: 1024**2)
    layer = add_layer(tmp_path / "scene.tif")
    dock.input_panel.layer_combo.setLayer(layer)
    dock.classes_panel.table.set_labels(parse_labels(LABELS))
    dock.method_panel.method_combo.setCurrentIndex(dock.method_panel.method_combo.findData(TINY))
    layers_before = set(QgsProject.instance().mapLayers())
    assert dock.start_run() is not None
    wait_for(lambda: dock.task is None)
    error = dock.last_outcome.error
    assert "needs about" in error and "only 0.0 GB is free: choose a smaller tile size" in error
    assert any(error in message for message in dock.iface.messageBar().get_messages(2))  # Qgis.Critical
    assert set(QgsProject.instance().mapLayers()) == layers_before
    assert dock.run_panel.run_button.isEnabled()
    assert tiny_methods.builds == 0  # refused before any model was built


def test_cancel_in_the_dock_reports_cancelled_and_no_error(dock, tmp_path, tiny_methods):
    from ovss.engine.labels import parse_labels

    layer = add_layer(tmp_path / "scene.tif")
    dock.input_panel.layer_combo.setLayer(layer)
    dock.classes_panel.table.set_labels(parse_labels(LABELS))
    dock.method_panel.method_combo.setCurrentIndex(dock.method_panel.method_combo.findData(TINY))
    dock.options_panel.tile_spin.setValue(16)
    dock.options_panel.overlap_spin.setValue(0)
    calls = []
    tiny_methods.hook = lambda: calls.append(1) or (len(calls) == 2 and dock.task.cancel())
    dock.iface.messageBar().clear_messages()
    assert dock.start_run() is not None
    wait_for(lambda: dock.task is None)
    assert dock.last_outcome.cancelled
    assert dock.run_panel.progress_label.text() == "Cancelled; nothing was written."
    assert dock.iface.messageBar().get_messages(2) == []  # Qgis.Critical: no error bar
    assert dock.run_panel.run_button.isEnabled() and not dock.run_panel.cancel_button.isEnabled()


def test_pasted_text_that_is_empty_or_wrong_leaves_a_consistent_dock(dock, tmp_path, monkeypatch):
    """Empty text empties the table (Run off, the reason shown); wrong text keeps the table as it was."""
    from ovss.engine.labels import parse_labels

    dock.input_panel.layer_combo.setLayer(add_layer(tmp_path / "scene.tif"))
    dock.classes_panel.table.set_labels(parse_labels(LABELS))
    assert dock.run_panel.run_button.isEnabled()
    monkeypatch.setattr(dock.dialogs, "ask_text", lambda *args, **kwargs: "  \n ")
    dock.classes_panel.paste_labels()
    assert dock.classes_panel.table.rowCount() == 0
    assert not dock.run_panel.run_button.isEnabled() and "two classes" in dock.classes_panel.validation_label.text()
    assert dock.start_run() is None

    dock.classes_panel.table.set_labels(parse_labels(LABELS))
    dock.iface.messageBar().clear_messages()
    monkeypatch.setattr(dock.dialogs, "ask_text", lambda *args, **kwargs: "water;;land")
    dock.classes_panel.paste_labels()
    assert dock.classes_panel.table.labels() == parse_labels(LABELS)
    assert dock.run_panel.run_button.isEnabled() and dock.classes_panel.validation_label.text() == ""
    assert any("empty class" in message for message in dock.iface.messageBar().get_messages(1))


@pytest.fixture
def import_threads(monkeypatch):
    """A QGIS session that has not loaded the engine yet; lists the thread of each heavy import (each 0.3 s)."""
    import importlib
    import threading
    import time
    from types import SimpleNamespace

    import ovss.ovss_plugin.heavy_imports as heavy

    threads: list = []

    def slow_import(name):
        threads.append(threading.current_thread())
        time.sleep(0.3)
        return importlib.import_module(name)

    monkeypatch.setattr(heavy, "importlib", SimpleNamespace(import_module=slow_import, util=importlib.util))
    monkeypatch.setattr(heavy, "_LOADED", threading.Event(), raising=False)
    return threads


def test_run_click_returns_at_once_and_imports_and_builds_in_the_task(dock, tmp_path, import_threads, monkeypatch):
    import threading
    import time

    import ovss.ovss_plugin.engine_runtime as runtime_module  # the task builds its method through it
    from ovss.engine.labels import parse_labels

    build_threads = []
    create_method = runtime_module.create_method
    monkeypatch.setattr(runtime_module, "create_method", lambda *args, **kwargs: build_threads.append(
        threading.current_thread()) or create_method(*args, **kwargs))
    dock.input_panel.layer_combo.setLayer(add_layer(tmp_path / "scene.tif"))
    dock.classes_panel.table.set_labels(parse_labels(LABELS))
    dock.method_panel.method_combo.setCurrentIndex(dock.method_panel.method_combo.findData(TINY))
    started = time.perf_counter()
    assert dock.start_run() is not None
    assert time.perf_counter() - started < 1.0  # the imports alone take 7 x 0.3 s
    wait_for(lambda: dock.task is None)
    assert dock.last_outcome.ok, dock.last_outcome.error
    assert len(import_threads) >= 5 and threading.main_thread() not in import_threads
    assert build_threads and threading.main_thread() not in build_threads


def test_device_is_found_without_loading_the_engine_in_the_main_thread(dock, import_threads):
    import threading

    dock.refresh_device()
    assert "finding the device" in dock.method_panel.device_label.text()
    wait_for(lambda: "finding" not in dock.method_panel.device_label.text())
    assert dock.method_panel.device_label.text().startswith("Runs on: ")
    assert import_threads and threading.main_thread() not in import_threads


def test_batch_setting_is_remembered_and_reaches_the_run(dock, profile, tmp_path, monkeypatch, qgis_iface):
    from ovss.engine.labels import parse_labels
    from ovss.ovss_plugin.dock import OVSSDock
    from ovss.ovss_plugin.settings import load_settings

    batch = dock.options_panel.batch_spin
    assert batch.value() == 0 and batch.text() == "automatic"
    monkeypatch.setenv("OVSS_WEIGHTS", "random")
    layer = add_layer(tmp_path / "scene.tif")
    dock.input_panel.layer_combo.setLayer(layer)
    dock.classes_panel.table.set_labels(parse_labels(LABELS))
    dock.method_panel.method_combo.setCurrentIndex(dock.method_panel.method_combo.findData(TINY))
    dock.options_panel.tile_spin.setValue(32)
    dock.options_panel.overlap_spin.setValue(0)
    dock.options_panel.batch_spin.setValue(3)
    assert dock.start_run() is not None
    wait_for(lambda: dock.task is None)
    outcome = dock.last_outcome
    assert outcome.ok and outcome.request.batch == 3 and outcome.result.batch == 3
    assert load_settings().batch == 3  # saved when the run started
    dock.shutdown()
    again = OVSSDock(None, iface=qgis_iface)
    try:
        assert again.options_panel.batch_spin.value() == 3
    finally:
        again.shutdown()
    QgsSettings().setValue("ovss/dock/batch", -4)  # a damaged profile: automatic again
    assert load_settings().batch == 0


def test_parameter_editors_show_the_variants_defaults_and_offer_choices(dock):
    """alignclip-d runs with alpha 0.3 and its own templates: the editors show those, and setting alpha to the
    config class's 0.0 is a change the run receives."""
    from qgis.PyQt.QtWidgets import QComboBox

    methods = dock.findChild(QComboBox, "ovss_method")
    methods.setCurrentIndex(methods.findData("alignclip-d"))
    alpha = dock.findChild(QWidget, "ovss_param_alpha")
    assert alpha.value() == pytest.approx(0.3)
    templates = dock.findChild(QWidget, "ovss_param_templates")
    assert isinstance(templates, QComboBox) and templates.currentText() == "alignclip_rs"
    assert dock.method_params() == {}
    alpha.setValue(0.0)
    assert dock.method_params() == {"alpha": 0.0}
