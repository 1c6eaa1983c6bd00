"""What runs on a Dask worker: build the method once per worker process, read a task's tiles, predict them.

Tasks are pure: they read the input by path (the :class:`~engine.raster.reader.RasterReader` travels pickled
and reopens its raster on the worker, so GDAL's ``/vsicurl/`` and friends work there too) and return the
tiles' probabilities; nothing is written on a worker, so Dask may run a task again (a worker died, a result
was lost) without harm. The built and prepared method is kept per worker process, keyed by the
:class:`.spec.MethodSpec` and the labels, so the model loads once per worker, not once per task; with
``dask-cuda`` each worker sees one GPU and ``device="auto"`` picks it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..memory import choose_batch, estimate_run, method_device
from ..methods.base import method_metadata
from ..pipeline import batch_groups, predict_group, read_tile

if TYPE_CHECKING:
    import numpy as np

    from ..labels import LabelSet
    from ..methods.base import Method
    from ..raster.reader import RasterReader
    from ..raster.tiles import Tile, TilePlan
    from .spec import MethodSpec

_METHODS: dict[tuple[MethodSpec, LabelSet], Method] = {}
_LOCK = threading.Lock()  # a worker with several threads builds each method once


@dataclass(frozen=True)
class MethodSummary:
    """What the client needs to know of the method the workers built (it never builds one itself)."""

    name: str
    min_tile: int
    metadata: dict[str, str]


def worker_method(spec: MethodSpec, labels: LabelSet) -> Method:
    """The method of ``spec``, built and prepared for ``labels`` once in this worker process and kept."""
    key = (spec, labels)
    with _LOCK:
        method = _METHODS.get(key)
        if method is None:
            method = spec.build()
            method.prepare(labels)
            _METHODS.clear()  # one method per worker: a new run's method replaces the last one's
            _METHODS[key] = method
    return method


def describe_method(spec: MethodSpec, labels: LabelSet) -> MethodSummary:
    """Build the method on a worker (a fast first failure: missing weights, unknown module) and describe it."""
    method = worker_method(spec, labels)
    return MethodSummary(method.name, int(method.min_tile), method_metadata(method))


def predict_tiles(
    spec: MethodSpec,
    labels: LabelSet,
    shipped: RasterReader,
    plan: TilePlan,
    tiles: Sequence[Tile],
    *,
    batch: int,
) -> list[tuple[np.ndarray | None, np.ndarray]]:
    """Probabilities (cropped to the tile, None without a valid pixel) and validity of each of ``tiles``, read
    through the ``shipped`` reader (pickled without its GDAL handle) reopened here.

    ``batch``: tiles per model call (0: as many as fit this worker's free memory, as in a single-process run).
    """
    import numpy as np

    method = worker_method(spec, labels)
    batch = choose_batch(
        batch,
        lambda size: estimate_run(
            plan, labels, tile_memory=getattr(method, "tile_memory", None), device=method_device(method), batch=size
        ),
        device=method_device(method),
        batched=getattr(method, "predict_batch", None) is not None,
        n_tiles=len(tiles),
    )
    results: list[tuple[np.ndarray | None, np.ndarray]] = []
    reader = shipped.reopened()
    try:
        items = (read_tile(reader, tile, plan.input_shape) for tile in tiles)
        for group in batch_groups(items, batch):
            predictions = predict_group(method, group, len(labels), plan.input_shape)
            for item, probabilities in zip(group, predictions, strict=True):
                kept = None if probabilities is None else np.ascontiguousarray(probabilities)
                results.append((kept, item.valid))
    finally:
        reader.close()
    return results
