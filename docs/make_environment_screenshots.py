"""Take ``docs/screenshot-environment-*.png``: the plugin ZIP in a real QGIS whose Python has no torch, set up
from the dock against a local package index.

Run from the repository root: ``.venv/bin/python docs/make_environment_screenshots.py [WHEELS]``. It builds the
ZIP (``make package``), unpacks it into a throw-away profile's plugin folder (as *Install from ZIP* does),
serves the wheels in ``WHEELS`` (default ``~/.cache/ovss-test-wheels``, filled by
``tests/plugin/test_environment_real.py``) as a package index on 127.0.0.1, and starts ``/usr/bin/qgis`` under
Xvfb with Debian's Python only (no ``.venv`` on the path, so torch is missing) and the profile's
``ovss/environment/index_url`` pointing at the local index. QGIS then runs this same file (``--code``): it opens
the dock, grabs the window with the plan (``-plan``), ticks the consent box, presses *Set up the environment*,
grabs it while pip installs (``-progress``) and when the environment is ready (``-ready``); then it reloads the
plugin (as the dock asks), runs ``segearth-ov`` with ``OVSS_WEIGHTS=random`` on the plugin's demo raster in the
environment's worker process, grabs the styled result (``-run``) and quits. The outer script then checks the
environment's state file, the configured Python in the profile and the run's result (a paletted layer, the
device named by the worker, torch never imported into QGIS).
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(os.environ.get("OVSS_SCREENSHOT_ROOT") or Path(__file__).resolve().parent.parent)
OUTPUTS = {name: ROOT / "docs" / f"screenshot-environment-{name}.png" for name in ("plan", "progress", "ready", "run")}
RUN_RESULT = "OVSS_SCREENSHOT_RUN_RESULT"  # where QGIS writes what the run through the worker gave
PLUGIN_FOLDER = "OVSS_SCREENSHOT_PLUGIN"  # the plugin as installed from the ZIP
INNER = "OVSS_SCREENSHOT_INNER"
SCREEN = "1500x900x24"
DOCK_WIDTH = 520
TIMEOUT_S = 1800


def write_profile(profile: Path, index_url: str) -> None:
    """A QGIS profile with the plugin enabled and the local index as the environment's package index."""
    ini = configparser.ConfigParser()
    ini.optionxform = str  # type: ignore[assignment,method-assign]
    ini["PythonPlugins"] = {"ovss": "true"}
    ini["qgis"] = {"checkVersion": "false", "showTips": "false"}
    ini["UI"] = {"UI\\hidebrowser": "true"}
    ini["ovss"] = {"environment\\index_url": index_url}
    settings = profile / "profiles" / "default" / "QGIS"
    settings.mkdir(parents=True)
    with (settings / "QGIS3.ini").open("w") as stream:
        ini.write(stream)


def take(wheels: Path) -> int:
    """Outside QGIS: package, install, serve the index, run QGIS under Xvfb, check the result."""
    sys.path.insert(0, str(ROOT / "tests" / "plugin"))
    from local_index import LocalIndex, lay_out_index

    work = Path(tempfile.mkdtemp(prefix="ovss-environment-screenshots-"))
    subprocess.run(["make", "-o", "venv", "package", f"DIST={work / 'dist'}"], cwd=ROOT, check=True)
    plugins = work / "plugins"
    with zipfile.ZipFile(work / "dist" / "ovss.zip") as archive:
        archive.extractall(plugins)
    lay_out_index(work / "index", sorted(wheels.glob("*.whl")))
    index = LocalIndex(work / "index")
    profile = work / "profile"
    write_profile(profile, index.url)
    env_dir = work / "data" / "ovss" / "env"
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PIP_FIND_LINKS", "QT_QPA_PLATFORM")}
    run_result = work / "run.json"
    env.update(QGIS_CUSTOM_CONFIG_PATH=str(profile), QGIS_PLUGINPATH=str(plugins), OVSS_ENV_DIR=str(env_dir),
               PIP_CONFIG_FILE=os.devnull, PYTHONFAULTHANDLER="1", OVSS_SCREENSHOT_ROOT=str(ROOT),
               OVSS_WEIGHTS="random", **{INNER: "1", RUN_RESULT: str(run_result), PLUGIN_FOLDER: str(plugins / "ovss")})
    for output in OUTPUTS.values():
        output.unlink(missing_ok=True)
    command = ["xvfb-run", "-a", "-s", f"-screen 0 {SCREEN}", "/usr/bin/qgis", "--nologo", "--noversioncheck",
               "--code", str(Path(__file__).resolve())]
    try:
        subprocess.run(command, env=env, timeout=TIMEOUT_S, check=False)
    finally:
        index.close()
    missing = [str(path) for path in OUTPUTS.values() if not path.is_file()]
    state = env_dir / "ovss-environment.json"
    ini = (profile / "profiles" / "default" / "QGIS" / "QGIS3.ini").read_text()
    finished = state.is_file() and str(env_dir / "bin" / "python") in ini
    print("environment:", json.loads(state.read_text()) if state.is_file() else "not finished")
    run = json.loads(run_result.read_text()) if run_result.is_file() else {}
    print("run:", run or "no result")
    ran = bool(run.get("ok")) and run.get("paletted") and not run.get("torch_in_qgis")
    shutil.rmtree(work, ignore_errors=True)  # the environment alone is a few GB
    if missing or not finished or not ran:
        print(f"incomplete: screenshots missing {missing}, environment configured: {finished}, run: {ran}",
              file=sys.stderr)
        return 1
    print("wrote", ", ".join(f"{path.name} ({path.stat().st_size // 1024} KiB)" for path in OUTPUTS.values()))
    return 0


