"""Which Python interpreter runs the engine: one setting, shared by the environment setup and the worker."""

from __future__ import annotations

import os
from pathlib import Path

from qgis.core import QgsSettings

PYTHON_SETTING = "ovss/environment/python"
PYTHON_VARIABLE = "OVSS_PYTHON"


def configured_python() -> Path | None:
    """``$OVSS_PYTHON``, else the ``ovss/environment/python`` setting; None when neither is set."""
    value = os.environ.get(PYTHON_VARIABLE) or str(QgsSettings().value(PYTHON_SETTING, "") or "")
    return Path(value) if value.strip() else None


def set_configured_python(path: Path | None) -> None:
    """Store the interpreter the engine runs with in the user's profile (None clears it)."""
    QgsSettings().setValue(PYTHON_SETTING, str(path) if path else "")
