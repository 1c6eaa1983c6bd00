"""The open_clip CLIP ViT wrapper: per-block tokens and attention maps, a replaceable last block, any grid.

Both method families read more out of CLIP's image tower than its pooled embedding:

- SDCI runs blocks ``0..L-2`` normally, sums their per-head softmax attention maps and feeds every block's
  input ("level") through the last block's value path with its own fused attention;
- SegEarth-OV (and AlignCLIP on top of it) replaces the last block by
  ``softmax(q q^T s) + softmax(k k^T s) + softmax(v v^T s)`` applied to ``v``, with no residual and no MLP.

:meth:`ClipBackbone.encode_image_layers` therefore returns the input of every block, the softmax attention of
every block that ran normally (per head) and the output of the last block, which a caller may replace by a
``last_block`` function built from :func:`qkv_heads` and :func:`merge_heads_and_project`.
:meth:`ClipBackbone.project` maps tokens into the joint image-text space (``ln_post`` then ``proj``) for dense
prediction. Images of any size that is a multiple of the patch size are accepted: the position embeddings are
resized the way the reference code of each method does it (:data:`POS_EMBED_RESIZES`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import open_clip
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import InputError
from .loading import load_strict

ARCHITECTURES: tuple[str, ...] = ("ViT-B-16", "ViT-L-14")


@dataclass(frozen=True)
class PosEmbedResize:
    """How the learned position-embedding grid is resized to another token grid.

    ``scale_offset`` ``None`` resizes straight to the target grid (``size=``); a number resizes with DINO's
    ``scale_factor = (g + offset) / g0``, which torch also uses to map output to input coordinates, so the
    result differs slightly from a resize by size. The native grid is never resized. ``round_fp16`` rounds
    the whole table (CLS row included) to float16 after resizing, on every device, as SDCI's official
    ``upsample_pos_emb(...).half()`` does.
    """

    mode: str
    scale_offset: float | None
    round_fp16: bool = False


POS_EMBED_RESIZES: dict[str, PosEmbedResize] = {
    # SegEarth-OV (VisionTransformer.interpolate_pos_encoding): bicubic, scale_factor (g + 0.1) / g0.
    # The default, used by SegEarth-OV and AlignCLIP.
    "bicubic": PosEmbedResize("bicubic", 0.1),
    # Bilinear to the target size, align_corners=False.
    "bilinear": PosEmbedResize("bilinear", None),
    # SDCI (CLIP.upsample_pos_emb): bilinear as above, then .half() before it is added to the tokens.
    "bilinear_fp16": PosEmbedResize("bilinear", None, round_fp16=True),
}


@dataclass(frozen=True)
class ClipVisionOutput:
    """What :meth:`ClipBackbone.encode_image_layers` returns.

    ``block_inputs[i]`` is the input ``(B, 1+N, C)`` of block ``i`` (entry 0 is the output of ``ln_pre``);
    ``attentions`` holds the softmax attention ``(B, heads, 1+N, 1+N)`` of every block that ran normally,
    per head, in block order (empty when not asked for); ``last`` ``(B, 1+N, C)`` is the output of the last
    block or of its replacement; ``grid`` is the patch grid ``(gh, gw)``. Token 0 is CLS, then the patches
    row by row.
    """

    block_inputs: list[Tensor]
    attentions: list[Tensor]
    last: Tensor
    grid: tuple[int, int]


@dataclass(frozen=True)
class LastBlockContext:
    """What a replacement of the last block receives.

    ``block`` is the last ``ResidualAttentionBlock`` (its ``ln_1``, ``attn`` weights, ``ln_2``, ``mlp``),
    ``x`` its input ``(B, 1+N, C)``; ``block_inputs`` and ``attentions`` are the lists of
    :class:`ClipVisionOutput` so far (``x`` is ``block_inputs[-1]``).
    """

    block: nn.Module
    x: Tensor
    block_inputs: list[Tensor]
    attentions: list[Tensor]
    grid: tuple[int, int]


LastBlock = Callable[[LastBlockContext], Tensor]


def qkv_heads(block: nn.Module, x_normed: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Queries, keys and values ``(B, heads, T, head_dim)`` of ``block``'s attention for ``ln_1``-ed tokens.

    ``q = x W_q^T + b_q`` (likewise k, v) from the block's packed ``in_proj`` weights, unscaled: the attention
    scale is ``head_dim ** -0.5``.
    """
    attn = block.attn
    batch, tokens, _ = x_normed.shape
    packed = F.linear(x_normed, attn.in_proj_weight, attn.in_proj_bias)
    packed = packed.view(batch, tokens, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
    return packed[0], packed[1], packed[2]


def merge_heads_and_project(block: nn.Module, out: Tensor) -> Tensor:
    """Concatenate the heads of ``out`` ``(B, heads, T, head_dim)`` and apply the block's ``out_proj``."""
    batch, heads, tokens, head_dim = out.shape
    merged = out.transpose(1, 2).reshape(batch, tokens, heads * head_dim)
    return block.attn.out_proj(merged)


def attention_probs(q: Tensor, k: Tensor, dtype: torch.dtype | None = None) -> Tensor:
    """``softmax(q k^T / sqrt(head_dim))`` over the keys, computed in fp32, returned in ``dtype`` (default:
    ``q``'s)."""
    scores = torch.matmul(q * q.shape[-1] ** -0.5, k.transpose(-2, -1))
    return torch.softmax(scores, dim=-1, dtype=torch.float32).to(dtype or q.dtype)


def block_with_attention(block: nn.Module, x: Tensor, probs_dtype: torch.dtype | None = None) -> tuple[Tensor, Tensor]:
    """One ``ResidualAttentionBlock`` forward with its per-head softmax attention exposed.

    Same computation as the block's own forward (pre-norm attention, layer scale, residual, pre-norm MLP),
    only with the attention matrix materialised. The map is returned in ``probs_dtype`` (default: the
    block's dtype); asking for float32 returns the softmax as computed, before its cast for the product.
    """
    q, k, v = qkv_heads(block, block.ln_1(x))
    probs = attention_probs(q, k, probs_dtype)
    x = x + block.ls_1(merge_heads_and_project(block, torch.matmul(probs.to(v.dtype), v)))
    x = x + block.ls_2(block.mlp(block.ln_2(x)))
    return x, probs


def block_fused(block: nn.Module, x: Tensor) -> Tensor:
    """One ``ResidualAttentionBlock`` forward with fused attention (``scaled_dot_product_attention``: no
    attention matrix is kept); the same computation as the block's own forward up to rounding, faster on
    CPUs and GPUs alike where the attention maps are not needed."""
    q, k, v = qkv_heads(block, block.ln_1(x))
    x = x + block.ls_1(merge_heads_and_project(block, F.scaled_dot_product_attention(q, k, v)))
    return x + block.ls_2(block.mlp(block.ln_2(x)))


class InPlaceQuickGELU(nn.Module):
    """open_clip's ``QuickGELU`` (``x * sigmoid(1.702 x)``, the same arithmetic, bit for bit) that reuses its
    input and one temporary instead of allocating three tensors of the MLP's width; inference only."""

    def forward(self, x: Tensor) -> Tensor:
        """``x * sigmoid(1.702 x)``, written into ``x``."""
        return x.mul_(torch.mul(x, 1.702).sigmoid_())


class ClipBackbone(nn.Module):
    """An open_clip CLIP model (OpenAI layout, QuickGELU) with the dense-prediction access both methods need.

    Attributes: ``arch``, ``patch_size``, ``width`` (token width C), ``embed_dim`` (joint space D),
    ``num_layers``, ``heads``, ``mean``/``std`` (OpenAI CLIP normalisation in 0..1 units), ``tokenizer``
    (open_clip's, 77 tokens) and ``context_length``.
    """

    def __init__(self, model: nn.Module, arch: str) -> None:
        super().__init__()
        visual = model.visual
        if visual.attn_pool is not None or not visual.transformer.batch_first:
            raise ValueError(f"unsupported open_clip vision tower for {arch}")
        self.model = model
        self.arch = arch
        self.patch_size: int = visual.patch_size[0]
        self.width: int = visual.transformer.width
        self.embed_dim: int = visual.output_dim
        self.num_layers: int = len(visual.transformer.resblocks)
        self.heads: int = visual.transformer.resblocks[0].attn.num_heads
        self.mean: tuple[float, float, float] = tuple(open_clip.OPENAI_DATASET_MEAN)
        self.std: tuple[float, float, float] = tuple(open_clip.OPENAI_DATASET_STD)
        self.tokenizer = open_clip.get_tokenizer(arch)
        self.context_length: int = model.context_length
        self._pos_cache: dict[tuple[tuple[int, int], str, torch.dtype, torch.device], Tensor] = {}
        for module in model.modules():
            if isinstance(getattr(module, "gelu", None), open_clip.transformer.QuickGELU):
                module.gelu = InPlaceQuickGELU()

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the weights (the compute dtype after :meth:`engine.device.Runtime.prepare`)."""
        return self.model.visual.conv1.weight.dtype

    @property
    def device(self) -> torch.device:
        """The device the weights are on."""
        return self.model.visual.conv1.weight.device

    @property
    def blocks(self) -> nn.ModuleList:
        """The image tower's residual attention blocks."""
        return self.model.visual.transformer.resblocks

    def pos_embed(self, grid: tuple[int, int], resize: str = "bicubic") -> Tensor:
        """Position embeddings ``(1 + gh*gw, C)`` for a patch grid, resized per :data:`POS_EMBED_RESIZES`.

        Computed in fp32 from the stored embeddings, cast to the weights' dtype and cached per grid, resize,
        dtype and device.
        """
        rule = _pos_resize_rule(resize)
        key = (grid, resize, self.dtype, self.device)
        cached = self._pos_cache.get(key)
        if cached is not None:
            return cached
        table = self.model.visual.positional_embedding.detach().float()
        native = math.isqrt(table.shape[0] - 1)
        if grid != (native, native):
            patches = table[1:].reshape(1, native, native, -1).permute(0, 3, 1, 2)
            if rule.scale_offset is None:
                patches = F.interpolate(patches, size=grid, mode=rule.mode, align_corners=False)
            else:
                scale = tuple((side + rule.scale_offset) / native for side in grid)
                patches = F.interpolate(patches, scale_factor=scale, mode=rule.mode, align_corners=False)
            table = torch.cat([table[:1], patches.flatten(2).transpose(1, 2)[0]], dim=0)
        if rule.round_fp16:
            table = table.half().float()
        table = table.to(self.dtype)
        self._pos_cache[key] = table
        return table

    def embed(self, images: Tensor, resize: str = "bicubic") -> tuple[Tensor, tuple[int, int]]:
        """Patch embedding, CLS and position embeddings, then ``ln_pre``: block 0's input ``(B, 1+N, C)``."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise InputError(f"CLIP expects images shaped (B, 3, H, W), got {tuple(images.shape)}")
        height, width = images.shape[-2:]
        if height % self.patch_size or width % self.patch_size or not height or not width:
            raise InputError(
                f"image size {height}x{width} is not a multiple of the CLIP patch size {self.patch_size}"
            )
        visual = self.model.visual
        x = visual.conv1(images.to(device=self.device, dtype=self.dtype))
        grid = (x.shape[-2], x.shape[-1])
        x = x.flatten(2).transpose(1, 2)
        cls = visual.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.pos_embed(grid, resize)
        return visual.ln_pre(x), grid

    @torch.no_grad()
    def encode_image_layers(
        self,
        images: Tensor,
        last_block: LastBlock | None = None,
        need_attention: bool = True,
        pos_resize: str = "bicubic",
    ) -> ClipVisionOutput:
        """Run the image tower on normalised ``images`` ``(B, 3, H, W)``, H and W multiples of the patch size.

        Blocks ``0..L-2`` run normally; the last block runs normally too unless ``last_block`` is given, in
        which case ``last_block(LastBlockContext(...))`` supplies ``last`` instead. With ``need_attention``
        the per-head softmax attention of every normally run block is returned (the block outputs are
        unchanged: the same computation with the attention matrix materialised); without, the blocks use
        fused attention (:func:`block_fused`). ``pos_resize`` names the
        position embedding resize (:data:`POS_EMBED_RESIZES`): ``"bicubic"`` for SegEarth-OV/AlignCLIP,
        ``"bilinear"`` for SDCI.
        """
        x, grid = self.embed(images, pos_resize)
        block_inputs: list[Tensor] = []
        attentions: list[Tensor] = []
        blocks = list(self.blocks)
        for index, block in enumerate(blocks):
            block_inputs.append(x)
            if index == len(blocks) - 1 and last_block is not None:
                x = last_block(LastBlockContext(block, x, block_inputs, attentions, grid))
            elif need_attention:
                x, probs = block_with_attention(block, x)
                attentions.append(probs)
            else:
                x = block_fused(block, x)
        return ClipVisionOutput(block_inputs, attentions, x, grid)

    @torch.no_grad()
    def project(self, tokens: Tensor) -> Tensor:
        """``ln_post`` then ``proj`` on every token: ``(..., C)`` -> ``(..., D)`` (dense features)."""
        visual = self.model.visual
        return visual.ln_post(tokens) @ visual.proj

    @torch.no_grad()
    def encode_text(self, token_ids: Tensor) -> Tensor:
        """Text embeddings ``(N, D)`` (not normalised) of token ids ``(N, L)``, ``L <= context_length``.

        ``L`` may be shorter than the context: the position embeddings and the causal mask are sliced to
        ``L``, and the end-of-text token is found by ``argmax`` as CLIP does. Because of the causal mask the
        tokens up to end-of-text never see the padding, so cutting it off leaves the result unchanged.
        """
        length = token_ids.shape[1]
        if length > self.context_length:
            raise InputError(f"text is {length} tokens long; CLIP reads at most {self.context_length}")
        model = self.model
        token_ids = token_ids.to(self.device)
        x = model.token_embedding(token_ids).to(self.dtype)
        x = x + model.positional_embedding[:length].to(self.dtype)
        x = model.transformer(x, attn_mask=model.attn_mask[:length, :length])
        x = model.ln_final(x)
        x = x[torch.arange(x.shape[0], device=x.device), token_ids.argmax(dim=-1)]
        return x @ model.text_projection


def build_clip(arch: str, state_dict: Mapping[str, Tensor] | None = None, seed: int = 0) -> ClipBackbone:
    """A :class:`ClipBackbone` for ``arch`` (``ViT-B-16`` or ``ViT-L-14``), fp32 on the CPU.

    The model is open_clip's ``create_model(arch, pretrained=None, force_quick_gelu=True)`` (OpenAI's weights
    were trained with QuickGELU). ``state_dict`` in open_clip's CLIP layout is loaded strictly; ``None`` keeps
    the random initialisation drawn under ``seed`` (the global random state is left untouched).
    """
    if arch not in ARCHITECTURES:
        raise InputError(f"unknown CLIP architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    with torch.random.fork_rng(devices=[]), _quiet_random_init_warning():
        torch.manual_seed(seed)
        model = open_clip.create_model(arch, pretrained=None, force_quick_gelu=True)
    if state_dict is not None:
        load_strict(model, state_dict, f"CLIP {arch}")
    return ClipBackbone(model.eval(), arch)


def _pos_resize_rule(name: str) -> PosEmbedResize:
    """The :class:`PosEmbedResize` registered as ``name``; :class:`InputError` otherwise."""
    try:
        return POS_EMBED_RESIZES[name]
    except KeyError:
        known = ", ".join(POS_EMBED_RESIZES)
        raise InputError(f"unknown position-embedding resize {name!r}; known: {known}") from None


class _DropMessage(logging.Filter):
    """Drops log records whose message starts with a given prefix."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record except the ones starting with the prefix."""
        return not str(record.msg).startswith(self.prefix)


@contextmanager
def _quiet_random_init_warning() -> Iterator[None]:
    """Silence open_clip's "No pretrained weights loaded" warning: our weights are loaded afterwards."""
    log_filter = _DropMessage("No pretrained weights loaded")
    root = logging.getLogger()
    root.addFilter(log_filter)
    try:
        yield
    finally:
        root.removeFilter(log_filter)
