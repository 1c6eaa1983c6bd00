"""SDCI (CAF, BCDR, CSCP) as the methods ``sdci-v1`` (CLIP ViT-L/14 + DINO ViT-B/8) and ``sdci-v2``
(CLIP ViT-L/14 + DINOv2 ViT-B/14 with registers).

What runs per tile, following the official code (``yu-ni1989/SDCI`` @7f33971) where it differs from the
paper text (docs/METHODS.md, SDCI section, lists every such place):

- CAF (Eqs. 1-9): :mod:`.sdci_caf`;
- BCDR (Eqs. 10-15): KNN transition graphs from the LAST CLIP level and the last DINO layer
  (:func:`engine.ops.graph.knn_transition`), the CLIP scores resampled to the DINO grid and diffused on the
  DINO graph, the DINO scores resampled to the CLIP grid and diffused on the CLIP graph
  (:func:`engine.ops.graph.diffuse`, 40 steps, fp16 iterates as the official run) - :func:`.sdci_refine.bcdr`;
- post-processing (``ovs/main.py`` and ``cam_to_label``): :func:`.sdci_refine.branch_probabilities`;
- CSCP (Eqs. 16-18): superpixels on the tile, edge weights, ``prep_prob`` and the solver of
  :mod:`engine.ops.cscp` (fast by default, the reference PDHG selectable) - :func:`.sdci_refine.cscp_refine`.

``SdciConfig.stages`` (:mod:`.sdci_config`) selects a row of the paper's ablation (Table 2, Sec. 4.3; the
official code has no switch for it): :data:`STAGES` says which parts run, :func:`.sdci_refine.fuse_branches`
combines the branches without CSCP.

This module only imports the standard library at import time (the method registry loads it when listing
methods); torch and the backbones are imported when a method is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cache.keys import method_key, weights_identity
from ..errors import InputError
from .base import cancel_point, config_with_params, register_method
from .sdci_config import STAGES, VARIANTS, SdciConfig, tile_bytes
from .sdci_refine import (
    bcdr,
    branch_probabilities,
    cscp_refine_batch,
    fuse_branches,
    on_grid,
    superpixels_in_background,
)

if TYPE_CHECKING:
    import numpy as np
    import torch

    from ..backbones.clip import ClipBackbone
    from ..backbones.vfm import VisionFoundationModel
    from ..device import Runtime
    from ..labels import LabelSet


def _rgb8(tiles: np.ndarray) -> np.ndarray:
    """RGB tiles ``(..., 3, H, W)`` in 0..255 as the 8-bit ``(..., H, W, 3)`` images the official loader reads."""
    import numpy as np

    return np.clip(np.rint(np.moveaxis(np.asarray(tiles), -3, -1)), 0, 255).astype(np.uint8)


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
        weights_id: str = "",
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
        self._weights_id = weights_id

    @property
    def cache_key(self) -> str:
        """The method's part of its feature cache keys (:func:`engine.cache.method_key`), from the current config."""
        return method_key(self.name, self.config, self._weights_id, self.runtime.precision, str(self.runtime.device))

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

        from ..cache import active_cache, content_hash

        rgb = _rgb8(tiles)
        labels = self._labels
        contents = [content_hash(image) for image in rgb] if active_cache() is not None else [""] * len(rgb)
        out = np.zeros((len(rgb), len(labels), *rgb.shape[1:3]), dtype=np.float32)
        with torch.inference_mode():
            out[:, list(labels.foreground_indices)] = self._refine(rgb, lap, contents).cpu().numpy()
        return out

    def _clip_features(self, pixels: torch.Tensor, lap: Any) -> dict[str, Any]:
        """CLIP's label-independent side of CAF on normalised ``pixels`` ``(B, 3, h, w)``: the fused levels'
        projected patch features ``features`` ``(B, L, N, D)``, ``A_N,clip`` ``a_clip`` ``(B, N, N)`` and the
        ``grid``. Its large intermediates (levels, attention maps) are freed on return, before the VFM runs."""
        import torch

        from . import sdci_caf as caf

        levels = caf.clip_levels(
            self.clip, pixels, getattr(torch, self.config.attention_dtype), self.config.clip_pos_embed_fp16
        )
        lap("clip_backbone")
        tokens, last_attention = caf.fused_level_tokens(
            self.clip.blocks[-1], levels.levels, levels.attention_sum, self.config.sinkhorn_tolerance
        )
        grid = tuple(levels.grid)
        del levels
        features = self.clip.project(tokens)[..., 1:, :]
        return {"features": features, "a_clip": last_attention.float().mean(dim=1)[:, 1:, 1:], "grid": grid}

    def _vfm_features(self, vpixels: torch.Tensor) -> dict[str, Any]:
        """The VFM's label-independent outputs on normalised ``vpixels``: its layers' patch features ``layers``
        ``(B, 12, N, 768)``, the mean last-layer patch attention ``a_dino`` ``(B, N, N)`` and the ``grid``."""
        import torch

        vfm_out = self.vfm.forward_layers(self.runtime.cast(vpixels))
        return {
            "layers": torch.stack(vfm_out.layers, dim=1),
            "a_dino": vfm_out.mean_attention(patch_only=True).float(),
            "grid": tuple(vfm_out.grid),
        }

    def branch_maps(self, tile: np.ndarray) -> list[torch.Tensor]:
        """The branch probability maps ``(C, H, W)`` the last stage fuses (CSCP's ``p_C``, ``p_D`` for
        ``"full"``), foreground classes only; for stage tests and building real CSCP problems."""
        import torch

        if self._bank is None:
            raise RuntimeError("SdciMethod.prepare(labels) must be called before branch_maps()")
        rgb = _rgb8(tile)
        with torch.inference_mode():
            return [probs[0] for probs in self._branches(rgb[None], lambda stage: None, [""])]

    def _refine(self, rgb: np.ndarray, lap: Any, contents: list[str]) -> torch.Tensor:
        """The computation on 8-bit tiles ``(B, H, W, 3)``; foreground ``q`` ``(B, C, H, W)``.

        The parts that run are those of ``config.stages`` (:data:`STAGES`); ``"full"`` is the method. With
        CSCP the superpixels start in worker threads before the backbones and are collected after BCDR.
        ``contents`` are the tiles' content hashes (the run's cache holds the superpixel edge weights and the
        backbones' outputs per tile; empty strings without a cache).
        """
        import torch

        from ..cache import RowLookup

        if not STAGES[self.config.stages].cscp:
            probs = self._branches(rgb, lap, contents)
            q = fuse_branches(probs[0], probs[1] if len(probs) > 1 else None, self.config)
            lap("fusion")
            return q.float()
        lookup = RowLookup(self.cache_key, "superpixels", contents)
        with superpixels_in_background(rgb[lookup.missing], self.config) as pending:
            probs = self._branches(rgb, lap, contents)
            weights = [future.result() for future in pending]
        if weights:
            horizontal, vertical = zip(*weights, strict=True)
            lookup.fill({"wh": torch.stack(horizontal), "wv": torch.stack(vertical)})
        merged = lookup.merged()
        device = probs[0].device
        wh, wv = (merged[name].to(device, non_blocking=True) for name in ("wh", "wv"))
        solutions = cscp_refine_batch(probs[0], probs[1], (wh, wv), self.config)
        lap("cscp")
        self.timings["cscp_iterations"] = float(max(solution.iterations for solution in solutions))
        self.timings["cscp_relative_gap"] = max(solution.relative_gap for solution in solutions)
        return torch.stack([solution.q for solution in solutions]).float()

    def _branches(self, rgb: np.ndarray, lap: Any, contents: list[str]) -> list[torch.Tensor]:
        """CAF, BCDR and post-processing of ``config.stages`` on 8-bit tiles ``(B, H, W, 3)``: one or two
        branch maps ``(B, C, H, W)`` at tile size. The backbones' outputs come from the run's cache where it
        has them (``contents``: the tiles' content hashes)."""
        import torch

        from ..cache import RowLookup
        from ..ops.graph import resample_grid
        from . import sdci_caf as caf

        cfg = self.config
        stages = STAGES[cfg.stages]
        assert self._bank is not None
        n_fg = self._bank.shape[0] - 2
        height, width = rgb.shape[1:3]
        clip, vfm, rt = self.clip, self.vfm, self.runtime

        grids = frozenset({"grid"})
        lookup = RowLookup(self.cache_key, "clip", contents, rt.device, grids)
        if lookup.missing:
            size = caf.scaled_size(height, width, cfg.clip_short_side, clip.patch_size)
            pixels = torch.cat([caf.clip_pixels(image, size, clip.mean, clip.std) for image in rgb[lookup.missing]])
            lookup.fill(self._clip_features(rt.cast(pixels), lap))
        semantic = lookup.merged()
        clip_scores = caf.class_probabilities(semantic["features"], self._bank, n_fg, cfg.logit_scale)
        clip_last, a_clip, cgrid = semantic["features"][:, -1].float(), semantic["a_clip"], semantic["grid"]
        lap("caf_levels")
        if not stages.vfm:
            s_clip = caf.cross_fuse(a_clip, None, clip_scores, cfg.last_level_ratio, cfg.lambda_1)
            lap("caf_fusion")
            return [branch_probabilities(*on_grid(s_clip, cgrid), (height, width), cfg)]
        lookup = RowLookup(self.cache_key, "vfm", contents, rt.device, grids)
        if lookup.missing:
            vsize = caf.scaled_size(height, width, cfg.vfm_short_side, vfm.patch_size)
            vpixels = torch.cat([caf.vfm_pixels(image, vsize, vfm.mean, vfm.std) for image in rgb[lookup.missing]])
            lookup.fill(self._vfm_features(vpixels))
        lap("vfm_backbone")
        structural = lookup.merged()
        dino_layers, a_dino, dgrid = structural["layers"], structural["a_dino"], structural["grid"]  # (B, 12, N, 768)
        dino_scores = caf.class_probabilities(dino_layers, self._bank, n_fg, cfg.logit_scale)
        to_clip = caf.align_attention(a_dino, dgrid, cgrid) if stages.cross else None
        to_dino = caf.align_attention(a_clip, cgrid, dgrid) if stages.cross else None
        s_clip = caf.cross_fuse(a_clip, to_clip, clip_scores, cfg.last_level_ratio, cfg.lambda_1)
        s_dino = caf.cross_fuse(a_dino, to_dino, dino_scores, cfg.last_level_ratio, cfg.lambda_1)
        lap("caf_fusion")

        if stages.late_fusion:
            w = cfg.late_fusion_weight
            fused = (1.0 - w) * on_grid(s_clip, cgrid)[0] + w * resample_grid(on_grid(s_dino, dgrid)[0], dgrid, cgrid)
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
            branches = [on_grid(s_clip, cgrid), on_grid(s_dino, dgrid)]
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
    identity = weights_identity((clip_source, vfm_source), seed)
    return SdciMethod(name, config, clip=clip, vfm=vfm, runtime=runtime, weights_note=note, weights_id=identity)


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
