"""Running the environment's helper processes (venv, pip, health check) with a clean environment.

QGIS sets ``PYTHONHOME`` and ``PYTHONPATH`` for its own interpreter (the Windows and macOS builds do); a
child interpreter inheriting them would load QGIS's standard library or site-packages instead of its own. On
Windows QGIS is a GUI program: its console children must not open a console window each.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

INHERITED_OUT = ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONEXECUTABLE", "__PYVENV_LAUNCHER__",
                 "VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV")


def clean_environment(extra: Mapping[str, str] | None = None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) without the variables that redirect a child Python,
    with user site-packages off and ``extra`` added."""
    env = {key: value for key, value in (os.environ if base is None else base).items() if key not in INHERITED_OUT}
    env["PYTHONNOUSERSITE"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra or {})
    return env


def child_flags(new_group: bool = False) -> dict[str, Any]:
    """``subprocess`` keyword arguments: no console window on Windows; with ``new_group`` the child leads its
    own process group, so that a cancel can kill it with its children (pip starts build processes)."""
    if sys.platform.startswith("win"):
        group = subprocess.CREATE_NEW_PROCESS_GROUP if new_group else 0
        return {"creationflags": subprocess.CREATE_NO_WINDOW | group}
    return {"start_new_session": True} if new_group else {}
