"""The input, classes, output and processing panels on their own (no dock): what each shows and decides."""

from __future__ import annotations

from datetime import datetime

import pytest
from panel_doubles import ScriptedDialogs
from plugin_doubles import make_geotiff
from qgis.core import Qgis, QgsProject, QgsRasterLayer

from ovss.engine.labels import parse_labels


@pytest.fixture
def scene(tmp_path, qgis_iface):
    make_geotiff(tmp_path / "scene.tif", bands=2)
    layer = QgsRasterLayer(str(tmp_path / "scene.tif"), "scene", "gdal")
    QgsProject.instance().addMapLayer(layer)
    yield layer
    QgsProject.instance().removeAllMapLayers()


def test_input_panel_follows_its_layer_and_shows_the_extent_only_when_drawn(scene):
    from ovss.ovss_plugin.panels.input_panel import InputPanel

    panel = InputPanel()
    changes = []
    panel.changed.connect(lambda: changes.append(1))
    panel.layer_combo.setLayer(None)
    panel.layer_combo.setLayer(scene)
    assert changes and panel.layer() is scene and panel.bands() == (1, 1, 1)
    assert "2 band(s)" in panel.band_mapping_label.text()
    assert panel.area_extent(scene) is None
    panel.area_combo.setCurrentIndex(panel.area_combo.findData("custom"))
    assert not panel.extent_widget.isHidden()
    assert panel.area_extent(scene).width() == pytest.approx(scene.extent().width())


def test_classes_panel_presets_paste_and_problems():
    from ovss.engine.labels import load_preset
    from ovss.ovss_plugin.panels.classes_panel import ClassesPanel

    dialogs = ScriptedDialogs(ask_text="a: x\nb")
    panel = ClassesPanel(dialogs, lambda: ("m", {}))
    chosen = []
    panel.preset_chosen.connect(lambda: chosen.append(1))
    index = panel.preset_combo.findData("builtin:potsdam-ori")
    panel.preset_combo.setCurrentIndex(index)
    panel.preset_combo.activated.emit(index)
    assert chosen == [1] and panel.table.labels() == load_preset("potsdam-ori").labels
    assert panel.preset_defaults(None) == {}
    panel.paste_labels()
    assert panel.table.labels() == parse_labels("a: x; b")
    panel.show_problem("Choose a raster layer.")
    assert panel.validation_label.text() == "Choose a raster layer."
    panel.rename_preset()  # a built-in preset is not the user's
    assert dialogs.messages == [("Choose one of your own presets first.", Qgis.Info)]


def test_output_panel_paths_and_replacing(tmp_path):
    from ovss.ovss_plugin.panels.output_panel import OutputPanel

    dialogs = ScriptedDialogs(confirm=False)
    panel = OutputPanel(dialogs)
    assert not panel.output_path_widget.isEnabled()
    temporary, confidence, vector = panel.output_paths("scene", "m", datetime(2026, 1, 2))
    assert temporary.suffix == ".tif" and confidence is None and vector is None
    panel.output_file.setChecked(True)
    assert panel.output_path_widget.isEnabled()
    panel.output_path_widget.setFilePath(str(tmp_path / "classes"))
    panel.confidence_check.setChecked(True)
    output, confidence, vector = panel.output_paths("scene", "m", None)
    assert output == tmp_path / "classes.tif" and confidence is not None and confidence != output
    output.write_bytes(b"keep")
    assert panel.output_paths("scene", "m", None) is None and output.read_bytes() == b"keep"  # declined
    panel.polygons_check.setChecked(True)
    output.unlink()
    assert panel.output_paths("scene", "m", None)[2] == tmp_path / "classes.gpkg"


def test_processing_options_are_collapsed_and_say_what_they_do():
    from ovss.ovss_plugin.panels.processing_options import ProcessingOptions

    options = ProcessingOptions()
    freed = []
    options.free_models.connect(lambda: freed.append(1))
    assert options.isCollapsed()
    assert options.tile_spin.suffix() == " px" and options.tile_spin.toolTip()
    options.keep_models_check.setChecked(True)
    options.keep_models_check.setChecked(False)
    assert freed == [1]
