"""The cache key: what a method's label-independent features depend on, as one hex digest.

A method gets only pixel arrays (``predict_batch(tiles)``), so the input's part of the key is a content hash of
the pixels the backbones see (BLAKE2b of their bytes, shape and dtype): it stands for the file's identity, the
window, the band mapping and the stretch at once, and stays right when a file is rewritten in place with the
same size and time stamp. The method's part: its name, the label-independent fields of its config (a field whose
metadata has ``label_dependent: True`` acts only after the text enters and is left out), the identity of its
weights (each checkpoint's path, size and modification time; ``random`` with the seed), the precision and the
device.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch

LABEL_DEPENDENT = "label_dependent"


def label_dependent(**metadata: Any) -> dict[str, Any]:
    """Field metadata marking a config field as label-dependent (changing it reuses the cache)."""
    return {**metadata, LABEL_DEPENDENT: True}


def feature_fields(config: Any) -> dict[str, Any]:
    """The label-independent fields of a config dataclass and their values (the cache key's part)."""
    return {
        field.name: getattr(config, field.name)
        for field in dataclasses.fields(config)
        if not field.metadata.get(LABEL_DEPENDENT, False)
    }


def weights_identity(sources: Iterable[str | os.PathLike[str]], seed: int) -> str:
    """Each checkpoint as ``path:size:mtime_ns`` (``random:seed`` for random weights), joined."""
    parts = []
    for source in sources:
        if str(source) == "random":
            parts.append(f"random:{seed}")
            continue
        path = Path(source)
        info = path.stat()
        parts.append(f"{path.resolve()}:{info.st_size}:{info.st_mtime_ns}")
    return "|".join(parts)


def method_key(name: str, config: Any, weights: str, precision: str, device: str) -> str:
    """The method's part of every key of its entries (a digest of the items of the module docstring)."""
    fields = sorted(feature_fields(config).items())
    return _digest(repr((name, fields, weights, precision, device)).encode())


def content_hash(pixels: np.ndarray | torch.Tensor) -> str:
    """BLAKE2b of an array's (or tensor's) bytes, shape and dtype."""
    import numpy as np

    if not isinstance(pixels, np.ndarray):
        pixels = pixels.detach().cpu().contiguous().numpy()
    digest = hashlib.blake2b(digest_size=20)
    digest.update(repr((pixels.shape, str(pixels.dtype))).encode())
    digest.update(np.ascontiguousarray(pixels).data)
    return digest.hexdigest()


def entry_key(method: str, part: str, content: str) -> str:
    """The key of one entry: the method's key, the part of the computation (``clip``, ``vfm``...) and the
    content hash of its input."""
    return _digest(f"{method}/{part}/{content}".encode())


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=20).hexdigest()
