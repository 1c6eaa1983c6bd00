"""SDCI's CAF stage (Eqs. 1-9) as separate functions, each computing what the official code computes.

Every function has plain tensor inputs and outputs, so each stage can be compared with the official
implementation (``yu-ni1989/SDCI``: ``modified_clip/model.py``, ``modified_clip/dinov2.py``) on shared
weights. The order of the stages, as :class:`engine.methods.sdci.SdciMethod` runs them:

1. input geometry: :func:`scaled_size`, :func:`clip_pixels`, :func:`vfm_pixels`;
2. semantic branch (Eqs. 1-6): :func:`clip_levels` (the 24 levels and the summed attention of blocks
   ``0..L-2``), :func:`fused_level_tokens` (each level through the last block's value path with the fused
   attention of :func:`process_attention_`), then ``ClipBackbone.project``;
3. structural branch (Eq. 7): the VFM's per-layer normalised patch tokens and last-layer attention
   (:class:`engine.backbones.vfm.VFMOutput`);
4. text: :func:`text_bank`, :func:`class_probabilities`;
5. cross fusion (Eqs. 8-9): :func:`align_attention`, :func:`threshold_last`, :func:`cross_fuse`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..backbones.clip import block_with_attention, merge_heads_and_project

if TYPE_CHECKING:
    from ..backbones.clip import ClipBackbone


def scaled_size(height: int, width: int, short_side: int, patch: int) -> tuple[int, int]:
    """The official ``CLIP._resize`` rule: scale the short side to ``short_side``, round each side to the
    nearest multiple of ``patch`` (``int(x / patch + 0.5) * patch``). 512x512 -> 518x518 for CLIP ViT-L/14,
    -> 532x532 with ``short_side=532`` for DINOv2 ViT-B/14 and 384x384 with 384 for DINO ViT-B/8."""
    ratio = short_side / min(height, width)
    return (
        max(1, int(height * ratio / patch + 0.5)) * patch,
        max(1, int(width * ratio / patch + 0.5)) * patch,
    )


def _normalise(pixels: Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """``(x - mean) / std`` per channel of ``(B, 3, H, W)`` pixels in 0..1."""
    m = torch.tensor(mean, dtype=pixels.dtype).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=pixels.dtype).view(1, 3, 1, 1)
    return (pixels - m) / s


def clip_pixels(rgb: np.ndarray, size: tuple[int, int], mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """CLIP's input ``(1, 3, h, w)`` float32 from an ``(H, W, 3)`` uint8 tile, as the official preprocess:
    PIL bicubic resize of the 8-bit image to ``size`` (PIL's kernel, result rounded to 8 bits), ``/255``,
    CLIP mean/std."""
    from PIL import Image

    height, width = size
    resized = np.asarray(Image.fromarray(rgb).resize((width, height), Image.BICUBIC))
    pixels = torch.from_numpy(resized.copy()).permute(2, 0, 1)[None].float() / 255.0
    return _normalise(pixels, mean, std)


def vfm_pixels(rgb: np.ndarray, size: tuple[int, int], mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """The VFM's input ``(1, 3, h, w)`` float32 from an ``(H, W, 3)`` uint8 tile, as the official
    ``DinoV2Model``/``DinoModel``: ``/255``, ImageNet mean/std, THEN torch bicubic resize
    (``align_corners=False``, no antialiasing) when the size differs."""
    pixels = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255.0
    pixels = _normalise(pixels, mean, std)
    if tuple(pixels.shape[-2:]) != tuple(size):
        pixels = F.interpolate(pixels, size=size, mode="bicubic", align_corners=False)
    return pixels


@dataclass(frozen=True)
class ClipLevels:
    """The semantic branch's inputs to the last block.

    ``levels`` ``(B, L, 1+N, C)``: per image, level ``i < L-1`` is block ``i``'s ``ln_1`` output (the
    official code collects ``ln_1(x)`` of blocks ``0..L-2``), level ``L-1`` is the raw input of the last
    block; ``attention_sum`` ``(B, heads, 1+N, 1+N)``: the per-head softmax attention of blocks ``0..L-2``
    summed (Eq. 4 without the ``1/(N-1)``, which the normalisations below cancel); ``grid`` the patch grid.
    """

    levels: Tensor
    attention_sum: Tensor
    grid: tuple[int, int]


@torch.no_grad()
def clip_levels(
    backbone: ClipBackbone, pixels: Tensor, attention_dtype: torch.dtype, pos_embed_fp16: bool = True
) -> ClipLevels:
    """Run CLIP's blocks ``0..L-2`` normally (Eqs. 1-3) on normalised ``pixels`` ``(B, 3, H, W)`` (one pass for
    the batch) and collect the levels and the summed attention (accumulated in ``attention_dtype``, one map
    at a time).

    Position embeddings are resized bilinearly to the grid and, with ``pos_embed_fp16``, rounded to float16,
    as the official ``upsample_pos_emb(...).half()``.
    """
    x, grid = backbone.embed(pixels, "bilinear_fp16" if pos_embed_fp16 else "bilinear")
    blocks = list(backbone.blocks)
    levels: list[Tensor] = []
    attention_sum: Tensor | None = None
    for block in blocks[:-1]:
        levels.append(block.ln_1(x))
        x, probs = block_with_attention(block, x, attention_dtype)
        if attention_sum is None:
            attention_sum = probs
        else:
            attention_sum.add_(probs)
    levels.append(x)
    assert attention_sum is not None
    return ClipLevels(torch.stack(levels, dim=1), attention_sum, grid)


def sinkhorn_step_(state: Tensor, batch_dims: int = 0) -> Tensor:
    """One Sinkhorn iteration IN PLACE: divide ``state`` by its column sums, then by its row sums.

    Returns how far the column-normalised map was from having unit row sums (``max |row sum - 1|``), a
    tensor (no host sync) with one value per item of the first ``batch_dims`` dimensions: at a fixed point of
    the iteration (a doubly stochastic map) it is 0, and the next iteration changes every entry by a
    relative amount of the same order.
    """
    state.div_(state.sum(dim=-2, keepdim=True))
    rows = state.sum(dim=-1, keepdim=True)
    state.div_(rows)
    return (rows - 1.0).abs().flatten(batch_dims).amax(dim=-1)


def centred_symmetric(state: Tensor) -> Tensor:
    """``relu(S + S^T - column means)``: Eq. 5's ``ReLU(Sym(A) - mu)`` without the ``/ 2`` of ``Sym``, which
    the row normalisation that follows cancels (a new tensor)."""
    doubled = state + state.transpose(-2, -1)
    return doubled.sub_(doubled.mean(dim=-2, keepdim=True)).clamp_(min=0)


def process_attention_(state: Tensor, normalise_rows: bool = True) -> Tensor:
    """The fused attention of one level (Eq. 5), computed in the official order, MUTATING ``state``.

    ``state`` ``(..., T, T)`` is divided by its column sums, then by its row sums, IN PLACE (the official
    ``attn_mask /= ...`` acts on the shared summed map, so every level call adds one more column/row
    normalisation: level ``i`` sees ``i + 1`` Sinkhorn iterations). From there on new tensors: symmetrise
    ``(S + S^T) / 2``, subtract each column's mean, clamp at 0, divide by the row sums. Returns the
    processed map; ``state`` holds the normalised map for the next call.

    With ``normalise_rows=False`` the last division is left to the caller and the map is returned times two
    (the ``/ 2`` of the symmetrisation cancels in the row normalisation): :func:`fused_level_tokens` folds
    the row sums into its matrix product, which saves two passes over the ``heads x T x T`` map per level.
    """
    sinkhorn_step_(state)
    doubled = centred_symmetric(state)
    if not normalise_rows:
        return doubled
    return doubled.div_(doubled.sum(dim=-1, keepdim=True))


@torch.no_grad()
def fused_level_tokens(
    block: nn.Module, levels: Tensor, attention_sum: Tensor, sinkhorn_tolerance: float = 0.0
) -> tuple[Tensor, Tensor]:
    """Every level through the last block's attention path with the fused attention (Eq. 5).

    Per level: the last block's ``ln_1``, its value projection (per head), the processed attention of
    :func:`process_attention_` (one more normalisation per level, in level order) times each head's own
    values, heads merged, ``out_proj``; no residual, no MLP. The row normalisation is applied after the
    product: ``M [V, 1]`` gives ``M V`` and the row sums of ``M`` in one matrix product (exact in exact
    arithmetic). ``levels`` ``(L, 1+N, C)`` with ``attention_sum`` ``(heads, 1+N, 1+N)``, or a batch
    ``(B, L, 1+N, C)`` with ``(B, heads, 1+N, 1+N)``. Returns the tokens ``(L, 1+N, C)`` (``(B, L, 1+N, C)``;
    in the block's dtype) and the last level's processed attention ``(heads, 1+N, 1+N)`` (``(B, ...)``; the
    ``last_attn`` the official code returns, whose head mean is ``A_N,clip`` of Eq. 6).

    The compounding normalisation is a Sinkhorn iteration, which converges: once one step changes an image's
    map by at most ``sinkhorn_tolerance`` (relative, see :func:`sinkhorn_step_`), every later level's map
    equals this one to that tolerance, and that image's remaining levels share one product instead of one
    pass each over the ``heads x T x T`` map. ``0`` runs every level's normalisation as the official loop
    does. In a batch every image decides for itself (its result is the one it gets alone); the images still
    iterating share one batched step and product per level, and the batch costs one host sync per level.
    """
    single = levels.ndim == 3
    if single:
        levels, attention_sum = levels[None], attention_sum[None]
    attn = block.attn
    width = attn.embed_dim
    w_v = attn.in_proj_weight[2 * width :]
    b_v = attn.in_proj_bias[2 * width :]
    batch, count, tokens, _ = levels.shape
    values = F.linear(block.ln_1(levels), w_v, b_v)
    values = values.view(batch, count, tokens, attn.num_heads, attn.head_dim).transpose(2, 3)  # (B, L, H, T, hd)
    values = torch.cat([values, values.new_ones(*values.shape[:-1], 1)], dim=-1)
    outputs = values.new_empty(*values.shape[:-1], attn.head_dim)
    last: list[Tensor | None] = [None] * batch
    state = attention_sum.clone()
    active = list(range(batch))  # the images whose map still changes, in the order of state's rows
    index = 0

    def apply(fused: Tensor, images: Tensor | int, levels_from: int, levels_to: int) -> None:
        """``outputs[images, levels]`` = each level's values through ``fused`` ``(..., H, T, T)``, one product."""
        group = values[images, levels_from:levels_to]  # (..., n, H, T, hd + 1)
        n, heads, _, width1 = group.shape[-4:]
        stacked = group.movedim(-4, -2).reshape(*group.shape[:-4], heads, tokens, n * width1)
        product = torch.matmul(fused.to(values.dtype), stacked).view(*stacked.shape[:-1], n, width1).movedim(-2, -4)
        outputs[images, levels_from:levels_to] = product[..., :-1] / product[..., -1:]

    while active:
        drift = sinkhorn_step_(state, batch_dims=1)
        fused = centred_symmetric(state)
        apply(fused, torch.tensor(active, device=values.device), index, index + 1)
        finished = [index == count - 1 or d <= sinkhorn_tolerance for d in drift.tolist()]
        for row, image in enumerate(active):
            if finished[row]:
                if index + 1 < count:
                    apply(fused[row], image, index + 1, count)
                last[image] = fused[row].div_(fused[row].sum(dim=-1, keepdim=True))
        keep = [row for row, done in enumerate(finished) if not done]
        if len(keep) < len(active):
            rows = torch.tensor(keep, device=state.device, dtype=torch.long)
            state = state.index_select(0, rows)
            active = [active[row] for row in keep]
        index += 1
    merged = merge_heads_and_project(block, outputs.flatten(0, 1)).view(batch, count, tokens, -1)
    attention = torch.stack([a for a in last if a is not None])
    return (merged[0], attention[0]) if single else (merged, attention)


def text_bank(foreground: Tensor, other: Tensor) -> Tensor:
    """The official text bank ``[C foreground, "other", mean of the foreground]`` ``(C + 2, D)``."""
    return torch.cat([foreground, other.reshape(1, -1), foreground.mean(dim=0, keepdim=True)], dim=0)


def class_probabilities(features: Tensor, bank: Tensor, n_classes: int, logit_scale: float) -> Tensor:
    """``softmax(logit_scale * cos(feature, text))`` over the ``C + 2`` bank entries, first ``n_classes`` kept.

    ``features`` ``(..., N, D)``, computed in float32; returns ``(..., N, n_classes)``. The official
    ``CLIP.classify``; DINO features go in directly (both 768-d), with no projection.
    """
    f = F.normalize(features.float(), dim=-1)
    t = F.normalize(bank.float(), dim=-1)
    return torch.softmax(logit_scale * (f @ t.T), dim=-1)[..., :n_classes]


def threshold_last(scores: Tensor, ratio: float) -> Tensor:
    """Zero the scores ``(..., N, C)`` below ``ratio`` times their class's maximum over patches (a new tensor)."""
    return scores.masked_fill(scores < scores.amax(dim=-2, keepdim=True) * ratio, 0.0)


def align_attention(attention: Tensor, src_grid: tuple[int, int], dst_grid: tuple[int, int]) -> Tensor:
    """``Align()`` of Eqs. 8-9: an ``(N1, N1)`` patch attention on ``src_grid`` to ``(N2, N2)`` on ``dst_grid``
    (a batch ``(B, N1, N1)`` to ``(B, N2, N2)``, each map alone).

    The official ``CLIP.resample``: bilinear (``align_corners=False``) over the key dimension, seen as an
    image per query, then over the query dimension; no renormalisation; float32.
    """
    (h1, w1), (h2, w2) = src_grid, dst_grid
    n1, n2 = h1 * w1, h2 * w2
    lead = attention.shape[:-2]
    x = attention.float().reshape(-1, n1, h1, w1)
    x = F.interpolate(x, size=(h2, w2), mode="bilinear", align_corners=False).reshape(-1, n1, n2)
    x = x.transpose(-2, -1).reshape(-1, n2, h1, w1)
    x = F.interpolate(x, size=(h2, w2), mode="bilinear", align_corners=False).reshape(*lead, n2, n2)
    return x.transpose(-2, -1)


def cross_fuse(
    own: Tensor, other_aligned: Tensor | None, level_scores: Tensor, ratio: float, lambda_1: float
) -> Tensor:
    """Eqs. 8-9: ``(A_own + lambda_1 Align(A_other)) @ threshold(S_last) + mean(S_0 .. S_{L-2})``.

    ``level_scores`` ``(L, N, C)`` with ``own`` ``(N, N)`` (or a batch: ``(B, L, N, C)``, ``(B, N, N)``); the
    last level is thresholded at ``ratio`` x its class maximum (:func:`threshold_last`), the mean runs over
    all other levels (CLIP levels 0..22, DINO layers 0..10).
    ``other_aligned=None`` drops the cross term: one model's own multi-level fusion, the CLIPer-like
    baseline of SDCI's Table 2 (``A_N S_N + mean``, Eq. 6's attention on the last level).
    """
    fused = own.float() if other_aligned is None else own.float() + lambda_1 * other_aligned.float()
    return fused @ threshold_last(level_scores[..., -1, :, :], ratio) + level_scores[..., :-1, :, :].mean(dim=-3)
