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
    """One image's guidance for a stage, channel-last and flattened to ``(pixels, C)``: the image
    ``(H * W, 3)``, its keys f(g) ``(H * W, K)`` and the keys reflect-padded by ``r`` (rows of ``W + 2r``)."""

    width: int
    image: Tensor
    keys: Tensor
    padded_keys: Tensor


class JBULearnedRange(nn.Module):
    """One x2 joint bilateral upsampling stage with a learned range kernel (FeatUp's ``JBULearnedRange``).

    The output is computed in ``tile`` x ``tile`` pixel tiles, channel-last: bicubic resizing and the
    per-pixel kernel are both linear, so a tile's output is ONE matrix product of its composed weights
    ``sum_q k(p, q) U(p + q, a)`` (pixels x low-resolution window) with the window's low-resolution features.
    Rows of tiles are processed about ``chunk_pixels`` output pixels at a time, their kernels made just
    before they are used; nothing of the kernels' size times the channels, nor the bicubic map, is ever
    materialised. ``tile`` and ``chunk_pixels`` were tuned on the CPU (bench/bench_upsampler.py); on a GPU,
    where each chunk costs kernel launches rather than cache misses, ``gpu_chunk_pixels`` takes a whole
    224 x 224 window at once (bench/results/gpu-*.md). They change the speed, not the result.
    """

    tile = 8
    chunk_pixels = 4096
    gpu_chunk_pixels = 1 << 16

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
        """The channel-last guidance maps of one image ``(3, H, W)``."""
        keys = _pointwise(self.range_proj, guidance.permute(1, 2, 0))
        padded = F.pad(keys.permute(2, 0, 1), [self.radius] * 4, mode="reflect").permute(1, 2, 0)
        return _Guide(guidance.shape[-1], guidance.permute(1, 2, 0).reshape(-1, guidance.shape[0]),
                      keys.reshape(-1, self.key_dim), padded.reshape(-1, self.key_dim))

    def _kernels(self, guide: _Guide, rows: tuple[Tensor, int], cols: _AxisTiles) -> Tensor:
        """The combined kernels ``(m * n, rows * tile, d*d)`` of the tiles at rows ``rows[0] (m,)``
        (``rows[1]`` pixels high) x the ``n`` columns of ``cols``.

        The range kernel is the softmax of ``exp(t) <f(g)_p, f(g)_{p+q}>`` (one product of each tile's keys
        with its padded neighbourhood's), times the spatial Gaussian, normalised, plus ``0.1 * fixup([k, g])``.
        """
        (starts, height), width, d = rows, cols.tile, self.diameter
        device = guide.keys.device
        at = (starts, cols.starts.to(device))
        own = _windows(guide.keys, guide.width, at, (height, width))
        around = _windows(guide.padded_keys, guide.width + d - 1, at, (height + d - 1, width + d - 1))
        pixel = torch.arange(height * width, device=device)
        span = width + d - 1
        offsets = (torch.arange(d, device=device)[:, None] * span + torch.arange(d, device=device)).flatten()
        pick = (pixel * around.shape[1] + pixel // width * span + pixel % width)[:, None] + offsets
        similarity = torch.bmm(own, around.transpose(1, 2)).flatten(1)
        logits = similarity.index_select(1, pick.flatten()).view(len(own), height * width, d * d)
        temperature = self.range_temp.exp().clamp(1e-4, 1e4)
        combined = F.softmax(temperature * logits, dim=-1) * self.spatial_kernel()
        combined = combined / combined.sum(-1, keepdim=True).clamp(1e-7)
        image = _windows(guide.image, guide.width, at, (height, width))
        return combined + 0.1 * _pointwise(self.fixup_proj, torch.cat([combined, image], dim=-1))

    def upsample_channels_last(self, source: Tensor, guidance: Tensor) -> Tensor:
        """Upsample channel-last ``source (B, h, w, C)`` to the size of ``guidance (B, 3, H, W)``: the
        channel-last ``(B, H, W, C)`` output of :meth:`forward` (``H, W > radius``)."""
        height, width = guidance.shape[-2:]
        if min(height, width) <= self.radius:
            raise InputError(f"feature map too small for the JBU upsampler: guidance {height}x{width}, "
                             f"needs more than {self.radius} pixels a side")
        batch, source_height, source_width, channels = source.shape
        rows_of = _AxisTiles.build(source_height, height, self.radius, self.tile)
        cols = _AxisTiles.build(source_width, width, self.radius, self.tile)
        device, n, tile, d = source.device, len(cols.starts), rows_of.tile, self.diameter
        col_interp = cols.interp.to(device, torch.float32)
        row_interp = rows_of.interp.to(device, torch.float32)
        row_starts, row_windows = rows_of.starts.to(device), rows_of.windows.to(device)
        col_windows = cols.windows.to(device)
        budget = self.chunk_pixels if device.type == "cpu" else self.gpu_chunk_pixels
        per_chunk = min(max(1, budget // (tile * width)), len(row_starts))
        out = source.new_empty(batch, height, width, channels)
        # buffers reused by every chunk: fresh large allocations would page-fault each time
        window = source.new_empty(per_chunk * n, rows_of.length * cols.length, channels)
        values = source.new_empty(per_chunk * n, tile * cols.tile, channels)
        for b in range(batch):
            guide = self._guide(guidance[b])
            features = source[b].reshape(-1, channels)
            for first in range(0, len(row_starts), per_chunk):
                chunk = slice(first, first + per_chunk)
                m = len(row_starts[chunk])
                kernels = self._kernels(guide, (row_starts[chunk], tile), cols).float()
                kernels = kernels.view(m, n, tile, cols.tile, d, d)
                weights = torch.einsum("mnyxij,nxjb->mnyxib", kernels, col_interp)
                weights = torch.einsum("myia,mnyxib->mnyxab", row_interp[chunk], weights)
                feats = _windows(features, source_width, (row_windows[chunk], col_windows),
                                 (rows_of.length, cols.length), out=window[:m * n])
                done = torch.bmm(weights.reshape(m * n, tile * cols.tile, -1).to(source.dtype), feats,
                                 out=values[:m * n])
                tiles = done.view(m, n, tile, cols.tile, channels).transpose(1, 2)
                for band, row in zip(tiles, rows_of.starts[chunk].tolist(), strict=True):
                    out[b, row:row + tile, :(n - 1) * cols.tile] = band[:, :-1].reshape(tile, -1, channels)
                    out[b, row:row + tile, width - cols.tile:] = band[:, -1]
        return out

    def forward(self, source: Tensor, guidance: Tensor) -> Tensor:
        """Upsample ``source`` ``(B, C, h, w)`` to the guidance's size ``(H, W)`` (``H, W > radius``); the result
        is ``(B, C, H, W)`` in channels-last memory layout."""
        out = self.upsample_channels_last(source.permute(0, 2, 3, 1).contiguous(), guidance)
        return out.permute(0, 3, 1, 2)


class _JBUCascade(nn.Module):
    """Four x2 stages (x16 in all), each guided by the image average-pooled to its output size, then a
    residual 1x1 ``fixup_proj`` (``out = s16 + 0.1 * fixup(s16)``), as in FeatUp/SimFeatUp.

    ``stage_names`` lists the attribute of each x2 stage in order (a name may repeat: shared weights).
    Every stage is the same linear map on each channel (its kernels depend on the guidance only), so the
    channel mixing ``I + 0.1 W`` of the final fixup commutes with the stages: it is applied to the 14x14
    input (256 times fewer pixels) and ``0.1 b`` is added at the end, with the same result.
    """

    stage_names: tuple[str, ...] = ()

    def __init__(self, feat_dim: int) -> None:
        super().__init__()
        self.fixup_proj = nn.Sequential(nn.Dropout2d(0.2), nn.Conv2d(feat_dim, feat_dim, 1))

    def forward(self, source: Tensor, guidance: Tensor) -> Tensor:
        """``(B, C, h, w)`` features and a ``(B, 3, H, W)`` normalised image -> ``(B, C, 16 h, 16 w)``
        (channels-last memory layout)."""
        if source.ndim != 4 or guidance.ndim != 4 or source.shape[0] != guidance.shape[0]:
            raise InputError(f"upsampler expects features (B, C, h, w) and an image (B, 3, H, W), got "
                             f"{tuple(source.shape)} and {tuple(guidance.shape)}")
        conv = self.fixup_proj[1]
        x = source.permute(0, 2, 3, 1)
        x = (x + 0.1 * F.linear(x, conv.weight.flatten(1))).contiguous()
        for name in self.stage_names:
            height, width = x.shape[1:3]
            x = getattr(self, name).upsample_channels_last(
                x, F.adaptive_avg_pool2d(guidance, (2 * height, 2 * width))
            )
        return x.add_(0.1 * conv.bias).permute(0, 3, 1, 2)


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
