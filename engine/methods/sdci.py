"""SDCI (CAF, BCDR, CSCP) as the methods ``sdci-v1`` (CLIP ViT-L/14 + DINO ViT-B/8) and ``sdci-v2``
(CLIP ViT-L/14 + DINOv2 ViT-B/14 with registers).

What runs per tile, following the official code (``yu-ni1989/SDCI`` @7f33971) where it differs from the
paper text (docs/METHODS.md, SDCI section, lists every such place):

- CAF (Eqs. 1-9): :mod:`.sdci_caf`;
- BCDR (Eqs. 10-15): KNN transition graphs from the LAST CLIP level and the last DINO layer
  (:func:`engine.ops.graph.knn_transition`), the CLIP scores resampled to the DINO grid and diffused on the
  DINO graph, the DINO scores resampled to the CLIP grid and diffused on the CLIP graph
  (:func:`engine.ops.graph.diffuse`, 40 steps, fp16 iterates as the official run) - :func:`bcdr`;
- post-processing (``ovs/main.py`` and ``cam_to_label``): :func:`branch_probabilities`;
- CSCP (Eqs. 16-18): superpixels on the tile, edge weights, ``prep_prob`` and the solver of
  :mod:`engine.ops.cscp` (fast by default, the reference PDHG selectable) - :func:`cscp_refine`.

``SdciConfig.stages`` selects a row of the paper's ablation (Table 2, Sec. 4.3; the official code has no
switch for it): :data:`STAGES` says which parts run, :func:`fuse_branches` combines the branches without CSCP.

This module only imports the standard library at import time (the method registry loads it when listing
methods); torch and the backbones are imported when a method is built.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from .base import cancel_point, config_with_params, register_method

if TYPE_CHECKING:
    import numpy as np
    import torch

    from ..backbones.clip import ClipBackbone
    from ..backbones.vfm import VisionFoundationModel
    from ..device import Runtime
    from ..labels import LabelSet
    from ..ops.cscp import CscpSolution

_SOLVERS = ("fast", "reference")
_DIFFUSION_DTYPES = ("float16", "float32")
_ATTENTION_DTYPES = ("float32", "float16", "bfloat16")


@dataclass(frozen=True)
class Stages:
    """Which parts of SDCI run: one row of the ablation of Table 2 (Sec. 4.3).

    ``vfm``: the structural branch runs; ``cross``: CAF's cross-attention term ``lambda_1 Align(A_other)``
    of Eqs. 8-9 (without it each branch is its own multi-level fusion, CLIPer-like); ``late_fusion``: the
    two branches' scores are summed with fixed weights into one map (``late_fusion_weight`` for DINO's);
    ``bcdr``: Eqs. 10-15; ``cscp``: Eqs. 16-18 (without it :func:`fuse_branches`).
    """

    vfm: bool
    cross: bool
    late_fusion: bool
    bcdr: bool
    cscp: bool


STAGES: dict[str, Stages] = {
    "baseline": Stages(vfm=False, cross=False, late_fusion=False, bcdr=False, cscp=False),
    "late_fusion": Stages(vfm=True, cross=False, late_fusion=True, bcdr=False, cscp=False),
    "caf": Stages(vfm=True, cross=True, late_fusion=False, bcdr=False, cscp=False),
    "caf_bcdr": Stages(vfm=True, cross=True, late_fusion=False, bcdr=True, cscp=False),
    "full": Stages(vfm=True, cross=True, late_fusion=False, bcdr=True, cscp=True),
}


@dataclass(frozen=True)
class SdciConfig:
    """Every setting of SDCI, defaults from the paper and the official code (``sdci-v2``'s VFM).

    Geometry: CLIP sees the tile with its short side scaled to ``clip_short_side`` (512 -> 518x518, 37x37
    patches); the VFM with its short side scaled to ``vfm_short_side`` (532 -> 38x38 for DINOv2, 384 ->
    48x48 for DINO), both rounded to the patch size (the official ``_resize`` rule; for square tiles the
    official fixed VFM sizes). ``clip_pos_embed_fp16``: CLIP's resized position embeddings are rounded to
    float16 on every device, as the official ``upsample_pos_emb(...).half()``.

    CSCP: ``solver="fast"`` stops at a relative duality gap of ``cscp_tolerance`` (checked every
    ``cscp_check_every`` iterations, at most ``cscp_max_iterations``); ``solver="reference"`` is the official
    PDHG with the ``pdhg_*`` settings.
    """

    clip_arch: str = "ViT-L-14"
    vfm: str = "dinov2_vitb14_reg"
    clip_short_side: int = 512
    clip_pos_embed_fp16: bool = True
    vfm_short_side: int = 532
    templates: str = "sdci_rs"
    other_prompt: str = "other"
    logit_scale: float = 50.0
    lambda_1: float = 1.0
    last_level_ratio: float = 0.2
    attention_dtype: str = "float32"
    sinkhorn_tolerance: float = 1e-6
    knn_k: int = 30
    knn_tau: float = 0.07
    diffusion_alpha: float = 0.9
    diffusion_steps: int = 40
    diffusion_dtype: str = "float16"
    diffusion_closed_form: bool = False
    score_threshold: float = 0.5
    score_max_eps: float = 1e-5
    minmax_eps: float = 1e-6
    prep_eps: float = 1e-6
    lambda_c: float = 1.0
    lambda_d: float = 0.2
    beta: float = 0.1
    w_in: float = 1.0
    w_cross: float = 0.1
    felzenszwalb_scale: float = 40.0
    felzenszwalb_sigma: float = 0.8
    felzenszwalb_min_size: int = 20
    solver: str = "fast"
    pdhg_iterations: int = 100
    pdhg_tau: float = 0.25
    pdhg_sigma: float = 0.25
    pdhg_theta: float = 1.0
    pdhg_newton_steps: int = 5
    pdhg_bisection_steps: int = 10
    cscp_tolerance: float = 0.003
    cscp_max_iterations: int = 400
    cscp_check_every: int = 5
    stages: str = "full"
    late_fusion_weight: float = 0.5

    def __post_init__(self) -> None:
        """Reject values the method cannot run with (one-line :class:`InputError`)."""
        from ..ops.cscp import FastCscpSettings

        choices = (
            ("solver", self.solver, _SOLVERS),
            ("diffusion_dtype", self.diffusion_dtype, _DIFFUSION_DTYPES),
            ("attention_dtype", self.attention_dtype, _ATTENTION_DTYPES),
            ("stages", self.stages, tuple(STAGES)),
        )
        for field, value, allowed in choices:
            if value not in allowed:
                raise InputError(f"SDCI parameter {field}={value!r}; choose one of: {', '.join(allowed)}")
        if self.knn_k < 1 or self.diffusion_steps < 0 or not 0.0 <= self.diffusion_alpha < 1.0:
            raise InputError("SDCI parameters need knn_k >= 1, diffusion_steps >= 0 and 0 <= alpha < 1")
        if not 0.0 <= self.late_fusion_weight <= 1.0:
            raise InputError(f"SDCI parameter late_fusion_weight={self.late_fusion_weight} must be in [0, 1]")
        FastCscpSettings(self.cscp_tolerance, self.cscp_max_iterations, self.cscp_check_every)


VARIANTS: dict[str, SdciConfig] = {
    "sdci-v1": SdciConfig(vfm="dino_vitb8", vfm_short_side=384),
    "sdci-v2": SdciConfig(),
}


def bcdr(
    clip_scores: torch.Tensor,
    dino_scores: torch.Tensor,
    *,
    clip_features: torch.Tensor,
    dino_features: torch.Tensor,
    clip_grid: tuple[int, int],
    dino_grid: tuple[int, int],
    config: SdciConfig,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """BCDR (Eqs. 11-15) as ``ovs/pipeline.py`` runs it, on one tile or a batch.

    ``clip_scores`` ``(N_clip, C)`` = S'_clip, ``dino_scores`` ``(N_dino, C)`` = S'_dino (a batch: ``(B, N,
    C)``, the features likewise); the graphs come from the last CLIP level's projected patch features and
    the last DINO layer's patch features. S'_clip is resampled to the DINO grid and diffused with T_dino;
    S'_dino to the CLIP grid and diffused with T_clip. Returns the two diffused maps ``(C, gh, gw)`` (CLIP
    branch on the DINO grid, DINO branch on the CLIP grid) and the two final scores ``(C,)``: each resampled
    (undiffused) score's maximum over patches (with a leading batch dimension for a batch). The diffusion of
    every graph of the batch runs as one: 40 sparse products on their block-diagonal union
    (:func:`engine.ops.graph.block_diagonal`), row for row the sums of one graph alone.
    """
    import torch

    from ..ops.graph import KnnTransition, block_diagonal, diffuse, diffuse_closed_form, knn_transition, resample_grid

    single = clip_scores.ndim == 2
    if single:
        clip_scores, dino_scores = clip_scores[None], dino_scores[None]
        clip_features, dino_features = clip_features[None], dino_features[None]
    t_dino = knn_transition(dino_features.float(), k=config.knn_k, tau=config.knn_tau)
    t_clip = knn_transition(clip_features.float(), k=config.knn_k, tau=config.knn_tau)
    clip_on_dino = resample_grid(_on_grid(clip_scores.float(), clip_grid)[0], clip_grid, dino_grid)
    dino_on_clip = resample_grid(_on_grid(dino_scores.float(), dino_grid)[0], dino_grid, clip_grid)
    starts = [clip_on_dino.flatten(-2).transpose(-2, -1), dino_on_clip.flatten(-2).transpose(-2, -1)]  # (B, N, C)
    if config.diffusion_closed_form:
        diffused = [
            torch.stack(
                [
                    diffuse_closed_form(KnnTransition(v, i), s, alpha=config.diffusion_alpha)
                    for v, i, s in zip(graph.values, graph.indices, start, strict=True)
                ]
            )
            for graph, start in zip((t_dino, t_clip), starts, strict=True)
        ]
    else:
        dtype = getattr(torch, config.diffusion_dtype)
        stacked = torch.cat([start.reshape(-1, start.shape[-1]) for start in starts])
        both = diffuse(
            block_diagonal([t_dino, t_clip]),
            stacked,
            alpha=config.diffusion_alpha,
            steps=config.diffusion_steps,
            dtype=dtype,
        )
        diffused = list(both.split([start.shape[0] * start.shape[1] for start in starts]))
    clip_map, dino_map = (
        scores.reshape(start.shape).transpose(-2, -1).reshape(*maps.shape)
        for scores, start, maps in zip(diffused, starts, (clip_on_dino, dino_on_clip), strict=True)
    )
    finals = clip_on_dino.amax(dim=(-2, -1)), dino_on_clip.amax(dim=(-2, -1))
    if single:
        return clip_map[0], dino_map[0], finals[0][0], finals[1][0]
    return clip_map, dino_map, *finals


# working memory of one predict call (bytes), measured on the CPU in fp32 and rounded up (docs/ARCHITECTURE.md)
_BACKBONE_BYTES = 2 * 1024**3  # both backbones' activations and attention maps on a square tile
_PER_PIXEL = 256  # the 8-bit tile, superpixels and their edge weights at tile size
_PER_CLASS_PIXEL = 64  # both branches' class maps at tile size, CSCP's iterates and the returned array


def tile_bytes(config: SdciConfig, height: int, width: int, labels: LabelSet) -> int:
    """Peak working memory of :meth:`SdciMethod.predict` on a ``height`` x ``width`` tile (weights excluded).

    CLIP and the VFM see the tile with its short side scaled to a fixed size, so their part is fixed for a
    square tile and grows with the square of the aspect ratio (attention over the tokens); the branch maps,
    CSCP and the superpixels run at tile size, per class.
    """
    aspect = max(height, width) / min(height, width)
    short = max(config.clip_short_side, config.vfm_short_side) / 532
    backbones = _BACKBONE_BYTES * (short * aspect) ** 2
    return int(height * width * (_PER_PIXEL + _PER_CLASS_PIXEL * len(labels)) + backbones)


def branch_probabilities(
    score_map: torch.Tensor, final_score: torch.Tensor, size: tuple[int, int], config: SdciConfig
) -> torch.Tensor:
    """One branch's class maps at image size ``(C, H, W)``, as ``ovs/main.py`` + ``cam_to_label`` do (a batch:
    ``(B, C, gh, gw)`` maps and ``(B, C)`` scores give ``(B, C, H, W)``).

    Bilinear upsampling to ``size``; each class divided by its spatial maximum (``+1e-5``) and multiplied by
    its final score; min-max normalised per class (``+1e-6``; ``is_normalize`` is true in every official
    config); classes whose final score is not above ``score_threshold`` set to zero.
    """
    import torch

    maps = score_map.reshape(-1, *score_map.shape[-3:]).float()
    up = torch.nn.functional.interpolate(maps, size=size, mode="bilinear", align_corners=False)
    up = up.reshape(*score_map.shape[:-2], *size)
    up = up / (up.amax(dim=(-1, -2), keepdim=True) + config.score_max_eps) * final_score[..., None, None]
    flat = up.flatten(-2)
    flat = flat - flat.amin(dim=-1, keepdim=True)
    flat = flat / (flat.amax(dim=-1, keepdim=True) + config.minmax_eps)
    keep = (final_score > config.score_threshold).to(flat.dtype)
    return (flat * keep[..., None]).reshape(up.shape)


def superpixel_weights(rgb: np.ndarray, config: SdciConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 16's edge weights ``(H, W-1)``, ``(H-1, W)`` (CPU, float32) from Felzenszwalb superpixels of the
    8-bit tile ``(H, W, 3)``, as the official code builds them; CPU work the method overlaps with its
    backbones (:func:`superpixels_in_background`)."""
    from ..ops.cscp import edge_weights
    from ..ops.superpixels import felzenszwalb

    labels = felzenszwalb(
        rgb, scale=config.felzenszwalb_scale, sigma=config.felzenszwalb_sigma, min_size=config.felzenszwalb_min_size
    )
    return edge_weights(labels, w_in=config.w_in, w_cross=config.w_cross)


