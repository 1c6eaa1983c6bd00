"""Loading the engine's heavy packages safely inside QGIS."""

from __future__ import annotations

import importlib
import importlib.util
import sys

from ..engine.dependencies import REQUIREMENTS


def import_engine_packages() -> None:
    """Import the engine's heavy packages (torch, torchvision, open_clip, timm, ...) in the main thread.

    Two crashes seen in QGIS 3.22 are avoided here. torchvision imports ``torch._dynamo``, which imports
    triton when it is installed (the CUDA builds of torch bring it); triton's native library bundles its own
    LLVM and loading it into the QGIS desktop (which has Mesa's LLVM loaded) is a segmentation fault. The
    methods never compile kernels, so torch is told that triton is absent. And the imports happen here, in
    the main thread, not for the first time inside a task thread. Missing packages are skipped (the dock
    explains them).
    """
    sys.modules.setdefault("triton", None)
    for requirement in REQUIREMENTS:
        if importlib.util.find_spec(requirement.module) is not None:
            importlib.import_module(requirement.module)
