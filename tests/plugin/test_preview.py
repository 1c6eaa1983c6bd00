"""The dock's preview: the visible map extent at the canvas's pixel size into the temporary layer "OVSS preview",
the last two kept (toggle), the change per class against the previous preview, and a cancelled preview."""

from __future__ import annotations

import numpy as np
import pytest
from plugin_doubles import EPSG, ORIGIN, PIXEL, TINY, fresh_dock, make_geotiff, register_doubles, wait_for
from qgis.core import QgsCoordinateReferenceSystem, QgsProject, QgsRasterLayer, QgsRectangle

from ovss.ovss_plugin.panels.area_table import COL_CHANGE, COL_CLASS, COL_PERCENT, AreaRow, with_changes

LABELS = "red #dc1e1e: red roofs; green #1edc1e: trees; blue #1e1edc: water"
OTHER_LABELS = "red #dc1e1e: red roofs; green #1edc1e: trees; yellow #dcdc1e: sand"
WIDTH, HEIGHT = 400, 300  # the layer: 200 m x 150 m at 0.5 m


@pytest.fixture
def tiny_methods(monkeypatch):
    return register_doubles(monkeypatch)


@pytest.fixture
def dock(tmp_path, monkeypatch, tiny_methods, qgis_iface):
    monkeypatch.setenv("OVSS_WEIGHTS", "random")
    with fresh_dock(tmp_path, monkeypatch, qgis_iface) as widget:
        yield widget

@pytest.fixture
def scene(dock, tmp_path):
    """A 400 x 300 layer chosen in the dock, the tiny method, and the canvas on a part of the layer."""
    from ovss.engine.labels import parse_labels

    make_geotiff(tmp_path / "scene.tif", width=WIDTH, height=HEIGHT)
    layer = QgsRasterLayer(str(tmp_path / "scene.tif"), "scene", "gdal")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    dock.input_panel.layer_combo.setLayer(layer)
    dock.classes_panel.table.set_labels(parse_labels(LABELS))
    dock.method_panel.method_combo.setCurrentIndex(dock.method_panel.method_combo.findData(TINY))
    dock.options_panel.tile_spin.setValue(32)
    dock.options_panel.overlap_spin.setValue(4)
    canvas = dock.iface.mapCanvas()
    canvas.setDestinationCrs(QgsCoordinateReferenceSystem(f"EPSG:{EPSG}"))
    canvas.setExtent(QgsRectangle(ORIGIN[0] + 50, ORIGIN[1] - 100, ORIGIN[0] + 150, ORIGIN[1] - 50))
    return layer


def preview(dock, labels: str | None = None) -> QgsRasterLayer:
    """Run one preview (with ``labels`` if given) to its end; returns the layer "OVSS preview"."""
    from ovss.engine.labels import parse_labels

    if labels is not None:
        dock.classes_panel.table.set_labels(parse_labels(labels))
    assert dock.start_preview() is not None
    wait_for(lambda: dock.task is None)
    assert dock.last_outcome.ok, dock.last_outcome.error
    return named("OVSS preview")[0]


def named(name: str) -> list[QgsRasterLayer]:
    return [layer for layer in QgsProject.instance().mapLayers().values() if layer.name() == name]


def visible(layer: QgsRasterLayer) -> bool:
    return QgsProject.instance().layerTreeRoot().findLayer(layer.id()).itemVisibilityChecked()


def percents(path) -> dict[int, float]:
    """Percent of the valid pixels per class value, counted in the raster."""
    from osgeo import gdal

    classes = gdal.Open(str(path)).ReadAsArray()
    valid = classes[classes > 0]
    return {int(value): 100.0 * np.count_nonzero(valid == value) / valid.size for value in np.unique(valid)}


def test_preview_reads_the_canvas_extent_at_the_canvas_pixel_size(dock, scene):
    from osgeo import gdal

    from ovss.ovss_plugin.task import session_temp_dir

    canvas = dock.iface.mapCanvas()
    size, view = canvas.mapSettings().outputSize(), canvas.extent()
    area = view.intersect(scene.extent())
    expected = (size.width() * area.width() / view.width(), size.height() * area.height() / view.height())
    assert expected[0] * expected[1] < (area.width() / PIXEL) * (area.height() / PIXEL)  # coarser than the layer

    request = dock.build_preview_request()
    assert request.source.needs_export and request.source.size == (round(expected[0]), round(expected[1]))
    layer = preview(dock)
    output = gdal.Open(layer.source())
    assert (output.RasterXSize, output.RasterYSize) == request.source.size
    x0, dx, _, y0, _, dy = output.GetGeoTransform()
    bounds = (x0, y0 + dy * output.RasterYSize, x0 + dx * output.RasterXSize, y0)
    assert bounds == pytest.approx((area.xMinimum(), area.yMinimum(), area.xMaximum(), area.yMaximum()), abs=1e-6)
    assert layer.customProperty("ovss/result") == TINY and visible(layer)
    assert layer.renderer().type() == "paletted"
    assert dock.last_outcome.result.output_path.parent == session_temp_dir()  # where temporary outputs go


