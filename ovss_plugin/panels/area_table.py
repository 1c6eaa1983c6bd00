"""The area per class after a run: a small table (colour swatch and name, hectares, percent, and after a
preview the change against the previous preview in percentage points) with a horizontal bar chart in the
class colours, painted by an item delegate (no plotting library in QGIS's process).

It is filled from plain rows (:class:`AreaRow`), so whatever computes the areas (the engine's per-class
statistics) only has to produce these six values per class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from qgis.PyQt.QtCore import QModelIndex, QRect, Qt
from qgis.PyQt.QtGui import QColor, QIcon, QPainter, QPixmap
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from ...engine.labels import RGB
from ..i18n import tr

COL_CLASS, COL_HECTARES, COL_PERCENT, COL_CHANGE, COL_BAR = range(5)
SWATCH_PX = 12
BAR_MARGIN_PX = 3


@dataclass(frozen=True)
class AreaRow:
    """The area of one class: its raster ``value``, ``name``, ``colour`` (RGB 0..255), number of ``pixels``,
    ``hectares`` (None for a raster without a geotransform: pixels only) and ``percent`` of the valid (not nodata)
    area, as the run's statistics give them; ``change``: percentage points against the previous preview (None: no
    comparison, or a class the previous preview did not have)."""

    value: int
    name: str
    colour: RGB
    pixels: int
    hectares: float | None
    percent: float
    change: float | None = None


def with_changes(rows: Sequence[AreaRow], previous: Sequence[AreaRow]) -> list[AreaRow]:
    """``rows`` with each class's change in percentage points against the class of the same name in
    ``previous`` (a class ``previous`` lacks gets no change)."""
    before = {row.name: row.percent for row in previous}
    return [replace(row, change=row.percent - before[row.name] if row.name in before else None) for row in rows]


class BarDelegate(QStyledItemDelegate):
    """Paints the bar column: a bar in the class colour, as long as the row's percent relative to the
    largest class (the largest fills the cell)."""

    def __init__(self, table: AreaTable) -> None:
        super().__init__(table)
        self.table = table

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        """The bar, left-aligned in the cell."""
        rows = self.table.rows
        if index.row() >= len(rows):
            return
        row = rows[index.row()]
        largest = max((r.percent for r in rows), default=0.0)
        cell = option.rect.adjusted(BAR_MARGIN_PX, BAR_MARGIN_PX, -BAR_MARGIN_PX, -BAR_MARGIN_PX)
        width = round(cell.width() * row.percent / largest) if largest > 0 else 0
        painter.save()
        painter.fillRect(QRect(cell.left(), cell.top(), width, cell.height()), QColor(*row.colour))
        painter.restore()


class AreaTable(QTableWidget):
    """Class, hectares, percent, change (only when comparing) and a bar per class; sized to show every row
    without scrolling."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 5, parent)
        self.setObjectName("ovss_area_table")
        self.rows: list[AreaRow] = []
        self.setHorizontalHeaderLabels([tr("Class"), tr("ha"), "%", "\u00b1 pp", ""])
        self.horizontalHeaderItem(COL_CHANGE).setToolTip(tr("Change against the previous preview, in percentage "
                                                            "points"))
        header = self.horizontalHeader()
        header.setMinimumSectionSize(24)
        header.setSectionResizeMode(COL_CLASS, QHeaderView.Stretch)
        header.setSectionResizeMode(COL_HECTARES, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(COL_PERCENT, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(COL_CHANGE, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(COL_BAR, QHeaderView.Stretch)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.NoSelection)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setItemDelegateForColumn(COL_BAR, BarDelegate(self))

    def set_rows(self, rows: Sequence[AreaRow], compare: bool = False) -> None:
        """Show ``rows`` (largest area first, as given otherwise); ``compare`` shows the change column (a row
        without a change reads "new")."""
        self.rows = sorted(rows, key=lambda row: -row.percent)
        self.setColumnHidden(COL_CHANGE, not compare)
        self.setRowCount(len(self.rows))
        for number, row in enumerate(self.rows):
            swatch = QPixmap(SWATCH_PX, SWATCH_PX)
            swatch.fill(QColor(*row.colour))
            name = QTableWidgetItem(row.name)
            name.setIcon(QIcon(swatch))
            name.setToolTip(tr("Value {value}: {pixels} pixels").format(value=row.value, pixels=row.pixels))
            self.setItem(number, COL_CLASS, name)
            hectares = "\u2013" if row.hectares is None else f"{row.hectares:,.2f}"
            change = tr("new") if row.change is None else f"{row.change:+.1f}"
            for column, text in ((COL_HECTARES, hectares), (COL_PERCENT, f"{row.percent:.1f}"), (COL_CHANGE, change)):
                item = QTableWidgetItem(text)
                item.setTextAlignment(int(Qt.AlignRight | Qt.AlignVCenter))
                self.setItem(number, column, item)
            self.setItem(number, COL_BAR, QTableWidgetItem())
        self.resizeRowsToContents()
        height = self.horizontalHeader().height() + sum(self.rowHeight(i) for i in range(self.rowCount()))
        self.setFixedHeight(height + 2 * self.frameWidth())
