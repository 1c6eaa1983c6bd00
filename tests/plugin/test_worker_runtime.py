"""The plugin with a configured Python: methods run in the shared worker process, failures are one message.

The worker runs with this repository's Python and imports :mod:`worker_doubles`; the plugin side registers the
same test methods (``ovss_provider``), so the registry lookups in QGIS's process agree with the worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import processing
import pytest
from processing_doubles import (
    LABEL_TEXT,
    TEST_METHOD,
    expected_classes,
    ovss_provider,  # noqa: F401 - used below
    pattern,
    read_band,
    write_raster,
)
from qgis.core import QgsProcessingException, QgsSettings

HERE = Path(__file__).resolve().parent
CRASH_METHOD = "test-crash"


@pytest.fixture
def worker_env(monkeypatch, qgis_app):
    """OVSS_PYTHON set to this Python and the worker importing the doubles; the worker stopped after."""
    from ovss.ovss_plugin import engine_runtime

    monkeypatch.setenv("OVSS_PYTHON", sys.executable)
    monkeypatch.setenv("OVSS_WORKER_IMPORTS", "worker_doubles")
    monkeypatch.setenv("OVSS_WORKER_PATH", str(HERE))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield engine_runtime
    engine_runtime.stop_worker()


@pytest.fixture
def worker_configured(worker_env, monkeypatch, ovss_provider):  # noqa: F811
    """:func:`worker_env` with Processing and the test methods registered in QGIS's process, where no method
    may be built."""
    from processing_doubles import ColourConfig, ColourMethod

    from ovss.engine.methods import base

    base.register_method(CRASH_METHOD, "crash (test double)", (), ColourConfig)(ColourMethod)

    def no_local_models(*args, **kwargs):
        raise AssertionError("a method was built in QGIS's process")

    monkeypatch.setattr(base, "create_method", no_local_models)
    return worker_env


def test_the_configured_python_comes_from_the_environment_then_the_setting(monkeypatch, qgis_app):
    from ovss.ovss_plugin import engine_runtime

    settings = QgsSettings()
    previous = settings.value(engine_runtime.PYTHON_SETTING, "", type=str)
    try:
        monkeypatch.delenv("OVSS_PYTHON", raising=False)
        engine_runtime.set_configured_python(None)
        assert engine_runtime.configured_python() is None
        assert engine_runtime.run_mode() == engine_runtime.IN_PROCESS  # this test Python has torch
        engine_runtime.set_configured_python(Path("/opt/env/bin/python"))
        assert engine_runtime.configured_python() == Path("/opt/env/bin/python")
        assert engine_runtime.run_mode() == engine_runtime.WORKER
        monkeypatch.setenv("OVSS_PYTHON", "/other/python3")
        assert engine_runtime.configured_python() == Path("/other/python3")
    finally:
        settings.setValue(engine_runtime.PYTHON_SETTING, previous)


def test_processing_segment_runs_in_the_worker(worker_configured, tmp_path):
    image = pattern(30, 40)
    path = write_raster(tmp_path / "scene.tif", image)
    parameters = {"INPUT": str(path), "METHOD": TEST_METHOD, "LABELS": LABEL_TEXT, "TILE": 16, "OVERLAP": 4}
    result = processing.run("ovss:segment", {**parameters, "OUTPUT": str(tmp_path / "a.tif")})
    np.testing.assert_array_equal(read_band(result["OUTPUT"]), expected_classes(image))
    worker = worker_configured.shared_worker()
    pid = worker.pid
    assert worker.running and pid != os.getpid()
    processing.run("ovss:segment", {**parameters, "OUTPUT": str(tmp_path / "b.tif")})
    assert worker.pid == pid  # one worker for the session, kept between runs

    worker_configured.free_models()  # the dock's "Free models"
    assert worker.free_models() is False  # nothing left to free


def test_a_crashed_worker_is_one_message_no_output_and_the_next_run_works(worker_configured, tmp_path):
    image = pattern(30, 40)
    path = write_raster(tmp_path / "scene.tif", image)
    parameters = {"INPUT": str(path), "LABELS": LABEL_TEXT, "TILE": 16, "OVERLAP": 4}
    with pytest.raises(QgsProcessingException, match=r"the worker stopped during 'predict' \(exit code -9"):
        processing.run("ovss:segment", {**parameters, "METHOD": CRASH_METHOD, "OUTPUT": str(tmp_path / "a.tif")})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.tif"]
    result = processing.run("ovss:segment", {**parameters, "METHOD": TEST_METHOD, "OUTPUT": str(tmp_path / "b.tif")})
    np.testing.assert_array_equal(read_band(result["OUTPUT"]), expected_classes(image))


def test_the_dock_names_the_worker_instead_of_importing_torch(worker_env, qgis_iface, tmp_path):
    from ovss.ovss_plugin.dock import OVSSDock

    dock = OVSSDock(None, iface=qgis_iface)
    try:
        assert dock.ready  # no "install these packages" message: the worker's Python has them
        dock.refresh_device()
        assert dock.method_panel.device_label.text() == (
            f"Runs in a separate Python ({sys.executable}); device: known after the first run"
        )
        worker_env.shared_worker().ensure_started()
        dock.refresh_device()
        assert dock.method_panel.device_label.text().endswith("device: cpu")
        dock.free_models()
    finally:
        dock.shutdown()
        dock.deleteLater()
        QgsSettings().remove("ovss/dock")  # what the dock saved on shutdown


def test_the_worker_stops_with_the_plugin(worker_env, recording_iface):
    import ovss

    worker = worker_env.shared_worker()
    worker.ensure_started()
    plugin = ovss.classFactory(recording_iface)
    plugin.initGui()
    plugin.unload()
    assert not worker.running


SYSTEM_PYTHON = Path("/usr/bin/python3")


def qgis_python_without_torch() -> Path:
    """/usr/bin/python3 when it has QGIS and no torch (QGIS as a distribution installs it); else skip."""
    check = "import importlib.util, qgis.core; print(importlib.util.find_spec('torch') is None)"
    probe = subprocess.run([SYSTEM_PYTHON, "-c", check], capture_output=True, text=True, check=False)
    if probe.stdout.strip() != "True":
        pytest.skip("needs a system Python with QGIS and without torch")
    return SYSTEM_PYTHON


def run_task_without_torch(tmp_path: Path, source: Path, method: str, **request: object) -> str:
    """Run the dock's task (and add its styled layer) in a QGIS Python without torch, with the worker in this
    Python; returns what the run printed: its mode and outcome, whether torch was loaded, the layer's renderer."""
    package = tmp_path / "plugins"
    package.mkdir()
    (package / "ovss").symlink_to(HERE.parents[1], target_is_directory=True)
    script = f"""
import sys, types
from pathlib import Path
sys.path[:0] = [{str(package)!r}, {str(HERE)!r}]
from qgis.core import QgsApplication, QgsProject, QgsRasterLayer
app = QgsApplication([], False)
app.initQgis()
sys.modules["pytest"] = types.SimpleNamespace(fixture=lambda function: function)  # the doubles' fixtures only
from processing_doubles import register_test_methods, LABEL_TEXT
register_test_methods()
from ovss.engine.labels import parse_labels
from ovss.engine.methods.cache import ModelCache
from ovss.ovss_plugin import engine_runtime
from ovss.ovss_plugin.layer_source import plan_source
from ovss.ovss_plugin.task import RunRequest, SegmentTask, add_result_layer
layer = QgsRasterLayer({str(source)!r}, "scene", "gdal")
request = RunRequest(layer_name="scene", source=plan_source(layer), output_path=Path({str(tmp_path / "out.tif")!r}),
                     labels=parse_labels(LABEL_TEXT), method={method!r}, **{request!r})
task = SegmentTask(request, ModelCache())
ok = task.run()
print("mode", engine_runtime.run_mode(), "ok", ok, "error", task.outcome.error)
if ok:
    print("renderer", add_result_layer(task.outcome, QgsProject.instance()).renderer().type())
print("torch loaded in QGIS:", "torch" in sys.modules)
engine_runtime.stop_worker()
"""
    env = {
        **os.environ,
        "OVSS_PYTHON": sys.executable,
        "OVSS_WORKER_IMPORTS": "worker_doubles",
        "OVSS_WORKER_PATH": str(HERE),
        "QT_QPA_PLATFORM": "offscreen",
        "OMP_NUM_THREADS": "1",
    }
    done = subprocess.run(
        [qgis_python_without_torch(), "-c", script], capture_output=True, text=True, env=env, timeout=900, check=False
    )
    assert "mode worker ok True error None" in done.stdout, done.stdout + done.stderr
    assert "renderer paletted" in done.stdout and "torch loaded in QGIS: False" in done.stdout
    return done.stdout


