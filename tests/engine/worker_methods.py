"""Test methods for the worker tests, imported in the worker with ``--import worker_methods``.

They reuse the colour test double (:mod:`raster_fixtures`) and add the ways a method can misbehave: slow
tiles (to kill or cancel a worker mid-run), a batch that loops over its tiles with cancel points, a method
that never returns, one that runs out of memory, one whose libraries print to stdout.
"""

from __future__ import annotations

import logging
import os
import sys
import time

import numpy as np
from raster_fixtures import ColourMethod, colour_probabilities

from engine.methods.base import cancel_point, register_method

BATCHED = "worker-batched"
HANG = "worker-hang"
OUT_OF_MEMORY = "worker-oom"
PRINTS = "worker-prints"
DELAY_ENV = "OVSS_TEST_TILE_DELAY"  # seconds each tile takes in the worker (default 0)


def _delay() -> None:
    time.sleep(float(os.environ.get(DELAY_ENV, "0")))


@register_method(BATCHED, "colour distance, batched, with a delay per tile (test double)")
class BatchedColourMethod(ColourMethod):
    """Loops over a batch's tiles with a :func:`cancel_point` between them; has a memory estimate."""

    name = BATCHED

    def predict(self, tile: np.ndarray) -> np.ndarray:
        _delay()
        return super().predict(tile)

    def predict_batch(self, tiles: np.ndarray) -> np.ndarray:
        results = []
        for index, tile in enumerate(tiles):
            if index:
                cancel_point()
            results.append(self.predict(tile))
        return np.stack(results)

    def tile_memory(self, height: int, width: int, labels) -> int:
        return 1000 * height * width * len(labels)


@register_method(HANG, "never answers (test double)")
class HangingMethod(ColourMethod):
    name = HANG

    def predict(self, tile: np.ndarray) -> np.ndarray:
        time.sleep(3600)
        return super().predict(tile)


@register_method(OUT_OF_MEMORY, "runs out of memory (test double)")
class MemoryHungryMethod(ColourMethod):
    name = OUT_OF_MEMORY

    def predict(self, tile: np.ndarray) -> np.ndarray:
        raise MemoryError("cannot allocate 64 GiB")


@register_method(PRINTS, "prints to stdout while it predicts (test double)")
class PrintingMethod(ColourMethod):
    name = PRINTS

    def predict(self, tile: np.ndarray) -> np.ndarray:
        print("a library chatting on stdout")
        sys.stdout.flush()
        os.write(1, b"raw bytes on file descriptor 1\n")
        logging.getLogger("worker_methods").warning("a log record from the method")
        return colour_probabilities(tile)
