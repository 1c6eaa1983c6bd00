"""The classes panel: the preset list and its buttons, the editable classes table, and the line that says
what is wrong with the dock's choices (validation)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qgis.core import Qgis
from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import QComboBox, QGroupBox, QLabel, QVBoxLayout, QWidget

from ...engine.errors import InputError, LabelError
from ...engine.labels import (
    Preset,
    list_presets,
    load_preset,
    load_presets_from,
    parse_labels,
    preset_params,
    preset_to_json,
    read_preset_file,
    save_user_preset,
)
from ..classes_table import ClassesTable
from ..i18n import tr
from ..settings import user_presets_dir
from .common import button_grid, shrinkable
from .dialogs import Dialogs

USER_PRESET, BUILTIN_PRESET = "user", "builtin"
MethodParams = Callable[[], tuple[str | None, dict[str, Any]]]  # the chosen method and its changed parameters


class ClassesPanel(QGroupBox):
    """Presets and the classes table. ``changed``: the classes changed; ``preset_chosen``: the user picked a
    preset (the dock then resets the method's parameters to the preset's values)."""

    changed = pyqtSignal()
    preset_chosen = pyqtSignal()

    def __init__(self, dialogs: Dialogs, method_params: MethodParams, parent: QWidget | None = None) -> None:
        super().__init__(tr("Classes"), parent)
        self.dialogs = dialogs
        self._method_params = method_params
        column = QVBoxLayout(self)
        self.preset_combo = shrinkable(QComboBox(self))
        self.preset_combo.setObjectName("ovss_preset")
        self.preset_combo.activated.connect(self._preset_chosen)
        column.addWidget(self.preset_combo)
        column.addLayout(button_grid(self, "ovss_preset", (
            ("save", tr("Save"), self.save_preset),
            ("rename", tr("Rename"), self.rename_preset),
            ("delete", tr("Delete"), self.delete_preset),
            ("import", tr("Import"), self.import_preset),
            ("export", tr("Export"), self.export_preset),
        )))
        self.table = ClassesTable(self)
        self.table.changed.connect(self.changed)
        column.addWidget(self.table)
        column.addLayout(button_grid(self, "ovss_class", (
            ("add", tr("Add"), self.table.add_class),
            ("remove", tr("Remove"), self.table.remove_selected),
            ("up", tr("Up"), lambda: self.table.move_selected(-1)),
            ("down", tr("Down"), lambda: self.table.move_selected(1)),
            ("paste", tr("Paste as text\u2026"), self.paste_labels),
        )))
        self.validation_label = QLabel(self)
        self.validation_label.setObjectName("ovss_validation")
        self.validation_label.setWordWrap(True)
        self.validation_label.setStyleSheet("color: #b00020;")
        column.addWidget(self.validation_label)
        self.refresh_presets()

    def show_problem(self, problem: str | None) -> None:
        """Say what is wrong with the dock's choices (nothing: clear the line)."""
        self.validation_label.setText(problem or "")

    def refresh_presets(self, select: str | None = None) -> None:
        """Fill the preset list: built-in presets, then the user's own (``select``: ``kind:name`` to choose)."""
        self.preset_combo.clear()
        self.preset_combo.addItem(tr("\u2014 choose a preset \u2014"), None)
        for name in list_presets():
            self.preset_combo.addItem(name, f"{BUILTIN_PRESET}:{name}")
        try:
            mine = load_presets_from(user_presets_dir())
        except LabelError as exc:
            self.dialogs.notify(str(exc), Qgis.Warning)
            mine = []
        for preset in mine:
            self.preset_combo.addItem(tr("{name} (mine)").format(name=preset.name), f"{USER_PRESET}:{preset.name}")
        index = self.preset_combo.findData(select) if select else 0
        self.preset_combo.setCurrentIndex(max(index, 0))

    def current_preset(self) -> Preset | None:
        """The preset chosen in the list, or None."""
        data = self.preset_combo.currentData()
        if not data:
            return None
        kind, _, name = data.partition(":")
        return load_preset(name, user_presets_dir() if kind == USER_PRESET else None)

    def preset_defaults(self, method: str | None) -> dict[str, Any]:
        """The parameter values the chosen preset sets for ``method`` (none when unreadable)."""
        try:
            preset = self.current_preset()
        except LabelError:
            return {}
        return preset_params(preset, method) if preset is not None and method else {}

    def _preset_chosen(self, _index: int) -> None:
        try:
            preset = self.current_preset()
        except LabelError as exc:
            self.dialogs.notify(str(exc), Qgis.Warning)
            return
        if preset is not None:
            self.table.set_labels(preset.labels)
            self.preset_chosen.emit()

    def paste_labels(self) -> None:
        """Replace the classes with ones typed or pasted in the label syntax.

        Empty text empties the table (validation then says why Run is off); text that does not parse leaves the
        table as it was and says what is wrong in the message bar, so the dock always shows the table's state.
        """
        try:
            current = self.table.labels().to_text("\n")
        except LabelError:
            current = ""
        text = self.dialogs.ask_text(tr("Classes as text"), tr("One class per line or separated by ';', prompts "
                                                               "by ',', an optional 'Name:' prefix:"),
                                     current, multiline=True)
        if text is None:
            return
        if not text.strip():
            self.table.set_rows([])
            return
        try:
            self.table.set_labels(parse_labels(text))
        except LabelError as exc:
            self.dialogs.notify(str(exc), Qgis.Warning)

    def _user_preset_name(self) -> str | None:
        kind, _, name = (self.preset_combo.currentData() or "").partition(":")
        if kind != USER_PRESET:
            self.dialogs.notify(tr("Choose one of your own presets first."), Qgis.Info)
            return None
        return name

    def save_preset(self) -> None:
        """Save the classes and the method's parameters as a user preset."""
        try:
            labels = self.table.labels()
            method, params = self._method_params()
        except (LabelError, InputError) as exc:
            self.dialogs.notify(str(exc), Qgis.Warning)
            return
        name = self.dialogs.ask_text(tr("Save preset"), tr("Preset name:"), "")
        if not name:
            return
        preset = Preset(name.strip(), "custom", "custom", tr("Saved from the OVSS dock"), labels,
                        {method: params} if method and params else {})
        try:
            save_user_preset(preset, user_presets_dir())
        except LabelError as exc:
            self.dialogs.notify(str(exc), Qgis.Warning)
            return
        self.refresh_presets(f"{USER_PRESET}:{preset.name}")

    def rename_preset(self) -> None:
        """Give the chosen user preset a new name."""
        old = self._user_preset_name()
        if old is None:
            return
        new = self.dialogs.ask_text(tr("Rename preset"), tr("New name:"), old)
        if not new or new.strip() == old:
            return
        folder = user_presets_dir()
        try:
            preset = load_preset(old, folder)
            save_user_preset(dataclasses.replace(preset, name=new.strip()), folder)
        except LabelError as exc:
            self.dialogs.notify(str(exc), Qgis.Warning)
            return
        (folder / f"{old}.json").unlink(missing_ok=True)
        self.refresh_presets(f"{USER_PRESET}:{new.strip()}")

    def delete_preset(self) -> None:
        """Delete the chosen user preset after asking."""
        name = self._user_preset_name()
        if name is None or not self.dialogs.confirm(tr("Delete the preset \u201c{name}\u201d?").format(name=name)):
            return
        (user_presets_dir() / f"{name}.json").unlink(missing_ok=True)
        self.refresh_presets()

    def import_preset(self) -> None:
        """Copy a preset JSON file into the user's presets."""
        path = self.dialogs.ask_open_path(tr("Import preset"), tr("Presets (*.json)"))
        if not path:
            return
        try:
            preset = read_preset_file(path)
            save_user_preset(preset, user_presets_dir())
        except LabelError as exc:
            self.dialogs.notify(str(exc), Qgis.Warning)
            return
        self.refresh_presets(f"{USER_PRESET}:{preset.name}")

    def export_preset(self) -> None:
        """Write the chosen preset (or the classes in the table) to a JSON file."""
        try:
            preset = self.current_preset() or Preset("my-classes", "custom", "custom", "", self.table.labels())
        except LabelError as exc:
            self.dialogs.notify(str(exc), Qgis.Warning)
            return
        path = self.dialogs.ask_save_path(tr("Export preset"), tr("Presets (*.json)"), f"{preset.name}.json")
        if not path:
            return
        Path(path).write_text(preset_to_json(preset), encoding="utf-8")
