"""The facade methods use to get their networks: a backbone name plus a source, ``"random"`` or a file.

``"random"`` builds the real architecture with weights drawn under ``seed`` (pipeline checks without any
download); a path is read and converted by :mod:`.weights.formats` in the format its registry record
names, then handed to the builder, which loads it strictly. :func:`checkpoint_for` says which registry
checkpoint a backbone needs, :func:`resolve_source` finds (or downloads) it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .errors import InputError
from .weights.registry import Checkpoint, get_checkpoint

if TYPE_CHECKING:
    from .backbones.clip import ClipBackbone
    from .backbones.upsamplers import JBUOne, JBUStack
    from .backbones.vfm import VisionFoundationModel
    from .weights.formats import StateDict

RANDOM = "random"
Source = Literal["random"] | Path

ENV_WEIGHTS = "OVSS_WEIGHTS"
RANDOM_WEIGHTS_WARNING = (
    "warning: RANDOM WEIGHTS: the models are built with seeded random weights; "
    "the output is a pipeline check, NOT a real segmentation"
)


def weights_choice(argument: str | None) -> str:
    """The weights a run uses: ``argument`` as given, else ``$OVSS_WEIGHTS``, else ``"default"``.

    ``OVSS_WEIGHTS=random`` switches every entry point (command line, dock, Processing, ``qgis_process``)
    to seeded random weights, so the whole plugin can be exercised without checkpoints.
    """
    return argument or os.environ.get(ENV_WEIGHTS) or "default"

# backbone name (open_clip architecture, VFM name, upsampler kind) -> registry checkpoint name
ROLE_CHECKPOINTS: dict[str, str] = {
    "ViT-B-16": "clip-vit-b-16",
    "ViT-L-14": "clip-vit-l-14",
    "dino_vitb8": "dino-vitb8",
    "dino_vits8": "dino-vits8",
    "dinov2_vitb14_reg": "dinov2-vitb14-reg",
    "sam_vitb": "sam-vitb",
    "jbu_one": "simfeatup-jbu-one-clip-b16",
    "jbu_stack": "simfeatup-jbu-stack-clip-b16",
}


def checkpoint_for(role: str) -> Checkpoint:
    """The registry checkpoint holding the weights of backbone ``role`` (e.g. ``"dino_vitb8"``)."""
    if role not in ROLE_CHECKPOINTS:
        raise InputError(f"no checkpoint for backbone {role!r}; known: {', '.join(ROLE_CHECKPOINTS)}")
    return get_checkpoint(ROLE_CHECKPOINTS[role])


def resolve_source(role: str, *, random: bool = False, **resolve_kwargs: Any) -> Source:
    """``"random"`` when ``random``, else the local file of ``role``'s checkpoint, found or downloaded by
    :func:`.weights.store.resolve_checkpoint` (``resolve_kwargs``: path, weights_dir, cache_dir, ...)."""
    if random:
        return RANDOM
    from .weights.store import resolve_checkpoint

    return resolve_checkpoint(checkpoint_for(role).name, **resolve_kwargs)


def backbone_source(role: str, weights: str | Path, weights_dir: str | Path | None = None) -> Source:
    """Where backbone ``role``'s weights come from for a method's ``weights`` argument.

    ``"random"``: seeded random weights. ``"default"``: the registry checkpoint from ``weights_dir``, the user
    folder or the cache, downloaded if missing. A folder: the checkpoint from that folder only, never
    downloaded (:class:`MissingWeightsError` names the file and the URL when it is not there).
    """
    if str(weights) == RANDOM:
        return RANDOM
    if str(weights) == "default":
        return resolve_source(role, weights_dir=weights_dir)
    folder = Path(weights).expanduser()
    if not folder.is_dir():
        raise InputError(f"weights must be 'default', 'random' or a folder of checkpoints, got {weights}")
    return resolve_source(role, weights_dir=folder, download=False)


def _state_dict(role: str, source: Source | str) -> StateDict | None:
    """None for ``"random"``, else the converted weights of ``source`` for backbone ``role``."""
    if isinstance(source, str) and source == RANDOM:
        return None
    from .weights.formats import read_checkpoint

    ckpt = checkpoint_for(role)
    return read_checkpoint(Path(source), ckpt.format, ckpt.architecture)


def load_clip(arch: str, source: Source | str, seed: int = 0) -> ClipBackbone:
    """The CLIP backbone ``arch`` (``ViT-B-16`` / ``ViT-L-14``) from OpenAI's file or seeded random."""
    from .backbones.clip import build_clip

    return build_clip(arch, state_dict=_state_dict(arch, source), seed=seed)


def load_vfm(name: str, source: Source | str, seed: int = 0, **kwargs: Any) -> VisionFoundationModel:
    """The vision foundation model ``name`` (``dino_vitb8``, ``dinov2_vitb14_reg``, ``sam_vitb``, ...);
    ``kwargs`` go to the builder."""
    from .backbones.vfm import build_vfm

    return build_vfm(name, state_dict=_state_dict(name, source), seed=seed, **kwargs)


def load_upsampler(kind: str, source: Source | str, dim: int, seed: int = 0) -> JBUOne | JBUStack:
    """The SimFeatUp upsampler ``kind`` (``jbu_one`` / ``jbu_stack``) for ``dim``-channel features."""
    from .backbones.upsamplers import build_upsampler

    return build_upsampler(kind, dim, state_dict=_state_dict(kind, source), seed=seed)
