"""SDCI's stages after CAF, as pure functions on tensors: BCDR (Eqs. 10-15, :func:`bcdr`), the official
post-processing of a branch (:func:`branch_probabilities`), CSCP's superpixel edge weights and solver calls
(Eqs. 16-18, :func:`cscp_refine_batch`) and the ablation's fusion without CSCP (:func:`fuse_branches`). Each works
on one tile or a batch; torch and the ops are imported inside the functions."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch

    from ..ops.cscp import CscpSolution
    from .sdci_config import SdciConfig

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
    clip_on_dino = resample_grid(on_grid(clip_scores.float(), clip_grid)[0], clip_grid, dino_grid)
    dino_on_clip = resample_grid(on_grid(dino_scores.float(), dino_grid)[0], dino_grid, clip_grid)
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


def on_grid(scores: torch.Tensor, grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token-major scores ``(..., N, C)`` as maps ``(..., C, gh, gw)`` and their final scores ``(..., C)``
    (maximum over patches, BCDR's rule for the branches that skip it)."""
    return scores.transpose(-2, -1).reshape(*scores.shape[:-2], -1, *grid), scores.amax(dim=-2)
