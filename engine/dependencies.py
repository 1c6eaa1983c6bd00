"""Which of the engine's Python packages are installed, and how to install the missing ones.

Cheap by design (no heavy import): QGIS calls it at start-up to explain what is missing instead of failing.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Requirement:
    """A Python package the engine needs: the import name and the name pip installs."""

    module: str
    pip_name: str


REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement("numpy", "numpy<2"),
    Requirement("torch", "torch"),
    Requirement("torchvision", "torchvision"),
    Requirement("open_clip", "open_clip_torch"),
    Requirement("timm", "timm"),
    Requirement("skimage", "scikit-image"),
    Requirement("scipy", "scipy"),
)


def missing_requirements(requirements: tuple[Requirement, ...] = REQUIREMENTS) -> list[Requirement]:
    """The requirements whose top-level module cannot be found (nothing is imported)."""
    return [req for req in requirements if importlib.util.find_spec(req.module) is None]


def python_executable() -> Path:
    """The Python interpreter of the running process, also inside QGIS (where sys.executable is QGIS)."""
    exe = Path(sys.executable)
    if exe.name.lower().startswith("python"):
        return exe
    candidates = [Path(sys.exec_prefix) / "bin" / "python3", Path(sys.exec_prefix) / "python3.exe",
                  Path(sys.exec_prefix) / "python.exe"]
    return next((c for c in candidates if c.exists()), exe)


def install_command(missing: list[Requirement]) -> str:
    """The exact pip command that installs ``missing`` into this interpreter."""
    names = " ".join(f'"{req.pip_name}"' if "<" in req.pip_name else req.pip_name for req in missing)
    return f'"{python_executable()}" -m pip install --user {names}'
