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
    """A batch's guidance for a stage, channel-last and flattened to ``(images * pixels, C)``: the images
    ``(B * H * W, 3)``, their keys f(g) ``(B * H * W, K)`` and the keys reflect-padded by ``r`` per image
    (rows of ``W + 2r``); image ``b``'s row ``y`` is row ``b * H + y`` (``b * (H + 2r) + y`` padded)."""

    height: int
    width: int
    image: Tensor
    keys: Tensor
    padded_keys: Tensor


@dataclass(frozen=True)
class _Placement:
    """Where a chunk's tiles go in the output, as one gather and one scatter of pixels (no per-row loop).

    ``source[i]`` is the position in the chunk's ``(items * n * tile * tile)`` tile pixels of the output pixel
    ``target[i]`` (flat over ``B * H * W``); where the last tile of an axis overlaps its neighbour, the last
    tile's pixels are kept. Built once per stage for all items; ``offsets`` (items + 1,) cut it per chunk."""

    source: Tensor
    target: Tensor
    offsets: list[int]

    @classmethod
    def build(cls, rows: _AxisTiles, cols: _AxisTiles, size: tuple[int, int], batch: int,
              device: torch.device) -> _Placement:
        """The placement of every ``(image, tile row)`` item, items ordered image-major."""
        height, width = size
        row_owner = _owners(rows, height)
        col_owner = _owners(cols, width)
        col_source = col_owner * rows.tile * cols.tile + (torch.arange(width) - cols.starts[col_owner])
        per_item = rows.tile * len(cols.starts) * cols.tile
        row_counts = torch.bincount(row_owner, minlength=len(rows.starts))
        y = torch.arange(height)
        row_source = row_owner * per_item + (y - rows.starts[row_owner]) * cols.tile
        images = torch.arange(batch)
        item = images[:, None] * len(rows.starts) + row_owner  # (B, H) item of each output row
        local = row_source - row_owner * per_item
        source = (item[..., None] * per_item + local[:, None] + col_source).flatten()
        target = ((images[:, None] * height + y)[..., None] * width + torch.arange(width)).flatten()
        counts = row_counts.repeat(batch) * width
        offsets = [0, *torch.cumsum(counts, 0).tolist()]
        return cls(source.to(device), target.to(device), offsets)


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
    kernels' size times the channels, nor the bicubic map, is ever materialised, and each chunk's tiles reach
    the output by one gather and one scatter. ``tile`` and ``chunk_pixels`` were tuned on the CPU
    (bench/bench_upsampler.py); on a GPU, where each chunk costs kernel launches rather than cache misses,
    ``gpu_chunk_pixels`` takes many 224 x 224 windows at once. They change the speed, not the result.
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
        """The channel-last guidance maps of a batch ``(B, 3, H, W)``."""
        image = guidance.permute(0, 2, 3, 1)
        keys = _pointwise(self.range_proj, image)
        padded = F.pad(keys.permute(0, 3, 1, 2), [self.radius] * 4, mode="reflect").permute(0, 2, 3, 1)
        return _Guide(guidance.shape[-2], guidance.shape[-1], image.reshape(-1, guidance.shape[1]),
                      keys.reshape(-1, self.key_dim), padded.reshape(-1, self.key_dim))

    def _kernels(self, guide: _Guide, rows: tuple[Tensor, Tensor, int], cols: _AxisTiles) -> Tensor:
        """The combined kernels ``(m * n, rows * tile, d*d)`` of the tiles at rows ``rows[0] (m,)`` of the
        stacked images (``rows[1]`` the same rows of the stacked padded keys; ``rows[2]`` pixels high) x the
        ``n`` columns of ``cols``.

        The range kernel is the softmax of ``exp(t) <f(g)_p, f(g)_{p+q}>`` (one product of each tile's keys
        with its padded neighbourhood's), times the spatial Gaussian, normalised, plus ``0.1 * fixup([k, g])``.
        """
        (starts, padded_starts, height), width, d = rows, cols.tile, self.diameter
        device = guide.keys.device
        col_starts = cols.starts.to(device)
        own = _windows(guide.keys, guide.width, (starts, col_starts), (height, width))
        around = _windows(guide.padded_keys, guide.width + d - 1, (padded_starts, col_starts),
                          (height + d - 1, width + d - 1))
        pixel = torch.arange(height * width, device=device)
        span = width + d - 1
        offsets = (torch.arange(d, device=device)[:, None] * span + torch.arange(d, device=device)).flatten()
        pick = (pixel * around.shape[1] + pixel // width * span + pixel % width)[:, None] + offsets
        similarity = torch.bmm(own, around.transpose(1, 2)).flatten(1)
        logits = similarity.index_select(1, pick.flatten()).view(len(own), height * width, d * d)
        temperature = self.range_temp.exp().clamp(1e-4, 1e4)
        combined = F.softmax(temperature * logits, dim=-1) * self.spatial_kernel()
        combined = combined / combined.sum(-1, keepdim=True).clamp(1e-7)
        image = _windows(guide.image, guide.width, (starts, col_starts), (height, width))
        return combined + 0.1 * _pointwise(self.fixup_proj, torch.cat([combined, image], dim=-1))

    def upsample_channels_last(self, source: Tensor, guidance: Tensor) -> Tensor:
        """Upsample channel-last ``source (B, h, w, C)`` to the size of ``guidance (B, 3, H, W)``: the
        channel-last ``(B, H, W, C)`` output of :meth:`forward` (``H, W > radius``), all images at once."""
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
        col_windows = cols.windows.to(device)
        placement = _Placement.build(rows_of, cols, (height, width), batch, device)
        # the (image, tile row) items in order: their rows in the stacked images, keys and sources
        count = len(rows_of.starts)
        image = torch.arange(batch, device=device).repeat_interleave(count)
        row = torch.arange(count, device=device).repeat(batch)
        starts = rows_of.starts.to(device)[row]
        key_rows, padded_rows = image * height + starts, image * (height + d - 1) + starts
        source_rows = image * source_height + rows_of.windows.to(device)[row]
        budget = self.chunk_pixels if device.type == "cpu" else self.gpu_chunk_pixels
        per_chunk = min(max(1, budget // (tile * width)), batch * count)
        guide = self._guide(guidance)
        features = source.reshape(-1, channels)
        out = source.new_empty(batch * height * width, channels)
        # buffers reused by every chunk: fresh large allocations would page-fault each time
        window = source.new_empty(per_chunk * n, rows_of.length * cols.length, channels)
        values = source.new_empty(per_chunk * n, tile * cols.tile, channels)
        for first in range(0, batch * count, per_chunk):
            chunk = slice(first, first + per_chunk)
            m = len(row[chunk])
            kernels = self._kernels(guide, (key_rows[chunk], padded_rows[chunk], tile), cols).float()
            kernels = kernels.view(m, n, tile, cols.tile, d, d)
            weights = torch.einsum("mnyxij,nxjb->mnyxib", kernels, col_interp)
            weights = torch.einsum("myia,mnyxib->mnyxab", row_interp[row[chunk]], weights)
            feats = _windows(features, source_width, (source_rows[chunk], col_windows),
                             (rows_of.length, cols.length), out=window[:m * n])
            done = torch.bmm(weights.reshape(m * n, tile * cols.tile, -1).to(source.dtype), feats,
                             out=values[:m * n])
            at = slice(placement.offsets[first], placement.offsets[first + m])
            shift = first * n * tile * cols.tile
            out.index_copy_(0, placement.target[at], done.view(-1, channels).index_select(
                0, placement.source[at] - shift))
        return out.view(batch, height, width, channels)

    def forward(self, source: Tensor, guidance: Tensor) -> Tensor:
        """Upsample ``source`` ``(B, C, h, w)`` to the guidance's size ``(H, W)`` (``H, W > radius``); the result
        is ``(B, C, H, W)`` in channels-last memory layout."""
        out = self.upsample_channels_last(source.permute(0, 2, 3, 1).contiguous(), guidance)
        return out.permute(0, 3, 1, 2)


@dataclass(frozen=True)
class LowRankFeatures:
    """Features ``(B, N, C)`` kept as ``coords @ basis^T + offset``: coordinates ``coords (B, N, r)`` in an
    orthonormal basis ``basis (B, C, r)`` plus one vector ``offset (C,)`` added to every row.

    What the cosine logits of upsampled features need, without the features: dot products with any vectors
    and the norms, both exact (the basis is orthonormal), in ``r`` instead of ``C`` channels and without a
    pass over the coordinates for the offset."""

    coords: Tensor
    basis: Tensor
    offset: Tensor

    def dot(self, vectors: Tensor) -> Tensor:
        """``features @ vectors^T``: ``(B, N, Q)`` for ``vectors (Q, C)`` or per image ``(B, Q, C)``."""
        along = self.basis.transpose(1, 2) @ vectors.transpose(-1, -2)
        return (self.coords @ along).add_((self.offset @ vectors.transpose(-1, -2))[..., None, :])

    def norms(self) -> Tensor:
        """``|features|`` per row, ``(B, N, 1)``: ``|c|^2 + 2 c.(basis^T o) + |o|^2`` for coordinates c."""
        inside = self.offset @ self.basis  # (B, r)
        squared = torch.linalg.vector_norm(self.coords, dim=-1, keepdim=True).square_()
        squared.add_(2.0 * (self.coords @ inside[..., None])).add_(self.offset.square().sum())
        return squared.clamp_min_(0.0).sqrt_()

    def dense(self) -> Tensor:
        """The features themselves, ``(B, N, C)`` (for the options that need them)."""
        return self.coords @ self.basis.transpose(1, 2) + self.offset


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

    def _stages(self, x: Tensor, guidance: Tensor) -> Tensor:
        """The x2 stages on channel-last ``x (B, h, w, C)``: ``(B, 16 h, 16 w, C)``."""
        for name in self.stage_names:
            height, width = x.shape[1:3]
            x = getattr(self, name).upsample_channels_last(
                x, F.adaptive_avg_pool2d(guidance, (2 * height, 2 * width))
            )
        return x

    def forward(self, source: Tensor, guidance: Tensor) -> Tensor:
        """``(B, C, h, w)`` features and a ``(B, 3, H, W)`` normalised image -> ``(B, C, 16 h, 16 w)``
        (channels-last memory layout)."""
        self._check(source, guidance)
        x = self._stages(self._mixed(source), guidance)
        return x.add_(0.1 * self.fixup_proj[1].bias).permute(0, 3, 1, 2)

    def forward_low_rank(self, source: Tensor, guidance: Tensor) -> LowRankFeatures:
        """:meth:`forward`'s output ``(B, 256 h w, C)`` as :class:`LowRankFeatures` (float32).

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
        up = self._stages(coords.reshape(batch, height, width, -1).to(self.fixup_proj[1].weight.dtype), guidance)
        return LowRankFeatures(up.flatten(1, 2).float(), basis, 0.1 * self.fixup_proj[1].bias.float())


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
