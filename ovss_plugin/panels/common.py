"""Layout helpers every panel uses, so the dock fits a narrow dock area (400 px and less)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from qgis.PyQt.QtWidgets import QComboBox, QFormLayout, QGridLayout, QPushButton, QWidget

BUTTON_COLUMNS = 3  # button rows wrap after that many
MIN_COMBO_CHARS = 6  # lists may shrink to this many characters
NARROW_COMBO_CHARS = 2  # the three band lists side by side


def narrow_form(parent: QWidget | None = None) -> QFormLayout:
    """A form whose labels go above their fields when the row does not fit beside them."""
    form = QFormLayout(parent) if parent is not None else QFormLayout()
    form.setRowWrapPolicy(QFormLayout.WrapLongRows)
    form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
    return form


def shrinkable(combo: QComboBox, chars: int = MIN_COMBO_CHARS) -> QComboBox:
    """``combo`` allowed to shrink to ``chars`` characters (it still shows whole entries in the open list)."""
    combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(chars)
    return combo


def button_grid(parent: QWidget, prefix: str, buttons: Sequence[tuple[str, str, Callable[[], object]]]) -> QGridLayout:
    """Buttons ``(name, text, slot)`` in rows of :data:`BUTTON_COLUMNS`, named ``<prefix>_<name>``."""
    grid = QGridLayout()
    for index, (name, text, slot) in enumerate(buttons):
        button = QPushButton(text, parent)
        button.setObjectName(f"{prefix}_{name}")
        button.clicked.connect(slot)
        grid.addWidget(button, *divmod(index, BUTTON_COLUMNS))
    return grid
