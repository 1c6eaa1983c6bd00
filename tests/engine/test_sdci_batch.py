"""SDCI on a batch of tiles: one backbone pass per batch, per-tile CSCP certificates, superpixels overlapped with
the backbones, and every tile's result the one it gets alone.

Batched and one-by-one runs differ only by float rounding: the backbones' matrix products are not bitwise the
same for a batch of one and of three (measured 4e-7 after one CLIP ViT-L block in fp32). SDCI's later steps
amplify such differences at near-ties: a KNN neighbour at the k-th place, a float16 rounding in the diffusion,
the min-max normalisation of a nearly flat class map (random weights). So the continuous stages (CAF scores,
attention, graph features) are compared at 1e-5 and the final probabilities by their labels and a looser bound.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.errors import InputError
from engine.labels import load_preset
from engine.methods import create_method
from engine.ops.cscp import FastCscpSettings, solve_cscp, solve_cscp_batch

# the reduced geometry of test_sdci_method.py; a zero threshold keeps random-weight maps from being uniform
SMALL = {"clip_short_side": 224, "vfm_short_side": 224, "knn_k": 10, "score_threshold": 0.0}


def _tiles(shared_data: Path, side: tuple[int, int] = (160, 192)) -> np.ndarray:
    """Three same-size crops of two real samples, ``(3, 3, H, W)`` float32 in 0..255."""
    potsdam = np.asarray(Image.open(shared_data / "potsdam/img/2_10_0_0_512_512.png").convert("RGB"))
    vaihingen = np.asarray(Image.open(shared_data / "vaihingen/img/area1_0_0_512_512.png").convert("RGB"))
    h, w = side
    crops = [potsdam[:h, :w], vaihingen[100 : 100 + h, 50 : 50 + w], potsdam[300 : 300 + h, 200 : 200 + w]]
    return np.stack(crops).transpose(0, 3, 1, 2).astype(np.float32)


def _cscp_problems(shared_data: Path) -> list[list[torch.Tensor]]:
    """The official Potsdam CSCP problem, a shifted copy and a flipped copy with the branches swapped."""
    ref = np.load(shared_data / "reference" / "sdci_potsdam_cscp.npz")
    p = [torch.from_numpy(ref[key]) for key in ("cscp_P1", "cscp_P2", "cscp_wx", "cscp_wy")]
    return [p, [torch.roll(x, 37, -1) for x in p], [p[1].flip(-2), p[0].flip(-2), p[2].flip(-2), p[3].flip(-2)]]


def test_cscp_batch_keeps_each_problems_own_certificate_and_result(shared_data: Path) -> None:
    problems = _cscp_problems(shared_data)
    alone = [solve_cscp(*problem) for problem in problems]
    together = solve_cscp_batch(*(torch.stack([problem[i] for problem in problems]) for i in range(4)))
    assert len({solution.iterations for solution in alone}) > 1  # the problems stop at different checks
    for one, batched in zip(alone, together, strict=True):
        assert batched.iterations == one.iterations  # each stopped on its own certificate, not the batch's
        torch.testing.assert_close(batched.q, one.q, rtol=0, atol=1e-6)
        assert batched.relative_gap == pytest.approx(one.relative_gap, rel=1e-6)
        assert batched.relative_gap <= FastCscpSettings().tolerance
        assert batched.energy == pytest.approx(one.energy, rel=1e-6)


def test_cscp_batch_refuses_maps_without_a_batch_dimension(shared_data: Path) -> None:
    problem = _cscp_problems(shared_data)[0]
    with pytest.raises(InputError, match=r"\(B, K, H, W\)"):
        solve_cscp_batch(*problem)


class _Spy:
    """Counts a backbone entry point's calls and the batch size of each, optionally waiting on an event."""

    def __init__(self, function, wait_for: threading.Event | None = None) -> None:
        self.function, self.wait_for = function, wait_for
        self.batches: list[int] = []
        self.saw_event: list[bool] = []

    def __call__(self, images, *args, **kwargs):
        self.batches.append(int(images.shape[0]))
        if self.wait_for is not None:
            self.saw_event.append(self.wait_for.wait(timeout=20))
        return self.function(images, *args, **kwargs)


