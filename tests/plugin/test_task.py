"""The background task: the whole path (layer in, styled layer out), cancel, errors, model reuse."""

from __future__ import annotations

import numpy as np
import pytest
from osgeo import gdal
from plugin_doubles import BROKEN, TINY, make_geotiff, nearest_colour_classes, register_doubles, wait_for
from qgis.core import QgsApplication, QgsPalettedRasterRenderer, QgsProject, QgsRasterLayer

LABELS = "red #dc1e1e: red roofs; green #1edc1e: trees; blue #1e1edc: water; grey #808080: road"


@pytest.fixture
def tiny_methods(monkeypatch):
    return register_doubles(monkeypatch)


@pytest.fixture
def project():
    project = QgsProject.instance()
    yield project
    project.removeAllMapLayers()


@pytest.fixture
def layer(tmp_path, project):
    path = tmp_path / "scene.tif"
    data = make_geotiff(path)
    layer = QgsRasterLayer(str(path), "scene", "gdal")
    assert layer.isValid()
    project.addMapLayer(layer)
    layer.data = data  # the pixels written, for the reference
    return layer


def request_for(layer, output, method=TINY, **changes):
    from ovss.engine.labels import parse_labels
    from ovss.ovss_plugin.layer_source import plan_source
    from ovss.ovss_plugin.task import RunRequest

    values = dict(
        layer_name=layer.name(),
        source=plan_source(layer),
        output_path=output,
        labels=parse_labels(LABELS),
        method=method,
        weights="random",
        tile=32,
        overlap=8,
    )
    values.update(changes)
    return RunRequest(**values)


def run_in_manager(task):
    outcomes = []
    task.completed.connect(outcomes.append)
    QgsApplication.taskManager().addTask(task)
    wait_for(lambda: bool(outcomes))
    return outcomes[0]


def test_whole_path_through_the_task_manager(tiny_methods, layer, project, tmp_path):
    from ovss.engine.labels import parse_labels
    from ovss.engine.methods.cache import ModelCache
    from ovss.ovss_plugin.task import SegmentTask, add_result_layer

    output = tmp_path / "classes.tif"
    task = SegmentTask(request_for(layer, output, confidence_path=tmp_path / "conf.tif"), ModelCache())
    progress = []
    task.tiles_progress.connect(lambda done, total, _left: progress.append((done, total)))
    outcome = run_in_manager(task)
    assert outcome.ok, outcome.error
    assert progress and progress[-1][0] == progress[-1][1] == outcome.result.tiles_total > 1

    result_layer = add_result_layer(outcome, project)
    labels = parse_labels(LABELS)
    assert result_layer.id() in project.mapLayers()
    renderer = result_layer.renderer()
    assert isinstance(renderer, QgsPalettedRasterRenderer)
    assert [c.label for c in renderer.classes()] == list(labels.names)
    assert [c.value for c in renderer.classes()] == [1, 2, 3, 4]
    assert [c.color.getRgb()[:3] for c in renderer.classes()] == list(labels.colors)
    assert result_layer.extent() == layer.extent()
    assert result_layer.crs() == layer.crs()
    assert result_layer.name().startswith("scene - tiny-colour - ")
    assert output.with_suffix(".qml").is_file()
    assert result_layer.customProperty("ovss/result") == TINY  # the dock does not take it as its next input
    written = gdal.Open(str(output)).ReadAsArray()
    np.testing.assert_array_equal(written, nearest_colour_classes(layer.data, labels.colors))
    names = [lyr.name() for lyr in project.mapLayers().values()]
    assert f"{result_layer.name()} - confidence" in names


