"""SDCI's settings as data: :class:`SdciConfig` (every default of the paper and the official code), the
ablation rows :data:`STAGES` (Table 2), the two published variants :data:`VARIANTS` and the per-tile memory
estimate :func:`tile_bytes` the pipeline sizes batches with. Imports only the standard library."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as _field
from typing import TYPE_CHECKING

from ..cache.keys import label_dependent
from ..errors import InputError
from .param_choices import CLIP_ARCHITECTURES, TEMPLATE_SET_NAMES, VISION_FOUNDATION_MODELS

if TYPE_CHECKING:
    from ..labels import LabelSet

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

    clip_arch: str = _field(default="ViT-L-14", metadata={
        "help": "CLIP model that scores the classes (ViT-L/14 is the paper's)", "choices": CLIP_ARCHITECTURES})
    vfm: str = _field(default="dinov2_vitb14_reg", metadata={
        "help": "Vision foundation model of the structural branch", "choices": VISION_FOUNDATION_MODELS})
    clip_short_side: int = _field(default=512, metadata={
        "help": "CLIP sees the tile with its short side scaled to this size", "min": 32, "max": 4096,
        "unit": "px"})
    clip_pos_embed_fp16: bool = _field(default=True, metadata={
        "help": "Round CLIP's resized position embeddings to float16, as the official code does"})
    vfm_short_side: int = _field(default=532, metadata={
        "help": "The foundation model sees the tile with its short side scaled to this size", "min": 32,
        "max": 4096, "unit": "px"})
    templates: str = _field(default="sdci_rs", metadata=label_dependent(
        help="Prompt templates each class name is put into", choices=TEMPLATE_SET_NAMES))
    other_prompt: str = _field(default="other", metadata=label_dependent(
        help="Text of the extra query for what no class describes"))
    logit_scale: float = _field(default=50.0, metadata=label_dependent(
        help="Temperature of the class scores: higher makes them sharper", min=0.0, max=1000.0))
    lambda_1: float = _field(default=1.0, metadata=label_dependent(
        help="Weight of the other branch's attention in the cross-attention fusion (Eqs. 8-9)",
        min=0.0, max=100.0))
    last_level_ratio: float = _field(default=0.2, metadata=label_dependent(
        help="Share of the last layer in the multi-level fusion", min=0.0, max=1.0))
    attention_dtype: str = _field(default="float32", metadata={
        "help": "Number format of the attention maps", "choices": _ATTENTION_DTYPES})
    sinkhorn_tolerance: float = _field(default=1e-6, metadata={
        "help": "When the Sinkhorn normalisation of the attention stops", "min": 0.0, "max": 1.0})
    knn_k: int = _field(default=30, metadata={
        "help": "Neighbours per patch in the diffusion graph", "min": 1, "max": 1000})
    knn_tau: float = _field(default=0.07, metadata={
        "help": "Temperature of the neighbour weights in the diffusion graph", "min": 0.0, "max": 10.0})
    diffusion_alpha: float = _field(default=0.9, metadata=label_dependent(
        help="How far the scores spread over the graph in each step (below 1)", min=0.0, max=0.999))
    diffusion_steps: int = _field(default=40, metadata=label_dependent(
        help="Diffusion steps over the graph", min=0, max=10000))
    diffusion_dtype: str = _field(default="float16", metadata=label_dependent(
        help="Number format of the diffusion", choices=_DIFFUSION_DTYPES))
    diffusion_closed_form: bool = _field(default=False, metadata=label_dependent(
        help="Solve the diffusion exactly instead of by steps"))
    score_threshold: float = _field(default=0.5, metadata=label_dependent(
        help="Classes whose best score stays below this are dropped from the tile", min=0.0,
        max=1.0))
    score_max_eps: float = _field(default=1e-5, metadata=label_dependent(
        help="Guard against division by zero when scores are scaled by their maximum", min=0.0,
        max=1.0))
    minmax_eps: float = _field(default=1e-6, metadata=label_dependent(
        help="Guard against division by zero in the min-max scaling", min=0.0, max=1.0))
    prep_eps: float = _field(default=1e-6, metadata=label_dependent(
        help="Smallest probability fed to the superpixel refinement", min=0.0, max=1.0))
    lambda_c: float = _field(default=1.0, metadata=label_dependent(
        help="Weight of CLIP's scores in the superpixel refinement (CSCP)", min=0.0, max=100.0))
    lambda_d: float = _field(default=0.2, metadata=label_dependent(
        help="Weight of the foundation model's scores in the superpixel refinement", min=0.0,
        max=100.0))
    beta: float = _field(default=0.1, metadata=label_dependent(
        help="Smoothness between neighbouring superpixels", min=0.0, max=100.0))
    w_in: float = _field(default=1.0, metadata={
        "help": "Edge weight between pixels of one superpixel", "min": 0.0, "max": 100.0})
    w_cross: float = _field(default=0.1, metadata={
        "help": "Edge weight across superpixel borders", "min": 0.0, "max": 100.0})
    felzenszwalb_scale: float = _field(default=40.0, metadata={
        "help": "Superpixel scale: larger gives larger superpixels", "min": 0.0, "max": 10000.0})
    felzenszwalb_sigma: float = _field(default=0.8, metadata={
        "help": "Smoothing before the superpixels are found", "min": 0.0, "max": 100.0, "unit": "px"})
    felzenszwalb_min_size: int = _field(default=20, metadata={
        "help": "Smallest superpixel", "min": 1, "max": 100000, "unit": "px"})
    solver: str = _field(default="fast", metadata=label_dependent(
        help="Superpixel refinement solver: fast stops at a tolerance; reference is the official one",
        choices=_SOLVERS))
    pdhg_iterations: int = _field(default=100, metadata=label_dependent(
        help="Iterations of the reference solver", min=1, max=100000))
    pdhg_tau: float = _field(default=0.25, metadata=label_dependent(
        help="Primal step of the reference solver", min=0.0, max=10.0))
    pdhg_sigma: float = _field(default=0.25, metadata=label_dependent(
        help="Dual step of the reference solver", min=0.0, max=10.0))
    pdhg_theta: float = _field(default=1.0, metadata=label_dependent(
        help="Over-relaxation of the reference solver", min=0.0, max=10.0))
    pdhg_newton_steps: int = _field(default=5, metadata=label_dependent(
        help="Newton steps per iteration of the reference solver", min=0, max=1000))
    pdhg_bisection_steps: int = _field(default=10, metadata=label_dependent(
        help="Bisection steps per iteration of the reference solver", min=0, max=1000))
    cscp_tolerance: float = _field(default=0.003, metadata=label_dependent(
        help="The fast solver stops at this relative duality gap", min=0.0, max=1.0))
    cscp_max_iterations: int = _field(default=400, metadata=label_dependent(
        help="Most iterations of the fast solver", min=1, max=100000))
    cscp_check_every: int = _field(default=5, metadata=label_dependent(
        help="The fast solver checks the gap every this many iterations", min=1, max=100000))
    stages: str = _field(default="full", metadata={
        "help": "Which parts of SDCI run (the ablation rows of Table 2)", "choices": tuple(STAGES)})
    late_fusion_weight: float = _field(default=0.5, metadata=label_dependent(
        help="Weight of the foundation model's scores when the stages sum the branches", min=0.0,
        max=1.0))

    def __post_init__(self) -> None:
        """Reject values the method cannot run with (one-line :class:`InputError`)."""
        from ..ops.cscp import FastCscpSettings

        choices = (
            ("solver", self.solver, _SOLVERS),
            ("diffusion_dtype", self.diffusion_dtype, _DIFFUSION_DTYPES),
            ("attention_dtype", self.attention_dtype, _ATTENTION_DTYPES),
            ("stages", self.stages, tuple(STAGES)),
        )
        for name, value, allowed in choices:
            if value not in allowed:
                raise InputError(f"SDCI parameter {name}={value!r}; choose one of: {', '.join(allowed)}")
        if self.knn_k < 1 or self.diffusion_steps < 0 or not 0.0 <= self.diffusion_alpha < 1.0:
            raise InputError("SDCI parameters need knn_k >= 1, diffusion_steps >= 0 and 0 <= alpha < 1")
        if not 0.0 <= self.late_fusion_weight <= 1.0:
            raise InputError(f"SDCI parameter late_fusion_weight={self.late_fusion_weight} must be in [0, 1]")
        FastCscpSettings(self.cscp_tolerance, self.cscp_max_iterations, self.cscp_check_every)


VARIANTS: dict[str, SdciConfig] = {
    "sdci-v1": SdciConfig(vfm="dino_vitb8", vfm_short_side=384),
    "sdci-v2": SdciConfig(),
}


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
