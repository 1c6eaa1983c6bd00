"""Test methods for the Dask runs, importable by the worker processes (they inherit the tests' ``sys.path``).

``test-context`` depends on the whole tile (its mean colour shifts every pixel's logits), so overlapping tiles
disagree and the blending's weights and order show in the probabilities; ``test-kill-once`` is that method
killing its own worker process (SIGKILL, as the kernel's OOM killer would) at its ``after``-th tile, once per
``marker`` file.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
from raster_fixtures import REFERENCE, distance_probabilities

from engine.methods.base import register_method

CONTEXT_METHOD = "test-context"
KILL_METHOD = "test-kill-once"


def context_probabilities(tile: np.ndarray) -> np.ndarray:
    """Softmax of minus the distance of each pixel, shifted by a third of the tile's mean, to each class."""
    shifted = tile + tile.mean(axis=(1, 2), keepdims=True) / 3.0
    return distance_probabilities(shifted, REFERENCE * 1.33)


class ContextMethod:
    """A method whose output depends on the tile's context (see the module docstring)."""

    name = CONTEXT_METHOD
    min_tile = 8

    def __init__(self, params: dict | None = None, **_: object) -> None:
        self.params = dict(params or {})

    def prepare(self, labels) -> None:
        pass

    def predict(self, tile: np.ndarray) -> np.ndarray:
        return context_probabilities(tile)


class KillOnceMethod(ContextMethod):
    """:class:`ContextMethod` that kills its worker process at its ``after``-th tile unless ``marker`` exists."""

    name = KILL_METHOD

    def __init__(self, params: dict | None = None, **kwargs: object) -> None:
        super().__init__(params, **kwargs)
        self.calls = 0

    def predict(self, tile: np.ndarray) -> np.ndarray:
        self.calls += 1
        marker = Path(self.params["marker"])
        if self.calls >= int(self.params["after"]) and not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return super().predict(tile)


register_method(CONTEXT_METHOD, "tile-context colour distance (test double)")(ContextMethod)
register_method(KILL_METHOD, "tile-context colour distance, kills its worker once (test double)")(KillOnceMethod)
