"""Upsampled features in low-rank form: what the cosine logits of SimFeatUp's output need, without the features.

The upsampler's stages are linear in the channels, so CLIP's ``h * w`` patch features of a window (fewer than
its ``C`` channels) are upsampled as their coordinates in an orthonormal basis of their span
(:meth:`~.upsamplers._JBUCascade.forward_low_rank`). The logits need only dot products with the text and the
norms, both exact from the coordinates. :class:`LowRankFeatures` holds the upsampled coordinates;
:class:`PendingLowRank` holds them before the last x2 stage and runs that stage when asked, either to give the
coordinates (:meth:`PendingLowRank.finish`, for a cache) or fused with the products, so that the full-size
coordinates (``16 h * 16 w`` rows, three quarters of the upsampler's work and nearly all of its memory) are
never written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from .upsamplers import JBULearnedRange, TiledMaps


def _projections(basis: Tensor, offset: Tensor, vectors: Tensor) -> Tensor:
    """``(B, r, Q + 1)``: the vectors ``(Q, C)`` or ``(B, Q, C)`` in each image's basis ``(B, C, r)``, then the
    offset ``(C,)`` in it; the products of coordinates with these give dots and cross terms at once."""
    along = basis.transpose(1, 2) @ vectors.transpose(-1, -2)
    inside = (offset @ basis)[..., None]
    return torch.cat([along.expand(len(basis), *along.shape[-2:]), inside], dim=-1)


def _dots_and_norms(products: Tensor, squared: Tensor, offset: Tensor, vectors: Tensor,
                    order: Tensor | None) -> tuple[Tensor, Tensor]:
    """Dots and norms of ``coords @ basis^T + offset`` from ``products = coords @ _projections(...)`` and
    ``squared = |coords|^2`` (rows in storage order), put in pixel order by ``order``."""
    dots = products[..., :-1] + (offset @ vectors.transpose(-1, -2))[..., None, :]
    squared = squared + 2.0 * products[..., -1:] + offset.square().sum()
    norms = squared.clamp_min_(0.0).sqrt_()
    if order is None:
        return dots, norms
    return dots.index_select(1, order), norms.index_select(1, order)


@dataclass(frozen=True)
class LowRankFeatures:
    """Features ``(B, N, C)`` kept as ``coords @ basis^T + offset``: coordinates ``coords (B, rows, r)`` in an
    orthonormal basis ``basis (B, C, r)`` plus one vector ``offset (C,)`` added to every row; ``order (N,)``
    gives the row of ``coords`` of each of the N pixels (the upsampler's tile-by-tile order,
    :class:`~.upsamplers.TiledMaps`; None: the rows are the pixels).

    Dot products with any vectors and the norms are exact (the basis is orthonormal), in ``r`` instead of
    ``C`` channels and without a pass over the coordinates for the offset; only their results are put in
    pixel order."""

    coords: Tensor
    basis: Tensor
    offset: Tensor
    order: Tensor | None = None

    def dots_and_norms(self, vectors: Tensor) -> tuple[Tensor, Tensor]:
        """``features @ vectors^T`` ``(B, N, Q)`` for ``vectors (Q, C)`` or per image ``(B, Q, C)``, and the
        norms ``|features|`` ``(B, N, 1)`` (``|c|^2 + 2 c.(basis^T o) + |o|^2`` for coordinates c), with one
        product over the coordinates for both."""
        products = self.coords @ _projections(self.basis, self.offset, vectors)
        squared = torch.linalg.vector_norm(self.coords, dim=-1, keepdim=True).square_()
        return _dots_and_norms(products, squared, self.offset, vectors, self.order)

    def finish(self) -> LowRankFeatures:
        """These features (what :meth:`PendingLowRank.finish` gives)."""
        return self

    def dense(self) -> Tensor:
        """The features themselves, ``(B, N, C)`` (for the options that need them)."""
        coords = self.coords if self.order is None else self.coords.index_select(1, self.order)
        return coords @ self.basis.transpose(1, 2) + self.offset


@dataclass(frozen=True)
class PendingLowRank:
    """:class:`LowRankFeatures` before the upsampler's last x2 stage: the coordinates ``maps`` so far, the
    last stage's guidance ``(B, 3, H, W)`` and module, the basis and the offset."""

    maps: TiledMaps
    guidance: Tensor
    stage: JBULearnedRange
    basis: Tensor
    offset: Tensor

    def finish(self) -> LowRankFeatures:
        """Run the last stage: the upsampled coordinates (float32)."""
        up = self.stage.upsample_tiled(self.maps, self.guidance)
        return LowRankFeatures(up.values.float(), self.basis, self.offset, up.order)

    def dots_and_norms(self, vectors: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`LowRankFeatures.dots_and_norms` of :meth:`finish`'s features, the last stage fused with the
        products (each chunk of its output reduced to them while in cache; the same float32 arithmetic)."""
        projections = _projections(self.basis, self.offset, vectors)
        up = self.stage.upsample_tiled(self.maps, self.guidance, project=projections)
        products, squared = up.values[..., :-1], up.values[..., -1:]
        return _dots_and_norms(products, squared, self.offset, vectors, up.order)

    def dense(self) -> Tensor:
        """The features themselves, ``(B, N, C)``."""
        return self.finish().dense()