def inside_qgis() -> None:
    """Inside QGIS: open the dock, grab the plan, set up with consent, grab progress and the end, quit."""
    from inside_qgis import open_dock, start_demo_run
    from qgis.PyQt.QtCore import QTimer
    from qgis.PyQt.QtWidgets import QApplication
    from qgis.utils import iface, reloadPlugin

    window = iface.mainWindow()
    dock = open_dock(DOCK_WIDTH)
    panel = dock.environment_panel
    if panel is None:
        raise RuntimeError("the dock shows no environment panel: QGIS's Python has the engine's packages")

    def grab(name: str) -> None:
        window.grab().save(str(OUTPUTS[name]), "PNG")

    def wait_for_end() -> None:
        if panel.task is not None:
            if panel.progress_bar.value() >= 30 and not OUTPUTS["progress"].exists():
                grab("progress")
            QTimer.singleShot(500, wait_for_end)
            return
        QTimer.singleShot(1000, lambda: (grab("ready"), run_in_worker()))

    def run_in_worker() -> None:
        """Reload the plugin (the dock asks for it once the environment is ready) and run the demo there."""
        reloadPlugin("ovss")
        dock = open_dock(DOCK_WIDTH)
        demo = Path(os.environ[PLUGIN_FOLDER]) / "engine" / "data" / "demo" / "oem_koeln_50.tif"
        start_demo_run(dock, str(demo), preset="builtin:openearthmap-ori")
        QTimer.singleShot(1000, lambda: wait_for_run(dock))

    def wait_for_run(dock: object) -> None:
        if dock.task is not None:
            QTimer.singleShot(500, lambda: wait_for_run(dock))
            return
        outcome = dock.last_outcome
        layer = iface.activeLayer()
        Path(os.environ[RUN_RESULT]).write_text(json.dumps({
            "ok": bool(outcome and outcome.ok),
            "error": outcome.error if outcome else "no run",
            "paletted": layer is not None and layer.renderer() is not None
            and layer.renderer().type() == "paletted",
            "device": dock.method_panel.device_label.text(),
            "torch_in_qgis": "torch" in sys.modules,
        }))
        iface.mapCanvas().zoomToFullExtent()
        QTimer.singleShot(3000, lambda: (grab("run"), QApplication.instance().exit(0)))

    def start() -> None:
        grab("plan")
        panel.consent.setChecked(True)
        panel.setup_button.click()
        QTimer.singleShot(500, wait_for_end)

    QTimer.singleShot(3000, start)


if os.environ.get(INNER):
    sys.path.insert(0, str(ROOT / "docs"))
    from inside_qgis import run_inside_qgis

    run_inside_qgis(inside_qgis)
elif __name__ == "__main__":
    sys.exit(take(Path(sys.argv[1]) if len(sys.argv) > 1 else Path.home() / ".cache" / "ovss-test-wheels"))
