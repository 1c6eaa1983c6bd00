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

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from .base import config_with_params, register_method

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
    """BCDR (Eqs. 11-15) as ``ovs/pipeline.py`` runs it.

    ``clip_scores`` ``(N_clip, C)`` = S'_clip, ``dino_scores`` ``(N_dino, C)`` = S'_dino; the graphs come
    from the last CLIP level's projected patch features and the last DINO layer's patch features. S'_clip is
    resampled to the DINO grid and diffused with T_dino; S'_dino to the CLIP grid and diffused with T_clip.
    Returns the two diffused maps ``(C, gh, gw)`` (CLIP branch on the DINO grid, DINO branch on the CLIP
    grid) and the two final scores ``(C,)``: each resampled (undiffused) score's maximum over patches.
    """
    import torch

    from ..ops.graph import diffuse, diffuse_closed_form, knn_transition, resample_grid

    t_dino = knn_transition(dino_features.float(), k=config.knn_k, tau=config.knn_tau)
    t_clip = knn_transition(clip_features.float(), k=config.knn_k, tau=config.knn_tau)
    clip_on_dino = resample_grid(clip_scores.float(), clip_grid, dino_grid)
    dino_on_clip = resample_grid(dino_scores.float(), dino_grid, clip_grid)
    dtype = getattr(torch, config.diffusion_dtype)

    def run(graph: Any, scores: torch.Tensor) -> torch.Tensor:
        if config.diffusion_closed_form:
            return diffuse_closed_form(graph, scores, alpha=config.diffusion_alpha)
        return diffuse(graph, scores, alpha=config.diffusion_alpha, steps=config.diffusion_steps, dtype=dtype)

    clip_map = run(t_dino, clip_on_dino).T.reshape(-1, *dino_grid)
    dino_map = run(t_clip, dino_on_clip).T.reshape(-1, *clip_grid)
    return clip_map, dino_map, clip_on_dino.amax(dim=0), dino_on_clip.amax(dim=0)


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
    """One branch's class maps at image size ``(C, H, W)``, as ``ovs/main.py`` + ``cam_to_label`` do.

    Bilinear upsampling to ``size``; each class divided by its spatial maximum (``+1e-5``) and multiplied by
    its final score; min-max normalised per class (``+1e-6``; ``is_normalize`` is true in every official
    config); classes whose final score is not above ``score_threshold`` set to zero.
    """
    import torch

    up = torch.nn.functional.interpolate(score_map[None].float(), size=size, mode="bilinear", align_corners=False)[0]
    up = up / (up.amax(dim=(-1, -2), keepdim=True) + config.score_max_eps) * final_score[:, None, None]
    flat = up.reshape(up.shape[0], -1)
    flat = flat - flat.amin(dim=-1, keepdim=True)
    flat = flat / (flat.amax(dim=-1, keepdim=True) + config.minmax_eps)
    keep = (final_score > config.score_threshold).to(flat.dtype)
    return (flat * keep[:, None]).reshape(up.shape)


