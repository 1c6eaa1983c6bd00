"""The dock fits a narrow dock area: at 400 px no horizontal scroll bar and no button cut, with the rarely
used parts collapsed and also with everything expanded (the longest parameter list, the area table, the
missing-weights help)."""

from __future__ import annotations

import pytest
from plugin_doubles import fresh_dock, register_doubles
from qgis.gui import QgsCollapsibleGroupBox
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtWidgets import QAbstractButton, QAbstractItemView, QWidget

from ovss.ovss_plugin.panels.area_table import AreaRow

DOCK_WIDTH = 400


@pytest.fixture
def dock(tmp_path, monkeypatch, qgis_iface):
    register_doubles(monkeypatch)
    with fresh_dock(tmp_path, monkeypatch, qgis_iface) as widget:
        yield widget

def lay_out(dock, width: int = DOCK_WIDTH) -> None:
    """Show the dock at ``width`` x 900 px and let Qt lay it out (offscreen)."""
    dock.resize(width, 900)
    dock.show()
    for _ in range(3):
        QCoreApplication.processEvents()
    dock.widget().widget().layout().activate()
    QCoreApplication.processEvents()


def cut_buttons(dock) -> list[str]:
    """Visible buttons not wholly inside their parent, or whose parent is not wholly inside the panels' body."""
    body = dock.scroll.widget()
    cut = []
    for button in body.findChildren(QAbstractButton):
        if not button.isVisibleTo(body):
            continue
        parent = button.parentWidget()
        geometry = button.geometry()
        if isinstance(parent.parentWidget(), QAbstractItemView):  # a cell widget: its table scrolls vertically
            geometry.setTop(0)
            geometry.setHeight(1)
        inside_parent = parent.rect().contains(geometry)
        left = button.mapTo(body, button.rect().topLeft()).x()
        if not (inside_parent and left >= 0 and left + button.width() <= body.width()):
            cut.append(f"{type(button).__name__} {button.objectName() or button.text()!r} in {type(parent).__name__}")
    return cut


def assert_fits(dock) -> None:
    scroll = dock.scroll
    viewport = scroll.viewport().width()
    assert viewport <= DOCK_WIDTH
    assert scroll.widget().minimumSizeHint().width() <= viewport
    assert scroll.widget().width() <= viewport
    assert not scroll.horizontalScrollBar().isVisible()
    assert cut_buttons(dock) == []


def test_rarely_used_parts_are_collapsed_and_the_dock_fits_400_px(dock):
    lay_out(dock)
    collapsible = {box.objectName(): box.isCollapsed() for box in dock.findChildren(QgsCollapsibleGroupBox)}
    assert collapsible == {"ovss_advanced": True, "ovss_processing": True}
    assert not dock.options_panel.weights_dir_widget.isVisibleTo(dock)
    assert_fits(dock)


@pytest.mark.parametrize("method", ["sdci-v2", "alignclip-d"])
def test_everything_expanded_still_fits_400_px(dock, method):
    dock.method_panel.method_combo.setCurrentIndex(dock.method_panel.method_combo.findData(method))
    for box in dock.findChildren(QgsCollapsibleGroupBox):
        box.setCollapsed(False)
    dock.input_panel.area_combo.setCurrentIndex(dock.input_panel.area_combo.findData("custom"))
    dock.weights_help.show_message("checkpoint clip_jbu_stack_cocostuff.ckpt not found in /a/rather/long/path")
    dock.run_panel.show_areas([AreaRow(1, "low vegetation and grass", (30, 200, 30), 10_000, 123456.78, 61.5, -12.5),
                               AreaRow(2, "water", (30, 30, 220), 4_000, 49.38, 38.5)], compare=True)
    dock.set_report_writer(lambda outcome, path: None)
    lay_out(dock)
    assert dock.findChild(QWidget, "ovss_param_cscp_check_every" if method == "sdci-v2" else "ovss_param_alpha")
    assert_fits(dock)


def test_the_check_catches_a_panel_wider_than_the_dock(dock):
    """A control wider than 400 px (as the three band lists beside their label were) fails the check."""
    dock.run_panel.report_button.setMinimumWidth(DOCK_WIDTH + 20)
    lay_out(dock)
    with pytest.raises(AssertionError, match="minimumSizeHint"):
        assert_fits(dock)
