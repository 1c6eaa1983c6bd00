"""Which of the engine's Python packages are installed (the plugin offers its own environment for the missing).

Cheap by design (no heavy import): QGIS calls it at start-up to explain what is missing instead of failing.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass


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
