"""Names the methods' model and template fields accept, as data for their field metadata (the dock's combo
boxes). Kept free of torch so that the config modules stay light; ``tests/engine/test_param_specs.py`` checks
them against the registries (``backbones.clip.ARCHITECTURES``, ``backbones.vfm.VFM_CONFIGS``,
``text.templates.TEMPLATE_SETS``)."""

from __future__ import annotations

CLIP_ARCHITECTURES = ("ViT-B-16", "ViT-L-14")
VISION_FOUNDATION_MODELS = ("dino_vitb8", "dino_vits8", "dinov2_vitb14_reg", "sam_vitb")
TEMPLATE_SET_NAMES = ("openai_imagenet", "sdci_rs", "alignclip_rs")
