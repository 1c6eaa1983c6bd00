"""The run panel's area table and bar chart (filled from plain rows), and the dock's "Save report" button."""

from __future__ import annotations

from pathlib import Path

import pytest
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QColor

from ovss.ovss_plugin.panels.area_table import COL_BAR, COL_CLASS, COL_HECTARES, COL_PERCENT, AreaRow

ROWS = [
    AreaRow(2, "water", (20, 40, 220), 250, 0.0625, 25.0),
    AreaRow(1, "forest", (10, 160, 30), 700, 0.175, 70.0),
    AreaRow(3, "road", (200, 30, 30), 50, 0.0125, 5.0),
]


@pytest.fixture
def panel(qgis_iface):
    from ovss.ovss_plugin.panels.run_panel import RunPanel

    widget = RunPanel()
    widget.resize(400, 400)
    yield widget
    widget.deleteLater()


def bar_pixels(table, row: int) -> tuple[QColor, int]:
    """The colour at the start of the row's bar and the bar's painted length (pixels of that colour)."""
    image = table.viewport().grab().toImage()
    rect = table.visualRect(table.model().index(row, COL_BAR))
    y = rect.center().y()
    start = QColor(image.pixel(rect.left() + 4, y))
    length = sum(QColor(image.pixel(x, y)) == start for x in range(rect.left(), rect.right() + 1))
    return start, length


def test_rows_are_shown_largest_first_with_swatch_hectares_percent_and_bars(panel):
    table = panel.area_table
    assert table.isHidden()
    panel.show_areas(ROWS)
    panel.show()
    QCoreApplication.processEvents()
    assert not table.isHidden()
    shown = [(table.item(r, COL_CLASS).text(), table.item(r, COL_HECTARES).text(), table.item(r, COL_PERCENT).text())
             for r in range(table.rowCount())]
    assert shown == [("forest", "0.17", "70.0"), ("water", "0.06", "25.0"), ("road", "0.01", "5.0")]
    swatch = table.item(1, COL_CLASS).icon().pixmap(12, 12).toImage()
    assert QColor(swatch.pixel(6, 6)) == QColor(20, 40, 220)
    lengths = []
    for row, colour in enumerate(((10, 160, 30), (20, 40, 220), (200, 30, 30))):
        painted, length = bar_pixels(table, row)
        assert painted == QColor(*colour)
        lengths.append(length)
    assert lengths[0] > lengths[1] > lengths[2] > 0
    assert lengths[1] / lengths[0] == pytest.approx(25 / 70, abs=0.05)  # proportional to the percent
    assert table.verticalScrollBar().maximum() == 0  # every row is visible


def test_no_rows_hide_the_table(panel):
    panel.show_areas(ROWS)
    panel.started()  # a new run: the last run's areas go
    assert panel.area_table.isHidden() and panel.area_table.rowCount() == 0


@pytest.fixture
def dock(tmp_path, monkeypatch, qgis_iface):
    from plugin_doubles import fresh_dock, register_doubles

    register_doubles(monkeypatch)
    monkeypatch.setenv("OVSS_WEIGHTS", "random")
    with fresh_dock(tmp_path, monkeypatch, qgis_iface) as widget:
        yield widget

def run_once(dock, tmp_path):
    from plugin_doubles import TINY, make_geotiff, wait_for
    from qgis.core import QgsProject, QgsRasterLayer

    from ovss.engine.labels import parse_labels

    make_geotiff(tmp_path / "scene.tif")
    layer = QgsRasterLayer(str(tmp_path / "scene.tif"), "scene", "gdal")
    QgsProject.instance().addMapLayer(layer)
    dock.input_panel.layer_combo.setLayer(layer)
    dock.classes_panel.table.set_labels(parse_labels("red #dc1e1e; green #1edc1e; blue #1e1edc"))
    dock.method_panel.method_combo.setCurrentIndex(dock.method_panel.method_combo.findData(TINY))
    assert dock.start_run() is not None
    wait_for(lambda: dock.task is None)
    assert dock.last_outcome.ok