def test_zoomed_in_beyond_the_layer_pixels_the_preview_reads_the_layer_pixels(dock, scene):
    canvas = dock.iface.mapCanvas()
    canvas.setExtent(QgsRectangle(ORIGIN[0] + 50, ORIGIN[1] - 52, ORIGIN[0] + 52, ORIGIN[1] - 50))
    request = dock.build_preview_request()
    assert not request.source.needs_export and request.source.path == scene.source()
    window, view, size = request.source.window, canvas.extent(), canvas.mapSettings().outputSize()
    assert abs(window.width - view.width() / PIXEL) <= 2 and abs(window.height - view.height() / PIXEL) <= 2
    assert window.width * window.height < size.width() * size.height()  # the layer's pixels, not the canvas's


def test_a_second_preview_replaces_the_first_and_keeps_it_as_previous_then_toggle(dock, scene):
    first = preview(dock)
    first_id, first_path = first.id(), dock.last_outcome.result.output_path
    assert not dock.run_panel.toggle_button.isEnabled()
    second = preview(dock, OTHER_LABELS)
    second_path = dock.last_outcome.result.output_path
    assert named("OVSS preview") == [second] and named("OVSS preview (previous)") == [first]
    assert visible(second) and not visible(first)
    assert first_path.is_file() and second_path.is_file()
    assert dock.run_panel.toggle_button.isEnabled()

    assert dock.toggle_preview() is first
    assert visible(first) and not visible(second)
    assert dock.toggle_preview() is second
    assert visible(second) and not visible(first)

    third = preview(dock, LABELS)
    assert named("OVSS preview") == [third] and named("OVSS preview (previous)") == [second]
    assert first_id not in QgsProject.instance().mapLayers()
    assert not first_path.exists() and not first_path.with_suffix(".qml").exists()  # removed with its layer
    assert second_path.is_file()


def test_the_change_column_compares_two_previews_with_different_labels(dock, scene):
    preview(dock)
    before = percents(dock.last_outcome.result.output_path)
    table = dock.run_panel.area_table
    assert table.isColumnHidden(COL_CHANGE)  # nothing to compare with yet
    preview(dock, OTHER_LABELS)
    after = percents(dock.last_outcome.result.output_path)
    assert not table.isColumnHidden(COL_CHANGE)
    shown = {table.item(r, COL_CLASS).text(): (table.item(r, COL_PERCENT).text(), table.item(r, COL_CHANGE).text())
             for r in range(table.rowCount())}
    names_before = {1: "red", 2: "green", 3: "blue"}
    names_after = {1: "red", 2: "green", 3: "yellow"}
    expected = {}
    for value, percent in after.items():
        name = names_after[value]
        old = {names_before[v]: p for v, p in before.items()}.get(name)
        expected[name] = (f"{percent:.1f}", "new" if old is None else f"{percent - old:+.1f}")
    assert shown == expected
    assert shown["yellow"][1] == "new" and shown["red"][1] != "+0.0"  # the labels changed the areas


def test_with_changes_matches_classes_by_name():
    now = [AreaRow(1, "grass", (0, 200, 0), 60, None, 60.0), AreaRow(2, "water", (0, 0, 200), 40, None, 40.0)]
    before = [AreaRow(2, "grass", (0, 200, 0), 25, None, 25.0), AreaRow(1, "roofs", (200, 0, 0), 75, None, 75.0)]
    changes = {row.name: row.change for row in with_changes(now, before)}
    assert changes == {"grass": pytest.approx(35.0), "water": None}


def test_a_cancelled_preview_leaves_no_layer_or_file(dock, scene, tiny_methods):
    from ovss.ovss_plugin.task import session_temp_dir

    first = preview(dock)
    files_before = sorted(session_temp_dir().iterdir())
    layers_before = set(QgsProject.instance().mapLayers())
    calls = []
    tiny_methods.hook = lambda: calls.append(1) or (len(calls) == 2 and dock.task.cancel())
    assert dock.start_preview() is not None
    wait_for(lambda: dock.task is None)
    assert dock.last_outcome.cancelled
    assert set(QgsProject.instance().mapLayers()) == layers_before
    assert named("OVSS preview") == [first] and visible(first)
    assert sorted(session_temp_dir().iterdir()) == files_before


def test_a_second_preview_of_the_same_view_reads_the_same_pixels(dock, scene, monkeypatch):
    """The export at screen resolution is deterministic, so the feature cache (keyed by the pixels' content)
    serves a second preview with other labels."""
    from plugin_doubles import ColourDistanceMethod

    from ovss.engine.cache.keys import content_hash

    seen: list[list[str]] = []
    predict = ColourDistanceMethod.predict

    def recording(method, tile):
        seen[-1].append(content_hash(tile))
        return predict(method, tile)

    monkeypatch.setattr(ColourDistanceMethod, "predict", recording)
    for labels in (LABELS, OTHER_LABELS):
        seen.append([])
        preview(dock, labels)
    assert len(seen[0]) > 1 and seen[0] == seen[1]
