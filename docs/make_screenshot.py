"""Take ``docs/screenshot-dock.png``: the real QGIS desktop under Xvfb with the dock and a result layer.

Run from the repository root: ``.venv/bin/python docs/make_screenshot.py``. It starts ``/usr/bin/qgis``
with a throw-away profile in which the plugin (this folder, linked as ``ovss``) is enabled, the virtual
environment's packages first on ``PYTHONPATH`` and ``OVSS_WEIGHTS=random`` (no weights can be downloaded on
the build machine: the map shows a pipeline check, and the dock says so). QGIS then runs this same file
(``--code``): it loads the demo raster, opens the dock at 420 px, picks the LoveDA Gen labels and
``segearth-ov``, presses Run, waits for the task, shows the result at 60 % opacity over the input, waits until
the canvas has rendered, grabs the main window and quits.
"""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(os.environ.get("OVSS_SCREENSHOT_ROOT") or Path(__file__).resolve().parent.parent)
OUTPUT = ROOT / "docs" / "screenshot-dock.png"
DEMO = ROOT / "engine" / "data" / "demo" / "oem_koeln_50.tif"
INNER = "OVSS_SCREENSHOT_INNER"
SCREEN = "1500x900x24"
RESULT_OPACITY = 0.6  # the input shows through the classes (random weights: a pipeline check)
DOCK_WIDTH = 420  # a normal dock width: the panels fit it without a horizontal scroll bar


def take() -> int:
    """Outside QGIS: prepare the profile and the plugin path, run QGIS under Xvfb, check the PNG."""
    work = Path(tempfile.mkdtemp(prefix="ovss-screenshot-"))
    plugins = work / "plugins"
    plugins.mkdir()
    (plugins / "ovss").symlink_to(ROOT, target_is_directory=True)
    profile = work / "profile"
    ini = configparser.ConfigParser()
    ini.optionxform = str
    ini["PythonPlugins"] = {"ovss": "true"}
    ini["qgis"] = {"checkVersion": "false", "showTips": "false"}
    ini["UI"] = {"UI\\hidebrowser": "true"}
    settings = profile / "profiles" / "default" / "QGIS"
    settings.mkdir(parents=True)
    with (settings / "QGIS3.ini").open("w") as stream:
        ini.write(stream)
    site = next((ROOT / ".venv" / "lib").glob("python3*/site-packages"))
    env = dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=str(profile), QGIS_PLUGINPATH=str(plugins),
               PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
               OVSS_WEIGHTS="random", PYTHONFAULTHANDLER="1", OVSS_SCREENSHOT_ROOT=str(ROOT), **{INNER: "1"})
    OUTPUT.unlink(missing_ok=True)
    statistics = DEMO.with_name(DEMO.name + ".aux.xml")  # QGIS writes the demo's band statistics there
    had_statistics = statistics.exists()
    command = ["xvfb-run", "-a", "-s", f"-screen 0 {SCREEN}", "/usr/bin/qgis", "--nologo", "--noversioncheck",
               "--code", str(ROOT / "docs" / "make_screenshot.py")]
    subprocess.run(command, env=env, timeout=600, check=False)
    if not had_statistics:
        statistics.unlink(missing_ok=True)
    if not OUTPUT.is_file():
        print("no screenshot was written; see the QGIS output above", file=sys.stderr)
        return 1
    print(f"wrote {OUTPUT} ({OUTPUT.stat().st_size // 1024} KiB)")
    return 0


def inside_qgis() -> None:
    """Inside QGIS: load the demo, run the dock on it, grab the window when the result is on the map."""
    from inside_qgis import open_dock, start_demo_run
    from qgis.PyQt.QtCore import QTimer
    from qgis.PyQt.QtWidgets import QApplication
    from qgis.utils import iface

    window = iface.mainWindow()
    dock = open_dock(DOCK_WIDTH)
    layer = start_demo_run(dock, str(DEMO))

    def finish() -> None:
        if dock.task is not None:
            QTimer.singleShot(500, finish)
            return
        canvas = iface.mapCanvas()
        refreshed: list[bool] = []
        waited: list[int] = []

        def grab() -> None:
            """Once the canvas has finished a refresh begun after the zoom (or after 60 s), grab the window."""
            waited.append(1)
            if (not refreshed or canvas.isDrawing()) and len(waited) < 120:
                QTimer.singleShot(500, grab)
                return
            scroll = dock.scroll
            print(f"dock {dock.width()} px wide, horizontal scroll bar shown: "
                  f"{scroll.horizontalScrollBar().isVisible()}; canvas rendered: {bool(refreshed)}", flush=True)
            window.grab().save(str(OUTPUT), "PNG")
            QApplication.instance().exit(0)

        result = iface.activeLayer()  # the run makes its result the current layer
        if result is not None and result is not layer:
            result.setOpacity(RESULT_OPACITY)
        canvas.zoomToFullExtent()
        canvas.mapCanvasRefreshed.connect(lambda: refreshed.append(True))
        canvas.refreshAllLayers()
        QTimer.singleShot(2000, grab)

    QTimer.singleShot(1000, finish)


if os.environ.get(INNER):
    sys.path.insert(0, str(ROOT / "docs"))
    from inside_qgis import run_inside_qgis

    run_inside_qgis(inside_qgis)
elif __name__ == "__main__":
    sys.exit(take())