def test_cancel_half_way_leaves_no_layer_and_no_file(tiny_methods, layer, project, tmp_path):
    from ovss.engine.methods.cache import ModelCache
    from ovss.ovss_plugin.task import SegmentTask

    output = tmp_path / "out" / "classes.tif"
    output.parent.mkdir()
    task = SegmentTask(request_for(layer, output, confidence_path=output.with_name("c.tif")), ModelCache())
    calls = []

    def cancel_on_third_tile():
        calls.append(1)
        if len(calls) == 3:
            task.cancel()

    tiny_methods.hook = cancel_on_third_tile
    layers_before = set(project.mapLayers())
    outcome = run_in_manager(task)
    assert outcome.cancelled and not outcome.ok and outcome.error is None
    assert len(calls) == 3  # stopped between tiles, right after the one that asked
    assert list(output.parent.iterdir()) == []
    assert set(project.mapLayers()) == layers_before


def test_a_cancelled_run_ends_as_cancelled_not_as_failed(tiny_methods, layer, tmp_path):
    """QGIS 3.22 announces every task that ends Terminated as "Task failed": a cancel must not end so."""
    from qgis.core import QgsTask

    from ovss.engine.methods.cache import ModelCache
    from ovss.ovss_plugin.task import SegmentTask

    manager = QgsApplication.taskManager()
    task = SegmentTask(request_for(layer, tmp_path / "classes.tif"), ModelCache())
    calls = []

    def cancel_on_second_tile():
        calls.append(1)
        if len(calls) == 2:
            task.cancel()

    tiny_methods.hook = cancel_on_second_tile
    statuses = []
    manager.statusChanged.connect(lambda _id, status: statuses.append(status))
    ended = []
    task.completed.connect(lambda outcome: ended.append((task.status(), task.description())))
    outcome = run_in_manager(task)
    wait_for(lambda: QgsTask.Complete in statuses or QgsTask.Terminated in statuses)
    assert outcome.cancelled and outcome.error is None
    assert QgsTask.Terminated not in statuses
    assert ended[0][0] == QgsTask.Complete and "cancelled" in ended[0][1]
    assert not (tmp_path / "classes.tif").exists()


def test_run_directly_reports_errors_without_raising(tiny_methods, layer, tmp_path):
    from ovss.engine.methods.cache import ModelCache
    from ovss.ovss_plugin.task import SegmentTask

    task = SegmentTask(request_for(layer, tmp_path / "x.tif", method=BROKEN), ModelCache())
    assert task.run() is False
    assert task.outcome.error == "RuntimeError: boom in predict"
    assert "Traceback" in task.outcome.details
    assert not (tmp_path / "x.tif").exists()

    bad_tile = SegmentTask(request_for(layer, tmp_path / "y.tif", tile=4), ModelCache())
    assert bad_tile.run() is False
    assert "tile" in bad_tile.outcome.error and bad_tile.outcome.details is None


def test_models_stay_loaded_while_settings_do_not_change(tiny_methods, layer, tmp_path):
    from ovss.engine.labels import parse_labels
    from ovss.engine.methods.cache import ModelCache
    from ovss.ovss_plugin.task import SegmentTask

    cache = ModelCache()
    first = SegmentTask(request_for(layer, tmp_path / "1.tif"), cache)
    assert first.run()
    tweaked = parse_labels(LABELS.replace("trees", "trees, forest"))
    second = SegmentTask(request_for(layer, tmp_path / "2.tif", labels=tweaked), cache)
    assert second.run()
    assert tiny_methods.builds == 1
    assert tiny_methods.instances[0].prepared[-1] == tweaked.names

    third = SegmentTask(request_for(layer, tmp_path / "3.tif", params={"sharpness": 0.1}), cache)
    assert third.run() and tiny_methods.builds == 2
    assert tiny_methods.instances[1].config.sharpness == 0.1
    cache.clear()
    assert cache.loaded is None
    assert SegmentTask(request_for(layer, tmp_path / "4.tif", params={"sharpness": 0.1}), cache).run()
    assert tiny_methods.builds == 3

    unkept = SegmentTask(request_for(layer, tmp_path / "5.tif", keep_models=False), cache)
    assert unkept.run() and cache.loaded is None