def cscp_problem(
    clip_probs: torch.Tensor, dino_probs: torch.Tensor, rgb: np.ndarray, config: SdciConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """CSCP's inputs (Eqs. 16-17): ``prep_prob`` of both branches and the edge weights from Felzenszwalb
    superpixels of the 8-bit tile ``(H, W, 3)``: ``(p_C, p_D, w_h, w_v)``, as the official code builds them."""
    from ..ops.cscp import edge_weights, prep_prob
    from ..ops.superpixels import felzenszwalb

    labels = felzenszwalb(
        rgb, scale=config.felzenszwalb_scale, sigma=config.felzenszwalb_sigma, min_size=config.felzenszwalb_min_size
    )
    wh, wv = (w.to(clip_probs.device) for w in edge_weights(labels, w_in=config.w_in, w_cross=config.w_cross))
    return prep_prob(clip_probs, eps=config.prep_eps), prep_prob(dino_probs, eps=config.prep_eps), wh, wv


def cscp_refine(
    clip_probs: torch.Tensor, dino_probs: torch.Tensor, rgb: np.ndarray, config: SdciConfig
) -> CscpSolution:
    """CSCP (Eqs. 16-18): :func:`cscp_problem`, then the configured solver. Returns its solution: ``q``
    ``(C, H, W)`` on the simplex, iterations and energy; the relative duality gap for the fast solver (the
    reference PDHG has no certificate: NaN)."""
    from ..ops.cscp import (
        CscpParams,
        CscpSolution,
        FastCscpSettings,
        ReferencePdhgSettings,
        cscp_energy,
        solve_cscp,
        solve_cscp_reference,
    )

    problem = cscp_problem(clip_probs, dino_probs, rgb, config)
    params = CscpParams(lambda_c=config.lambda_c, lambda_d=config.lambda_d, beta=config.beta)
    if config.solver == "reference":
        settings = ReferencePdhgSettings(
            iterations=config.pdhg_iterations,
            tau=config.pdhg_tau,
            sigma=config.pdhg_sigma,
            theta=config.pdhg_theta,
            newton_steps=config.pdhg_newton_steps,
            bisection_steps=config.pdhg_bisection_steps,
        )
        q = solve_cscp_reference(*problem, params=params, settings=settings)
        return CscpSolution(q, config.pdhg_iterations, cscp_energy(q, *problem, params=params), float("nan"))
    fast = FastCscpSettings(config.cscp_tolerance, config.cscp_max_iterations, config.cscp_check_every)
    return solve_cscp(*problem, params=params, settings=fast)


def fuse_branches(clip_probs: torch.Tensor, dino_probs: torch.Tensor | None, config: SdciConfig) -> torch.Tensor:
    """The branches combined WITHOUT CSCP (Table 2's rows before "+ CSCP"): ``q = softmax(b / a)``.

    The paper does not say how its rows without CSCP turn the two branches into one map. We take the
    minimiser of CSCP's data term alone (Eq. 17 with ``beta = 0``): per pixel the
    ``lambda_c : lambda_d``-weighted geometric mean of the two ``prep_prob`` maps, renormalised. It is what
    the full method returns with the TV term switched off (the solvers' ``beta = 0`` result), so adding CSCP
    changes exactly one thing, the superpixel-weighted smoothing. ``dino_probs=None`` (one branch: the
    baseline, late fusion) gives the branch's own ``prep_prob`` map, the same rule with both terms on it.
    Returns ``(C, H, W)`` on the simplex.
    """
    import torch

    from ..ops.cscp import CscpParams, data_term, prep_prob

    params = CscpParams(lambda_c=config.lambda_c, lambda_d=config.lambda_d, beta=0.0)
    p_clip = prep_prob(clip_probs, eps=config.prep_eps)
    p_dino = p_clip if dino_probs is None else prep_prob(dino_probs, eps=config.prep_eps)
    return torch.softmax(data_term(p_clip, p_dino, params) / params.a, dim=0)


def _rgb8(tile: np.ndarray) -> np.ndarray:
    """An RGB tile ``(3, H, W)`` in 0..255 as the 8-bit ``(H, W, 3)`` image the official loader reads."""
    import numpy as np

    return np.clip(np.rint(np.asarray(tile).transpose(1, 2, 0)), 0, 255).astype(np.uint8)


def _on_grid(scores: torch.Tensor, grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token-major scores ``(N, C)`` as a map ``(C, gh, gw)`` and their final scores (maximum over patches,
    BCDR's rule for the branches that skip it)."""
    return scores.T.reshape(-1, *grid), scores.amax(dim=0)


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
        """Refined class probabilities ``(K, H, W)`` float32 for an RGB tile ``(3, H, W)`` in 0..255.

        The background class of the label set (if any) gets probability 0, as SDCI never predicts it.
        """
        import time

        import numpy as np
        import torch

        if self._labels is None or self._bank is None:
            raise RuntimeError("SdciMethod.prepare(labels) must be called before predict()")
        tile = np.asarray(tile)
        if tile.ndim != 3 or tile.shape[0] != 3 or min(tile.shape[1:]) < self.min_tile:
            raise InputError(f"SDCI needs an RGB tile (3, H, W) with H, W >= {self.min_tile}, got {tile.shape}")
        self.timings = {}
        clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            self.timings[stage] = now - clock
            clock = now

        rgb = _rgb8(tile)
        with torch.inference_mode():
            fg = self._refine(rgb, lap)
        labels = self._labels
        out = np.zeros((len(labels), *rgb.shape[:2]), dtype=np.float32)
        out[list(labels.foreground_indices)] = fg.cpu().numpy()
        return out

    def _semantic_branch(
        self, pixels: torch.Tensor, n_fg: int, lap: Any
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[int, int]]:
        """CLIP's side of CAF on normalised ``pixels``: the level scores ``(L, N, C)``, the last level's
        projected patch features ``(N, D)`` (BCDR's CLIP graph), ``A_N,clip`` ``(N, N)`` and the grid.
        Its large intermediates (levels, attention maps) are freed on return, before the VFM runs."""
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
        features = self.clip.project(tokens)[:, 1:]
        scores = caf.class_probabilities(features, self._bank, n_fg, self.config.logit_scale)
        lap("caf_levels")
        return scores, features[-1].float(), last_attention.float().mean(dim=0)[1:, 1:], grid

    def branch_maps(self, tile: np.ndarray) -> list[torch.Tensor]:
        """The branch probability maps ``(C, H, W)`` the last stage fuses (CSCP's ``p_C``, ``p_D`` for
        ``"full"``), foreground classes only; for stage tests and building real CSCP problems."""
        import torch

        if self._bank is None:
            raise RuntimeError("SdciMethod.prepare(labels) must be called before branch_maps()")
        rgb = _rgb8(tile)
        with torch.inference_mode():
            return self._branches(rgb, lambda stage: None)

    def _refine(self, rgb: np.ndarray, lap: Any) -> torch.Tensor:
        """The per-tile computation on an 8-bit tile ``(H, W, 3)``; foreground ``q`` ``(C, H, W)``.

        The parts that run are those of ``config.stages`` (:data:`STAGES`); ``"full"`` is the method.
        """
        probs = self._branches(rgb, lap)
        if STAGES[self.config.stages].cscp:
            solution = cscp_refine(probs[0], probs[1], rgb, self.config)
            lap("cscp")
            self.timings["cscp_iterations"] = float(solution.iterations)
            self.timings["cscp_relative_gap"] = solution.relative_gap
            return solution.q.float()
        q = fuse_branches(probs[0], probs[1] if len(probs) > 1 else None, self.config)
        lap("fusion")
        return q.float()

    def _branches(self, rgb: np.ndarray, lap: Any) -> list[torch.Tensor]:
        """CAF, BCDR and post-processing of ``config.stages`` on an 8-bit tile ``(H, W, 3)``: one or two
        branch maps ``(C, H, W)`` at tile size."""
        import torch

        from ..ops.graph import resample_grid
        from . import sdci_caf as caf

        cfg = self.config
        stages = STAGES[cfg.stages]
        assert self._bank is not None
        n_fg = self._bank.shape[0] - 2
        height, width = rgb.shape[:2]
        clip, vfm, rt = self.clip, self.vfm, self.runtime

        size = caf.scaled_size(height, width, cfg.clip_short_side, clip.patch_size)
        clip_scores, clip_last, a_clip, cgrid = self._semantic_branch(
            rt.cast(caf.clip_pixels(rgb, size, clip.mean, clip.std)), n_fg, lap
        )
        if not stages.vfm:
            s_clip = caf.cross_fuse(a_clip, None, clip_scores, cfg.last_level_ratio, cfg.lambda_1)
            lap("caf_fusion")
            return [branch_probabilities(*_on_grid(s_clip, cgrid), (height, width), cfg)]
        vsize = caf.scaled_size(height, width, cfg.vfm_short_side, vfm.patch_size)
        vfm_out = vfm.forward_layers(rt.cast(caf.vfm_pixels(rgb, vsize, vfm.mean, vfm.std)))
        lap("vfm_backbone")

        dino_layers = torch.stack([layer[0] for layer in vfm_out.layers])  # (12, N, 768)
        dino_scores = caf.class_probabilities(dino_layers, self._bank, n_fg, cfg.logit_scale)
        a_dino = vfm_out.mean_attention(patch_only=True)[0].float()
        dgrid = vfm_out.grid
        del vfm_out
        to_clip = caf.align_attention(a_dino, dgrid, cgrid) if stages.cross else None
        to_dino = caf.align_attention(a_clip, cgrid, dgrid) if stages.cross else None
        s_clip = caf.cross_fuse(a_clip, to_clip, clip_scores, cfg.last_level_ratio, cfg.lambda_1)
        s_dino = caf.cross_fuse(a_dino, to_dino, dino_scores, cfg.last_level_ratio, cfg.lambda_1)
        lap("caf_fusion")

        if stages.late_fusion:
            w = cfg.late_fusion_weight
            fused = (1.0 - w) * s_clip + w * resample_grid(s_dino, dgrid, cgrid)
            branches = [_on_grid(fused, cgrid)]
        elif stages.bcdr:
            clip_map, dino_map, clip_final, dino_final = bcdr(
                s_clip,
                s_dino,
                clip_features=clip_last,
                dino_features=dino_layers[-1],
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
