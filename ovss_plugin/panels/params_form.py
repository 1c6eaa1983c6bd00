"""Editors for a method's parameters, one row per field, built from the engine's descriptions
(:func:`engine.methods.params.param_specs`): choices as lists, numbers as spin boxes with their range and unit,
yes/no as check boxes, anything else as text; each with a tooltip in words and a button that resets it to the
method's default (a variant's own value, e.g. ``alignclip-d``'s alpha)."""

from __future__ import annotations

import json
import math
from typing import Any

from qgis.core import QgsApplication
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QWidget,
)

from ...engine.errors import InputError
from ...engine.methods.params import ParamSpec
from ..i18n import tr
from .common import narrow_form, shrinkable

INT_LIMIT = 1_000_000_000  # spin box range of a number without a range in its metadata
FLOAT_LIMIT = 1e6


def _decimals(spec: ParamSpec) -> int:
    """Enough decimals to show the default exactly (4 at least, e.g. 6 for 1e-6)."""
    value = abs(spec.default) if isinstance(spec.default, float) else 0.0
    return max(4, 1 - math.floor(math.log10(value))) if 0 < value < 1e-3 else 4


def _shown(value: Any) -> str:
    """A value as the tooltips and the reset button show it."""
    return tr("none") if value is None else value if isinstance(value, str) else json.dumps(value)


class ParamEditor:
    """The editor of one parameter: its widget (by kind), its reset button, its value."""

    def __init__(self, spec: ParamSpec, parent: QWidget) -> None:
        self.spec = spec
        self.widget = self._make(parent)
        self.widget.setObjectName(f"ovss_param_{spec.name}")
        help_text = f"{spec.help}. " if spec.help else ""
        self.widget.setToolTip(help_text + tr("Default: {value}").format(value=_shown(spec.default)))
        self.reset_button = QToolButton(parent)
        self.reset_button.setObjectName(f"ovss_reset_{spec.name}")
        self.reset_button.setIcon(QgsApplication.getThemeIcon("/mActionUndo.svg"))
        self.reset_button.setToolTip(tr("Reset to the default ({value})").format(value=_shown(spec.default)))
        self.reset_button.clicked.connect(self.reset)

    def _make(self, parent: QWidget) -> QWidget:
        spec = self.spec
        if spec.kind == "bool":
            return QCheckBox(parent)
        if spec.kind == "choice":
            combo = shrinkable(QComboBox(parent))
            if spec.optional:
                combo.addItem(tr("none"), None)
            for choice in spec.choices:
                combo.addItem(choice, choice)
            return combo
        if spec.kind == "int":
            spin = QSpinBox(parent)
            low = int(spec.minimum) if spec.minimum is not None else -INT_LIMIT
            spin.setRange(low - 1 if spec.optional else low,
                          int(spec.maximum) if spec.maximum is not None else INT_LIMIT)
        elif spec.kind == "float" and not spec.optional:
            spin = QDoubleSpinBox(parent)
            spin.setDecimals(_decimals(spec))
            spin.setRange(spec.minimum if spec.minimum is not None else -FLOAT_LIMIT,
                          spec.maximum if spec.maximum is not None else FLOAT_LIMIT)
            spin.setSingleStep(0.01 if spec.maximum is not None and spec.maximum <= 1 else 0.1)
        else:
            edit = QLineEdit(parent)
            if spec.optional:
                edit.setPlaceholderText(tr("none"))
            return edit
        if spec.optional:
            spin.setSpecialValueText(tr("none"))  # shown at the minimum, one below the smallest real value
        if spec.unit:
            spin.setSuffix(f" {spec.unit}")
        return spin

    def value(self) -> Any:
        """The value the editor shows, as the method reads it; :class:`InputError` for text that is not JSON."""
        widget, spec = self.widget, self.spec
        if isinstance(widget, QCheckBox):
            return widget.isChecked()
        if isinstance(widget, QComboBox):
            return widget.currentData()
        if isinstance(widget, QSpinBox | QDoubleSpinBox):
            if spec.optional and widget.value() == widget.minimum():
                return None
            return widget.value()
        text = widget.text()
        if isinstance(spec.default, str) or (spec.optional and not isinstance(spec.default, list | tuple | dict)):
            return text if text.strip() or not spec.optional else None
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise InputError(tr("Parameter value {text!r} is not valid JSON.").format(text=text)) from None
        return tuple(value) if isinstance(spec.default, tuple) and isinstance(value, list) else value

    def set_value(self, value: Any) -> None:
        """Show ``value``."""
        widget = self.widget
        if isinstance(widget, QCheckBox):
            widget.setChecked(bool(value))
        elif isinstance(widget, QComboBox):
            index = widget.findData(value)
            if index < 0 and value is not None:  # a value not offered (e.g. from an old preset): still shown
                widget.addItem(str(value), value)
                index = widget.count() - 1
            widget.setCurrentIndex(max(index, 0))
        elif isinstance(widget, QSpinBox | QDoubleSpinBox):
            widget.setValue(widget.minimum() if value is None else value)
        else:
            widget.setText("" if value is None else value if isinstance(value, str) else json.dumps(value))

    def reset(self) -> None:
        """Show the method's default."""
        self.set_value(self.spec.default)


class ParamsForm(QWidget):
    """The rows of the current method's parameters."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.form = narrow_form(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.editors: dict[str, ParamEditor] = {}

    def set_specs(self, specs: list[ParamSpec]) -> None:
        """One row per parameter, each showing its default."""
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors = {}
        for spec in specs:
            editor = ParamEditor(spec, self)
            label = QLabel(spec.name.replace("_", " "), self)
            label.setToolTip(editor.widget.toolTip())
            row = QHBoxLayout()
            row.addWidget(editor.widget, 1)
            row.addWidget(editor.reset_button)
            self.form.addRow(label, row)
            self.editors[spec.name] = editor
            editor.reset()

    def defaults(self) -> dict[str, Any]:
        """Every parameter's default."""
        return {name: editor.spec.default for name, editor in self.editors.items()}

    def set_values(self, values: dict[str, Any]) -> None:
        """Show ``values`` (unknown names are ignored)."""
        for name, value in values.items():
            if name in self.editors:
                self.editors[name].set_value(value)

    def changed_values(self) -> dict[str, Any]:
        """The parameters whose value differs from the default."""
        values = {name: editor.value() for name, editor in self.editors.items()}
        return {name: value for name, value in values.items() if value != self.editors[name].spec.default}