@contextmanager
def superpixels_in_background(rgb: np.ndarray, config: SdciConfig) -> Iterator[list[Future[Any]]]:
    """Start :func:`superpixel_weights` of every tile of ``rgb`` ``(B, H, W, 3)`` in worker threads (one per
    tile, at most one per CPU core) and yield their futures; on exit the pool is shut down, pending work
    cancelled. Felzenszwalb (scikit-image) releases the GIL, so it runs while torch computes the backbones."""
    workers = max(1, min(len(rgb), os.cpu_count() or 1))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sdci-superpixels")
    try:
        yield [pool.submit(superpixel_weights, image, config) for image in rgb]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def cscp_problem(
    clip_probs: torch.Tensor, dino_probs: torch.Tensor, rgb: np.ndarray, config: SdciConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """CSCP's inputs (Eqs. 16-17) for one tile: ``prep_prob`` of both branches and the edge weights of
    :func:`superpixel_weights`: ``(p_C, p_D, w_h, w_v)``, as the official code builds them."""
    from ..ops.cscp import prep_prob

    wh, wv = (w.to(clip_probs.device) for w in superpixel_weights(rgb, config))
    return prep_prob(clip_probs, eps=config.prep_eps), prep_prob(dino_probs, eps=config.prep_eps), wh, wv


def cscp_refine_batch(
    clip_probs: torch.Tensor, dino_probs: torch.Tensor, weights: tuple[torch.Tensor, torch.Tensor], config: SdciConfig
) -> list[CscpSolution]:
    """CSCP (Eqs. 16-18) on a batch: branch maps ``(B, C, H, W)``, edge weights ``(B, H, W-1)`` and
    ``(B, H-1, W)``; ``prep_prob``, then the configured solver. Returns one solution per tile: ``q``
    ``(C, H, W)`` on the simplex, iterations and energy; the relative duality gap for the fast solver (the
    batched :func:`engine.ops.cscp.solve_cscp_batch`, each tile with its own certificate); the reference
    PDHG runs tile by tile and has no certificate (NaN)."""
    from ..ops.cscp import (
        CscpParams,
        CscpSolution,
        FastCscpSettings,
        ReferencePdhgSettings,
        cscp_energy,
        prep_prob,
        solve_cscp_batch,
        solve_cscp_reference,
    )

    p_clip, p_dino = prep_prob(clip_probs, eps=config.prep_eps), prep_prob(dino_probs, eps=config.prep_eps)
    params = CscpParams(lambda_c=config.lambda_c, lambda_d=config.lambda_d, beta=config.beta)
    if config.solver == "fast":
        fast = FastCscpSettings(config.cscp_tolerance, config.cscp_max_iterations, config.cscp_check_every)
        return solve_cscp_batch(p_clip, p_dino, *weights, params=params, settings=fast)
    settings = ReferencePdhgSettings(
        iterations=config.pdhg_iterations,
        tau=config.pdhg_tau,
        sigma=config.pdhg_sigma,
        theta=config.pdhg_theta,
        newton_steps=config.pdhg_newton_steps,
        bisection_steps=config.pdhg_bisection_steps,
    )
    solutions = []
    for problem in zip(p_clip, p_dino, *weights, strict=True):
        q = solve_cscp_reference(*problem, params=params, settings=settings)
        solutions.append(CscpSolution(q, config.pdhg_iterations, cscp_energy(q, *problem, params=params), math.nan))
    return solutions


def cscp_refine(
    clip_probs: torch.Tensor, dino_probs: torch.Tensor, rgb: np.ndarray, config: SdciConfig
) -> CscpSolution:
    """CSCP (Eqs. 16-18) on one tile: :func:`superpixel_weights` of the 8-bit tile ``(H, W, 3)``, then
    :func:`cscp_refine_batch` of one."""
    weights = tuple(w.to(clip_probs.device)[None] for w in superpixel_weights(rgb, config))
    return cscp_refine_batch(clip_probs[None], dino_probs[None], weights, config)[0]  # type: ignore[arg-type]


def fuse_branches(clip_probs: torch.Tensor, dino_probs: torch.Tensor | None, config: SdciConfig) -> torch.Tensor:
    """The branches combined WITHOUT CSCP (Table 2's rows before "+ CSCP"): ``q = softmax(b / a)``.

    The paper does not say how its rows without CSCP turn the two branches into one map. We take the
    minimiser of CSCP's data term alone (Eq. 17 with ``beta = 0``): per pixel the
    ``lambda_c : lambda_d``-weighted geometric mean of the two ``prep_prob`` maps, renormalised. It is what
    the full method returns with the TV term switched off (the solvers' ``beta = 0`` result), so adding CSCP
    changes exactly one thing, the superpixel-weighted smoothing. ``dino_probs=None`` (one branch: the
    baseline, late fusion) gives the branch's own ``prep_prob`` map, the same rule with both terms on it.
    Returns ``(C, H, W)`` (``(B, C, H, W)`` for a batch of maps) on the simplex.
    """
    import torch

    from ..ops.cscp import CscpParams, data_term, prep_prob

    params = CscpParams(lambda_c=config.lambda_c, lambda_d=config.lambda_d, beta=0.0)
    p_clip = prep_prob(clip_probs, eps=config.prep_eps)
    p_dino = p_clip if dino_probs is None else prep_prob(dino_probs, eps=config.prep_eps)
    return torch.softmax(data_term(p_clip, p_dino, params) / params.a, dim=-3)


def _rgb8(tiles: np.ndarray) -> np.ndarray:
    """RGB tiles ``(..., 3, H, W)`` in 0..255 as the 8-bit ``(..., H, W, 3)`` images the official loader reads."""
    import numpy as np

    return np.clip(np.rint(np.moveaxis(np.asarray(tiles), -3, -1)), 0, 255).astype(np.uint8)


def _on_grid(scores: torch.Tensor, grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token-major scores ``(..., N, C)`` as maps ``(..., C, gh, gw)`` and their final scores ``(..., C)``
    (maximum over patches, BCDR's rule for the branches that skip it)."""
    return scores.transpose(-2, -1).reshape(*scores.shape[:-2], -1, *grid), scores.amax(dim=-2)


class SdciMethod:
    """SDCI on a CLIP backbone and a VFM (see the module docstring); the :class:`Method` contract.

    ``weights_note`` says where the weights came from (``"random weights (seed N)"`` for a pipeline check).
    ``timings`` holds the seconds of each stage of the last :meth:`predict` (benchmarks).
    """

    min_tile = 28

    def __init__(
        self,
        name: str,
        config: SdciConfig,
        *,
        clip: ClipBackbone,
        vfm: VisionFoundationModel,
        runtime: Runtime,
        weights_note: str,
    ) -> None:
        self.name = name
        self.config = config
        self.clip = clip
        self.vfm = vfm
        self.runtime = runtime
        self.weights_note = weights_note
        self.timings: dict[str, float] = {}
        self._labels: LabelSet | None = None
        self._bank: torch.Tensor | None = None

    @property
    def metadata(self) -> dict[str, str]:
        """What a run's output records about this method: the device it ran on and its weights."""
        return {"device": self.runtime.describe(), "weights_source": self.weights_note}

    def tile_memory(self, height: int, width: int, labels: LabelSet) -> int:
        """Working memory of one :meth:`predict` call on a tile of this size (:func:`tile_bytes`)."""
        return tile_bytes(self.config, height, width, labels)

    def prepare(self, labels: LabelSet) -> None:
        """Text bank for ``labels``: every non-background class's prompts averaged by SDCI's rule over the
        templates, the ``other`` prompt, and the foreground mean (cached by the text encoder)."""
        from ..text.encoder import TextEncoder
        from ..text.templates import get_templates
        from .sdci_caf import text_bank

        templates = get_templates(self.config.templates)
        sets = [labels[i].prompts for i in labels.foreground_indices]
        embeddings = TextEncoder(self.clip, self.runtime).encode_prompt_sets(
            [*sets, (self.config.other_prompt,)], templates
        )
        self._bank = text_bank(embeddings[:-1], embeddings[-1]).to(self.runtime.device)
        self._labels = labels

    def predict(self, tile: np.ndarray) -> np.ndarray:
        """Refined class probabilities ``(K, H, W)`` float32 for an RGB tile ``(3, H, W)`` in 0..255: the
        batch of one of :meth:`predict_batch`.

        The background class of the label set (if any) gets probability 0, as SDCI never predicts it.
        """
        import numpy as np

        tile = np.asarray(tile)
        if tile.ndim != 3 or tile.shape[0] != 3 or min(tile.shape[1:]) < self.min_tile:
            raise InputError(f"SDCI needs an RGB tile (3, H, W) with H, W >= {self.min_tile}, got {tile.shape}")
        return self.predict_batch(tile[None])[0]

    def predict_batch(self, tiles: np.ndarray) -> np.ndarray:
        """Refined class probabilities ``(B, K, H, W)`` float32 for RGB tiles ``(B, 3, H, W)`` in 0..255.

        Each backbone runs once on the batch; CAF, BCDR and CSCP run on the batch as a whole; the superpixels
        are computed in worker threads started before the backbones. Every tile's result is the one it gets
        alone (up to float rounding). ``timings`` then holds the seconds of each stage for the whole batch,
        and ``cscp_iterations`` / ``cscp_relative_gap`` the largest over the batch's tiles (every tile's
        certificate is at most that gap).
        """
        import time

        import numpy as np
        import torch

        if self._labels is None or self._bank is None:
            raise RuntimeError("SdciMethod.prepare(labels) must be called before predict()")
        tiles = np.asarray(tiles)
        if tiles.ndim != 4 or tiles.shape[1] != 3 or min(tiles.shape[2:]) < self.min_tile:
            raise InputError(f"SDCI needs RGB tiles (B, 3, H, W) with H, W >= {self.min_tile}, got {tiles.shape}")
        self.timings = {}
        clock = time.perf_counter()

        def lap(stage: str) -> None:
            """End a stage: record its time, then a cancel point (a cancel acts within a batch)."""
            nonlocal clock
            now = time.perf_counter()
            self.timings[stage] = now - clock
            clock = now
            cancel_point()

        rgb = _rgb8(tiles)
        labels = self._labels
        out = np.zeros((len(rgb), len(labels), *rgb.shape[1:3]), dtype=np.float32)
        with torch.inference_mode():
            out[:, list(labels.foreground_indices)] = self._refine(rgb, lap).cpu().numpy()
        return out

    def _semantic_branch(
        self, pixels: torch.Tensor, n_fg: int, lap: Any
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[int, int]]:
        """CLIP's side of CAF on normalised ``pixels`` ``(B, 3, h, w)``: the level scores ``(B, L, N, C)``, the
        last level's projected patch features ``(B, N, D)`` (BCDR's CLIP graph), ``A_N,clip`` ``(B, N, N)``
        and the grid. Its large intermediates (levels, attention maps) are freed on return, before the VFM
        runs."""
        import torch

        from . import sdci_caf as caf

        assert self._bank is not None
        levels = caf.clip_levels(
            self.clip, pixels, getattr(torch, self.config.attention_dtype), self.config.clip_pos_embed_fp16
        )
        lap("clip_backbone")
        tokens, last_attention = caf.fused_level_tokens(
            self.clip.blocks[-1], levels.levels, levels.attention_sum, self.config.sinkhorn_tolerance
        )
        grid = levels.grid
        del levels
        features = self.clip.project(tokens)[..., 1:, :]
        scores = caf.class_probabilities(features, self._bank, n_fg, self.config.logit_scale)
        lap("caf_levels")
        return scores, features[:, -1].float(), last_attention.float().mean(dim=1)[:, 1:, 1:], grid

    def branch_maps(self, tile: np.ndarray) -> list[torch.Tensor]:
        """The branch probability maps ``(C, H, W)`` the last stage fuses (CSCP's ``p_C``, ``p_D`` for
        ``"full"``), foreground classes only; for stage tests and building real CSCP problems."""
        import torch

        if self._bank is None:
            raise RuntimeError("SdciMethod.prepare(labels) must be called before branch_maps()")
        rgb = _rgb8(tile)
        with torch.inference_mode():
            return [probs[0] for probs in self._branches(rgb[None], lambda stage: None)]

    def _refine(self, rgb: np.ndarray, lap: Any) -> torch.Tensor:
        """The computation on 8-bit tiles ``(B, H, W, 3)``; foreground ``q`` ``(B, C, H, W)``.

        The parts that run are those of ``config.stages`` (:data:`STAGES`); ``"full"`` is the method. With
        CSCP the superpixels start in worker threads before the backbones and are collected after BCDR.
        """
        import torch

        if not STAGES[self.config.stages].cscp:
            probs = self._branches(rgb, lap)
            q = fuse_branches(probs[0], probs[1] if len(probs) > 1 else None, self.config)
            lap("fusion")
            return q.float()
        with superpixels_in_background(rgb, self.config) as pending:
            probs = self._branches(rgb, lap)
            weights = [future.result() for future in pending]
        device = probs[0].device
        wh, wv = (torch.stack(parts).to(device, non_blocking=True) for parts in zip(*weights, strict=True))
        solutions = cscp_refine_batch(probs[0], probs[1], (wh, wv), self.config)
        lap("cscp")
        self.timings["cscp_iterations"] = float(max(solution.iterations for solution in solutions))
        self.timings["cscp_relative_gap"] = max(solution.relative_gap for solution in solutions)
        return torch.stack([solution.q for solution in solutions]).float()

    def _branches(self, rgb: np.ndarray, lap: Any) -> list[torch.Tensor]:
        """CAF, BCDR and post-processing of ``config.stages`` on 8-bit tiles ``(B, H, W, 3)``: one or two
        branch maps ``(B, C, H, W)`` at tile size."""
        import torch

        from ..ops.graph import resample_grid
        from . import sdci_caf as caf

        cfg = self.config
        stages = STAGES[cfg.stages]
        assert self._bank is not None
        n_fg = self._bank.shape[0] - 2
        height, width = rgb.shape[1:3]
        clip, vfm, rt = self.clip, self.vfm, self.runtime

        size = caf.scaled_size(height, width, cfg.clip_short_side, clip.patch_size)
        pixels = torch.cat([caf.clip_pixels(image, size, clip.mean, clip.std) for image in rgb])
        clip_scores, clip_last, a_clip, cgrid = self._semantic_branch(rt.cast(pixels), n_fg, lap)
        if not stages.vfm:
            s_clip = caf.cross_fuse(a_clip, None, clip_scores, cfg.last_level_ratio, cfg.lambda_1)
            lap("caf_fusion")
            return [branch_probabilities(*_on_grid(s_clip, cgrid), (height, width), cfg)]
        vsize = caf.scaled_size(height, width, cfg.vfm_short_side, vfm.patch_size)
        vpixels = torch.cat([caf.vfm_pixels(image, vsize, vfm.mean, vfm.std) for image in rgb])
        vfm_out = vfm.forward_layers(rt.cast(vpixels))
        lap("vfm_backbone")

        dino_layers = torch.stack(vfm_out.layers, dim=1)  # (B, 12, N, 768)
        dino_scores = caf.class_probabilities(dino_layers, self._bank, n_fg, cfg.logit_scale)
        a_dino = vfm_out.mean_attention(patch_only=True).float()
        dgrid = vfm_out.grid
        del vfm_out
        to_clip = caf.align_attention(a_dino, dgrid, cgrid) if stages.cross else None
        to_dino = caf.align_attention(a_clip, cgrid, dgrid) if stages.cross else None
        s_clip = caf.cross_fuse(a_clip, to_clip, clip_scores, cfg.last_level_ratio, cfg.lambda_1)
        s_dino = caf.cross_fuse(a_dino, to_dino, dino_scores, cfg.last_level_ratio, cfg.lambda_1)
        lap("caf_fusion")

        if stages.late_fusion:
            w = cfg.late_fusion_weight
            fused = (1.0 - w) * _on_grid(s_clip, cgrid)[0] + w * resample_grid(_on_grid(s_dino, dgrid)[0], dgrid, cgrid)
            branches = [(fused, fused.amax(dim=(-2, -1)))]
        elif stages.bcdr:
            clip_map, dino_map, clip_final, dino_final = bcdr(
                s_clip,
                s_dino,
                clip_features=clip_last,
                dino_features=dino_layers[:, -1],
                clip_grid=cgrid,
                dino_grid=dgrid,
                config=cfg,
            )
            lap("bcdr")
            branches = [(clip_map, clip_final), (dino_map, dino_final)]
        else:
            branches = [_on_grid(s_clip, cgrid), _on_grid(s_dino, dgrid)]
        return [branch_probabilities(score_map, final, (height, width), cfg) for score_map, final in branches]


def build_sdci(
    name: str,
    *,
    weights: str | Path = "default",
    weights_dir: str | Path | None = None,
    device: str = "auto",
    precision: str = "auto",
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
) -> SdciMethod:
    """Build the SDCI variant ``name`` (``sdci-v1``/``sdci-v2``) with ``params`` overriding its config."""
    from ..device import resolve_runtime
    from ..models import RANDOM, backbone_source, load_clip, load_vfm

    config = config_with_params(VARIANTS[name], params or {}, name)
    runtime = resolve_runtime(device, precision)
    clip_source = backbone_source(config.clip_arch, weights, weights_dir)
    vfm_source = backbone_source(config.vfm, weights, weights_dir)
    if clip_source == RANDOM:
        note = f"random weights (seed {seed}): a pipeline check, NOT a real segmentation"
    else:
        note = f"{Path(clip_source).name} + {Path(vfm_source).name}"
    clip = runtime.prepare(load_clip(config.clip_arch, clip_source, seed=seed))
    vfm = runtime.prepare(load_vfm(config.vfm, vfm_source, seed=seed))
    return SdciMethod(name, config, clip=clip, vfm=vfm, runtime=runtime, weights_note=note)


def _register(name: str, description: str, checkpoints: tuple[str, ...]) -> None:
    """Register SDCI variant ``name`` (its config: :data:`VARIANTS` ``[name]``)."""

    def create(**kwargs: Any) -> SdciMethod:
        return build_sdci(name, **kwargs)

    def planned_memory(params: Mapping[str, Any], height: int, width: int, labels: LabelSet) -> int:
        """:func:`tile_bytes` of the config ``params`` give, before the method is built."""
        return tile_bytes(config_with_params(VARIANTS[name], params, name), height, width, labels)

    register_method(
        name,
        description,
        checkpoints,
        SdciConfig,
        SdciMethod.min_tile,
        defaults=VARIANTS[name],
        tile_memory=planned_memory,
    )(create)


# DINO ViT-B/8 structural branch (384x384 input, 48x48 grid); DINOv2 ViT-B/14 with registers (532x532, 38x38)
_register(
    "sdci-v1",
    "SDCI (Wang & Ni 2026): CLIP ViT-L/14 + DINO ViT-B/8, CAF + BCDR + CSCP, training-free",
    ("clip-vit-l-14", "dino-vitb8"),
)
_register(
    "sdci-v2",
    "SDCI (Wang & Ni 2026): CLIP ViT-L/14 + DINOv2 ViT-B/14 with registers, CAF + BCDR + CSCP, training-free",
    ("clip-vit-l-14", "dinov2-vitb14-reg"),
)
