"""SimFeatUp's learned joint bilateral upsamplers (``jbu_stack`` and ``jbu_one``) in plain PyTorch.

FeatUp (Fu et al., ICLR 2024) upsamples low-resolution features guided by the image with a joint bilateral
filter whose range kernel is learned; SimFeatUp (used by SegEarth-OV, Sec. 3.2) keeps that module and
applies ONE shared x2 stage four times (``jbu_one``, radius 5) instead of four separate stages (FeatUp's
``jbu_stack``, radius 3). One x2 stage, for every high-resolution pixel ``p`` and neighbour offset ``q``:

    k_range(p, q)   = softmax_q( exp(t) * <f(g)_p, f(g)_{p+q}> )      f: 1x1 conv MLP of the guidance g
    k_spatial(q)    = exp(-|q|^2 / (2 sigma^2))                        q on a [-1, 1]^2 grid
    k(p, q)         = k_range k_spatial / sum_q k_range k_spatial + 0.1 * fixup([k, g])_p
    out(p)          = sum_q k(p, q) * bicubic_up(source)(p + q)       (reflect padding)

The official code computes the last sum with a custom CUDA op ("adaptive conv"); :func:`adaptive_conv`
does the same with shifted views, so memory stays at one feature map whatever the kernel size.
The module and parameter names match the official checkpoints, which load with ``strict=True``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import InputError
from .loading import load_strict

UpsamplerKind = Literal["jbu_one", "jbu_stack"]


def _neighbours(padded: Tensor, diameter: int) -> Iterator[tuple[int, Tensor]]:
    """Shifted views of a padded map ``(B, C, h + d - 1, w + d - 1)``: offset index ``i * d + j`` and the
    ``(B, C, h, w)`` view starting at row ``i``, column ``j`` (the order of ``unfold``)."""
    height = padded.shape[-2] - diameter + 1
    width = padded.shape[-1] - diameter + 1
    for i in range(diameter):
        for j in range(diameter):
            yield i * diameter + j, padded[:, :, i:i + height, j:j + width]


def adaptive_conv(padded: Tensor, kernels: Tensor) -> Tensor:
    """Per-pixel convolution: ``out[b, c, y, x] = sum_ij kernels[b, y, x, i, j] padded[b, c, y + i, x + j]``.

    ``padded`` is ``(B, C, H + d - 1, W + d - 1)``, ``kernels`` ``(B, H, W, d, d)``; the result is
    ``(B, C, H, W)``. Equivalent to FeatUp's CUDA ``AdaptiveConv`` forward and to
    ``einsum('bhwf,bcfhw->bchw', kernels, unfold(padded))`` without materialising the unfolded tensor.
    """
    batch, height, width, diameter, _ = kernels.shape
    flat = kernels.reshape(batch, height, width, diameter * diameter).permute(0, 3, 1, 2).to(padded.dtype)
    out = padded.new_zeros(batch, padded.shape[1], height, width)
    for index, view in _neighbours(padded, diameter):
        out.addcmul_(view, flat[:, index:index + 1])
    return out


class JBULearnedRange(nn.Module):
    """One x2 joint bilateral upsampling stage with a learned range kernel (FeatUp's ``JBULearnedRange``)."""

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

    def range_kernel(self, guidance: Tensor) -> Tensor:
        """Softmax over the ``d*d`` neighbours of the scaled key similarities, ``(B, d*d, H, W)``."""
        keys = self.range_proj(guidance)
        padded = F.pad(keys, [self.radius] * 4, mode="reflect")
        logits = torch.stack([(view * keys).sum(1) for _, view in _neighbours(padded, self.diameter)], dim=1)
        temperature = self.range_temp.exp().clamp(1e-4, 1e4)
        return F.softmax(temperature * logits, dim=1)

    def spatial_kernel(self) -> Tensor:
        """Gaussian of the offsets on a ``[-1, 1]`` grid with the learned sigma, ``(1, d*d, 1, 1)``."""
        sigma = self.sigma_spatial
        steps = torch.linspace(-1, 1, self.diameter, device=sigma.device, dtype=sigma.dtype)
        squared = steps[:, None] ** 2 + steps[None, :] ** 2
        return torch.exp(-squared / (2 * sigma**2)).reshape(1, -1, 1, 1)

    def kernels(self, guidance: Tensor) -> Tensor:
        """The combined per-pixel kernels ``(B, H, W, d, d)`` at the guidance's resolution."""
        combined = self.range_kernel(guidance) * self.spatial_kernel()
        combined = combined / combined.sum(1, keepdim=True).clamp(1e-7)
        combined = combined + 0.1 * self.fixup_proj(torch.cat([combined, guidance], dim=1))
        batch, _, height, width = guidance.shape
        return combined.permute(0, 2, 3, 1).reshape(batch, height, width, self.diameter, self.diameter)

    def forward(self, source: Tensor, guidance: Tensor) -> Tensor:
        """Upsample ``source`` ``(B, C, h, w)`` to the guidance's size ``(H, W)`` (``H, W > radius``)."""
        height, width = guidance.shape[-2:]
        if min(height, width) <= self.radius:
            raise InputError(f"feature map too small for the JBU upsampler: guidance {height}x{width}, "
                             f"needs more than {self.radius} pixels a side")
        upsampled = F.interpolate(source, (height, width), mode="bicubic", align_corners=False)
        padded = F.pad(upsampled, [self.radius] * 4, mode="reflect")
        return adaptive_conv(padded, self.kernels(guidance))


class _JBUCascade(nn.Module):
    """Four x2 stages (x16 in all), each guided by the image average-pooled to its output size, then a
    residual 1x1 ``fixup_proj`` (``out = s16 + 0.1 * fixup(s16)``), as in FeatUp/SimFeatUp.

    ``stage_names`` lists the attribute of each x2 stage in order (a name may repeat: shared weights).
    """

    stage_names: tuple[str, ...] = ()

    def __init__(self, feat_dim: int) -> None:
        super().__init__()
        self.fixup_proj = nn.Sequential(nn.Dropout2d(0.2), nn.Conv2d(feat_dim, feat_dim, 1))

    def forward(self, source: Tensor, guidance: Tensor) -> Tensor:
        """``(B, C, h, w)`` features and a ``(B, 3, H, W)`` normalised image -> ``(B, C, 16 h, 16 w)``."""
        if source.ndim != 4 or guidance.ndim != 4 or source.shape[0] != guidance.shape[0]:
            raise InputError(f"upsampler expects features (B, C, h, w) and an image (B, 3, H, W), got "
                             f"{tuple(source.shape)} and {tuple(guidance.shape)}")
        x = source
        for name in self.stage_names:
            height, width = x.shape[-2:]
            x = getattr(self, name)(x, F.adaptive_avg_pool2d(guidance, (2 * height, 2 * width)))
        return x + 0.1 * self.fixup_proj(x)


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
