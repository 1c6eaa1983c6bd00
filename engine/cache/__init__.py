"""The label-independent feature cache (issue 17): what a method computes before the text enters, kept per tile
or window so that a run with changed labels, thresholds or label-dependent parameters skips the backbones.

:class:`FeatureCache` (:mod:`.store`) holds the entries; :mod:`.keys` forms the keys. A run uses a cache only
inside :func:`using_cache` (``segment_raster(cache=...)`` sets it around the method's calls); methods read it
with :func:`active_cache`. :func:`feature_cache` is the process-wide cache the dock and the worker share
(``clear()`` frees it with the models).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Iterator

from .keys import content_hash, entry_key, feature_fields, label_dependent, method_key, weights_identity
from .store import CacheStats, FeatureCache, entry_bytes

__all__ = ["CacheStats", "FeatureCache", "RowLookup", "active_cache", "content_hash", "entry_bytes", "entry_key",
           "feature_cache", "feature_fields", "label_dependent", "method_key", "using_cache",
           "weights_identity"]

_ACTIVE: contextvars.ContextVar[FeatureCache | None] = contextvars.ContextVar("ovss_feature_cache", default=None)


@functools.cache
def feature_cache() -> FeatureCache:
    """The process-wide cache (memory limits: a fraction of the free memory; no disk folder)."""
    return FeatureCache()


@contextlib.contextmanager
def using_cache(cache: FeatureCache | None) -> Iterator[None]:
    """Within the block, methods store and reuse their label-independent features in ``cache`` (None: none)."""
    token = _ACTIVE.set(cache)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def active_cache() -> FeatureCache | None:
    """The cache of the current run, or None outside :func:`using_cache`."""
    return _ACTIVE.get()


class RowLookup:
    """Per-row entries of one part of a batched computation (rows: tiles or windows) in the active cache.

    ``contents``: each row's content hash; ``part``: which computation (``window``, ``clip``, ``vfm``...).
    :attr:`missing` lists the rows to compute (every row without a cache); :meth:`fill` takes their batched
    result (dict of tensors with the rows first, and ``shared`` items common to all rows) and stores one entry
    per row; :meth:`merged` gives the whole batch's dict.
    """

    def __init__(self, method: str, part: str, contents: list[str], device: object = None,
                 shared: frozenset[str] = frozenset()) -> None:
        self.cache = active_cache()
        self.shared = shared
        self.keys = [entry_key(method, part, content) for content in contents]
        if self.cache is None:
            self.entries: list[dict | None] = [None] * len(contents)
        else:
            self.entries = [self.cache.get(key, device) for key in self.keys]  # type: ignore[arg-type]
        self.missing = [row for row, entry in enumerate(self.entries) if entry is None]
        self._computed: dict | None = None

    def fill(self, computed: dict) -> None:
        """Store the batched result of the :attr:`missing` rows, one entry (a copy of its slice) per row; without
        a cache the result is only kept for :meth:`merged` (no copies)."""
        if self.cache is None or len(self.missing) == len(self.entries):
            self._computed = computed
        if self.cache is None:
            return
        for position, row in enumerate(self.missing):
            entry = {name: value if name in self.shared else value[position : position + 1].clone()
                     for name, value in computed.items()}
            self.entries[row] = entry
            self.cache.put(self.keys[row], entry)

    def merged(self) -> dict:
        """Every row's items, rows concatenated in order (shared items from the first row)."""
        import torch

        if self._computed is not None:
            return self._computed
        first = self.entries[0]
        assert first is not None and all(entry is not None for entry in self.entries)
        return {name: value if name in self.shared else torch.cat([entry[name] for entry in self.entries])  # type: ignore[index]
                for name, value in first.items()}
