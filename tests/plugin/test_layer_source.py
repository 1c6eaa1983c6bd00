"""Reading layers: GDAL files directly with a pixel window, other providers in blocks, or a clear refusal."""

from __future__ import annotations

import math

import numpy as np
import pytest
from osgeo import gdal
from plugin_doubles import ORIGIN, PIXEL, make_geotiff
from qgis.core import QgsCoordinateReferenceSystem, QgsProject, QgsRasterLayer, QgsRectangle


@pytest.fixture
def tif(tmp_path):
    path = tmp_path / "scene.tif"
    data = make_geotiff(path)
    return path, data


def test_gdal_file_is_read_directly_with_a_window(tif):
    from ovss.ovss_plugin.layer_source import plan_source

    path, _ = tif
    layer = QgsRasterLayer(str(path), "scene", "gdal")
    plan = plan_source(layer)
    assert plan.path == str(path) and plan.window is None and not plan.needs_export

    extent = QgsRectangle(ORIGIN[0] + 10.2, ORIGIN[1] - 30.1, ORIGIN[0] + 20.0, ORIGIN[1] - 5.3)
    window = plan_source(layer, extent).window
    x0 = math.floor(10.2 / PIXEL)
    y0 = math.floor(5.3 / PIXEL)
    assert (window.x, window.y) == (x0, y0)
    assert (window.x + window.width, window.y + window.height) == (math.ceil(20.0 / PIXEL), math.ceil(30.1 / PIXEL))

    beyond = QgsRectangle(ORIGIN[0] + 40, ORIGIN[1] - 30, ORIGIN[0] + 1000, ORIGIN[1] + 1000)
    clipped = plan_source(layer, beyond).window
    assert (clipped.x_end, clipped.y) == (96, 0)


def test_area_outside_the_layer_is_refused(tif):
    from ovss.engine.errors import RasterError
    from ovss.ovss_plugin.layer_source import plan_source

    layer = QgsRasterLayer(str(tif[0]), "scene", "gdal")
    with pytest.raises(RasterError, match="does not overlap the layer \u201cscene\u201d"):
        plan_source(layer, QgsRectangle(0, 0, 10, 10))


def test_extent_in_another_crs_is_transformed(tif):
    from ovss.ovss_plugin.layer_source import extent_in_layer_crs

    layer = QgsRasterLayer(str(tif[0]), "scene", "gdal")
    wgs84 = QgsCoordinateReferenceSystem("EPSG:4326")
    box = extent_in_layer_crs(layer, QgsRectangle(6.9, 50.9, 6.91, 50.91), wgs84, QgsProject.instance())
    assert 352000 < box.xMinimum() < box.xMaximum() < 354000
    assert 5.640e6 < box.yMinimum() < box.yMaximum() < 5.642e6


def test_non_file_layer_is_exported_through_its_provider(tif, tmp_path):
    from ovss.ovss_plugin.layer_source import export_to_geotiff, plan_source

    path, data = tif
    gdal.FileFromMemBuffer("/vsimem/ovss-test.tif", path.read_bytes())
    try:
        layer = QgsRasterLayer("/vsimem/ovss-test.tif", "memory scene", "gdal")
        assert layer.isValid()
        plan = plan_source(layer)
        assert plan.needs_export and plan.size == (96, 80)
        exported = export_to_geotiff(plan, tmp_path / "export.tif")
        copy = gdal.Open(str(exported))
        np.testing.assert_array_equal(copy.ReadAsArray(), data)
        assert copy.GetGeoTransform() == pytest.approx((ORIGIN[0], PIXEL, 0, ORIGIN[1], 0, -PIXEL))

        part = QgsRectangle(ORIGIN[0] + 4, ORIGIN[1] - 10, ORIGIN[0] + 14, ORIGIN[1] - 2)
        sub = plan_source(layer, part)
        assert sub.size == (20, 16)
        window = gdal.Open(str(export_to_geotiff(sub, tmp_path / "part.tif"))).ReadAsArray()
        np.testing.assert_array_equal(window, data[:, 4:20, 8:28])
    finally:
        gdal.Unlink("/vsimem/ovss-test.tif")