@pytest.mark.parametrize("variant", ["sdci-v2", "sdci-v1"])
def test_predict_batch_runs_each_backbone_once_and_matches_one_by_one(shared_data: Path, variant: str) -> None:
    from engine.methods import sdci

    method = create_method(variant, weights="random", device="cpu", precision="fp32", seed=0, params=SMALL)
    method.prepare(load_preset("potsdam-gen").labels)
    tiles = _tiles(shared_data)
    stages: list[dict[str, torch.Tensor]] = []

    def spy_bcdr(clip_scores, dino_scores, **kwargs):
        stages.append(
            {
                "s_clip": clip_scores,
                "s_dino": dino_scores,
                "clip": kwargs["clip_features"],
                "dino": kwargs["dino_features"],
            }
        )
        return bcdr(clip_scores, dino_scores, **kwargs)

    bcdr = sdci.bcdr
    clip_spy, vfm_spy = _Spy(method.clip.embed), _Spy(method.vfm.forward_layers)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sdci, "bcdr", spy_bcdr)
        patch.setattr(method.clip, "embed", clip_spy)
        patch.setattr(method.vfm, "forward_layers", vfm_spy)
        batch = method.predict_batch(tiles)
        batch_timings = dict(method.timings)
        alone, iterations = [], []
        for tile in tiles:
            alone.append(method.predict(tile))
            iterations.append(method.timings["cscp_iterations"])
    assert clip_spy.batches == [3, 1, 1, 1] and vfm_spy.batches == [3, 1, 1, 1]  # one pass per batch

    # the continuous stages agree to float rounding, tile by tile: the CAF scores (probabilities) to 1e-5, the
    # graph features (24 CLIP blocks deep, entries up to ~10) to 1e-4 of their largest entry
    for index in range(3):
        for key, value in stages[0].items():
            single = stages[index + 1][key][0]
            bound = 1e-5 if key.startswith("s_") else 1e-4 * float(single.abs().max())
            torch.testing.assert_close(value[index], single, rtol=0, atol=bound, msg=key)
    # the results: float32 probabilities, the same labels (near-ties aside), close probabilities
    alone_array = np.stack(alone)
    assert batch.shape == alone_array.shape == (3, 6, 160, 192) and batch.dtype == np.float32
    np.testing.assert_allclose(batch.sum(axis=1), 1.0, atol=1e-4)
    assert float((batch.argmax(1) == alone_array.argmax(1)).mean()) > 0.995
    assert float(np.abs(batch - alone_array).mean()) < 1e-3
    # per batch: stage seconds for the whole batch, the largest iteration count and gap of its tiles (the
    # problems differ by rounding, so a tile may stop one check earlier or later than alone)
    assert set(batch_timings) == set(method.timings)
    assert abs(batch_timings["cscp_iterations"] - max(iterations)) <= 2 * method.config.cscp_check_every
    assert 0 < batch_timings["cscp_relative_gap"] <= method.config.cscp_tolerance


@pytest.mark.parametrize("stages", ["baseline", "late_fusion", "caf"])
def test_rows_without_cscp_batch_like_one_by_one(shared_data: Path, stages: str) -> None:
    method = create_method(
        "sdci-v2", weights="random", device="cpu", precision="fp32", seed=0, params={**SMALL, "stages": stages}
    )
    method.prepare(load_preset("potsdam-gen").labels)
    tiles = _tiles(shared_data, (96, 112))
    batch = method.predict_batch(tiles)
    alone = np.stack([method.predict(tile) for tile in tiles])
    assert float((batch.argmax(1) == alone.argmax(1)).mean()) > 0.995
    assert float(np.abs(batch - alone).mean()) < 1e-3
    # the tiles really differ: a mix-up of tiles in the batch would show
    assert float(np.abs(alone[0] - alone[1]).max()) > 1e-2


def test_superpixels_run_in_worker_threads_while_the_backbones_run(shared_data: Path, monkeypatch) -> None:
    from engine.ops import superpixels

    method = create_method("sdci-v2", weights="random", device="cpu", precision="fp32", seed=0, params=SMALL)
    method.prepare(load_preset("potsdam-gen").labels)
    started = threading.Event()
    threads: list[str] = []
    felzenszwalb = superpixels.felzenszwalb

    def spy(*args, **kwargs):
        threads.append(threading.current_thread().name)
        started.set()
        return felzenszwalb(*args, **kwargs)

    monkeypatch.setattr(superpixels, "felzenszwalb", spy)
    clip_spy = _Spy(method.clip.embed, wait_for=started)
    monkeypatch.setattr(method.clip, "embed", clip_spy)
    method.predict_batch(_tiles(shared_data, (96, 112))[:2])
    assert clip_spy.saw_event == [True]  # a superpixel job had started before CLIP embedded the batch
    assert len(threads) == 2 and threading.main_thread().name not in threads


def test_predict_batch_rejects_bad_batches(shared_data: Path) -> None:
    method = create_method("sdci-v2", weights="random", device="cpu", precision="fp32", seed=0, params=SMALL)
    method.prepare(load_preset("potsdam-gen").labels)
    with pytest.raises(InputError, match=r"RGB tiles \(B, 3, H, W\)"):
        method.predict_batch(np.zeros((3, 64, 64), dtype=np.float32))
    with pytest.raises(InputError, match="H, W >= 28"):
        method.predict_batch(np.zeros((2, 3, 16, 64), dtype=np.float32))


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["sdci-v2", "sdci-v1"])
def test_official_geometry_bf16_batch_gives_the_labels_of_one_by_one(shared_data: Path, variant: str) -> None:
    method = create_method(variant, weights="random", device="cpu", precision="bf16", params={"score_threshold": 0.0})
    method.prepare(load_preset("potsdam-gen").labels)
    potsdam = np.asarray(Image.open(shared_data / "potsdam/img/2_10_0_0_512_512.png").convert("RGB"))
    vaihingen = np.asarray(Image.open(shared_data / "vaihingen/img/area1_0_0_512_512.png").convert("RGB"))
    tiles = np.stack([potsdam, vaihingen]).transpose(0, 3, 1, 2).astype(np.float32)
    batch = method.predict_batch(tiles)
    alone = np.stack([method.predict(tile) for tile in tiles])
    np.testing.assert_array_equal(batch.argmax(1), alone.argmax(1))  # measured: bitwise the same maps
