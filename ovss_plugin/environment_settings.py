"""The QGIS side of the environment: its folder and proxy from the user's profile, the plan for this QGIS,
and the input of the diagnostics report. The work itself is in the Qt-free :mod:`.environment` package."""

from __future__ import annotations

import os
from pathlib import Path

from qgis.core import Qgis, QgsSettings

from .engine_runtime import configured_python, set_configured_python
from .environment.constraints import CONSTRAINTS_PATH
from .environment.diagnostics import DiagnosticsInput
from .environment.health import HealthReport
from .environment.installer import validate_existing
from .environment.interpreter import find_base_python
from .environment.plan import (
    ENV_DIR_VARIABLE,
    HEALTH_MODULES,
    EnvironmentPlan,
    default_env_dir,
    detect_nvidia,
    log_path_for,
    make_plan,
    proxy_url,
)

ENV_DIR_SETTING = "ovss/environment/dir"
INDEX_SETTING = "ovss/environment/index_url"  # a mirror of PyPI (company networks, tests); empty: PyPI
PROXY_KEYS = ("proxy/proxyEnabled", "proxy/proxyType", "proxy/proxyHost", "proxy/proxyPort", "proxy/proxyUser",
              "proxy/proxyPassword")
PLUGIN_DIR = Path(__file__).resolve().parents[1]
# what an environment must hold: the pins shipped with the plugin, the modules the health check imports
CONSTRAINTS = CONSTRAINTS_PATH
MODULES = HEALTH_MODULES


def environment_dir() -> Path:
    """Where the environment goes: ``$OVSS_ENV_DIR``, else the ``ovss/environment/dir`` setting, else the
    user data folder (:func:`~.environment.plan.default_env_dir`)."""
    stored = str(QgsSettings().value(ENV_DIR_SETTING, "") or "").strip()
    if stored and not os.environ.get(ENV_DIR_VARIABLE):
        return Path(stored).expanduser()
    return default_env_dir()


def qgis_proxy() -> str | None:
    """The proxy configured in QGIS (Options > Network) as a URL for pip, None when none is set."""
    store = QgsSettings()
    return proxy_url({key: store.value(key, "") for key in PROXY_KEYS})


def current_plan(target: str | Path | None = None, torch_build: str = "auto",
                 index_url: str | None = None) -> EnvironmentPlan:
    """The plan for this QGIS: its Python, the GPU seen now, QGIS's proxy, the index (``index_url``, else the
    ``ovss/environment/index_url`` setting, else PyPI); raises a SetupError when no Python can be found."""
    index_url = index_url or str(QgsSettings().value(INDEX_SETTING, "") or "").strip() or None
    return make_plan(Path(target).expanduser() if target else environment_dir(), find_base_python(),
                     torch_build=torch_build, index_url=index_url, proxy=qgis_proxy(), gpu=detect_nvidia(),
                     constraints=CONSTRAINTS, modules=MODULES)


def use_existing_python(python: Path) -> HealthReport:
    """Check a user's own environment (conda, a venv) and make it the engine's interpreter when healthy;
    raises :class:`~.environment.errors.UnhealthyEnvironmentError` (nothing stored) otherwise."""
    health = validate_existing(python, CONSTRAINTS, MODULES)
    set_configured_python(python)
    return health


def diagnostics_input() -> DiagnosticsInput:
    """What the diagnostics report needs from QGIS."""
    env_dir = environment_dir()
    return DiagnosticsInput(qgis_version=Qgis.QGIS_VERSION, plugin_dir=PLUGIN_DIR, env_dir=env_dir,
                            configured_python=configured_python(),
                            log_path=log_path_for(env_dir))
