"""SDCI's settings as data: :class:`SdciConfig` (every default of the paper and the official code), the
ablation rows :data:`STAGES` (Table 2), the two published variants :data:`VARIANTS` and the per-tile memory
estimate :func:`tile_bytes` the pipeline sizes batches with. Imports only the standard library."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..cache.keys import label_dependent
from ..errors import InputError

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

    clip_arch: str = "ViT-L-14"
    vfm: str = "dinov2_vitb14_reg"
    clip_short_side: int = 512
    clip_pos_embed_fp16: bool = True
    vfm_short_side: int = 532
    templates: str = field(default="sdci_rs", metadata=label_dependent())
    other_prompt: str = field(default="other", metadata=label_dependent())
    logit_scale: float = field(default=50.0, metadata=label_dependent())
    lambda_1: float = field(default=1.0, metadata=label_dependent())
    last_level_ratio: float = field(default=0.2, metadata=label_dependent())
    attention_dtype: str = "float32"
    sinkhorn_tolerance: float = 1e-6
    knn_k: int = 30
    knn_tau: float = 0.07
    diffusion_alpha: float = field(default=0.9, metadata=label_dependent())
    diffusion_steps: int = field(default=40, metadata=label_dependent())
    diffusion_dtype: str = field(default="float16", metadata=label_dependent())
    diffusion_closed_form: bool = field(default=False, metadata=label_dependent())
    score_threshold: float = field(default=0.5, metadata=label_dependent())
    score_max_eps: float = field(default=1e-5, metadata=label_dependent())
    minmax_eps: float = field(default=1e-6, metadata=label_dependent())
    prep_eps: float = field(default=1e-6, metadata=label_dependent())
    lambda_c: float = field(default=1.0, metadata=label_dependent())
    lambda_d: float = field(default=0.2, metadata=label_dependent())
    beta: float = field(default=0.1, metadata=label_dependent())
    w_in: float = 1.0
    w_cross: float = 0.1
    felzenszwalb_scale: float = 40.0
    felzenszwalb_sigma: float = 0.8
    felzenszwalb_min_size: int = 20
    solver: str = field(default="fast", metadata=label_dependent())
    pdhg_iterations: int = field(default=100, metadata=label_dependent())
    pdhg_tau: float = field(default=0.25, metadata=label_dependent())
    pdhg_sigma: float = field(default=0.25, metadata=label_dependent())
    pdhg_theta: float = field(default=1.0, metadata=label_dependent())
    pdhg_newton_steps: int = field(default=5, metadata=label_dependent())
    pdhg_bisection_steps: int = field(default=10, metadata=label_dependent())
    cscp_tolerance: float = field(default=0.003, metadata=label_dependent())
    cscp_max_iterations: int = field(default=400, metadata=label_dependent())
    cscp_check_every: int = field(default=5, metadata=label_dependent())
    stages: str = "full"
    late_fusion_weight: float = field(default=0.5, metadata=label_dependent())

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
