"""Checkpoints: the registry (:mod:`.registry`), finding and downloading files (:mod:`.store`), reading
each real format safely into the builders' layouts (:mod:`.formats`) and ``python -m engine weights``.

Importing this package is cheap: torch, timm and safetensors are imported only when a file is read.
"""

from .registry import CHECKPOINTS, Checkpoint, get_checkpoint
from .store import Status, Verification, resolve_checkpoint, verify

__all__ = [
    "CHECKPOINTS",
    "Checkpoint",
    "Status",
    "Verification",
    "get_checkpoint",
    "resolve_checkpoint",
    "verify",
]
