"""SimFeatUp's learned joint bilateral upsamplers (``jbu_stack`` and ``jbu_one``) in plain PyTorch.

FeatUp (Fu et al., ICLR 2024) upsamples low-resolution features guided by the image with a joint bilateral
filter whose range kernel is learned; SimFeatUp (used by SegEarth-OV, Sec. 3.2) keeps that module and
applies ONE shared x2 stage four times (``jbu_one``, radius 5) instead of four separate stages (FeatUp's
``jbu_stack``, radius 3). One x2 stage, for every high-resolution pixel ``p`` and neighbour offset ``q``:

    k_range(p, q)   = softmax_q( exp(t) * <f(g)_p, f(g)_{p+q}> )      f: 1x1 conv MLP of the guidance g
    k_spatial(q)    = exp(-|q|^2 / (2 sigma^2))                        q on a [-1, 1]^2 grid
    k(p, q)         = k_range k_spatial / sum_q k_range k_spatial + 0.1 * fixup([k, g])_p
    out(p)          = sum_q k(p, q) * bicubic_up(source)(p + q)       (reflect padding)

The official code computes the last sum with a custom CUDA op ("adaptive conv") over the bicubic map. Here
both linear steps are composed: bicubic resizing is ``U_y @ source @ U_x^T`` (:func:`bicubic_matrix`), so
``out(p) = sum_a [sum_q k(p, q) U(p + q, a)] source(a)``, and a tile of 8x8 output pixels reads only a 12x12
(radius 5; 10x10 for radius 3) window of the source: one matrix product (64 x 144) @ (144 x C) per tile,
batched, channel-last, a few rows of tiles at a time. That is fewer multiply-adds than the 121-tap sum
(144 vs 121 per pixel and channel, but at GEMM speed), never materialises the bicubic map or anything of
size taps x channels x pixels, and keeps the temporaries in cache. Same results up to float rounding.
The module and parameter names match the official checkpoints, which load with ``strict=True``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import InputError
from .loading import load_strict
from .low_rank import LowRankFeatures, PendingLowRank

UpsamplerKind = Literal["jbu_one", "jbu_stack"]


def bicubic_matrix(size_in: int, size_out: int) -> Tensor:
    """The ``(size_out, size_in)`` float64 matrix of 1-D bicubic resizing as ``F.interpolate`` does it
    (``align_corners=False``, clamped borders). PyTorch's bicubic is separable, so resizing a map is
    ``U_y @ map @ U_x^T``; the columns are the responses to unit impulses."""
    impulses = torch.eye(size_in, dtype=torch.float64).reshape(1, size_in, size_in, 1)
    responses = F.interpolate(impulses, (size_out, 1), mode="bicubic", align_corners=False)
    return responses[0, :, :, 0].T


def _reflect(index: Tensor, size: int) -> Tensor:
    """``F.pad(mode='reflect')``'s source index for positions ``-r .. size + r - 1`` (``r < size``)."""
    index = index.abs()
    return torch.where(index >= size, 2 * (size - 1) - index, index)