def test_result_layers_never_replace_earlier_ones(tiny_methods, layer, project, tmp_path):
    from ovss.engine.methods.cache import ModelCache
    from ovss.ovss_plugin.task import SegmentTask, add_result_layer, temporary_output_path

    cache = ModelCache()
    request = request_for(layer, tmp_path / "unused.tif")
    first_path = temporary_output_path(layer.name(), TINY, request.started)
    first_path.write_bytes(b"")  # the same second again must not reuse the name
    second_path = temporary_output_path(layer.name(), TINY, request.started)
    assert second_path != first_path and second_path.parent == first_path.parent
    first_path.unlink()

    added = []
    for output in (tmp_path / "a.tif", tmp_path / "b.tif"):
        task = SegmentTask(request_for(layer, output, started=request.started), cache)
        assert task.run()
        task.finished(True)
        added.append(add_result_layer(task.outcome, project))
    assert added[1].name() == f"{added[0].name()} (2)"
    assert all(lyr.id() in project.mapLayers() and lyr.isValid() for lyr in added)
    assert added[0].source() != added[1].source()
    assert isinstance(added[0].renderer(), QgsPalettedRasterRenderer)


def test_runs_in_qgis_use_the_feature_cache_and_free_models_clears_it(tiny_methods, layer, tmp_path):
    """In QGIS's process the task's run sets the process-wide feature cache around the method's calls (so a run
    with changed labels reuses the backbones' work, engine issue 17); "Free models" empties it."""
    import torch

    from ovss.engine.cache import active_cache, feature_cache
    from ovss.engine.methods.cache import ModelCache
    from ovss.ovss_plugin import engine_runtime
    from ovss.ovss_plugin.task import SegmentTask

    seen = []
    tiny_methods.hook = lambda: seen.append(active_cache())
    outcome = run_in_manager(SegmentTask(request_for(layer, tmp_path / "classes.tif"), ModelCache()))
    assert outcome.ok and seen and all(cache is feature_cache() for cache in seen)
    assert active_cache() is None  # only around the run's calls

    feature_cache().put("test-entry", {"features": torch.zeros(4)})
    assert feature_cache().stats().entries >= 1
    engine_runtime.free_models()
    assert feature_cache().stats().entries == 0


def test_polygons_come_with_the_classes_styled_like_them(tiny_methods, layer, project, tmp_path):
    from osgeo import ogr

    from ovss.engine.methods.cache import ModelCache
    from ovss.ovss_plugin.task import SegmentTask, add_result_layer

    vector = tmp_path / "classes.gpkg"
    request = request_for(layer, tmp_path / "classes.tif", vector_path=vector)
    outcome = run_in_manager(SegmentTask(request, ModelCache()))
    assert outcome.ok and vector.is_file()
    source = ogr.Open(str(vector))
    names = {feature.GetField("class_name") for feature in source.GetLayer(0)}
    expected = set(np.unique(nearest_colour_classes(layer.data, request.labels.colors)))
    assert names == {request.labels.names[value - 1] for value in expected}

    add_result_layer(outcome, project)
    polygons = [lyr for lyr in project.mapLayers().values() if lyr.name().endswith(" - polygons")]
    assert len(polygons) == 1 and polygons[0].renderer().type() == "categorizedSymbol"
    categories = {c.label(): c.symbol().color().name() for c in polygons[0].renderer().categories()}
    for name, colour in zip(request.labels.names, request.labels.colors, strict=True):
        if name in names:
            assert categories[name] == "#{:02x}{:02x}{:02x}".format(*colour)


def test_polygons_that_cannot_be_written_leave_no_output(tiny_methods, layer, tmp_path):
    from ovss.engine.methods.cache import ModelCache
    from ovss.ovss_plugin.task import SegmentTask

    output = tmp_path / "classes.tif"
    request = request_for(layer, output, vector_path=tmp_path / "missing-folder" / "classes.gpkg")
    outcome = run_in_manager(SegmentTask(request, ModelCache()))
    assert not outcome.ok and outcome.error
    assert not output.exists() and not list(tmp_path.glob("classes*"))
