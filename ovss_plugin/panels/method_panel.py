"""The method panel: the method list, its description, the device a run would use, and (collapsed) the
method's parameters (:class:`~.params_form.ParamsForm`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qgis.gui import QgsCollapsibleGroupBox
from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import QComboBox, QGroupBox, QLabel, QPushButton, QVBoxLayout, QWidget

from ..i18n import tr
from .common import shrinkable
from .params_form import ParamsForm

PresetDefaults = Callable[[str | None], dict[str, Any]]  # the chosen preset's parameter values for a method


class MethodPanel(QGroupBox):
    """Method and its parameters; ``changed`` when another method is chosen."""

    changed = pyqtSignal()

    def __init__(self, preset_defaults: PresetDefaults, parent: QWidget | None = None) -> None:
        from ...engine.methods.base import available_methods

        super().__init__(tr("Method"), parent)
        self._preset_defaults = preset_defaults
        column = QVBoxLayout(self)
        self.method_combo = shrinkable(QComboBox(self))
        self.method_combo.setObjectName("ovss_method")
        for name in available_methods():
            self.method_combo.addItem(name, name)
        self.method_combo.currentIndexChanged.connect(self.method_changed)
        column.addWidget(self.method_combo)
        self.method_description = QLabel(self)
        self.method_description.setObjectName("ovss_method_description")
        self.method_description.setWordWrap(True)
        column.addWidget(self.method_description)
        self.device_label = QLabel(self)
        self.device_label.setObjectName("ovss_device")
        self.device_label.setWordWrap(True)
        column.addWidget(self.device_label)

        self.advanced = QgsCollapsibleGroupBox(tr("Method parameters"), self)
        self.advanced.setObjectName("ovss_advanced")
        self.advanced.setCollapsed(True)
        advanced_column = QVBoxLayout(self.advanced)
        self.params_form = ParamsForm(self.advanced)
        advanced_column.addWidget(self.params_form)
        self.reset_params_button = QPushButton(tr("Reset all to the defaults"), self.advanced)
        self.reset_params_button.setObjectName("ovss_reset_params")
        self.reset_params_button.setToolTip(tr("The method's defaults, or the chosen preset's values"))
        self.reset_params_button.clicked.connect(self.reset_params)
        advanced_column.addWidget(self.reset_params_button)
        column.addWidget(self.advanced)
        self.method_changed()

    def method(self) -> str | None:
        """The chosen method's name, or None when none is registered."""
        return self.method_combo.currentData() or None

    def method_changed(self, _index: int = -1) -> None:
        """Show the chosen method's description and parameters (at their defaults, or the preset's values)."""
        from ...engine.methods.base import method_info
        from ...engine.methods.params import param_specs

        name = self.method()
        self.method_description.setText(method_info(name).description if name else "")
        self.params_form.set_specs(param_specs(name) if name else [])
        self.reset_params()
        self.changed.emit()

    def reset_params(self) -> None:
        """Every parameter to the method's default, or to the chosen preset's value for this method."""
        values = self.params_form.defaults()
        values.update({k: v for k, v in self._preset_defaults(self.method()).items() if k in values})
        self.params_form.set_values(values)

    def method_params(self) -> dict[str, Any]:
        """The parameters that differ from the method's defaults (:class:`InputError` for unreadable text)."""
        return self.params_form.changed_values()

    def set_method_params(self, values: dict[str, Any]) -> None:
        """Show ``values`` in the parameter editors (unknown names are ignored)."""
        self.params_form.set_values(values)
