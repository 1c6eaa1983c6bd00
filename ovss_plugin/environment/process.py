"""Running the environment's helper processes (venv, pip, health check) with a clean environment.

QGIS sets ``PYTHONHOME`` and ``PYTHONPATH`` for its own interpreter (the Windows and macOS builds do); a
child interpreter inheriting them would load QGIS's standard library or site-packages instead of its own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

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
