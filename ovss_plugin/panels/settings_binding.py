"""The dock's settings and its panels, both ways: :func:`read_settings` collects the panels' state as
:class:`~..settings.DockSettings`, :func:`show_settings` puts saved settings back into the panels."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...engine.errors import InputError, LabelError
from ...engine.labels import parse_labels
from ..settings import DEFAULT_LABELS, DockSettings, load_settings

if TYPE_CHECKING:
    from ..dock import OVSSDock


def read_settings(dock: OVSSDock) -> DockSettings:
    """The dock's state as settings: one field per control of its panels."""
    try:
        labels_text = dock.classes_panel.table.labels().to_text()
    except LabelError:
        labels_text = load_settings().labels_text
    method = dock.method_panel.method() or ""
    options, output = dock.options_panel, dock.output_panel
    settings = DockSettings(
        labels_text=labels_text,
        preset=dock.classes_panel.preset_combo.currentData() or "",
        method=method,
        area=dock.input_panel.area_combo.currentData(),
        tile=options.tile_spin.value(),
        overlap=options.overlap_spin.value(),
        batch=options.batch_spin.value(),
        precision=options.precision_combo.currentText(),
        device=options.device_combo.currentText(),
        output_mode="file" if output.output_file.isChecked() else "temporary",
        output_path=output.output_path_widget.filePath(),
        confidence=output.confidence_check.isChecked(),
        polygons=output.polygons_check.isChecked(),
        keep_models=options.keep_models_check.isChecked(),
        weights_dir=options.weights_dir_widget.filePath(),
    )
    try:
        params = dock.method_params()
    except InputError:
        params = {}
    return settings.with_params(method, params) if method else settings

def show_settings(dock: OVSSDock, settings: DockSettings) -> None:
    """Show ``settings`` in the dock's panels (unreadable labels: the default labels)."""
    classes, options, output = dock.classes_panel, dock.options_panel, dock.output_panel
    try:
        classes.table.set_labels(parse_labels(settings.labels_text))
    except LabelError:
        classes.table.set_labels(parse_labels(DEFAULT_LABELS))
    classes.preset_combo.setCurrentIndex(max(classes.preset_combo.findData(settings.preset), 0))
    area = dock.input_panel.area_combo
    area.setCurrentIndex(max(area.findData(settings.area), 0))
    options.tile_spin.setValue(settings.tile)
    options.overlap_spin.setValue(settings.overlap)
    options.batch_spin.setValue(settings.batch)
    options.precision_combo.setCurrentText(settings.precision)
    options.device_combo.setCurrentText(settings.device)
    (output.output_file if settings.output_mode == "file" else output.output_temporary).setChecked(True)
    output.output_path_widget.setFilePath(settings.output_path)
    output.confidence_check.setChecked(settings.confidence)
    output.polygons_check.setChecked(settings.polygons)
    options.keep_models_check.setChecked(settings.keep_models)
    options.weights_dir_widget.setFilePath(settings.weights_dir)
    methods = dock.method_panel.method_combo
    index = methods.findData(settings.method)
    if index >= 0:
        methods.setCurrentIndex(index)
    dock.method_panel.method_changed()
    if settings.method and settings.method == dock.method_panel.method():
        dock.method_panel.set_method_params(settings.params_for(settings.method))
    dock.validate()
