"""Settings of the AlignCLIP family and their working-memory estimate (``engine.methods.alignclip`` runs them).

Kept apart from the method so that the registry, the dock and Processing can read defaults and estimate a
run's memory without loading the networks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..cache.keys import label_dependent
from ..errors import InputError
from .base import config_with_params
from .param_choices import CLIP_ARCHITECTURES, TEMPLATE_SET_NAMES, VISION_FOUNDATION_MODELS

if TYPE_CHECKING:
    from ..labels import LabelSet

_UPSAMPLERS = ("jbu_one", "jbu_stack", "bilinear")
_SGA_SOURCES = ("patches", "upsampled")
_CCE_GRIDS = ("clip", "vfm")
_CCE_AFFINITIES = ("features", "attention")  # ops.alignment checks them when it runs
_CCE_PROPAGATIONS = ("clamp", "proxy")


@dataclass(frozen=True)
class AlignClipConfig:
    """Every setting of the family; the defaults are SegEarth-OV's code and the AlignCLIP paper's values.

    Baseline (SegEarth-OV ``configs/base_config.py`` and ``segearth_segmentor.py``):
    ``clip_arch`` ViT-B/16; ``templates`` the prompt template set (OpenAI's 80 for the baseline, the
    remote-sensing set for AlignCLIP, paper Sec. 3.1 / A.2); ``long_side`` 448 (None: no resize), sliding
    ``crop`` 224 and ``stride`` 112; ``cls_token_lambda`` -0.3: ``logits = cos(f, t) + lambda cos(CLS, t)``;
    ``logit_scale`` 50; ``prob_thd``: pixels whose best class probability is below it go to the label set's
    background class (0 = never, SegEarth-OV's default; the presets give the per-dataset values);
    ``upsampler`` ``jbu_one`` (SimFeatUp, what both papers use), ``jbu_stack`` or ``bilinear``;
    ``upsampler_checkpoint`` an explicit file for it (overrides the weights resolution, also with random
    backbones); ``windows_per_call`` the most sliding windows per forward pass, counted over all tiles of a
    batch (0, the default: all windows of the batch in one pass, bounded by the batch size the pipeline
    chooses from free memory and :func:`tile_bytes`; 1 = the reference's one-window loop, least memory).

    AlignCLIP: ``alpha`` (SGA balance, Eq. 7) and ``beta`` (fusion weight, Eq. 14), per dataset in the
    presets (Table 6); ``sga_top_n`` patches per prototype (1 = Eq. 6's argmax); ``sga_source`` where the
    prototypes come from (``patches``: the CLIP patch features P of Eq. 5; ``upsampled``: the upsampled
    features, Algorithm 1's ``image_features`` read literally in SegEarth-OV's code); ``sga_in_upsampled``
    whether the upsampled logits S_up (Eq. 13) use the aligned text T' (True) or the original T;
    ``vfm`` the vision foundation model (None: no CCE); ``vfm_input`` the side the window is resized to for
    the VFM (None: so that the VFM's patch grid equals CLIP's, e.g. 112 px for DINO /8, 224 px for SAM /16);
    ``cce_clusters`` K_c (Eq. 9); ``cce_affinity`` ``features`` (Algorithm 2) or ``attention`` (Sec. 3.3's
    text: the VFM's last-layer attention); ``cce_grid`` the grid CCE runs on (``clip``: the paper's N CLIP
    patches, VFM features resampled to it; ``vfm``: the VFM's grid, S' resampled to it);
    ``cce_normalize``, ``cce_propagation``, ``kmeans_iters``: see ``ops.alignment``.
    """

    clip_arch: str = field(default="ViT-B-16", metadata={
        "help": "CLIP model that scores the classes", "choices": CLIP_ARCHITECTURES})
    templates: str = field(default="openai_imagenet", metadata=label_dependent(
        help="Prompt templates each class name is put into", choices=TEMPLATE_SET_NAMES))
    long_side: int | None = field(default=448, metadata={
        "help": "The tile is resized so that its long side has this size (none: not resized)", "min": 1,
        "max": 8192, "unit": "px"})
    crop: int = field(default=224, metadata={
        "help": "Size of the sliding windows CLIP sees", "min": 1, "max": 4096, "unit": "px"})
    stride: int = field(default=112, metadata={
        "help": "Step between sliding windows", "min": 1, "max": 4096, "unit": "px"})
    cls_token_lambda: float = field(default=-0.3, metadata=label_dependent(
        help="Weight of the image's global (CLS) similarity added to each patch's", min=-10.0,
        max=10.0))
    logit_scale: float = field(default=50.0, metadata=label_dependent(
        help="Temperature of the class scores: higher makes them sharper", min=0.001, max=1000.0))
    prob_thd: float = field(default=0.0, metadata=label_dependent(
        help="Pixels whose best class probability is below this go to the background class (0: never)",
        min=0.0, max=1.0))
    upsampler: str = field(default="jbu_one", metadata={
        "help": "How CLIP's coarse features are brought to full resolution", "choices": _UPSAMPLERS})
    upsampler_checkpoint: str | None = field(default=None, metadata={
        "help": "A file with the upsampler's weights, instead of the one found in the weights folder"})
    windows_per_call: int = field(default=0, metadata={
        "help": "Most sliding windows per model call (0: all at once; 1 uses least memory)", "min": 0,
        "max": 100000})
    alpha: float = field(default=0.0, metadata=label_dependent(
        help="Balance of the self-guided text alignment (Eq. 7; 0: off)", min=0.0, max=1.0))
    beta: float = field(default=0.0, metadata=label_dependent(
        help="Weight of the foundation model's refinement in the fusion (Eq. 14; 0: off)", min=0.0,
        max=1.0))
    sga_top_n: int = field(default=1, metadata=label_dependent(
        help="Patches per class prototype in the text alignment", min=1, max=10000))
    sga_source: str = field(default="patches", metadata=label_dependent(
        help="Where the class prototypes come from: CLIP's patches or the upsampled features",
        choices=_SGA_SOURCES))
    sga_in_upsampled: bool = field(default=True, metadata=label_dependent(
        help="The upsampled scores use the aligned text"))
    vfm: str | None = field(default=None, metadata={
        "help": "Vision foundation model that refines the scores (none: no refinement)",
        "choices": VISION_FOUNDATION_MODELS})
    vfm_input: int | None = field(default=None, metadata={
        "help": "Size the window is resized to for the foundation model (none: its grid matches CLIP's)",
        "min": 1, "max": 4096, "unit": "px"})
    cce_clusters: int = field(default=3, metadata=label_dependent(
        help="Clusters of the foundation model's features per window", min=1, max=1000))
    cce_affinity: str = field(default="features", metadata={
        "help": "Affinity of the refinement: feature similarity or the model's attention",
        "choices": _CCE_AFFINITIES})
    cce_grid: str = field(default="clip", metadata=label_dependent(
        help="Grid the refinement runs on: CLIP's patches or the foundation model's", choices=_CCE_GRIDS))
    cce_normalize: bool = field(default=True, metadata=label_dependent(
        help="Normalise the features before their affinity is computed"))
    cce_propagation: str = field(default="clamp", metadata=label_dependent(
        help="How scores spread within a cluster", choices=_CCE_PROPAGATIONS))
    kmeans_iters: int = field(default=300, metadata=label_dependent(
        help="Iterations of the K-means clustering", min=1, max=100000))

    def __post_init__(self) -> None:
        """Reject values no run could use, with one clear line (:class:`InputError`)."""
        checks = (
            (self.upsampler in _UPSAMPLERS, f"upsampler must be one of {', '.join(_UPSAMPLERS)}"),
            (self.sga_source in _SGA_SOURCES, f"sga_source must be one of {', '.join(_SGA_SOURCES)}"),
            (self.cce_grid in _CCE_GRIDS, f"cce_grid must be one of {', '.join(_CCE_GRIDS)}"),
            (0.0 <= self.alpha <= 1.0 and 0.0 <= self.beta <= 1.0, "alpha and beta must be in [0, 1]"),
            (0.0 <= self.prob_thd <= 1.0, "prob_thd must be in [0, 1]"),
            (self.logit_scale > 0, "logit_scale must be positive"),
            (min(self.crop, self.stride, self.sga_top_n, self.cce_clusters) >= 1,
             "crop, stride, sga_top_n and cce_clusters must be at least 1"),
            (self.windows_per_call >= 0, "windows_per_call must be 0 (all windows at once) or positive"),
            (self.long_side is None or self.long_side >= 1, "long_side must be positive (or null)"),
            (self.vfm_input is None or self.vfm_input >= 1, "vfm_input must be positive (or null)"),
            (not (self.cce_affinity == "attention" and self.cce_grid == "clip" and self.vfm_input is not None),
             "cce_affinity 'attention' needs cce_grid 'vfm' or vfm_input null (grids must match)"),
        )
        for ok, message in checks:
            if not ok:
                raise InputError(f"AlignCLIP parameter error: {message}")


METHOD_CONFIGS: dict[str, AlignClipConfig] = {
    "segearth-ov": AlignClipConfig(),
    # alpha/beta without a preset: Table 6's most frequent values (alpha 0.3: Potsdam, Vaihingen, UDD5;
    # beta 0.2: LoveDA, iSAID, UDD5); the dataset presets carry the exact ones.
    "alignclip-d": AlignClipConfig(templates="alignclip_rs", alpha=0.3, beta=0.2, vfm="dino_vitb8"),
    "alignclip-s": AlignClipConfig(templates="alignclip_rs", alpha=0.3, beta=0.2, vfm="sam_vitb"),
}


def make_config(name: str, params: Mapping[str, Any] | None = None) -> AlignClipConfig:
    """The config of method ``name`` with ``params`` overriding fields; an unknown key is an InputError."""
    return config_with_params(METHOD_CONFIGS[name], params or {}, name)


# working memory of one predict call (bytes), measured on the CPU in fp32 and rounded up (docs/ARCHITECTURE.md):
# per window of a call, 36-63 MB without a feature cache and 75-92 MB with one (its entries included), for 9
# and 36 windows of segearth-ov / alignclip-d / alignclip-s (768 MB was one window's peak before the upsampler
# kept its stages tile by tile and before windows were batched; times 9 windows it refused 8 GB machines)
_WINDOW_BYTES = 128 * 1024**2  # one sliding window through CLIP, the upsampler and the VFM (crop 224)
_PER_PIXEL = 48  # the tile on the device, its normalised copy and the class maps' bookkeeping
_PER_QUERY_PIXEL = 12  # query logits at tile size: resized back, scaled, softmax, per-class gathers
_PER_CLASS_PIXEL = 12  # class maps, their sum and the returned array


def tile_bytes(config: AlignClipConfig, height: int, width: int, labels: LabelSet) -> int:
    """Peak working memory of :meth:`AlignClipMethod.predict` on a ``height`` x ``width`` tile (weights excluded);
    a batch of B tiles needs B times as much.

    The windows are ``crop``-sized whatever the tile (the tile is resized to ``long_side`` first), so their
    part is fixed per window in a call: the tile's windows (all of them with ``windows_per_call`` 0, else at
    most ``windows_per_call``); what grows with the tile are the query logits resized back to it (one per
    prompt of every class) and the class maps. Without ``long_side`` the sliding sums run at tile size too.
    """
    from ..ops.sliding import plan_windows, rescaled_size

    queries = sum(len(label.prompts) for label in labels)
    per_pixel = _PER_PIXEL + _PER_QUERY_PIXEL * queries + _PER_CLASS_PIXEL * len(labels)
    if config.long_side is None:
        per_pixel += 8 * queries  # the window sums and their average at tile size
    size = (height, width) if config.long_side is None else rescaled_size(height, width, config.long_side)
    count = len(plan_windows(*size, config.crop, config.stride))
    if config.windows_per_call:
        count = min(count, config.windows_per_call)
    windows = count * _WINDOW_BYTES * (config.crop / 224) ** 2
    return int(height * width * per_pixel + windows)
