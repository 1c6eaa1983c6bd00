"""The OVSS dock widget.

It checks the engine's Python packages first: when some are missing it shows exactly what to install (the
pip command for this QGIS's Python) instead of the controls.
"""

from __future__ import annotations

from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QDockWidget, QLabel, QVBoxLayout, QWidget

from ..engine.dependencies import install_command, missing_requirements
from .i18n import tr


def missing_packages_message() -> str | None:
    """A message naming the missing packages and the command that installs them; None when all are there."""
    missing = missing_requirements()
    if not missing:
        return None
    names = ", ".join(req.pip_name for req in missing)
    return tr("Some Python packages this plugin needs are missing: {names}. Install them with:\n{command}\n"
              "then restart QGIS.").format(names=names, command=install_command(missing))


class OVSSDock(QDockWidget):
    """Dock with the segmentation controls, or the installation help when packages are missing."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(tr("Open-vocabulary land cover"), parent)
        body = QWidget(self)
        layout = QVBoxLayout(body)
        self.status_label = QLabel(body)
        self.status_label.setObjectName("ovss_status")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout.addWidget(self.status_label)
        layout.addStretch(1)
        self.setWidget(body)
        self.refresh_status()

    def refresh_status(self) -> None:
        """Show what is missing, or that the engine is ready."""
        message = missing_packages_message()
        self.status_label.setText(message or tr("Ready."))
