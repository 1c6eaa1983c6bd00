"""Keeps the last built method (backbones and its text-embedding cache) alive between runs.

A method is rebuilt only when something that shapes it changes (method, weights, device, precision, seed,
parameters); a run with a tweaked prompt reuses the loaded backbones, and the method's text encoder computes
only the new prompts. One method is kept at a time, so switching methods frees the previous one. Runs happen
in task threads, so access is serialised by a lock.
"""

from __future__ import annotations

import gc
import json
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .base import Method


@dataclass(frozen=True)
class MethodKey:
    """Everything that decides how a method is built (the labels are not part of it)."""

    name: str
    weights: str
    weights_dir: str
    device: str
    precision: str
    seed: int
    params: str  # canonical JSON of the parameter overrides

    @classmethod
    def of(
        cls,
        name: str,
        *,
        weights: str,
        weights_dir: str | None,
        device: str,
        precision: str,
        seed: int,
        params: Mapping[str, Any],
    ) -> MethodKey:
        """A key whose equality ignores the order of ``params``."""
        return cls(name, weights, weights_dir or "", device, precision, seed, json.dumps(dict(params), sort_keys=True))


class ModelCache:
    """The most recently built method, reused while its :class:`MethodKey` stays the same."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: MethodKey | None = None
        self._method: Method | None = None
        self.builds = 0

    def get(self, key: MethodKey, build: Callable[[], Method], keep: bool = True) -> Method:
        """The cached method for ``key``, or ``build()`` (kept for the next run when ``keep``)."""
        with self._lock:
            if self._method is not None and self._key == key:
                return self._method
            self._drop()
            method = build()
            self.builds += 1
            if keep:
                self._key, self._method = key, method
            return method

    @property
    def loaded(self) -> MethodKey | None:
        """The key of the method held now, or None."""
        return self._key

    def clear(self) -> None:
        """Free the held method (and, through torch, the memory its models used)."""
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        self._key, self._method = None, None
        gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()