def test_the_task_runs_in_a_qgis_python_without_torch(tmp_path):
    """/usr/bin/python3 has QGIS and no torch: the dock's task runs with the worker in the repository's Python."""
    image = pattern(30, 40)
    source = write_raster(tmp_path / "scene.tif", image)
    run_task_without_torch(tmp_path, source, TEST_METHOD, tile=16, overlap=4)
    np.testing.assert_array_equal(read_band(tmp_path / "out.tif"), expected_classes(image))


@pytest.mark.slow
def test_segearth_ov_with_random_weights_on_the_demo_raster_without_torch_in_qgis(tmp_path, shared_data):
    """The issue's end-to-end check, on a 128 x 128 crop of the demo raster: segearth-ov, random weights."""
    from osgeo import gdal

    crop = tmp_path / "demo_crop.tif"
    gdal.Translate(str(crop), str(shared_data / "geotiff" / "oem_koeln_50.tif"), srcWin=[400, 400, 128, 128])
    run_task_without_torch(tmp_path, crop, "segearth-ov", weights="random", tile=128, overlap=0)
    metadata = gdal.Open(str(tmp_path / "out.tif")).GetMetadata()
    assert metadata["OVSS_METHOD"] == "segearth-ov" and "random weights" in metadata["OVSS_WARNING"]
    assert read_band(tmp_path / "out.tif").shape == (128, 128)
