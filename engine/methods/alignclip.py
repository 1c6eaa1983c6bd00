"""The AlignCLIP family: ``segearth-ov`` (the baseline), ``alignclip-d`` (with DINO), ``alignclip-s`` (with SAM).

SegEarth-OV (Li et al., CVPR 2025; likyoo/SegEarth-OV ``segearth_segmentor.py``) is CLIP ViT-B/16 whose last
block is replaced by ``softmax(q q^T s) + softmax(k k^T s) + softmax(v v^T s)`` applied to ``v`` (AlignCLIP
Eq. 2), a learned SimFeatUp upsampler and the CLS-token bias removal, run in 224 px sliding windows over the
image resized to a long side of 448. AlignCLIP (``docs/papers/alignclip-paper.md``) adds, inside each window,
Self-Guided Alignment of the text embeddings (SGA, Eqs. 5-8) and Cluster-Constrained Enhancement of the patch
logits with a vision foundation model (CCE, Eqs. 9-12), fused with the upsampled logits (Eq. 14).

Where each step sits and why is written down in ``docs/METHODS.md`` (AlignCLIP section); the numerical pieces live in
``ops.alignment``, ``ops.kmeans`` and ``ops.sliding``, the networks in ``backbones``.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cache.keys import method_key, weights_identity
from ..errors import InputError, MissingWeightsError
from .alignclip_config import METHOD_CONFIGS, AlignClipConfig, make_config, tile_bytes
from .base import cancel_point, register_method

if TYPE_CHECKING:
    import numpy as np
    import torch

    from ..backbones.clip import LastBlockContext
    from ..backbones.low_rank import LowRankFeatures, PendingLowRank
    from ..labels import LabelSet

__all__ = ["METHOD_CONFIGS", "AlignClipConfig", "AlignClipMethod", "class_probabilities", "dense_logits",
           "make_config", "segearth_last_block", "tile_bytes"]

LOGGER = logging.getLogger(__name__)


def segearth_last_block(ctx: LastBlockContext) -> torch.Tensor:
    """SegEarth-OV's last block (AlignCLIP Eq. 2): ``sum_{i in q,k,v} softmax(i i^T / sqrt(d)) v``.

    The block's ``ln_1`` and packed projections give q, k, v per head; the three self-similarity attentions
    are summed (not averaged), applied to v and passed through ``out_proj``. No residual and no MLP
    (SegEarth-OV's ``custom_attn`` with ``ignore_residual=True``).
    """
    from ..backbones.clip import attention_probs, merge_heads_and_project, qkv_heads

    q, k, v = qkv_heads(ctx.block, ctx.block.ln_1(ctx.x))
    weights = attention_probs(q, q) + attention_probs(k, k) + attention_probs(v, v)
    return merge_heads_and_project(ctx.block, weights @ v)


def dense_logits(
    feats: torch.Tensor | LowRankFeatures | PendingLowRank, cls_token: torch.Tensor, text: torch.Tensor,
    cls_lambda: float,
) -> torch.Tensor:
    """Patch or pixel logits with the CLS-token bias removal: ``cos(f, t) + lambda cos(CLS, t)``.

    ``feats (n, M, D)`` (or the upsampler's low-rank features of that shape), ``cls_token (n, D)``,
    ``text (Q, D)`` or per window ``(n, Q, D)`` (unit rows) -> ``(n, M, Q)`` float32 (AlignCLIP Eqs. 4, 8 and
    13 with SegEarth-OV's ``cls_token_lambda`` term).
    """
    import torch
    import torch.nn.functional as F

    cls_unit = F.normalize(cls_token.float(), dim=-1)
    text_t = text.float().transpose(-1, -2)
    # cos(f, t) as (f . t) / |f|: no normalised copy of the (n, M, D) pixel features (~100 MB per window)
    if isinstance(feats, torch.Tensor):
        feats = feats.float()
        dots, norms = feats @ text_t, feats.norm(dim=-1, keepdim=True)
    else:
        dots, norms = feats.dots_and_norms(text.float())
    logits = dots.div_(norms.clamp_min(1e-12))
    if cls_lambda:
        cls_logits = (cls_unit[:, None, :] @ text_t) if text.ndim == 3 else (cls_unit @ text_t)[:, None, :]
        logits = logits + cls_lambda * cls_logits
    return logits


def class_probabilities(
    logits: torch.Tensor,
    query_class: torch.Tensor,
    n_classes: int,
    logit_scale: float,
    *,
    prob_thd: float = 0.0,
    background: int | None = None,
) -> torch.Tensor:
    """SegEarth-OV's ``postprocess_result`` as probabilities: query logits ``(..., Q, H, W)`` -> ``(..., K, H, W)``.

    ``softmax(logit_scale * logits)`` over the Q queries (every prompt of every class is one query); per
    class the max over its queries' probabilities (``query_class[q]`` is the class of query q); pixels whose
    best class value is below ``prob_thd`` become the ``background`` class. The per-class maxima are then
    divided by their sum so that the result sums to 1 (argmax unchanged); thresholded pixels are one-hot on
    the background class, so the argmax is exactly SegEarth-OV's prediction.
    """
    probs = (logits.float() * logit_scale).softmax(dim=-3)
    owners = query_class.to(probs.device).view(-1, 1, 1).expand_as(probs)
    shape = (*probs.shape[:-3], n_classes, *probs.shape[-2:])
    # per class the max over its queries in one scatter (probabilities are >= 0, so 0 is a neutral start)
    per_class = probs.new_zeros(shape).scatter_reduce_(-3, owners, probs, reduce="amax")
    best = per_class.amax(dim=-3, keepdim=True)
    per_class = per_class / per_class.sum(dim=-3, keepdim=True)
    if background is not None and prob_thd > 0:
        low = best < prob_thd
        per_class = per_class.masked_fill(low, 0.0)
        per_class.narrow(-3, background, 1).masked_fill_(low, 1.0)
    return per_class


class AlignClipMethod:
    """One member of the family: CLIP + upsampler (+ VFM for SGA/CCE), built once, prepared per label set.

    ``upsampling`` names what upsamples CLIP's features (``jbu_one``, ``jbu_stack`` or ``bilinear``) and
    ``warnings`` holds the reasons for any fallback; both are in :attr:`metadata` for the run's output.
    Setting ``stage_times`` to a ``defaultdict(float)`` makes :meth:`predict` accumulate the seconds of each
    stage (``clip``, ``upsampler``, ``sga``, ``vfm``, ``cce``, ``fusion``, ``post``) into it (benchmarks).
    """

    min_tile = 64

    def __init__(
        self,
        name: str,
        config: AlignClipConfig,
        *,
        weights: str | Path = "default",
        weights_dir: str | Path | None = None,
        device: str = "auto",
        precision: str = "auto",
        seed: int = 0,
    ) -> None:
        from ..device import resolve_runtime
        from ..models import backbone_source, load_clip, load_vfm

        self.name = name
        self.config = config
        self.seed = seed
        self.runtime = resolve_runtime(device, precision)
        self._weights = weights
        self._weights_dir = weights_dir
        clip_source = backbone_source(config.clip_arch, weights, weights_dir)
        self._sources: list[str | Path] = [clip_source]
        self.clip = self.runtime.prepare(load_clip(config.clip_arch, clip_source, seed=seed))
        self.warnings: list[str] = []
        self.upsampler = self._load_upsampler()
        self.upsampling = config.upsampler if self.upsampler is not None else "bilinear"
        self.vfm = None
        if config.vfm is not None:
            vfm_source = backbone_source(config.vfm, weights, weights_dir)
            self._sources.append(vfm_source)
            self.vfm = self.runtime.prepare(load_vfm(config.vfm, vfm_source, seed=seed))
        self.stage_times: defaultdict[str, float] | None = None
        self._text: torch.Tensor | None = None
        self._query_class: torch.Tensor | None = None
        self._labels: LabelSet | None = None
        self._weights_id = weights_identity(self._sources, seed)

    @property
    def cache_key(self) -> str:
        """The method's part of its feature cache keys (:func:`engine.cache.method_key`), from the current config."""
        return method_key(self.name, self.config, self._weights_id, self.runtime.precision, str(self.runtime.device))

    @property
    def metadata(self) -> dict[str, str]:
        """What a run's output should record about this method beyond its parameters."""
        items = {"device": self.runtime.describe(), "upsampler": self.upsampling}
        if self.warnings:
            items["method_warning"] = " ".join(self.warnings)
        return items

    def tile_memory(self, height: int, width: int, labels: LabelSet) -> int:
        """Working memory of one :meth:`predict` call on a tile of this size (:func:`tile_bytes`)."""
        return tile_bytes(self.config, height, width, labels)

    def _load_upsampler(self) -> torch.nn.Module | None:
        """The configured SimFeatUp upsampler, or None (bilinear) when asked or when no checkpoint exists."""
        from ..models import backbone_source, load_upsampler, resolve_source

        kind = self.config.upsampler
        if kind == "bilinear":
            return None
        if self.config.upsampler_checkpoint is not None:
            source = resolve_source(kind, path=self.config.upsampler_checkpoint)
        else:
            try:
                source = backbone_source(kind, self._weights, self._weights_dir)
            except MissingWeightsError as exc:
                message = (f"no {kind} upsampler checkpoint, falling back to bilinear upsampling of the "
                           f"CLIP logits (results differ from the paper's): {exc}")
                LOGGER.warning(message)
                self.warnings.append(message)
                return None
        self._sources.append(source)
        module = load_upsampler(kind, source, dim=self.clip.embed_dim, seed=self.seed)
        return self.runtime.prepare(module)

    def prepare(self, labels: LabelSet) -> None:
        """Encode every prompt of every class as one query (SegEarth-OV's name lists) with the templates."""
        import torch

        from ..text.encoder import TextEncoder
        from ..text.templates import get_templates

        prompts = [prompt for label in labels for prompt in label.prompts]
        owners = [index for index, label in enumerate(labels) for _ in label.prompts]
        encoder = TextEncoder(self.clip, self.runtime)
        self._text = encoder.encode_prompts(prompts, get_templates(self.config.templates))
        self._query_class = torch.tensor(owners, dtype=torch.int64, device=self.runtime.device)
        self._labels = labels

    def predict(self, tile: np.ndarray) -> np.ndarray:
        """Class probabilities ``(K, H, W)`` float32 for an RGB tile ``(3, H, W)`` in 0..255: the batch of one."""
        if tile.ndim != 3 or tile.shape[0] != 3:
            raise InputError(f"{self.name} expects an RGB tile (3, H, W), got shape {tuple(tile.shape)}")
        return self.predict_batch(tile[None])[0]

    def predict_batch(self, tiles: np.ndarray) -> np.ndarray:
        """Class probabilities ``(B, K, H, W)`` float32 for RGB tiles ``(B, 3, H, W)`` in 0..255 of one size.

        Each tile is resized on its own exactly as :meth:`predict` would (8-bit tiles in OpenCV's fixed point,
        others in floating point), then the sliding windows of all tiles go through CLIP, the upsampler and
        the VFM together (``windows_per_call`` at a time; 0: all at once). Every window is computed on its
        own, so a tile's result does not depend on the others in the batch.
        """
        import torch
        import torch.nn.functional as F

        from ..ops.sliding import slide_inference

        if self._labels is None or self._text is None or self._query_class is None:
            raise RuntimeError("call prepare(labels) before predict(tile)")
        if tiles.ndim != 4 or tiles.shape[1] != 3:
            raise InputError(f"{self.name} expects RGB tiles (B, 3, H, W), got shape {tuple(tiles.shape)}")
        cfg = self.config
        size = (int(tiles.shape[2]), int(tiles.shape[3]))
        with torch.no_grad():
            images = torch.stack([self._normalised(tile) for tile in tiles])
            logits = slide_inference(
                images, self._window_logits, cfg.crop, cfg.stride, pad_multiple=self.clip.patch_size,
                windows_per_call=cfg.windows_per_call or None,
            )
            if tuple(logits.shape[-2:]) != size:
                logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
            with self._stage("post"):
                probs = class_probabilities(
                    logits, self._query_class, len(self._labels), cfg.logit_scale,
                    prob_thd=cfg.prob_thd, background=self._labels.background,
                )
        return probs.cpu().numpy().astype("float32", copy=False)

    def _normalised(self, tile: np.ndarray) -> torch.Tensor:
        """One tile resized to ``long_side`` and CLIP-normalised on the device, ``(3, h, w)`` float32.

        8-bit tiles are resized in OpenCV's fixed point (``resize_tile_8bit``) before normalising; any other
        tile is normalised and then resized in floating point (``resize_long_side``), SegEarth-OV's order."""
        import torch

        from ..ops.resize_u8 import resize_tile_8bit
        from ..ops.sliding import resize_long_side

        pixels, long_side = resize_tile_8bit(tile, self.config.long_side)
        image = torch.as_tensor(pixels, dtype=torch.float32, device=self.runtime.device) / 255.0
        mean = torch.tensor(self.clip.mean, device=image.device)[:, None, None]
        std = torch.tensor(self.clip.std, device=image.device)[:, None, None]
        normed = (image - mean) / std
        return normed if long_side is None else resize_long_side(normed[None], long_side)[0]

    @contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        """Accumulate the wall time of a stage into :attr:`stage_times` when it is set; each stage starts at a
        :func:`~.base.cancel_point`, so a cancel acts within a batch."""
        cancel_point()
        if self.stage_times is None:
            yield
            return
        start = time.perf_counter()
        yield
        if self.runtime.device.type == "cuda":
            import torch

            torch.cuda.synchronize(self.runtime.device)
        self.stage_times[name] += time.perf_counter() - start

    def _window_logits(self, crops: torch.Tensor) -> torch.Tensor:
        """Query logits ``(n, Q, h, w)`` of CLIP-normalised windows ``(n, 3, h, w)`` (the sliding unit).

        Baseline: S_up = sim(featup(P), T) (Eq. 13 with the CLS bias term). AlignCLIP: T' from SGA on the
        window's patches (Eq. 7), S' = sim(P, T') (Eq. 8), CCE on the VFM features of the same window
        (Eqs. 9-12), S_final = beta Interpolate(S_hat) + (1 - beta) S_up (Eq. 14). Everything before the text
        enters comes from :meth:`_window_features` (cached per window when the run has a cache).
        """
        import torch.nn.functional as F

        cfg = self.config
        assert self._text is not None
        feats = self._window_features(crops)
        tokens, grid = feats["tokens"], feats["grid"]
        cls_token, patches = tokens[:, 0], tokens[:, 1:]
        size = tuple(crops.shape[-2:])
        upsampled = feats.get("pending")
        if "coords" in feats:
            from ..backbones.low_rank import LowRankFeatures

            upsampled = LowRankFeatures(feats["coords"].float(), feats["basis"], feats["offset"], feats["order"])
        if upsampled is not None and cfg.alpha > 0 and cfg.sga_source == "upsampled":
            upsampled = upsampled.finish()  # the features are read twice: run the last stage once
        with self._stage("sga"):
            text = self._text
            if cfg.alpha > 0:
                from ..ops.alignment import self_guided_alignment

                source = patches if cfg.sga_source == "patches" or upsampled is None else upsampled.dense()
                text = self_guided_alignment(source, self._text, cfg.alpha, cfg.sga_top_n)
        with self._stage("upsampler"):
            up_text = text if cfg.sga_in_upsampled else self._text
            if upsampled is None:
                s_up = dense_logits(patches, cls_token, up_text, cfg.cls_token_lambda)
                s_up = F.interpolate(_to_maps(s_up, grid), size=size, mode="bilinear", align_corners=False)
            else:
                s_up = _to_maps(dense_logits(upsampled, cls_token, up_text, cfg.cls_token_lambda), size)
        if self.vfm is None:
            return s_up
        s_prime = dense_logits(patches, cls_token, text, cfg.cls_token_lambda)
        return self._enhance(feats, s_prime, grid, s_up)

    def _window_features(self, crops: torch.Tensor) -> dict[str, Any]:
        """What the windows give before the text enters (:meth:`_compute_features`), per window from the run's
        cache (:func:`engine.cache.active_cache`) where present, keyed by the window's content hash."""
        from ..cache import RowLookup, active_cache, content_hash

        if active_cache() is None:
            contents = [""] * len(crops)
        else:
            host = crops.detach().cpu()  # one transfer for the batch, then a hash per window
            contents = [content_hash(crop) for crop in host]
        lookup = RowLookup(self.cache_key, "window", contents, self.runtime.device, _SHARED)
        if lookup.missing:
            lookup.fill(self._compute_features(crops[lookup.missing], stored=lookup.cache is not None))
        return lookup.merged()

    def _compute_features(self, crops: torch.Tensor, stored: bool) -> dict[str, Any]:
        """The label-independent part of :meth:`_window_logits` for windows ``(n, 3, h, w)``: CLIP's projected
        last-block tokens ``tokens`` (CLS first) and ``grid``; the upsampled features in low-rank form: to be
        ``stored`` in a cache, finished (``coords`` in the dtype the upsampler computed them, exact, ``basis``,
        ``offset``, ``order``), else ``pending`` (:class:`PendingLowRank`: the upsampler's last stage then runs
        fused with the logits, without writing the full-size coordinates); the VFM's features
        ``vfm_features``, ``vfm_grid`` and, for ``cce_affinity="attention"``, ``vfm_attention``."""
        cfg = self.config
        with self._stage("clip"):
            out = self.clip.encode_image_layers(
                self.runtime.cast(crops), last_block=segearth_last_block, need_attention=False
            )
            tokens = self.clip.project(out.last).float()
        feats: dict[str, Any] = {"tokens": tokens, "grid": tuple(out.grid)}
        with self._stage("upsampler"):
            pending = self._upsample(tokens[:, 1:], out.grid, crops)
            if pending is not None and not stored:
                feats["pending"] = pending
            elif pending is not None:
                upsampled = pending.finish()
                feats.update(coords=upsampled.coords.to(self.upsampler_dtype), basis=upsampled.basis,
                             offset=upsampled.offset, order=upsampled.order)
        if self.vfm is not None:
            with self._stage("vfm"):
                vfm_out = self.vfm.forward_layers(self._vfm_input(crops))
                feats.update(vfm_features=vfm_out.features.float(), vfm_grid=tuple(vfm_out.grid))
                if cfg.cce_affinity == "attention":
                    feats["vfm_attention"] = vfm_out.mean_attention(patch_only=True)
        return feats

    @property
    def upsampler_dtype(self) -> torch.dtype:
        """The dtype the upsampler's stages compute in (its coordinates are exact in it)."""
        assert self.upsampler is not None
        return next(self.upsampler.parameters()).dtype

    def _upsample(
        self, patches: torch.Tensor, grid: tuple[int, int], crops: torch.Tensor
    ) -> PendingLowRank | None:
        """SimFeatUp features ``(n, h*w, D)`` guided by the normalised windows, before the last stage, or None
        without upsampler.

        They are kept in the basis of each window's patch features (``forward_pending``): the logits need
        only their dot products with the text and their norms, which that gives exactly in h*w/16^2 < D
        channels (196 instead of 512 for windows of 224)."""
        if self.upsampler is None:
            return None
        maps = patches.transpose(1, 2).reshape(patches.shape[0], -1, *grid)
        return self.upsampler.forward_pending(maps, self.runtime.cast(crops))

    def _vfm_input(self, crops: torch.Tensor) -> torch.Tensor:
        """The windows re-normalised for the VFM and resized to its input size (see ``vfm_input``)."""
        import torch
        import torch.nn.functional as F

        assert self.vfm is not None
        h, w = crops.shape[-2:]
        vfm_patch, clip_patch = self.vfm.patch_size, self.clip.patch_size
        if self.config.vfm_input is None:
            size = (h // clip_patch * vfm_patch, w // clip_patch * vfm_patch)
        else:
            scale = self.config.vfm_input / max(h, w)
            size = tuple(max(1, round(side * scale / vfm_patch)) * vfm_patch for side in (h, w))
        clip_mean = torch.tensor(self.clip.mean, device=crops.device)[:, None, None]
        clip_std = torch.tensor(self.clip.std, device=crops.device)[:, None, None]
        vfm_mean = torch.tensor(self.vfm.mean, device=crops.device)[:, None, None]
        vfm_std = torch.tensor(self.vfm.std, device=crops.device)[:, None, None]
        pixels = crops.float() * clip_std + clip_mean
        if tuple(size) != (h, w):
            pixels = F.interpolate(pixels, size=size, mode="bilinear", align_corners=False,
                                   antialias=size[0] < h)
        return self.runtime.cast((pixels - vfm_mean) / vfm_std)

    def _enhance(
        self,
        feats: dict[str, Any],
        s_prime: torch.Tensor,
        grid: tuple[int, int],
        s_up: torch.Tensor,
    ) -> torch.Tensor:
        """CCE on each window's grid (Eqs. 9-12) with the VFM features of :meth:`_compute_features`, all windows
        at once, and the fusion with the upsampled logits (Eq. 14)."""
        import torch.nn.functional as F

        from ..ops.alignment import cluster_constrained_enhancement, fuse_logits

        cfg = self.config
        vfm_feats, vgrid = feats["vfm_features"], feats["vfm_grid"]
        attention = feats.get("vfm_attention")
        if cfg.cce_grid == "clip":
            cce_grid = grid
            if vgrid != grid:
                maps = F.interpolate(_to_maps(vfm_feats, vgrid), size=grid, mode="bilinear",
                                     align_corners=False, antialias=vgrid[0] > grid[0])
                vfm_feats = maps.flatten(2).transpose(1, 2)
            logits = s_prime
        else:
            cce_grid = vgrid
            maps = F.interpolate(_to_maps(s_prime, grid), size=vgrid, mode="bilinear", align_corners=False)
            logits = maps.flatten(2).transpose(1, 2)
        with self._stage("cce"):
            s_hat = cluster_constrained_enhancement(
                vfm_feats, logits, cfg.cce_clusters,
                affinity=cfg.cce_affinity,  # type: ignore[arg-type]
                attention=attention,
                normalize=cfg.cce_normalize, propagation=cfg.cce_propagation,  # type: ignore[arg-type]
                seed=self.seed, kmeans_iters=cfg.kmeans_iters,
            )
        with self._stage("fusion"):
            return fuse_logits(_to_maps(s_hat, cce_grid), s_up, cfg.beta)


# entry items shared by every window of a batch (not sliced per window): grids, the upsampler's offset and
# the pixel order of its coordinates
_SHARED = frozenset({"grid", "vfm_grid", "offset", "order"})


def _to_maps(values: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """``(n, h*w, C)`` row-major grid values -> ``(n, C, h, w)`` maps."""
    return values.transpose(1, 2).reshape(values.shape[0], values.shape[2], *grid)


def _factory(name: str, description: str, checkpoints: tuple[str, ...]) -> None:
    """Register method ``name`` (config :data:`METHOD_CONFIGS` ``[name]``) with the method registry."""

    def build(
        *,
        weights: str | Path = "default",
        weights_dir: str | Path | None = None,
        device: str = "auto",
        precision: str = "auto",
        seed: int = 0,
        params: Mapping[str, Any] | None = None,
    ) -> AlignClipMethod:
        """Build the method from its config with ``params`` applied."""
        return AlignClipMethod(
            name, make_config(name, params), weights=weights, weights_dir=weights_dir, device=device,
            precision=precision, seed=seed,
        )

    def planned_memory(params: Mapping[str, Any], height: int, width: int, labels: LabelSet) -> int:
        """:func:`tile_bytes` of the config ``params`` give, before the method is built."""
        return tile_bytes(make_config(name, params), height, width, labels)

    register_method(
        name,
        description,
        checkpoints,
        AlignClipConfig,
        AlignClipMethod.min_tile,
        defaults=METHOD_CONFIGS[name],
        tile_memory=planned_memory,
    )(build)


_factory(
    "segearth-ov",
    "SegEarth-OV: CLIP ViT-B/16 with q-q + k-k + v-v last-layer attention and the SimFeatUp upsampler",
    ("clip-vit-b-16", "simfeatup-jbu-one-clip-b16"),
)
_factory(
    "alignclip-d",
    "AlignCLIP-D: SegEarth-OV + self-guided alignment + cluster-constrained enhancement with DINO ViT-B/8",
    ("clip-vit-b-16", "simfeatup-jbu-one-clip-b16", "dino-vitb8"),
)
_factory(
    "alignclip-s",
    "AlignCLIP-S: SegEarth-OV + self-guided alignment + cluster-constrained enhancement with SAM ViT-B",
    ("clip-vit-b-16", "simfeatup-jbu-one-clip-b16", "sam-vitb"),
)
