"""Where the engine's models run for the plugin: in a worker process of a configured Python, or in QGIS's own.

The worker's interpreter is ONE setting, ``ovss/environment/python`` (a Python executable; empty: none),
overridden by the environment variable ``OVSS_PYTHON`` (:func:`configured_python`). With one configured, every
run (the dock's task, Processing) builds its method as a :class:`~engine.worker.client.RemoteMethod` on the
session's one shared worker, started lazily and stopped on plugin unload; QGIS's Python then needs nothing
beyond numpy and GDAL, and rasters are still read and written here. Without one, the methods run in QGIS's
process when its Python has the engine's requirements (today's behaviour, the tests' and developers' case);
otherwise the run mode is :data:`MISSING` and the user is asked to set up the environment.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qgis.core import Qgis, QgsMessageLog, QgsSettings

from ..engine.dependencies import missing_requirements
from ..engine.errors import WorkerError
from ..engine.methods import base
from ..engine.pipeline import validate_run
from ..engine.raster.reader import RasterInfo, resolve_window
from ..engine.worker.client import RemoteMethod, WorkerClient
from .i18n import tr

if TYPE_CHECKING:
    from ..engine.cache import FeatureCache

PYTHON_SETTING = "ovss/environment/python"
PYTHON_ENV = "OVSS_PYTHON"
IDLE_FREE_SETTING = "ovss/environment/idle_free_s"  # free the worker's models after this idle time (0: never)
IDLE_FREE_DEFAULT_S = 1800.0
IMPORTS_ENV = "OVSS_WORKER_IMPORTS"  # comma-separated modules the worker imports first (extra methods)
PATH_ENV = "OVSS_WORKER_PATH"  # folders (os.pathsep-separated) added to the worker's import path, for those modules
LOG_TAG = "OVSS"
WORKER, IN_PROCESS, MISSING = "worker", "in-process", "missing"
_LOG_LEVELS = {"error": Qgis.Critical, "warning": Qgis.Warning}

_lock = threading.Lock()
_shared: dict[str, WorkerClient] = {}  # "worker": the session's worker client, once started


def configured_python() -> Path | None:
    """The Python the worker runs with: ``$OVSS_PYTHON``, else the setting; None when none is configured."""
    value = os.environ.get(PYTHON_ENV) or QgsSettings().value(PYTHON_SETTING, "", type=str)
    return Path(value) if value else None


def set_configured_python(path: Path | None) -> None:
    """Store the worker's Python (None: none, run in QGIS's process)."""
    QgsSettings().setValue(PYTHON_SETTING, str(path) if path else "")


def run_mode() -> str:
    """:data:`WORKER` with a configured Python, else :data:`IN_PROCESS` when QGIS's Python has the engine's
    requirements, else :data:`MISSING`."""
    if configured_python() is not None:
        return WORKER
    return MISSING if missing_requirements() else IN_PROCESS


def run_feature_cache() -> FeatureCache | None:
    """The feature cache a run here uses: the process-wide one when the models run in QGIS's process; None with a
    worker, which keeps its own beside its models (engine issue 17)."""
    if run_mode() == WORKER:
        return None
    from ..engine.cache import feature_cache

    return feature_cache()


def plugin_root() -> Path:
    """The folder holding ``engine/`` and ``ovss_plugin/`` (the worker's working folder and import path)."""
    return Path(__file__).resolve().parent.parent


def _log(level: str, line: str) -> None:
    """The worker's log lines and stderr in QGIS's log panel (any thread)."""
    QgsMessageLog.logMessage(line, LOG_TAG, _LOG_LEVELS.get(level, Qgis.Info))


def shared_worker() -> WorkerClient:
    """The session's worker client for the configured Python (a new one when the setting changed)."""
    python = configured_python()
    if python is None:
        raise WorkerError("no Python environment is configured for the worker: set up the environment first")
    with _lock:
        worker = _shared.get("worker")
        if worker is None or worker.command[0] != str(python):
            if worker is not None:
                worker.close()
            idle = QgsSettings().value(IDLE_FREE_SETTING, IDLE_FREE_DEFAULT_S, type=float)
            imports = [name.strip() for name in os.environ.get(IMPORTS_ENV, "").split(",") if name.strip()]
            paths = [path for path in os.environ.get(PATH_ENV, "").split(os.pathsep) if path]
            worker = WorkerClient.for_python(
                python, plugin_root(), idle_free_s=idle, imports=imports, paths=paths, log=_log
            )
            _shared["worker"] = worker
        return worker


def stop_worker() -> None:
    """Shut the worker down (plugin unload); the next run starts a new one."""
    with _lock:
        worker = _shared.pop("worker", None)
    if worker is not None:
        worker.close()


def free_models() -> None:
    """Drop the worker's loaded models and its feature cache, and this process's feature cache (the dock's
    "Free models"); a failed worker is only logged."""
    if run_mode() != WORKER:
        from ..engine.cache import feature_cache

        feature_cache().clear()
    with _lock:
        worker = _shared.get("worker")
    if worker is not None:
        try:
            worker.free_models()
        except WorkerError as exc:
            _log("warning", str(exc))


def worker_status() -> str:
    """One line for the dock: the worker's Python and, once it has started, the device it found."""
    with _lock:
        worker = _shared.get("worker")
    device = worker.hello.get("device") if worker is not None and worker.running else None
    return tr("Runs in a separate Python ({python}); device: {device}").format(
        python=configured_python(), device=device or tr("known after the first run")
    )


def uses_qgis_python() -> bool:
    """True when the methods run in QGIS's process (so the engine's packages are imported there)."""
    return run_mode() != WORKER


def create_method(name: str, **options: Any) -> base.Method:
    """The method for a run: a proxy on the shared worker, or built in this process
    (``options`` as :func:`engine.methods.base.create_method`)."""
    if run_mode() == WORKER:
        return RemoteMethod(shared_worker(), name, **options)
    return base.create_method(name, **options)


def validate_planned_run(input_path: str, output_path: str | os.PathLike[str], **options: Any) -> RasterInfo:
    """:func:`engine.pipeline.validate_run`; with a worker, the memory check of the planned run (which needs
    torch to know the device) is asked of the worker, before it builds any model."""
    method = options.get("method")
    if method is None or run_mode() != WORKER:
        return validate_run(input_path, output_path, **options)
    params, device = options.pop("params", None), options.pop("device", "auto")
    options["method"] = None
    info = validate_run(input_path, output_path, **options)
    region = resolve_window(options.get("window"), info)
    probabilities, confidence = (*options.get("extra_outputs", ()), None, None)[:2]
    shared_worker().check_run(
        method,
        options["labels"],
        params=dict(params or {}),
        width=region.width,
        height=region.height,
        tile=options.get("tile", 512),
        overlap=options.get("overlap", 64),
        device=device,
        probabilities=probabilities is not None,
        confidence=confidence is not None,
        batch=options.get("batch", 0),
    )
    return info
