"""Tile planner, reflection padding and blending weights."""

import itertools

import numpy as np
import pytest

from engine.errors import InputError
from engine.raster.stitch import axis_weights
from engine.raster.tiles import pad_reflect, plan_tiles


@pytest.mark.parametrize(
    ("width", "height", "tile", "overlap"),
    [(130, 100, 64, 16), (64, 64, 64, 16), (10, 7, 64, 16), (113, 200, 64, 0), (1000, 31, 100, 49)],
)
def test_plan_covers_region_inside_bounds(width, height, tile, overlap):
    plan = plan_tiles(width, height, tile, overlap)
    cover = np.zeros((height, width), dtype=int)
    tiles = list(plan)
    assert len(tiles) == plan.n_tiles
    for t in tiles:
        w = t.window
        assert 0 <= w.x < w.x_end <= width and 0 <= w.y < w.y_end <= height
        assert w.width <= tile and w.height <= tile
        cover[w.y : w.y_end, w.x : w.x_end] += 1
    assert cover.min() >= 1
    # consecutive tiles overlap by exactly `overlap` (or less at the clipped end), never more
    for starts, size in ((plan.xs, width), (plan.ys, height)):
        for a, b in itertools.pairwise(starts):
            assert b - a == tile - overlap
            assert min(a + tile, size) - b <= overlap
    # row-major order
    assert [(t.row, t.col) for t in tiles] == sorted((t.row, t.col) for t in tiles)


def test_input_shape_is_tile_region_or_min_tile():
    assert plan_tiles(130, 100, 64, 16).input_shape == (64, 64)
    assert plan_tiles(30, 20, 64, 16).input_shape == (20, 30)
    assert plan_tiles(30, 20, 64, 16, min_tile=32).input_shape == (32, 32)


@pytest.mark.parametrize(
    ("tile", "overlap", "min_tile", "message"),
    [
        (0, 0, 1, "tile size must be positive"),
        (32, 4, 64, "tile size 32 is smaller than the method accepts (at least 64)"),
        (64, -1, 1, "overlap must not be negative"),
        (64, 32, 1, "overlap 32 must be less than half the tile size 64"),
    ],
)
def test_bad_tiling_is_a_clear_error(tile, overlap, min_tile, message):
    with pytest.raises(InputError) as info:
        plan_tiles(100, 100, tile, overlap, min_tile)
    assert message in str(info.value)


def test_pad_reflect_matches_mirror_indexing():
    rng = np.random.default_rng(1)
    image = rng.random((3, 5, 4))
    padded = pad_reflect(image, (13, 9))
    assert padded.shape == (3, 13, 9)

    def mirror(i, n):  # symmetric reflection, repeated: 0..n-1, n-1..0, 0..n-1, ...
        period = i % (2 * n)
        return period if period < n else 2 * n - 1 - period

    for y in range(13):
        for x in range(9):
            assert np.array_equal(padded[:, y, x], image[:, mirror(y, 5), mirror(x, 4)])
    assert pad_reflect(image, (5, 4)) is image


@pytest.mark.parametrize("blend", ["weighted", "core"])
def test_axis_weights_positive_on_borders_and_partition_in_core(blend):
    starts, size, tile = (0, 48, 96), 130, 64
    weights = [axis_weights(starts, i, size, tile, blend) for i in range(3)]
    total = np.zeros(size)
    for start, w in zip(starts, weights, strict=True):
        total[start : start + len(w)] += w
    assert total.min() > 0
    assert weights[0][0] == 1.0 and weights[-1][-1] == 1.0  # region borders keep full weight
    if blend == "core":
        assert np.array_equal(total, np.ones(size))  # every pixel owned by exactly one tile
    else:
        assert weights[1][0] < 0.05 and weights[1][-1] < 0.05 and weights[1][32] == 1.0
