"""The method panel's parameter editors: a widget per kind from the engine's descriptions (choices, ranges,
units, none), tooltips in words, per-field reset to the method's (variant's) default."""

from __future__ import annotations

import pytest
from plugin_doubles import TINY, register_doubles
from qgis.PyQt.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox, QToolButton

from ovss.engine.methods.params import param_specs


@pytest.fixture
def panel(qgis_iface):
    from ovss.ovss_plugin.panels.method_panel import MethodPanel

    widget = MethodPanel(lambda method: {})
    yield widget
    widget.deleteLater()


def choose(panel, method: str) -> None:
    panel.method_combo.setCurrentIndex(panel.method_combo.findData(method))


def editor(panel, name: str, kind: type):
    widget = panel.findChild(kind, f"ovss_param_{name}")
    assert widget is not None, name
    return widget


def test_each_kind_gets_its_widget_with_range_unit_and_help(panel):
    choose(panel, "sdci-v2")
    solver = editor(panel, "solver", QComboBox)
    assert [solver.itemText(i) for i in range(solver.count())] == ["fast", "reference"]
    assert "solver" in solver.toolTip() and "Default: fast" in solver.toolTip()
    side = editor(panel, "clip_short_side", QSpinBox)
    assert (side.minimum(), side.maximum(), side.suffix(), side.value()) == (32, 4096, " px", 512)
    alpha = editor(panel, "diffusion_alpha", QDoubleSpinBox)
    assert (alpha.minimum(), alpha.maximum(), alpha.value()) == (0.0, 0.999, 0.9)
    assert editor(panel, "sinkhorn_tolerance", QDoubleSpinBox).value() == pytest.approx(1e-6)  # not 0.0000
    assert isinstance(editor(panel, "diffusion_closed_form", QCheckBox), QCheckBox)
    assert panel.method_params() == {}
    assert len(panel.findChildren(QToolButton, None)) >= len(param_specs("sdci-v2"))


def test_optional_values_show_none_and_give_none(panel):
    choose(panel, "segearth-ov")
    long_side = editor(panel, "long_side", QSpinBox)
    assert long_side.value() == 448
    long_side.setValue(long_side.minimum())
    assert long_side.text() == "none" and panel.method_params() == {"long_side": None}
    vfm = editor(panel, "vfm", QComboBox)
    assert vfm.currentText() == "none" and vfm.currentData() is None
    vfm.setCurrentIndex(vfm.findData("dino_vitb8"))
    checkpoint = editor(panel, "upsampler_checkpoint", QLineEdit)
    assert checkpoint.text() == "" and checkpoint.placeholderText() == "none"
    assert panel.method_params() == {"long_side": None, "vfm": "dino_vitb8"}


def test_variant_defaults_are_shown_and_a_change_back_to_the_class_default_is_kept(panel):
    """alignclip-d's alpha is 0.3 (its registered default), not the config class's 0.0."""
    choose(panel, "alignclip-d")
    alpha = editor(panel, "alpha", QDoubleSpinBox)
    assert alpha.value() == pytest.approx(0.3)
    assert editor(panel, "templates", QComboBox).currentText() == "alignclip_rs"
    assert panel.method_params() == {}
    alpha.setValue(0.0)
    assert panel.method_params() == {"alpha": 0.0}


def test_per_field_reset_resets_only_that_field_to_the_variant_default(panel):
    choose(panel, "alignclip-d")
    alpha = editor(panel, "alpha", QDoubleSpinBox)
    beta = editor(panel, "beta", QDoubleSpinBox)
    alpha.setValue(0.9)
    beta.setValue(0.7)
    reset = panel.findChild(QToolButton, "ovss_reset_alpha")
    assert "0.3" in reset.toolTip()
    reset.click()
    assert alpha.value() == pytest.approx(0.3) and beta.value() == pytest.approx(0.7)
    assert panel.method_params() == {"beta": 0.7}


def test_reset_all_uses_the_presets_values(qgis_iface):
    from ovss.ovss_plugin.panels.method_panel import MethodPanel

    panel = MethodPanel(lambda method: {"alpha": 0.5, "unknown": 1} if method == "alignclip-d" else {})
    choose(panel, "alignclip-d")
    assert panel.method_params() == {"alpha": 0.5}  # a method chosen: the preset's values
    editor(panel, "beta", QDoubleSpinBox).setValue(0.9)
    panel.reset_params_button.click()
    assert panel.method_params() == {"alpha": 0.5}


def test_fields_without_metadata_get_type_based_widgets(panel, monkeypatch):
    register_doubles(monkeypatch)
    panel.method_combo.addItem(TINY, TINY)
    choose(panel, TINY)
    assert editor(panel, "sharpness", QDoubleSpinBox).value() == pytest.approx(0.05)
    assert editor(panel, "levels", QSpinBox).value() == 3
    assert editor(panel, "normalise", QCheckBox).isChecked()
    assert editor(panel, "levels", QSpinBox).toolTip() == "Default: 3"
