"""Backbone wrappers: the open_clip CLIP ViT (``clip``) and the vision foundation models (``vfm``).

Each submodule imports torch; import them directly (``from ..backbones.clip import build_clip``).
"""
