"""The help shown when a run stopped because model weights are missing: the message, and buttons to
download them or to choose the folder that holds them."""

from __future__ import annotations

from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtWidgets import QGroupBox, QLabel, QPushButton, QVBoxLayout, QWidget

from ..i18n import tr


class WeightsHelp(QGroupBox):
    """Hidden until :meth:`show_message`; ``download`` and ``choose_folder`` are the user's two ways out."""

    download = pyqtSignal()
    choose_folder = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(tr("Model weights missing"), parent)
        self.setObjectName("ovss_weights_help")
        column = QVBoxLayout(self)
        self.weights_message = QLabel(self)
        self.weights_message.setObjectName("ovss_weights_message")
        self.weights_message.setWordWrap(True)
        self.weights_message.setTextInteractionFlags(Qt.TextSelectableByMouse)
        column.addWidget(self.weights_message)
        for name, text, signal in (("ovss_download_weights", tr("Download\u2026"), self.download),
                                   ("ovss_choose_weights_dir", tr("Choose weights folder\u2026"), self.choose_folder)):
            button = QPushButton(text, self)
            button.setObjectName(name)
            button.clicked.connect(signal)
            column.addWidget(button)
        self.setVisible(False)

    def show_message(self, message: str) -> None:
        """Show the help with ``message`` (which checkpoint is missing, where it was looked for)."""
        self.weights_message.setText(message)
        self.setVisible(True)
