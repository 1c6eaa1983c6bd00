"""The real QGIS desktop (``/usr/bin/qgis`` under Xvfb) runs a segmentation from the dock and quits cleanly.

QGIS starts with a throw-away profile in which the plugin (this checkout, linked as ``ovss`` into a folder on
``QGIS_PLUGINPATH``) is enabled; a start-up script (``--code``) registers the per-pixel colour test method
(``processing_doubles``), adds the input and a basemap layer, runs the dock with a confidence raster, writes
what happened to ``state.json`` and quits, either through File > Exit or by ending the application as
scripts do (``QApplication.exit``). The test checks QGIS's exit status: QGIS 3.22 crashed in
``QgisApp::setMapStyleDockLayer`` on the second way after every run (see ``ovss_plugin/plugin.py``).
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QGIS = Path("/usr/bin/qgis")
STARTUP = '''
import json
import os
import sys
import traceback
from pathlib import Path

from qgis.core import QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QApplication
from qgis.utils import iface, plugins

work = Path(os.environ["OVSS_TEST_WORK"])


def quit_qgis():
    if os.environ["OVSS_TEST_QUIT"] == "action":
        iface.actionExit().trigger()
    else:
        QApplication.instance().exit(0)


def finish(dock):
    if dock.task is not None:
        QTimer.singleShot(100, lambda: finish(dock))
        return
    outcome = dock.last_outcome
    state = {"ok": outcome.ok, "error": outcome.error, "layers": sorted(
        layer.name() for layer in QgsProject.instance().mapLayers().values()),
        "current": iface.activeLayer().name() if iface.activeLayer() else None}
    (work / "state.json").write_text(json.dumps(state))
    QTimer.singleShot(200, quit_qgis)


def start():
    sys.path.insert(0, os.environ["OVSS_TEST_DOUBLES"])
    from processing_doubles import LABEL_TEXT, TEST_METHOD, pattern, register_test_methods, write_raster

    from ovss.engine.labels import parse_labels

    register_test_methods()
    project = QgsProject.instance()
    basemap = write_raster(work / "basemap.tif", pattern(24, 30, seed=1))
    project.addMapLayer(QgsRasterLayer(str(basemap), "zz basemap", "gdal"))
    scene = QgsRasterLayer(str(write_raster(work / "scene.tif", pattern(24, 30))), "scene", "gdal")
    project.addMapLayer(scene)
    dock = plugins["ovss"].dock
    plugins["ovss"].action.setChecked(True)
    dock.method_panel.method_combo.addItem(TEST_METHOD, TEST_METHOD)  # the dock listed the methods before the test's
    dock.method_panel.method_combo.setCurrentIndex(dock.method_panel.method_combo.findData(TEST_METHOD))
    dock.input_panel.layer_combo.setLayer(scene)
    dock.classes_panel.table.set_labels(parse_labels(LABEL_TEXT))
    dock.options_panel.tile_spin.setValue(16)
    dock.options_panel.overlap_spin.setValue(4)
    dock.output_panel.confidence_check.setChecked(True)
    if dock.start_run() is None:
        raise RuntimeError("the dock did not start a run: " + dock.classes_panel.validation_label.text())
    finish(dock)


try:
    start()
except Exception:
    traceback.print_exc()
    QApplication.instance().exit(3)
'''

pytestmark = pytest.mark.skipif(
    not QGIS.exists() or shutil.which("xvfb-run") is None, reason="QGIS desktop or xvfb-run not installed"
)


def write_profile(profiles: Path) -> None:
    """A profile with the plugin enabled and no question asked on quit (unsaved project, temporary layers)."""
    ini = configparser.ConfigParser()
    ini.optionxform = str
    ini["PythonPlugins"] = {"ovss": "true"}
    ini["qgis"] = {"checkVersion": "false", "showTips": "false", "askToSaveProjectChanges": "false"}
    ini["app"] = {"askToSaveMemoryLayers": "false"}
    settings = profiles / "profiles" / "default" / "QGIS"
    settings.mkdir(parents=True)
    with (settings / "QGIS3.ini").open("w") as stream:
        ini.write(stream)


@pytest.mark.parametrize("quit_by", ["action", "application"])
def test_desktop_run_then_quit_exits_cleanly(tmp_path: Path, quit_by: str) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "ovss").symlink_to(ROOT, target_is_directory=True)
    write_profile(tmp_path / "profiles")
    (tmp_path / "startup.py").write_text(STARTUP)
    site_packages = sysconfig.get_paths()["purelib"]  # this interpreter's (the virtual environment's)
    env = {
        **os.environ,
        "QGIS_PLUGINPATH": str(plugins),
        "PYTHONPATH": os.pathsep.join([site_packages, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "OVSS_WEIGHTS": "random",
        "OVSS_TEST_DOUBLES": str(Path(__file__).resolve().parent),
        "OVSS_TEST_WORK": str(tmp_path),
        "OVSS_TEST_QUIT": quit_by,
    }
    env.pop("QT_QPA_PLATFORM", None)  # the desktop under Xvfb, not the offscreen platform of the other tests
    command = ["xvfb-run", "-a", str(QGIS), "--profiles-path", str(tmp_path / "profiles"), "--nologo",
               "--noversioncheck", "--code", str(tmp_path / "startup.py")]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    log = done.stdout + done.stderr
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["ok"], state["error"]
    assert state["current"] == next(name for name in state["layers"] if name.startswith("scene - "))
    assert len(state["layers"]) == 4  # basemap, input, classes and confidence
    assert done.returncode == 0, log[-3000:]
    assert "setMapStyleDockLayer" not in log and "Fatal" not in log
