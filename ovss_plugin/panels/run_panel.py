"""The run panel: Run and Cancel, "Preview" (the map extent at screen resolution) and "Toggle" (the last two
previews), the progress bar and its line, and after a run the area per class (:class:`~.area_table.AreaTable`;
after a preview with the change against the previous one) and the "Save report" button."""

from __future__ import annotations

from collections.abc import Sequence

from qgis.PyQt.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from ..i18n import tr
from .area_table import AreaRow, AreaTable


class RunPanel(QWidget):
    """Buttons and progress of a run; the dock connects ``run_button``, ``cancel_button``, ``preview_button``,
    ``toggle_button`` and ``report_button`` and calls the methods below as the run goes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.run_button = QPushButton(tr("Run"), self)
        self.run_button.setObjectName("ovss_run")
        row.addWidget(self.run_button)
        self.cancel_button = QPushButton(tr("Cancel"), self)
        self.cancel_button.setObjectName("ovss_cancel")
        self.cancel_button.setEnabled(False)
        row.addWidget(self.cancel_button)
        column.addLayout(row)
        previews = QHBoxLayout()
        self.preview_button = QPushButton(tr("Preview map extent"), self)
        self.preview_button.setObjectName("ovss_preview")
        self.preview_button.setToolTip(tr("Run the current classes on the visible map extent at screen resolution "
                                          "into the temporary layer \u201cOVSS preview\u201d (replaced by the next "
                                          "preview)"))
        previews.addWidget(self.preview_button)
        self.toggle_button = QPushButton(tr("Toggle"), self)
        self.toggle_button.setObjectName("ovss_toggle_preview")
        self.toggle_button.setToolTip(tr("Show the other of the last two previews"))
        self.toggle_button.setEnabled(False)
        previews.addWidget(self.toggle_button)
        column.addLayout(previews)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setObjectName("ovss_progress")
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setValue(0)
        column.addWidget(self.progress_bar)
        self.progress_label = QLabel(self)
        self.progress_label.setObjectName("ovss_progress_text")
        self.progress_label.setWordWrap(True)
        column.addWidget(self.progress_label)
        self.area_table = AreaTable(self)
        self.area_table.setVisible(False)
        column.addWidget(self.area_table)
        self.report_button = QPushButton(tr("Save report\u2026"), self)
        self.report_button.setObjectName("ovss_save_report")
        self.report_button.setToolTip(tr("One HTML page with the map, legend, areas and the run's settings"))
        self.report_button.setEnabled(False)
        column.addWidget(self.report_button)

    def started(self) -> None:
        """A run started: only Cancel is possible; the last run's areas are gone."""
        self.progress_bar.setValue(0)
        self.progress_label.setText(tr("Starting\u2026"))
        self.run_button.setEnabled(False)
        self.preview_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.show_areas([])

    def stopped(self, text: str, progress: int | None = None) -> None:
        """The run ended (done, cancelled, failed): ``text`` says how; ``progress`` resets the bar if given."""
        self.cancel_button.setEnabled(False)
        self.progress_label.setText(text)
        if progress is not None:
            self.progress_bar.setValue(progress)

    def show_areas(self, rows: Sequence[AreaRow], compare: bool = False) -> None:
        """The area per class (hidden when there are no rows); ``compare``: with the change column."""
        self.area_table.set_rows(rows, compare)
        self.area_table.setVisible(bool(rows))
