"""Streaming stitcher against a naive whole-array blend."""

import numpy as np
import pytest

from engine.raster.stitch import Stitcher, axis_weights
from engine.raster.tiles import plan_tiles


def naive_blend(plan, tile_probs, tile_valid, k, blend):
    """Accumulate every tile into full-size arrays, then normalise (no streaming)."""
    acc = np.zeros((k, plan.height, plan.width))
    wsum = np.zeros((plan.height, plan.width))
    for t in plan:
        probs = tile_probs[(t.row, t.col)]
        if probs is None:
            continue
        w = (
            np.outer(
                axis_weights(plan.ys, t.row, plan.height, plan.tile, blend),
                axis_weights(plan.xs, t.col, plan.width, plan.tile, blend),
            )
            * tile_valid[(t.row, t.col)]
        )
        win = t.window
        acc[:, win.y : win.y_end, win.x : win.x_end] += probs * w
        wsum[win.y : win.y_end, win.x : win.x_end] += w
    valid = wsum > 0
    return np.where(valid, acc / np.where(valid, wsum, 1), 0), valid


def stream(plan, tile_probs, tile_valid, k, blend):
    stitcher = Stitcher(plan, k, blend)
    out = np.full((k, plan.height, plan.width), np.nan)
    valid = np.zeros((plan.height, plan.width), dtype=bool)
    written = np.zeros((plan.height, plan.width), dtype=int)
    for t in plan:
        block = stitcher.add(t, tile_probs[(t.row, t.col)], tile_valid[(t.row, t.col)])
        w = block.window
        out[:, w.y : w.y_end, w.x : w.x_end] = block.probabilities
        valid[w.y : w.y_end, w.x : w.x_end] = block.valid
        written[w.y : w.y_end, w.x : w.x_end] += 1
    return out, valid, written


@pytest.mark.parametrize("blend", ["weighted", "core"])
@pytest.mark.parametrize(
    ("width", "height", "tile", "overlap"), [(130, 100, 64, 16), (50, 170, 40, 12), (30, 20, 64, 8)]
)
def test_streaming_equals_naive_blend(blend, width, height, tile, overlap):
    rng = np.random.default_rng(3)
    plan = plan_tiles(width, height, tile, overlap)
    k = 4
    probs, valid = {}, {}
    for t in plan:
        p = rng.random((k, t.window.height, t.window.width)).astype(np.float32)
        probs[(t.row, t.col)] = p / p.sum(axis=0)
        valid[(t.row, t.col)] = rng.random((t.window.height, t.window.width)) > 0.1
    first = next(iter(plan))
    probs[(first.row, first.col)] = None  # a skipped tile
    expected, expected_valid = naive_blend(plan, probs, valid, k, blend)
    got, got_valid, written = stream(plan, probs, valid, k, blend)
    assert np.array_equal(written, np.ones_like(written))  # every pixel emitted exactly once
    assert np.array_equal(got_valid, expected_valid)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("blend", ["weighted", "core"])
def test_constant_prediction_has_no_seams(blend):
    plan = plan_tiles(200, 150, 64, 16)
    constant = np.array([0.2, 0.5, 0.3], dtype=np.float32)[:, None, None]
    probs = {(t.row, t.col): np.broadcast_to(constant, (3, t.window.height, t.window.width)) for t in plan}
    valid = {(t.row, t.col): np.ones((t.window.height, t.window.width), dtype=bool) for t in plan}
    got, got_valid, _ = stream(plan, probs, valid, 3, blend)
    assert got_valid.all()
    np.testing.assert_allclose(got, np.broadcast_to(constant, got.shape), rtol=1e-6)


def test_memory_does_not_grow_with_height():
    small, tall = Stitcher(plan_tiles(300, 300, 64, 16), 5), Stitcher(plan_tiles(300, 30000, 64, 16), 5)
    assert [a.nbytes for a in vars(small).values() if isinstance(a, np.ndarray)] == [
        a.nbytes for a in vars(tall).values() if isinstance(a, np.ndarray)
    ]


def test_tiles_out_of_order_are_refused():
    plan = plan_tiles(130, 100, 64, 16)
    tiles = list(plan)
    stitcher = Stitcher(plan, 2)
    with pytest.raises(ValueError, match="row-major order"):
        stitcher.add(tiles[1], None, np.ones((64, 64), dtype=bool))
