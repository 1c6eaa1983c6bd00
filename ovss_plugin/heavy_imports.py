"""Loading the engine's heavy packages safely inside QGIS, off the main thread.

torch, torchvision, open_clip and timm take seconds to import. The run's task imports them in its own thread
(:meth:`~.task.SegmentTask.run`), and the dock warms them up in an :class:`EngineWarmupTask` the first time it
is shown, so the QGIS window never freezes on them. Imports are serialised by a lock, so a warm-up and a run
(or a Processing algorithm) starting together import each package once.

A crash seen in QGIS 3.22 is avoided here: torchvision imports ``torch._dynamo``, which imports triton when it
is installed (the CUDA builds of torch bring it); triton's native library bundles its own LLVM and loading it
into the QGIS desktop (which has Mesa's LLVM loaded) is a segmentation fault. The methods never compile
kernels, so torch is told that triton is absent. Missing packages are skipped (the dock explains them).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading

from qgis.core import QgsTask
from qgis.PyQt.QtCore import pyqtSignal

from ..engine.dependencies import REQUIREMENTS
from .i18n import tr

_IMPORT_LOCK = threading.Lock()
_LOADED = threading.Event()


def engine_packages_loaded() -> bool:
    """True once :func:`import_engine_packages` has finished in this QGIS session."""
    return _LOADED.is_set()


def import_engine_packages() -> None:
    """Import the engine's heavy packages (torch, torchvision, open_clip, timm, ...) with triton disabled.

    Call it from a task's thread: it takes seconds the first time, nothing afterwards.
    """
    with _IMPORT_LOCK:
        if _LOADED.is_set():
            return
        sys.modules.setdefault("triton", None)
        for requirement in REQUIREMENTS:
            if importlib.util.find_spec(requirement.module) is not None:
                importlib.import_module(requirement.module)
        _LOADED.set()


class EngineWarmupTask(QgsTask):
    """Imports the engine's packages in the background; ``done(problem)`` ("" when all went well)."""

    done = pyqtSignal(str)

    def __init__(self) -> None:
        super().__init__(tr("Land cover: loading the engine"), QgsTask.Flags())
        self.problem = ""

    def run(self) -> bool:
        """In the task's thread: import, keeping any failure as one line (the run reports it in full)."""
        try:
            import_engine_packages()
        except Exception as exc:  # a broken installation: say it, never raise into QGIS
            self.problem = f"{type(exc).__name__}: {exc}"
        return True

    def finished(self, ok: bool) -> None:
        """Main thread: hand the result to the dock."""
        self.done.emit(self.problem if ok else tr("the engine could not be loaded"))