def test_the_dock_shows_the_runs_own_areas_and_saves_its_report(dock, tmp_path, monkeypatch):
    """Wired by default (``run_products``): the table is the run's area table in the class colours, and the
    report is the engine's self-contained page of that run."""
    assert not dock.run_panel.report_button.isEnabled()  # no run yet
    run_once(dock, tmp_path)
    result = dock.last_outcome.result
    table = dock.run_panel.area_table
    assert result.areas is not None and table.rowCount() == len(result.areas.rows) > 0
    shown = {table.item(row, COL_CLASS).text(): table.item(row, COL_PERCENT).text() for row in range(table.rowCount())}
    assert shown == {row.name: f"{row.percent:.1f}" for row in result.areas.rows}
    assert abs(sum(row.percent for row in result.areas.rows) - 100.0) < 1e-6
    colours = {"red": (220, 30, 30), "green": (30, 220, 30), "blue": (30, 30, 220)}
    for row in range(table.rowCount()):
        colour, _length = bar_pixels(table, row)
        assert (colour.red(), colour.green(), colour.blue()) == colours[table.item(row, COL_CLASS).text()]

    monkeypatch.setattr(dock.dialogs, "ask_save_path", lambda *args: str(tmp_path / "report"))
    assert dock.save_report() == tmp_path / "report.html"
    page = (tmp_path / "report.html").read_text()
    assert all(name in page for name in colours) and "data:image/png;base64," in page
    assert "src=\"http" not in page and "href=\"http" not in page  # self-contained


def test_areas_and_report_after_a_run(dock, tmp_path, monkeypatch):
    button = dock.run_panel.report_button
    dock.set_area_rows(None)
    dock.set_report_writer(None)
    assert not button.isEnabled()  # no writer, no run
    seen = []
    dock.set_area_rows(lambda outcome: seen.append(outcome) or ROWS)
    written: list[Path] = []
    dock.set_report_writer(lambda outcome, path: written.append((outcome, path)) or path.write_text("<html>"))
    assert not button.isEnabled()  # a writer, but no run yet
    run_once(dock, tmp_path)
    assert seen == [dock.last_outcome] and dock.run_panel.area_table.rowCount() == 3
    assert not dock.run_panel.area_table.isHidden()
    assert button.isEnabled()

    monkeypatch.setattr(dock.dialogs, "ask_save_path", lambda *args: None)
    assert dock.save_report() is None and written == []  # the user cancelled
    asked = []
    monkeypatch.setattr(dock.dialogs, "ask_save_path", lambda *args: asked.append(args) or str(tmp_path / "r"))
    button.click()
    assert written == [(dock.last_outcome, tmp_path / "r.html")] and (tmp_path / "r.html").exists()
    assert asked[0][2].endswith("-report.html")
    assert any("Report saved" in m for m in dock.iface.messageBar().get_messages(3))  # Qgis.Success

    dock.set_report_writer(None)
    assert not button.isEnabled()


def test_a_failing_report_writer_is_said_in_one_line(dock, tmp_path, monkeypatch):
    from ovss.engine.errors import OVSSError

    def fail(outcome, path):
        raise OVSSError("cannot render the quick-look")

    dock.set_report_writer(fail)
    run_once(dock, tmp_path)
    monkeypatch.setattr(dock.dialogs, "ask_save_path", lambda *args: str(tmp_path / "r.html"))
    assert dock.save_report() is None
    assert dock.iface.messageBar().get_messages(1)[-1].endswith("cannot render the quick-look")


def test_polygons_asked_in_the_dock_come_as_a_styled_layer(dock, tmp_path):
    from qgis.core import QgsProject

    dock.output_panel.polygons_check.setChecked(True)
    run_once(dock, tmp_path)
    request = dock.last_outcome.request
    assert request.vector_path == request.output_path.with_suffix(".gpkg") and request.vector_path.is_file()
    polygons = [layer for layer in QgsProject.instance().mapLayers().values() if layer.name().endswith(" - polygons")]
    assert len(polygons) == 1 and polygons[0].featureCount() > 0
    assert polygons[0].renderer().type() == "categorizedSymbol"
