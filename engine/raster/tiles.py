"""Pixel windows and the tile planner.

Tiles of ``tile`` pixels start every ``tile - overlap`` pixels; edge tiles are clipped to the raster (they
never read past it) and every tile is padded by reflection to one common input shape before the method sees
it, then the result is cropped back (:func:`pad_reflect`). Coordinates are relative to the region being
segmented (the whole raster or a pixel window of it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import InputError

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Window:
    """A rectangle of pixels: column ``x``, row ``y`` of its top-left corner, and its size."""

    x: int
    y: int
    width: int
    height: int

    @property
    def x_end(self) -> int:
        """First column after the window."""
        return self.x + self.width

    @property
    def y_end(self) -> int:
        """First row after the window."""
        return self.y + self.height

    def shifted(self, dx: int, dy: int) -> Window:
        """The same rectangle moved by ``(dx, dy)``."""
        return Window(self.x + dx, self.y + dy, self.width, self.height)


@dataclass(frozen=True)
class Tile:
    """One tile of a plan: its row and column in the tile grid and its (clipped) window."""

    row: int
    col: int
    window: Window


def axis_starts(size: int, tile: int, overlap: int) -> tuple[int, ...]:
    """Tile start positions along one axis: every ``tile - overlap`` pixels until a tile reaches the end."""
    stride = tile - overlap
    starts = [0]
    while starts[-1] + tile < size:
        starts.append(starts[-1] + stride)
    return tuple(starts)


@dataclass(frozen=True)
class TilePlan:
    """The tile grid over a ``width`` x ``height`` region; build it with :func:`plan_tiles`."""

    width: int
    height: int
    tile: int
    overlap: int
    min_tile: int
    xs: tuple[int, ...]
    ys: tuple[int, ...]

    @property
    def n_tiles(self) -> int:
        """Number of tiles in the plan."""
        return len(self.xs) * len(self.ys)

    @property
    def input_shape(self) -> tuple[int, int]:
        """``(height, width)`` every tile is padded to: the tile size (the region if smaller), >= min_tile."""
        return (
            max(min(self.tile, self.height), self.min_tile),
            max(min(self.tile, self.width), self.min_tile),
        )

    def tile_at(self, row: int, col: int) -> Tile:
        """The tile in grid row ``row`` and column ``col``."""
        x, y = self.xs[col], self.ys[row]
        return Tile(row, col, Window(x, y, min(self.tile, self.width - x), min(self.tile, self.height - y)))

    def __iter__(self) -> Iterator[Tile]:
        """Tiles in row-major order (the order the stitcher needs)."""
        for row in range(len(self.ys)):
            for col in range(len(self.xs)):
                yield self.tile_at(row, col)


def validate_tiling(tile: int, overlap: int, min_tile: int = 1) -> None:
    """Raise :class:`InputError` for a tile size or overlap that cannot work."""
    if tile < 1:
        raise InputError(f"tile size must be positive, got {tile}")
    if tile < min_tile:
        raise InputError(f"tile size {tile} is smaller than the method accepts (at least {min_tile})")
    if overlap < 0:
        raise InputError(f"overlap must not be negative, got {overlap}")
    if 2 * overlap >= tile:
        raise InputError(f"overlap {overlap} must be less than half the tile size {tile}")


def plan_tiles(width: int, height: int, tile: int, overlap: int, min_tile: int = 1) -> TilePlan:
    """Plan the tiles over a ``width`` x ``height`` region (see the module docstring)."""
    validate_tiling(tile, overlap, min_tile)
    if width < 1 or height < 1:
        raise InputError(f"cannot tile an empty region of {width} x {height} pixels")
    return TilePlan(
        width,
        height,
        tile,
        overlap,
        min_tile,
        axis_starts(width, tile, overlap),
        axis_starts(height, tile, overlap),
    )


def pad_reflect(array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pad the last two axes of ``array`` at the bottom and right to ``shape`` by mirror reflection."""
    import numpy as np

    pad_h, pad_w = shape[0] - array.shape[-2], shape[1] - array.shape[-1]
    if pad_h <= 0 and pad_w <= 0:
        return array
    widths = [(0, 0)] * (array.ndim - 2) + [(0, max(pad_h, 0)), (0, max(pad_w, 0))]
    return np.pad(array, widths, mode="symmetric")
