"""Vision foundation models (DINO, DINOv2 with registers, SAM's image encoder) over timm.

Both papers pair CLIP with a vision foundation model (VFM) whose features carry the spatial structure CLIP
lacks. SDCI (Eq. 7) uses the per-layer DINO/DINOv2 features, each passed through the model's final norm,
and the last layer's self-attention, recomputed as ``softmax(q k^T * scale)``. AlignCLIP uses DINO or SAM
features for its clustering and affinities (Sec. 3.3).

What the wrapper returns (:class:`VFMOutput`):

- ViTs (DINO, DINOv2): ``layers[i]`` are block ``i``'s patch tokens after the final norm; ``prefix`` holds
  the CLS and register tokens of every block (also after the final norm) separately; ``features`` is the
  last entry of ``layers`` (equal to timm's ``forward_features`` without the prefix tokens); ``attention``
  is the last block's softmax attention over all tokens (prefix first).
- SAM: the encoder has no final norm, no CLS token and a convolutional neck to 256 channels. ``layers[i]``
  are block ``i``'s raw tokens (768-d, nothing applied); ``features`` is the neck's output (256-d), the
  encoder's real output (timm's ``forward_features``); ``attention`` is the last block's global attention,
  including SAM's decomposed relative-position bias (``softmax(q k^T * scale + B_rel)``); blocks 2, 5, 8
  and 11 attend globally, the others within 14x14 windows.

Inputs of any multiple of the patch size are accepted: the absolute position embeddings are resampled
bicubically from the checkpoint's grid (timm's ``dynamic_img_size``; DINO and DINOv2 do the same), and
SAM's relative positions are resampled linearly as in timm and SAM.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from ..errors import InputError
from .loading import load_strict

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class VFMConfig:
    """One vision foundation model: the timm architecture and what the wrapper needs to know about it.

    ``native_size`` is the side the checkpoint's position embeddings are stored at (the model is built at
    it so real checkpoints load strictly); ``default_input_size`` is the side methods feed by default.
    ``mean``/``std`` are in 0..1 units (SAM's 0..255 ImageNet statistics are the same numbers x255).
    """

    name: str
    timm_name: str
    family: Literal["vit", "sam"]
    patch_size: int
    embed_dim: int
    out_dim: int
    num_heads: int
    native_size: int
    default_input_size: int
    has_cls: bool
    num_registers: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    @property
    def num_prefix_tokens(self) -> int:
        """CLS plus register tokens in front of the patch tokens."""
        return int(self.has_cls) + self.num_registers


VFM_CONFIGS: dict[str, VFMConfig] = {
    config.name: config
    for config in (
        # DINO v1 (Caron et al. 2021); SDCI's v1 variant feeds 384x384 (48x48 patches).
        VFMConfig("dino_vitb8", "vit_base_patch8_224", "vit", 8, 768, 768, 12, 224, 384, True, 0),
        VFMConfig("dino_vits8", "vit_small_patch8_224", "vit", 8, 384, 384, 6, 224, 384, True, 0),
        # DINOv2 with 4 registers; SDCI's official code feeds 532x532 (38x38 patches).
        VFMConfig("dinov2_vitb14_reg", "vit_base_patch14_reg4_dinov2", "vit", 14, 768, 768, 12, 518, 532,
                  True, 4),
        # SAM ViT-B image encoder: native 1024 (64x64 patches). Measured forward_layers on 2 CPU threads:
        # 224 px 0.3 s, 512 px 1.8 s, 1024 px 23 s (plus a 0.8 GB attention map), so 512 is the default.
        VFMConfig("sam_vitb", "samvit_base_patch16", "sam", 16, 768, 256, 12, 1024, 512, False, 0),
    )
}


@dataclass(frozen=True)
class PrefixTokens:
    """Per-block prefix tokens after the final norm: CLS ``(B, C)`` and registers ``(B, R, C)``, or None."""

    cls: list[Tensor] | None
    registers: list[Tensor] | None


@dataclass(frozen=True)
class VFMOutput:
    """What :meth:`VisionFoundationModel.forward_layers` returns (see the module docstring per family).

    ``layers``: per block, patch tokens ``(B, N, C)``; ``features``: the final patch features ``(B, N, D)``;
    ``prefix``: per-block CLS/register tokens; ``attention``: the last block's softmax attention
    ``(B, heads, T, T)`` in float32, prefix tokens first; ``grid``: ``(gh, gw)`` with ``N = gh * gw``.
    """

    layers: list[Tensor]
    features: Tensor
    prefix: PrefixTokens
    attention: Tensor
    grid: tuple[int, int]
    num_prefix: int

    def patch_attention(self) -> Tensor:
        """The last block's attention among patch tokens only, ``(B, heads, N, N)`` (``[P:, P:]``)."""
        return self.attention[:, :, self.num_prefix:, self.num_prefix:]

    def mean_attention(self, patch_only: bool = False) -> Tensor:
        """The last block's attention averaged over heads, ``(B, T, T)`` or ``(B, N, N)`` if patch_only."""
        attention = self.patch_attention() if patch_only else self.attention
        return attention.mean(dim=1)


def softmax_attention(q: Tensor, k: Tensor, scale: float, bias: Tensor | None = None) -> Tensor:
    """``softmax(q k^T * scale + bias)`` over keys, in float32 (SDCI recomputes the last block's map so)."""
    logits = (q.float() * scale) @ k.float().transpose(-2, -1)
    if bias is not None:
        logits = logits + bias.float()
    return logits.softmax(dim=-1)


def _qk(attn: nn.Module, tokens: Tensor) -> tuple[Tensor, Tensor]:
    """Queries and keys ``(B, heads, T, head_dim)`` of a timm attention module for normed ``tokens``."""
    batch, count, _ = tokens.shape
    qkv = attn.qkv(tokens).reshape(batch, count, 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4)
    q, k, _ = qkv.unbind(0)
    return attn.q_norm(q), attn.k_norm(k)


def _forward_vit(model: nn.Module, images: Tensor, config: VFMConfig) -> VFMOutput:
    """Run a timm ``VisionTransformer`` block by block (its own modules, so the result equals its forward)."""
    x = model.patch_embed(images)
    grid = (x.shape[1], x.shape[2])
    x = model.norm_pre(model.patch_drop(model._pos_embed(x)))
    normed = []
    last_input = x
    for block in model.blocks:
        last_input = x
        x = block(x)
        normed.append(model.norm(x))
    last = model.blocks[-1]
    q, k = _qk(last.attn, last.norm1(last_input))
    attention = softmax_attention(q, k, last.attn.scale)
    n_prefix = config.num_prefix_tokens
    cls_start = 0 if config.has_cls else None
    reg_start = int(config.has_cls)
    prefix = PrefixTokens(
        cls=[tokens[:, cls_start] for tokens in normed] if cls_start is not None else None,
        registers=[tokens[:, reg_start:n_prefix] for tokens in normed] if config.num_registers else None,
    )
    layers = [tokens[:, n_prefix:] for tokens in normed]
    return VFMOutput(layers, layers[-1], prefix, attention, grid, n_prefix)


def _forward_sam(model: nn.Module, images: Tensor, config: VFMConfig) -> VFMOutput:
    """Run timm's SAM encoder block by block; the neck gives the features, the last block the attention."""
    from timm.layers import resample_abs_pos_embed_nhwc
    from timm.models.vision_transformer_sam import get_decomposed_rel_pos_bias

    x = model.patch_embed(images)
    batch, gh, gw, channels = x.shape
    if model.pos_embed is not None:
        x = x + resample_abs_pos_embed_nhwc(model.pos_embed, [gh, gw])
    x = model.norm_pre(model.patch_drop(model.pos_drop(x)))
    layers = []
    last_input = x
    for block in model.blocks:
        last_input = x
        x = block(x)
        layers.append(x.reshape(batch, gh * gw, channels))
    features = model.neck(x.permute(0, 3, 1, 2)).flatten(2).transpose(1, 2)

    last = model.blocks[-1]
    if last.window_size:
        raise RuntimeError(f"{config.name}: the last block attends within windows, not globally")
    q, k = _qk(last.attn, last.norm1(last_input).reshape(batch, gh * gw, channels))
    bias = None
    if last.attn.use_rel_pos:
        heads = last.attn.num_heads
        flat_q = q.reshape(batch * heads, gh * gw, -1)
        rel_h, rel_w = last.attn.rel_pos_h, last.attn.rel_pos_w
        bias = get_decomposed_rel_pos_bias(flat_q, rel_h, rel_w, (gh, gw), (gh, gw))
        bias = bias.reshape(batch, heads, gh * gw, gh * gw)
    attention = softmax_attention(q, k, last.attn.scale, bias)
    return VFMOutput(layers, features, PrefixTokens(None, None), attention, (gh, gw), 0)


_FORWARDS: dict[str, Callable[[nn.Module, Tensor, VFMConfig], VFMOutput]] = {
    "vit": _forward_vit,
    "sam": _forward_sam,
}


class VisionFoundationModel(nn.Module):
    """A timm VFM with the per-layer features and last-layer attention that SDCI and AlignCLIP need.

    Images enter as ``(B, 3, H, W)`` normalised with :attr:`mean`/:attr:`std` (0..1 units), ``H`` and ``W``
    multiples of the patch size; resizing is the caller's business.
    """

    def __init__(self, config: VFMConfig, model: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.model = model

    @property
    def mean(self) -> tuple[float, float, float]:
        """Normalisation mean in 0..1 units."""
        return self.config.mean

    @property
    def std(self) -> tuple[float, float, float]:
        """Normalisation standard deviation in 0..1 units."""
        return self.config.std

    @property
    def patch_size(self) -> int:
        """Side of one patch in pixels."""
        return self.config.patch_size

    def forward_layers(self, images: Tensor) -> VFMOutput:
        """Per-block features, prefix tokens, the last block's attention and the final features."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise InputError(f"{self.config.name} expects images (B, 3, H, W), got {tuple(images.shape)}")
        height, width = images.shape[-2:]
        patch = self.config.patch_size
        if height % patch or width % patch or height < patch or width < patch:
            raise InputError(f"{self.config.name} needs a size that is a multiple of {patch} pixels, "
                             f"got {height}x{width}")
        return _FORWARDS[self.config.family](self.model, images, self.config)

    def forward(self, images: Tensor) -> Tensor:
        """The final patch features ``(B, N, D)`` (see :class:`VFMOutput`)."""
        return self.forward_layers(images).features


def _timm_kwargs(config: VFMConfig, img_size: int) -> dict[str, object]:
    """timm construction arguments: no classifier head, the checkpoint's grid, dynamic sizes for ViTs."""
    kwargs: dict[str, object] = {"pretrained": False, "num_classes": 0, "img_size": img_size}
    if config.family == "vit":
        kwargs["dynamic_img_size"] = True
    return kwargs


def build_vfm(
    name: str,
    state_dict: Mapping[str, Tensor] | None = None,
    seed: int = 0,
    img_size: int | None = None,
) -> VisionFoundationModel:
    """Build a frozen VFM (eval mode, no gradients) from ``state_dict`` (timm layout, loaded strictly) or
    from seeded random weights.

    ``img_size`` is the side the model is built at (its position-embedding grid); it defaults to the
    checkpoint's native size, which real checkpoints need. Any multiple of the patch size can be fed later.
    Random initialisation uses a forked RNG, so the global torch RNG is left untouched.
    """
    import timm

    config = VFM_CONFIGS.get(name)
    if config is None:
        raise InputError(f"unknown vision foundation model {name!r}; known: {', '.join(VFM_CONFIGS)}")
    size = img_size or config.native_size
    if size % config.patch_size:
        raise InputError(f"{name}: img_size {size} is not a multiple of the patch size {config.patch_size}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = timm.create_model(config.timm_name, **_timm_kwargs(config, size))
    if state_dict is not None:
        load_strict(model, state_dict, name)
    return VisionFoundationModel(config, model).eval().requires_grad_(False)