def test_tiled_web_layer_whole_extent_is_refused_and_a_small_area_planned():
    from ovss.engine.errors import RasterError
    from ovss.ovss_plugin.layer_source import plan_source

    uri = "type=xyz&url=http://127.0.0.1:9/%7Bz%7D/%7Bx%7D/%7By%7D.png&zmax=19&zmin=0"
    layer = QgsRasterLayer(uri, "tiles", "wms")
    assert layer.isValid()
    with pytest.raises(RasterError, match="too large to read through QGIS"):
        plan_source(layer)
    finest = min(layer.dataProvider().nativeResolutions())
    area = QgsRectangle(0, 0, 100 * finest, 50 * finest)
    plan = plan_source(layer, area)
    assert plan.needs_export and plan.size == (100, 50)
    assert plan.bands == (1, 2, 3)  # rendered tiles arrive as RGBA


def test_invalid_layer_is_refused_clearly(tmp_path):
    from ovss.engine.errors import RasterError
    from ovss.ovss_plugin.layer_source import plan_source

    layer = QgsRasterLayer(str(tmp_path / "gone.tif"), "gone", "gdal")
    with pytest.raises(RasterError, match="not valid"):
        plan_source(layer)


def test_preview_plan_reads_the_view_at_screen_pixels_never_finer_than_the_layer(tif, tmp_path):
    from ovss.engine.errors import RasterError
    from ovss.ovss_plugin.layer_source import export_to_geotiff, plan_preview

    path, _ = tif  # 96 x 80 pixels of 0.5 m
    gdal.FileFromMemBuffer("/vsimem/ovss-preview.tif", path.read_bytes())
    try:
        layer = QgsRasterLayer("/vsimem/ovss-preview.tif", "memory scene", "gdal")
        view = QgsRectangle(ORIGIN[0] - 48, ORIGIN[1] - 40, ORIGIN[0] + 48, ORIGIN[1] + 40)  # the layer is 1/4
        coarse = plan_preview(layer, view, (48, 40))
        assert coarse.needs_export and coarse.size == (24, 20)
        exported = gdal.Open(str(export_to_geotiff(coarse, tmp_path / "coarse.tif")))
        assert (exported.RasterXSize, exported.RasterYSize) == (24, 20)
        assert exported.GetGeoTransform() == pytest.approx((ORIGIN[0], 2.0, 0, ORIGIN[1], 0, -2.0))
        assert plan_preview(layer, view, (960, 800)).size == (96, 80)  # zoomed in: the layer's own pixels
    finally:
        gdal.Unlink("/vsimem/ovss-preview.tif")
    file_layer = QgsRasterLayer(str(path), "scene", "gdal")
    assert plan_preview(file_layer, view, (48, 40)).size == (24, 20)
    native = plan_preview(file_layer, view, (960, 800))
    assert native.path == str(path) and (native.window.width, native.window.height) == (96, 80)
    with pytest.raises(RasterError, match="map extent does not overlap the layer \u201cscene\u201d"):
        plan_preview(file_layer, QgsRectangle(0, 0, 10, 10), (48, 40))


def test_preview_plan_of_a_tiled_web_layer_reads_the_screen_pixels():
    """A zoomed-out web layer is too large at its finest resolution for a run, not for a preview."""
    from ovss.ovss_plugin.layer_source import plan_preview

    uri = "type=xyz&url=http://127.0.0.1:9/%7Bz%7D/%7Bx%7D/%7By%7D.png&zmax=19&zmin=0"
    layer = QgsRasterLayer(uri, "tiles", "wms")
    plan = plan_preview(layer, layer.extent(), (800, 800))
    assert plan.needs_export and plan.size == (800, 800) and plan.bands == (1, 2, 3)
