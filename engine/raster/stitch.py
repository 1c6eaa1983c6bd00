"""Streaming stitcher: blends the tiles' class probabilities and hands back finished blocks.

Tiles arrive in row-major order. Each tile's probabilities are accumulated with a weight per pixel, and as
soon as no later tile can touch a rectangle it is normalised (sum of weighted probabilities / sum of weights)
and returned, one block per tile. Memory is one tile-sized buffer plus a strip of ``overlap`` rows across
the region (the part of the current tile row that the next row will overlap), whatever the number of rows.

Weights (per axis, multiplied): ``"weighted"`` ramps linearly from ~0 to 1 across the overlap on every side
that has a neighbouring tile, so a tile's border pixels, which saw the least context, count least;
``"core"`` gives each pixel to the one tile whose core (the tile minus half the overlap on each inner side)
contains it. Sides on the region's border keep weight 1. Pixels marked invalid get weight 0 and come out
as invalid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .tiles import Tile, TilePlan, Window

if TYPE_CHECKING:
    import numpy as np

BLEND_MODES = ("weighted", "core")


@dataclass(frozen=True)
class Block:
    """A finished rectangle: normalised class probabilities ``(K, h, w)`` (0 where invalid) and validity."""

    window: Window
    probabilities: np.ndarray
    valid: np.ndarray


def axis_weights(starts: tuple[int, ...], index: int, size: int, tile: int, blend: str) -> np.ndarray:
    """1-D blending weights of tile ``index`` along an axis with tile ``starts`` over ``size`` pixels."""
    import numpy as np

    start = starts[index]
    end = min(start + tile, size)
    n = end - start
    weights = np.ones(n, dtype=np.float32)
    positions = np.arange(n, dtype=np.float32)
    if index > 0:
        left = min(starts[index - 1] + tile, size) - start  # overlap with the previous tile
        if blend == "core":
            weights[positions < left // 2] = 0.0
        else:
            weights = np.minimum(weights, (positions + 0.5) / max(left, 1))
    if index < len(starts) - 1:
        right = end - starts[index + 1]  # overlap with the next tile
        if blend == "core":
            weights[positions >= n - right + right // 2] = 0.0
        else:
            weights = np.minimum(weights, (n - positions - 0.5) / max(right, 1))
    return weights


class Stitcher:
    """Blend tiles of a :class:`TilePlan` into finished blocks (see the module docstring)."""

    def __init__(self, plan: TilePlan, n_classes: int, blend: str = "weighted") -> None:
        import numpy as np

        if blend not in BLEND_MODES:
            raise ValueError(f"blend must be one of {BLEND_MODES}, got {blend!r}")
        self.plan = plan
        self.n_classes = n_classes
        self.blend = blend
        rows, cols = min(plan.tile, plan.height), min(plan.tile, plan.width)
        self._prob = np.zeros((n_classes, rows, cols), dtype=np.float32)
        self._weight = np.zeros((rows, cols), dtype=np.float32)
        self._carry_prob = np.zeros((n_classes, plan.overlap, plan.width), dtype=np.float32)
        self._carry_weight = np.zeros((plan.overlap, plan.width), dtype=np.float32)
        self._carry_rows = 0  # rows of the carry strip that the current tile row overlaps
        self._next_carry_rows = 0
        self._buf_x = 0  # region column of buffer column 0
        self._buf_cols = 0  # buffer columns initialised so far
        self._expected = 0  # row-major index of the next tile

    def add(self, tile: Tile, probabilities: np.ndarray | None, valid: np.ndarray) -> Block:
        """Accumulate one tile (``probabilities`` None if skipped) and return the block it finished."""
        import numpy as np

        plan = self.plan
        index = tile.row * len(plan.xs) + tile.col
        if index != self._expected:
            raise ValueError(
                f"tiles must be added in row-major order: expected #{self._expected}, got #{index}"
            )
        self._expected += 1
        win = tile.window
        if tile.col == 0:
            self._buf_x, self._buf_cols = 0, 0
        # initialise the buffer columns this tile reaches for the first time (from the carry strip)
        first_new = self._buf_x + self._buf_cols
        if win.x_end > first_new:
            lo, hi = first_new - self._buf_x, win.x_end - self._buf_x
            self._prob[:, :, lo:hi] = 0.0
            self._weight[:, lo:hi] = 0.0
            carry = self._carry_rows
            self._prob[:, :carry, lo:hi] = self._carry_prob[:, :carry, first_new : win.x_end]
            self._weight[:carry, lo:hi] = self._carry_weight[:carry, first_new : win.x_end]
            self._buf_cols = win.x_end - self._buf_x
        if probabilities is not None:
            wy = axis_weights(plan.ys, tile.row, plan.height, plan.tile, self.blend)
            wx = axis_weights(plan.xs, tile.col, plan.width, plan.tile, self.blend)
            weight = np.outer(wy, wx) * valid
            cols = slice(win.x - self._buf_x, win.x_end - self._buf_x)
            self._prob[:, : win.height, cols] += probabilities * weight
            self._weight[: win.height, cols] += weight
        block = self._flush(tile)
        if tile.col == len(plan.xs) - 1:
            self._carry_rows = self._next_carry_rows
        return block

    def _flush(self, tile: Tile) -> Block:
        """Emit what no later tile touches and move the part the next tile row overlaps to the carry strip."""
        import numpy as np

        plan, win = self.plan, tile.window
        last_col, last_row = tile.col == len(plan.xs) - 1, tile.row == len(plan.ys) - 1
        x_done = plan.width if last_col else plan.xs[tile.col + 1]
        y_done = plan.height if last_row else plan.ys[tile.row + 1]
        ncols, nrows = x_done - self._buf_x, y_done - win.y
        prob, weight = self._prob[:, :nrows, :ncols], self._weight[:nrows, :ncols]
        valid = weight > 0
        out = np.divide(prob, weight, out=np.zeros_like(prob), where=valid)
        block = Block(Window(self._buf_x, win.y, ncols, nrows), out, valid)
        # rows the next tile row overlaps: keep them for it
        self._next_carry_rows = win.height - nrows
        if self._next_carry_rows:
            self._carry_prob[:, : self._next_carry_rows, self._buf_x : x_done] = self._prob[
                :, nrows : win.height, :ncols
            ]
            self._carry_weight[: self._next_carry_rows, self._buf_x : x_done] = self._weight[
                nrows : win.height, :ncols
            ]
        # shift the columns the next tile overlaps to the buffer's start
        keep = self._buf_cols - ncols
        if keep:
            self._prob[:, :, :keep] = self._prob[:, :, ncols : self._buf_cols].copy()
            self._weight[:, :keep] = self._weight[:, ncols : self._buf_cols].copy()
        self._buf_x, self._buf_cols = x_done, keep
        return block
