"""A cancel acts within one batch of the batched methods: their stages are cancel points.

The pipeline runs each batch under :func:`engine.methods.base.cancellation`; a method with its own
``predict_batch`` (one pass over the whole batch) must still look at the user's cancel between its stages,
or a cancel on a slow device would wait for the whole batch.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.errors import CancelledError
from engine.labels import load_preset
from engine.methods.base import cancellation, create_method

ALIGNCLIP_SMALL = {"long_side": 96, "crop": 64, "stride": 32, "templates": "sdci_rs"}
SDCI_SMALL = {"clip_short_side": 224, "vfm_short_side": 224, "knn_k": 10, "score_threshold": 0.0}


class CancelAfter:
    """A cancel check that lets ``allowed`` checks pass and raises on the next; counts the checks."""

    def __init__(self, allowed: int) -> None:
        self.allowed = allowed
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        if self.calls > self.allowed:
            raise CancelledError("cancelled by the test")


@pytest.mark.parametrize(
    ("name", "params", "side"),
    [("segearth-ov", ALIGNCLIP_SMALL, 96), ("alignclip-d", ALIGNCLIP_SMALL, 96), ("sdci-v2", SDCI_SMALL, 160)],
)
def test_batched_method_checks_cancel_between_stages(name: str, params: dict, side: int) -> None:
    torch.set_num_threads(1)
    method = create_method(name, weights="random", device="cpu", precision="fp32", seed=0, params=params)
    method.prepare(load_preset("loveda-segearth").labels)
    tiles = np.random.default_rng(0).uniform(0, 255, (2, 3, side, side)).astype(np.float32)

    counting = CancelAfter(allowed=10**6)
    with cancellation(counting):
        method.predict_batch(tiles)
    assert counting.calls >= 2  # more than one place to stop inside one batch

    stopping = CancelAfter(allowed=1)
    with cancellation(stopping), pytest.raises(CancelledError):
        method.predict_batch(tiles)
    assert stopping.calls == 2  # stopped at the second check, not after the whole batch
