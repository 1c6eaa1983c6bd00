"""The editable classes table of the dock: one row per class with its name, prompts, colour and background mark.

:func:`rows_to_labels` is the table's validation, kept free of widgets so it can be tested on plain rows: it
explains in one translated line what is wrong (an empty class, a duplicate name, fewer than two classes, a
character the label syntax reserves) or builds the engine's :class:`LabelSet`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qgis.gui import QgsColorButton
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtGui import QColor
from qgis.PyQt.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from ..engine.errors import LabelError
from ..engine.labels import RGB, LabelClass, LabelSet, default_color
from .i18n import tr

COL_NAME, COL_PROMPTS, COL_COLOR, COL_BACKGROUND = range(4)


@dataclass(frozen=True)
class ClassRow:
    """One row as typed: name, comma-separated prompts, colour, whether it is the background class."""

    name: str
    prompts: str
    color: RGB
    background: bool = False


def rows_to_labels(rows: Sequence[ClassRow]) -> LabelSet:
    """Build the label set the rows describe; :class:`LabelError` with one translated line otherwise.

    A row without prompts uses its name as the prompt, and a row without a name takes its first prompt
    (the label syntax's rule); names are compared ignoring case.
    """
    classes: list[LabelClass] = []
    seen: dict[str, int] = {}
    background: int | None = None
    for number, row in enumerate(rows, start=1):
        name = " ".join(row.name.split())
        prompts = [" ".join(p.split()) for p in row.prompts.split(",")]
        prompts = [p for p in prompts if p]
        if not name and not prompts:
            raise LabelError(tr("Class {number} is empty: give it a name or a prompt.").format(number=number))
        name = name or prompts[0]
        key = name.casefold()
        if key in seen:
            raise LabelError(
                tr("Duplicate class name \u201c{name}\u201d (classes {first} and {second}).").format(
                    name=name, first=seen[key], second=number
                )
            )
        seen[key] = number
        if row.background:
            if background is not None:
                raise LabelError(tr("Only one class can be the background (classes {first} and {second}).")
                                 .format(first=background + 1, second=number))
            background = number - 1
        try:
            classes.append(LabelClass(name, tuple(prompts or [name]), row.color))
        except LabelError as exc:
            raise LabelError(tr("Class {number}: {reason}").format(number=number, reason=exc)) from None
    if len(classes) < 2:
        raise LabelError(tr("At least two classes are needed (there are {count}).").format(count=len(classes)))
    return LabelSet(tuple(classes), background)


def labels_to_rows(labels: LabelSet) -> list[ClassRow]:
    """The rows that show ``labels`` (inverse of :func:`rows_to_labels`)."""
    return [
        ClassRow(c.name, ", ".join(c.prompts), c.color, index == labels.background)
        for index, c in enumerate(labels.classes)
    ]


class ClassesTable(QTableWidget):
    """The classes as an editable table; emits ``changed`` on every edit, reorder, colour change."""

    changed = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 4, parent)
        self.setObjectName("ovss_classes")
        self.setHorizontalHeaderLabels([tr("Name"), tr("Prompts (comma-separated)"), tr("Colour"), tr("Bg")])
        self.horizontalHeaderItem(COL_BACKGROUND).setToolTip(
            tr("The dataset's background class (SegEarth-OV assigns low-confidence pixels to it)")
        )
        header = self.horizontalHeader()
        header.setSectionResizeMode(COL_NAME, QHeaderView.Interactive)
        header.setSectionResizeMode(COL_PROMPTS, QHeaderView.Stretch)
        header.setSectionResizeMode(COL_COLOR, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(COL_BACKGROUND, QHeaderView.ResizeToContents)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self.verticalHeader().setVisible(False)
        self.itemChanged.connect(lambda _item: self.changed.emit())

    def rows(self) -> list[ClassRow]:
        """The rows as typed."""
        result = []
        for row in range(self.rowCount()):
            name = self.item(row, COL_NAME)
            prompts = self.item(row, COL_PROMPTS)
            button = self.cellWidget(row, COL_COLOR)
            color = button.color() if isinstance(button, QgsColorButton) else QColor(0, 0, 0)
            flag = self.item(row, COL_BACKGROUND)
            result.append(
                ClassRow(
                    name.text() if name else "",
                    prompts.text() if prompts else "",
                    (color.red(), color.green(), color.blue()),
                    bool(flag and flag.checkState() == Qt.Checked),
                )
            )
        return result

    def set_rows(self, rows: Sequence[ClassRow]) -> None:
        """Replace the table's content with ``rows``."""
        self.blockSignals(True)
        try:
            self.setRowCount(0)
            for row in rows:
                self._append(row)
        finally:
            self.blockSignals(False)
        self.changed.emit()

    def set_labels(self, labels: LabelSet) -> None:
        """Show ``labels``."""
        self.set_rows(labels_to_rows(labels))

    def labels(self) -> LabelSet:
        """The table's label set; :class:`LabelError` explaining what is wrong."""
        return rows_to_labels(self.rows())

    def _append(self, row: ClassRow) -> None:
        index = self.rowCount()
        self.insertRow(index)
        self.setItem(index, COL_NAME, QTableWidgetItem(row.name))
        self.setItem(index, COL_PROMPTS, QTableWidgetItem(row.prompts))
        button = QgsColorButton(self)
        button.setAllowOpacity(False)
        button.setShowNoColor(False)
        button.setColor(QColor(*row.color))
        button.colorChanged.connect(lambda _color: self.changed.emit())
        self.setCellWidget(index, COL_COLOR, button)
        flag = QTableWidgetItem()
        flag.setFlags(Qt.ItemIsUserCheckable | Qt.ItemIsEnabled | Qt.ItemIsSelectable)
        flag.setCheckState(Qt.Checked if row.background else Qt.Unchecked)
        self.setItem(index, COL_BACKGROUND, flag)

    def add_class(self) -> None:
        """Append an empty row with the next default colour and start editing its name."""
        rows = self.rows()
        self.set_rows([*rows, ClassRow("", "", default_color(len(rows)))])
        self.setCurrentCell(len(rows), COL_NAME)
        self.editItem(self.item(len(rows), COL_NAME))

    def remove_selected(self) -> None:
        """Delete the selected row."""
        row = self.currentRow()
        if row < 0:
            return
        rows = self.rows()
        del rows[row]
        self.set_rows(rows)
        self.setCurrentCell(min(row, len(rows) - 1), COL_NAME)

    def move_selected(self, step: int) -> None:
        """Move the selected row up (``step = -1``) or down (``+1``)."""
        row = self.currentRow()
        target = row + step
        rows = self.rows()
        if row < 0 or not 0 <= target < len(rows):
            return
        rows[row], rows[target] = rows[target], rows[row]
        self.set_rows(rows)
        self.setCurrentCell(target, COL_NAME)