@dataclass(frozen=True)
class _AxisTiles:
    """One axis of the tiling of a stage's output: ``starts`` (n,) of the ``tile`` high-resolution pixels of
    each tile (the last tile is shifted back to end at the border), ``windows`` (n,) the first of the ``length``
    low-resolution pixels that the tile's bicubic values on the padded ``2r + 1`` neighbourhoods read, and
    ``interp`` (n, tile, d, length) those interpolation weights: row ``y + i`` of the reflect-padded
    :func:`bicubic_matrix`, restricted to the window."""

    tile: int
    starts: Tensor
    windows: Tensor
    length: int
    interp: Tensor

    @classmethod
    @functools.lru_cache(maxsize=64)
    def build(cls, size_in: int, size_out: int, radius: int, tile: int) -> _AxisTiles:
        """Tiles of at most ``tile`` pixels over ``size_out`` for a ``size_in`` source (CPU tensors, cached:
        every window of an image has the same geometry; callers never modify them)."""
        diameter = 2 * radius + 1
        tile = min(tile, size_out)
        count = -(-size_out // tile)
        starts = torch.clamp(torch.arange(count) * tile, max=size_out - tile)
        padded = bicubic_matrix(size_in, size_out)[_reflect(torch.arange(-radius, size_out + radius), size_out)]
        support = [padded[s:s + tile + diameter - 1].abs().sum(0).nonzero()[:, 0] for s in starts.tolist()]
        length = max(int(cols[-1] - cols[0]) + 1 for cols in support)
        windows = torch.tensor([min(int(cols[0]), size_in - length) for cols in support])
        rows = starts[:, None, None] + torch.arange(tile)[:, None] + torch.arange(diameter)
        interp = padded[rows[..., None], windows[:, None, None, None] + torch.arange(length)]
        return cls(tile, starts, windows, length, interp)


def _windows(values: Tensor, row_len: int, at: tuple[Tensor, Tensor], size: tuple[int, int],
             out: Tensor | None = None) -> Tensor:
    """``(m * n, height * width, C)`` copies (into ``out`` when given) of the ``size = (height, width)``
    windows at rows ``at[0] (m,)`` x columns ``at[1] (n,)`` of a channel-last map stored as
    ``values (pixels, C)`` with ``row_len`` pixels a row."""
    (rows, cols), (height, width) = at, size
    lines = (rows[:, None] + torch.arange(height, device=rows.device)) * row_len
    columns = cols[:, None] + torch.arange(width, device=cols.device)
    index = (lines[:, None, :, None] + columns[None, :, None, :]).flatten()
    shape = (len(rows) * len(cols), height * width, values.shape[-1])
    if out is None:
        return values.index_select(0, index).view(shape)
    return torch.index_select(values, 0, index, out=out.view(-1, shape[-1])).view(shape)


def _pointwise(layers: nn.Sequential, x: Tensor) -> Tensor:
    """A ``Sequential`` of 1x1 convolutions and activations applied to channel-last ``(..., C)`` values as
    linear maps; dropout is the identity (these modules only run frozen, in eval mode)."""
    for layer in layers:
        if isinstance(layer, nn.Conv2d):
            x = F.linear(x, layer.weight.flatten(1), layer.bias)
        elif not isinstance(layer, nn.Dropout2d):
            x = layer(x)
    return x


@dataclass(frozen=True)
class _Guide:
    """A batch's guidance for a stage, reflect-padded by ``r`` per image, channel-last and flattened to
    ``(images * pixels, C)``: the images ``(B * (H + 2r) * (W + 2r), 3)`` and their keys f(g) (``K``
    channels); image ``b``'s pixel ``(y, x)`` is at padded row ``b * (H + 2r) + y + r``, column ``x + r``
    (rows of ``W + 2r`` pixels). The keys are pointwise in the image, so those of the padded image are the
    padded keys."""

    height: int
    width: int
    image: Tensor
    keys: Tensor


@dataclass(frozen=True)
class TiledMaps:
    """Channel-last maps of a batch stored the way a stage computes them, tile by tile: ``values (B, rows, C)``
    and ``order (H * W,)``, the row of ``values[b]`` holding each pixel of an image (row-major pixels; the same
    for every image). A stage writes its tiles in place and the next stage reads its windows through
    ``order``, so no stage scatters its pixels into a row-major map; :meth:`dense` does that once, and the
    logits of :class:`LowRankFeatures` are reordered on their few query channels instead."""

    values: Tensor
    order: Tensor
    height: int
    width: int

    @classmethod
    def row_major(cls, maps: Tensor) -> TiledMaps:
        """Wrap channel-last maps ``(B, H, W, C)`` (the order is the identity)."""
        batch, height, width, channels = maps.shape
        order = torch.arange(height * width, device=maps.device)
        return cls(maps.reshape(batch, height * width, channels), order, height, width)

    def dense(self) -> Tensor:
        """The maps as ``(B, H, W, C)``, row-major."""
        pixels = self.values.index_select(1, self.order)
        return pixels.view(len(self.values), self.height, self.width, self.values.shape[-1])


def _tile_order(rows: _AxisTiles, cols: _AxisTiles, size: tuple[int, int], device: torch.device) -> Tensor:
    """The row of each output pixel (row-major, one image) in a stage's tile-by-tile output, laid out as
    ``(tile row, tile column, y in tile, x in tile)``; where the last tile of an axis overlaps its
    neighbour, the last tile's value is the one read."""
    height, width = size
    row_owner, col_owner = _owners(rows, height), _owners(cols, width)
    y_in = torch.arange(height) - rows.starts[row_owner]
    x_in = torch.arange(width) - cols.starts[col_owner]
    tile_pixels = rows.tile * cols.tile
    by_row = row_owner * len(cols.starts) * tile_pixels + y_in * cols.tile
    by_col = col_owner * tile_pixels + x_in
    return (by_row[:, None] + by_col[None, :]).flatten().to(device)


def _owners(axis: _AxisTiles, size: int) -> Tensor:
    """The tile that provides each output pixel along an axis (the last tile where two overlap)."""
    owner = torch.clamp(torch.arange(size) // axis.tile, max=len(axis.starts) - 1)
    return torch.where(torch.arange(size) >= axis.starts[-1], len(axis.starts) - 1, owner)


class JBULearnedRange(nn.Module):
    """One x2 joint bilateral upsampling stage with a learned range kernel (FeatUp's ``JBULearnedRange``).

    The output is computed in ``tile`` x ``tile`` pixel tiles, channel-last: bicubic resizing and the
    per-pixel kernel are both linear, so a tile's output is ONE matrix product of its composed weights
    ``sum_q k(p, q) U(p + q, a)`` (pixels x low-resolution window) with the window's low-resolution features.
    The rows of tiles of all images of the batch form one sequence, processed about ``chunk_pixels`` output
    pixels at a time (a chunk may span images), their kernels made just before they are used; nothing of the
    kernels' size times the channels, nor the bicubic map, is ever materialised, and each chunk's products
    are written straight into the tile-by-tile output (:class:`TiledMaps`). ``tile`` and ``chunk_pixels``
    were tuned on the CPU (bench/bench_upsampler.py); on a GPU, where each chunk costs kernel launches rather
    than cache misses, ``gpu_chunk_pixels`` takes many 224 x 224 windows at once. They change the speed, not
    the result.
    """

    tile = 8
    chunk_pixels = 4096
    gpu_chunk_pixels = 1 << 20

    def __init__(self, guidance_dim: int, feat_dim: int, key_dim: int, radius: int = 3) -> None:
        super().__init__()
        self.radius = radius
        self.diameter = 2 * radius + 1
        self.feat_dim = feat_dim
        self.key_dim = key_dim
        taps = self.diameter**2
        self.range_temp = nn.Parameter(torch.tensor(0.0))
        self.range_proj = nn.Sequential(
            nn.Conv2d(guidance_dim, key_dim, 1), nn.GELU(), nn.Dropout2d(0.1), nn.Conv2d(key_dim, key_dim, 1)
        )
        self.fixup_proj = nn.Sequential(
            nn.Conv2d(guidance_dim + taps, taps, 1), nn.GELU(), nn.Dropout2d(0.1), nn.Conv2d(taps, taps, 1)
        )
        self.sigma_spatial = nn.Parameter(torch.tensor(1.0))

    def spatial_kernel(self) -> Tensor:
        """Gaussian of the offsets on a ``[-1, 1]`` grid with the learned sigma, ``(d*d,)``."""
        sigma = self.sigma_spatial
        steps = torch.linspace(-1, 1, self.diameter, device=sigma.device, dtype=sigma.dtype)
        squared = steps[:, None] ** 2 + steps[None, :] ** 2
        return torch.exp(-squared / (2 * sigma**2)).flatten()

    def _guide(self, guidance: Tensor) -> _Guide:
        """The padded channel-last guidance maps of a batch ``(B, 3, H, W)``."""
        image = F.pad(guidance, [self.radius] * 4, mode="reflect").permute(0, 2, 3, 1)
        keys = _pointwise(self.range_proj, image)
        return _Guide(guidance.shape[-2], guidance.shape[-1], image.reshape(-1, guidance.shape[1]),
                      keys.reshape(-1, self.key_dim))

    def _kernels(self, guide: _Guide, rows: tuple[Tensor, int], cols: _AxisTiles, spatial: Tensor | None) -> Tensor:
        """The combined kernels ``(m * n, rows * tile, d*d)`` of the tiles whose ``2r`` padded rows above start
        at rows ``rows[0] (m,)`` of the stacked padded guidance (``rows[1]`` pixels high) x the ``n`` columns of
        ``cols``.

        The range kernel is the softmax of ``exp(t) <f(g)_p, f(g)_{p+q}>`` (one product of each tile's keys,
        scaled by ``exp(t)``, with its padded neighbourhood's), times the spatial Gaussian, normalised, plus
        ``0.1 * fixup([k, g])``. ``spatial`` is ``log`` of the Gaussian when the normalisation's clamp cannot
        act (:meth:`_log_spatial`): then ``softmax(x) s / sum(softmax(x) s) = softmax(x + log s)``, one pass.
        """
        (padded_starts, height), width, d, r = rows, cols.tile, self.diameter, self.radius
        device = guide.keys.device
        col_starts = cols.starts.to(device)
        span = width + d - 1
        own = _windows(guide.keys, guide.width + d - 1, (padded_starts + r, col_starts + r), (height, width))
        around = _windows(guide.keys, guide.width + d - 1, (padded_starts, col_starts), (height + d - 1, span))
        pixel = torch.arange(height * width, device=device)
        offsets = (torch.arange(d, device=device)[:, None] * span + torch.arange(d, device=device)).flatten()
        # (neighbourhood pixel, own pixel) products: the faster orientation of this small-inner-size product
        pick = ((pixel // width * span + pixel % width)[:, None] + offsets) * (height * width) + pixel[:, None]
        temperature = self.range_temp.exp().clamp(1e-4, 1e4)
        similarity = torch.bmm(around, own.mul_(temperature).transpose(1, 2)).flatten(1)
        logits = similarity.index_select(1, pick.flatten()).view(len(own), height * width, d * d)
        if spatial is not None:
            combined = torch.softmax(logits.add_(spatial), dim=-1)
        else:
            combined = F.softmax(logits, dim=-1) * self.spatial_kernel()
            combined = combined / combined.sum(-1, keepdim=True).clamp(1e-7)
        image = _windows(guide.image, guide.width + d - 1, (padded_starts + r, col_starts + r), (height, width))
        return self._fixed_up(combined, image)

    def _log_spatial(self) -> Tensor | None:
        """``log`` of :meth:`spatial_kernel` when its smallest value is at least the normalisation's clamp
        (``1e-7``: the normalised sum is then never clamped, whatever the range kernel), else None."""
        spatial = self.spatial_kernel()
        return spatial.log() if float(spatial.min()) >= 1e-7 else None

    def _fixed_up(self, combined: Tensor, image: Tensor) -> Tensor:
        """``k + 0.1 * fixup([k, g])`` for kernels ``combined (..., d*d)`` and guidance pixels ``image (..., 3)``:
        the first 1x1 convolution split into its kernel and image columns (no concatenated copy), the 0.1
        folded into the last product, which adds onto ``k``."""
        first, activation, _, last = self.fixup_proj
        taps = combined.shape[-1]
        weight = first.weight.flatten(1)
        flat = combined.reshape(-1, taps)
        hidden = torch.addmm(first.bias, image.reshape(-1, image.shape[-1]), weight[:, taps:].t())
        hidden = activation(hidden.addmm_(flat, weight[:, :taps].t()))
        out = torch.addmm(flat, hidden, last.weight.flatten(1).t(), alpha=0.1).add_(last.bias, alpha=0.1)
        return out.view(combined.shape)

    def upsample_tiled(self, source: TiledMaps, guidance: Tensor, project: Tensor | None = None) -> TiledMaps:
        """Upsample ``source`` (maps ``h x w``) to the size of ``guidance (B, 3, H, W)`` (``H, W > radius``),
        all images at once; the result stays tile by tile.

        With ``project (B, C, P)`` the result is not the output but, per pixel, its float32 products with the
        ``P`` vectors of its image and its squared norm (``P + 1`` channels): each chunk's output is reduced
        while in cache and the full-width output is never written."""
        height, width = guidance.shape[-2:]
        if min(height, width) <= self.radius:
            raise InputError(f"feature map too small for the JBU upsampler: guidance {height}x{width}, "
                             f"needs more than {self.radius} pixels a side")
        batch, source_rows, channels = source.values.shape
        rows_of = _AxisTiles.build(source.height, height, self.radius, self.tile)
        cols = _AxisTiles.build(source.width, width, self.radius, self.tile)
        device, n, d = source.values.device, len(cols.starts), self.diameter
        tile_pixels = rows_of.tile * cols.tile
        col_interp = cols.interp.to(device, torch.float32)
        row_interp = rows_of.interp.to(device, torch.float32)
        # the (image, tile row) items in order: their rows in the stacked images and padded keys
        count = len(rows_of.starts)
        image = torch.arange(batch, device=device).repeat_interleave(count)
        row = torch.arange(count, device=device).repeat(batch)
        starts = rows_of.starts.to(device)[row]
        padded_rows = image * (height + d - 1) + starts
        # each item's reads of the source: its tiles' low-resolution windows, as rows of ``source.values[b]``
        lines = rows_of.windows[:, None] + torch.arange(rows_of.length)
        columns = cols.windows[:, None] + torch.arange(cols.length)
        pixels = lines[:, None, :, None] * source.width + columns[None, :, None, :]
        reads = source.order[pixels.to(device).flatten()].view(count, -1)
        budget = self.chunk_pixels if device.type == "cpu" else self.gpu_chunk_pixels
        per_chunk = min(max(1, budget // (rows_of.tile * width)), batch * count)
        guide = self._guide(guidance)
        spatial = self._log_spatial()
        features = source.values.reshape(-1, channels)
        if project is None:
            out = source.values.new_empty(batch * count * n, tile_pixels, channels)
        else:
            out = torch.empty(batch * count * n, tile_pixels, project.shape[-1] + 1, device=device)
            products = source.values.new_empty(per_chunk * n, tile_pixels, channels)
        window = source.values.new_empty(per_chunk * n * rows_of.length * cols.length, channels)
        for first in range(0, batch * count, per_chunk):
            chunk = slice(first, first + per_chunk)
            m = len(row[chunk])
            kernels = self._kernels(guide, (padded_rows[chunk], rows_of.tile), cols, spatial)
            kernels = kernels.float().view(m, n, rows_of.tile, cols.tile, d, d)
            weights = torch.einsum("mnyxij,nxjb->mnyxib", kernels, col_interp)
            weights = torch.einsum("myia,mnyxib->mnyxab", row_interp[row[chunk]], weights)
            at = (reads[row[chunk]] + image[chunk, None] * source_rows).flatten()
            feats = torch.index_select(features, 0, at, out=window[:len(at)])
            tiles = slice(first * n, (first + m) * n)
            composed = source.values.new_empty(weights.shape)
            composed.copy_(weights)  # laid out for the product and cast in one pass
            done = torch.bmm(composed.view(m * n, tile_pixels, -1), feats.view(m * n, -1, channels),
                             out=out[tiles] if project is None else products[:m * n])
            if project is not None:
                done = done.float()
                out[tiles, :, :-1] = torch.bmm(done, project[image[chunk].repeat_interleave(n)])
                out[tiles, :, -1] = torch.linalg.vector_norm(done, dim=-1).square_()
        order = _tile_order(rows_of, cols, (height, width), device)
        return TiledMaps(out.view(batch, -1, out.shape[-1]), order, height, width)

    def forward(self, source: Tensor, guidance: Tensor) -> Tensor:
        """Upsample ``source`` ``(B, C, h, w)`` to the guidance's size ``(H, W)`` (``H, W > radius``); the result
        is ``(B, C, H, W)`` in channels-last memory layout."""
        maps = TiledMaps.row_major(source.permute(0, 2, 3, 1).contiguous())
        return self.upsample_tiled(maps, guidance).dense().permute(0, 3, 1, 2)


class _JBUCascade(nn.Module):
    """Four x2 stages (x16 in all), each guided by the image average-pooled to its output size, then a
    residual 1x1 ``fixup_proj`` (``out = s16 + 0.1 * fixup(s16)``), as in FeatUp/SimFeatUp.

    ``stage_names`` lists the attribute of each x2 stage in order (a name may repeat: shared weights).
    Every stage is the same linear map on each channel (its kernels depend on the guidance only), so the
    channel mixing ``I + 0.1 W`` of the final fixup commutes with the stages: it is applied to the 14x14
    input (256 times fewer pixels) and ``0.1 b`` is added at the end, with the same result. For the same
    reason the stages commute with any change of basis of the channels: :meth:`forward_low_rank` upsamples
    the ``N = h * w`` coordinates of the features in an orthonormal basis of their span (N < C channels).
    """

    stage_names: tuple[str, ...] = ()

    def __init__(self, feat_dim: int) -> None:
        super().__init__()
        self.fixup_proj = nn.Sequential(nn.Dropout2d(0.2), nn.Conv2d(feat_dim, feat_dim, 1))

    def _check(self, source: Tensor, guidance: Tensor) -> None:
        """One clear error for inputs of the wrong shapes."""
        if source.ndim != 4 or guidance.ndim != 4 or source.shape[0] != guidance.shape[0]:
            raise InputError(f"upsampler expects features (B, C, h, w) and an image (B, 3, H, W), got "
                             f"{tuple(source.shape)} and {tuple(guidance.shape)}")

    def _mixed(self, source: Tensor) -> Tensor:
        """The channel-last input after the final fixup's channel mixing ``x + 0.1 W x``."""
        weight = self.fixup_proj[1].weight.flatten(1).to(source.dtype)
        x = source.permute(0, 2, 3, 1)
        return (x + 0.1 * F.linear(x, weight)).contiguous()

    def _stages(self, x: Tensor, guidance: Tensor, count: int | None = None) -> TiledMaps:
        """The first ``count`` (default: all) x2 stages on channel-last ``x (B, h, w, C)``, tile by tile."""
        maps = TiledMaps.row_major(x)
        for name in self.stage_names[:count]:
            maps = getattr(self, name).upsample_tiled(maps, self._stage_guidance(maps, guidance))
        return maps

    @staticmethod
    def _stage_guidance(maps: TiledMaps, guidance: Tensor) -> Tensor:
        """The guidance average-pooled to twice the size of ``maps`` (the guidance itself at that size)."""
        size = (2 * maps.height, 2 * maps.width)
        return guidance if tuple(guidance.shape[-2:]) == size else F.adaptive_avg_pool2d(guidance, size)

    def forward(self, source: Tensor, guidance: Tensor) -> Tensor:
        """``(B, C, h, w)`` features and a ``(B, 3, H, W)`` normalised image -> ``(B, C, 16 h, 16 w)``
        (channels-last memory layout)."""
        self._check(source, guidance)
        x = self._stages(self._mixed(source), guidance).dense()
        return x.add_(0.1 * self.fixup_proj[1].bias).permute(0, 3, 1, 2)

    def forward_low_rank(self, source: Tensor, guidance: Tensor) -> LowRankFeatures:
        """:meth:`forward`'s output ``(B, 256 h w, C)`` as :class:`LowRankFeatures` (float32): the finished
        :meth:`forward_pending`."""
        return self.forward_pending(source, guidance).finish()

    def forward_pending(self, source: Tensor, guidance: Tensor) -> PendingLowRank:
        """:meth:`forward`'s output in low-rank form, before the last stage (:class:`PendingLowRank`).

        The mixed features ``X (N, C)`` of each image are ``R^T Q^T`` (thin QR of ``X^T``, in float32); the
        stages upsample the ``r = min(N, C)`` columns of ``R^T`` in the module's dtype, and the bias ``0.1 b``
        is the offset.
        Equal to :meth:`forward` up to rounding, at ``r / C`` of its cost and memory (196 / 512 for
        CLIP ViT-B/16 windows of 224)."""
        self._check(source, guidance)
        mixed = self._mixed(source.float())
        batch, height, width, channels = mixed.shape
        flat = mixed.view(batch, height * width, channels)
        if height * width < channels:
            basis, triangle = torch.linalg.qr(flat.transpose(1, 2))
            coords = triangle.transpose(1, 2)
        else:
            basis = torch.eye(channels, device=flat.device).expand(batch, channels, channels)
            coords = flat
        coords = coords.reshape(batch, height, width, -1).to(self.fixup_proj[1].weight.dtype)
        maps = self._stages(coords, guidance, len(self.stage_names) - 1)
        last = getattr(self, self.stage_names[-1])
        return PendingLowRank(maps, self._stage_guidance(maps, guidance), last, basis,
                              0.1 * self.fixup_proj[1].bias.float())


class JBUStack(_JBUCascade):
    """FeatUp's ``jbu_stack``: four separate radius-3 stages (~288k parameters for 512-d CLIP features)."""

    stage_names = ("up1", "up2", "up3", "up4")

    def __init__(self, feat_dim: int, key_dim: int = 32, radius: int = 3) -> None:
        super().__init__(feat_dim)
        self.up1 = JBULearnedRange(3, feat_dim, key_dim, radius)
        self.up2 = JBULearnedRange(3, feat_dim, key_dim, radius)
        self.up3 = JBULearnedRange(3, feat_dim, key_dim, radius)
        self.up4 = JBULearnedRange(3, feat_dim, key_dim, radius)


class JBUOne(_JBUCascade):
    """SimFeatUp's ``jbu_one``: ONE shared radius-5 stage applied four times (~294k parameters at 512-d)."""

    stage_names = ("up", "up", "up", "up")

    def __init__(self, feat_dim: int, key_dim: int = 32, radius: int = 5) -> None:
        super().__init__(feat_dim)
        self.up = JBULearnedRange(3, feat_dim, key_dim, radius)


@dataclass(frozen=True)
class UpsamplerConfig:
    """An upsampler kind: its class and the official hyper-parameters (SimFeatUp's ``get_upsampler``)."""

    kind: UpsamplerKind
    cls: type[_JBUCascade]
    radius: int
    key_dim: int = 32


UPSAMPLER_CONFIGS: dict[str, UpsamplerConfig] = {
    "jbu_stack": UpsamplerConfig("jbu_stack", JBUStack, radius=3),
    "jbu_one": UpsamplerConfig("jbu_one", JBUOne, radius=5),
}


def build_upsampler(
    kind: UpsamplerKind,
    dim: int,
    state_dict: Mapping[str, Tensor] | None = None,
    seed: int = 0,
) -> JBUStack | JBUOne:
    """Build a frozen upsampler (eval mode, no gradients) for ``dim``-channel features from ``state_dict``
    (keys without the Lightning ``upsampler.`` prefix, loaded strictly) or from seeded random weights (the
    global RNG is left untouched)."""
    config = UPSAMPLER_CONFIGS.get(kind)
    if config is None:
        raise InputError(f"unknown upsampler {kind!r}; known: {', '.join(UPSAMPLER_CONFIGS)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = config.cls(dim, key_dim=config.key_dim, radius=config.radius)
    if state_dict is not None:
        load_strict(module, state_dict, kind)
    return module.eval().requires_grad_(False)
