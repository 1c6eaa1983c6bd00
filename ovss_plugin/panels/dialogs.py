"""The questions and messages the dock's panels show, in one object the panels share (tests replace its
methods, so no test ever waits for a modal dialog)."""

from __future__ import annotations

from typing import Any

from qgis.core import Qgis, QgsMessageLog
from qgis.PyQt.QtWidgets import QFileDialog, QInputDialog, QLineEdit, QMessageBox, QWidget

from ..i18n import tr


class Dialogs:
    """Modal questions parented to ``parent``, and one-line messages to the message bar and the QGIS log."""

    def __init__(self, parent: QWidget, iface: Any = None) -> None:
        self.parent = parent
        self.iface = iface

    def ask_text(self, title: str, label: str, text: str, multiline: bool = False) -> str | None:
        """Text the user typed; None when cancelled."""
        if multiline:
            value, ok = QInputDialog.getMultiLineText(self.parent, title, label, text)
        else:
            value, ok = QInputDialog.getText(self.parent, title, label, QLineEdit.Normal, text)
        return value if ok else None

    def ask_open_path(self, title: str, file_filter: str) -> str | None:
        """A file to read; None when cancelled."""
        path, _ = QFileDialog.getOpenFileName(self.parent, title, "", file_filter)
        return path or None

    def ask_save_path(self, title: str, file_filter: str, name: str) -> str | None:
        """A file to write (the dialog asks before replacing one); None when cancelled."""
        path, _ = QFileDialog.getSaveFileName(self.parent, title, name, file_filter)
        return path or None

    def ask_folder(self, title: str, folder: str) -> str | None:
        """A folder; None when cancelled."""
        return QFileDialog.getExistingDirectory(self.parent, title, folder) or None

    def confirm(self, question: str) -> bool:
        """Whether the user answered Yes."""
        answer = QMessageBox.question(self.parent, tr("Open-vocabulary land cover"), question)
        return answer == QMessageBox.Yes

    def notify(self, message: str, level: Qgis.MessageLevel) -> None:
        """One line in the message bar (when there is an interface) and in the QGIS log."""
        QgsMessageLog.logMessage(message, "OVSS", level)
        if self.iface is not None:
            self.iface.messageBar().pushMessage(tr("Land cover"), message, level, 8)
