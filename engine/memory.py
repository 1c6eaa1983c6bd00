"""Peak memory of a run, estimated before its first tile, the free memory it must fit in, and its batch size.

A run holds the pipeline's buffers for one tile (reader, stitcher, writers: :func:`pipeline_bytes`), the tiles
in flight around a batch of ``B`` tiles (:func:`in_flight_bytes`: the prefetched tiles, the batch's input and
result, the finished tiles waiting for the writing thread) and the method's working memory for one
``predict_batch`` call of ``B`` tiles on its device: ``B`` times its per-tile estimate. A method says its own
with an optional ``tile_memory(height, width, labels)`` (bytes for one tile, its loaded weights excluded: they
are resident already when the check runs); one that does not gets :func:`default_tile_bytes`. On a CUDA
device the method's part must fit the device's free memory (``torch.cuda.mem_get_info``) and the rest the
host's; on the CPU (and on Apple's unified memory) everything must fit the host's available memory
(``MemAvailable`` of ``/proc/meminfo``, else psutil, else ``os.sysconf``). The per-pixel factors were
measured on this project's pipeline and methods (``docs/ARCHITECTURE.md``) and rounded up.

The batch size (:func:`choose_batch`) is the user's (``--batch N``, 0 = automatic) or, automatically, the
largest that fits :data:`AUTO_MEMORY_SHARE` of the free memory, at most :data:`AUTO_BATCH_CAP` for the device
and never more than the run's tiles. A method without its own ``predict_batch`` gets 1: it predicts its tiles
one by one anyway, so a larger batch would only hold memory. The batch size depends on the tile, not on the
raster's size, so a run's memory does not grow with the raster.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InputError

if TYPE_CHECKING:
    from .labels import LabelSet
    from .raster.tiles import TilePlan

GB = 1024**3
TileMemory = Callable[[int, int, "LabelSet"], int]  # (tile height, width, labels) -> bytes
# pipeline bytes per pixel of a tile: reader (raw bands, stretch, RGB, validity, nearest-valid fill), padded
# input, stitcher accumulation and its temporaries, class raster; per class: the method's result, the
# stitcher's buffer, weighted sum, normalised block and argmax input (measured 60 + 14 K on Byte input)
PIPELINE_BASE_PER_PIXEL = 96  # room for 64-bit input bands and their stretch
PIPELINE_PER_CLASS_PER_PIXEL = 16
PROBABILITIES_PER_CLASS_PER_PIXEL = 8  # the probabilities output's masked copy and its cast
CONFIDENCE_PER_PIXEL = 16
PIPELINE_FIXED = 256 * 1024**2  # GDAL's block cache between flushes, numpy and interpreter slack
# a method without its own estimate: its input and eight class-sized float32 maps per pixel
DEFAULT_PER_PIXEL = 12
DEFAULT_PER_CLASS_PER_PIXEL = 32
# per tile of a batch, per pixel: the prefetch queue and the batch being gathered (RGB float32 + validity,
# twice), the stacked batch input (float32 RGB); per class: the batch's result and the finished tile waiting
# in the writing thread's queue (float32 each)
IN_FLIGHT_PER_PIXEL = 2 * (12 + 1) + 12 + 1
IN_FLIGHT_PER_CLASS_PER_PIXEL = 2 * 4
# by torch device type; on a CPU one tile at a time is fastest per tile (measured: segearth-ov 5-12 % and sdci-v2
# 1-4 % slower per tile in batches, bench/results/alignclip-2026-11-27.md, sdci-2026-11-27.md)
AUTO_BATCH_CAP: dict[str, int] = {"cuda": 32, "mps": 8, "cpu": 1}
AUTO_MEMORY_SHARE = 0.75  # of the free memory an automatic batch may plan to use: the estimates are rounded


@dataclass(frozen=True)
class MemoryNeed:
    """Estimated peak bytes of a run on the host and on the method's device (0: the method runs on the host)."""

    host: int
    device: int
    device_name: str = "cpu"


def default_tile_bytes(height: int, width: int, n_classes: int) -> int:
    """Working memory of a method that gives no estimate of its own (:data:`DEFAULT_PER_CLASS_PER_PIXEL`)."""
    return height * width * (DEFAULT_PER_PIXEL + DEFAULT_PER_CLASS_PER_PIXEL * n_classes)


def pipeline_bytes(plan: TilePlan, n_classes: int, *, probabilities: bool, confidence: bool) -> int:
    """Host bytes of the pipeline's per-tile buffers and the stitcher's carry strip across the region."""
    height, width = plan.input_shape
    per_pixel = PIPELINE_BASE_PER_PIXEL + n_classes * (
        PIPELINE_PER_CLASS_PER_PIXEL + (PROBABILITIES_PER_CLASS_PER_PIXEL if probabilities else 0)
    )
    per_pixel += CONFIDENCE_PER_PIXEL if confidence else 0
    carry = 4 * (n_classes + 1) * plan.overlap * plan.width
    return height * width * per_pixel + carry + PIPELINE_FIXED


def in_flight_bytes(plan: TilePlan, n_classes: int, batch: int) -> int:
    """Host bytes of the tiles in flight around a batch of ``batch`` tiles (see the module docstring)."""
    height, width = plan.input_shape
    return batch * height * width * (IN_FLIGHT_PER_PIXEL + IN_FLIGHT_PER_CLASS_PER_PIXEL * n_classes)


def method_device(method: Any) -> str:
    """The torch device a built method runs on (``runtime.device``), ``cpu`` for one without a runtime."""
    runtime = getattr(method, "runtime", None)
    device = getattr(runtime, "device", None)
    return str(device) if device is not None else "cpu"


def planned_device(device: str) -> str:
    """The torch device a method built with the user's ``device`` choice will run on (imports torch)."""
    from .device import resolve_device

    return str(resolve_device(device))


def estimate_run(
    plan: TilePlan,
    labels: LabelSet,
    *,
    tile_memory: TileMemory | None = None,
    device: str = "cpu",
    probabilities: bool = False,
    confidence: bool = False,
    batch: int = 1,
) -> MemoryNeed:
    """The run's peak memory with batches of ``batch`` tiles: the pipeline's part on the host, the method's
    (``batch`` times ``tile_memory``, else :func:`default_tile_bytes`) on ``device``, which is the host unless
    it is a CUDA device."""
    height, width = plan.input_shape
    if tile_memory is None:
        work = default_tile_bytes(height, width, len(labels))
    else:
        work = tile_memory(height, width, labels)
    work *= batch
    host = pipeline_bytes(plan, len(labels), probabilities=probabilities, confidence=confidence)
    host += in_flight_bytes(plan, len(labels), batch)
    if device.startswith("cuda"):
        return MemoryNeed(host, int(work), device)
    return MemoryNeed(host + int(work), 0)


def check_planned_run(
    method: str,
    params: Mapping[str, Any] | None,
    labels: LabelSet,
    plan: TilePlan,
    device: str,
    *,
    probabilities: bool = False,
    confidence: bool = False,
    batch: int = 0,
) -> None:
    """:func:`check_memory` before the method is built: its registry estimate on the device it will use,
    for the user's ``batch`` (0, automatic: the smallest, one tile).

    The device's free memory still includes what the weights will take, so on a GPU this is a necessary
    condition only; :func:`engine.pipeline.segment_raster` checks again with the built method.
    """
    from .methods.base import method_info

    planned = method_info(method).tile_memory
    estimate = None if planned is None else functools.partial(planned, dict(params or {}))
    need = estimate_run(
        plan,
        labels,
        tile_memory=estimate,
        device=planned_device(device),
        probabilities=probabilities,
        confidence=confidence,
        batch=max(batch, 1),
    )
    check_memory(need, plan, len(labels), max(batch, 1))


def available_memory() -> int | None:
    """Bytes of host memory available to a new allocation without swapping; None when not known."""
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        return int(psutil.virtual_memory().available)
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def device_free_memory(device: str) -> int | None:
    """Free bytes on a CUDA device (``torch.cuda.mem_get_info``); None for other devices and where torch is
    not installed."""
    if not device.startswith("cuda"):
        return None
    try:
        import torch
    except ImportError:  # the method runs in a worker process (engine.worker): its device is not visible here
        return None

    return int(torch.cuda.mem_get_info(torch.device(device))[0])


def _shortfalls(need: MemoryNeed, share: float = 1.0) -> list[tuple[int, int, str]]:
    """``(estimate, free, where)`` for each memory (host, device) that ``need`` does not fit ``share`` of."""
    checks = [(need.host, available_memory(), "memory")]
    if need.device:
        checks.append((need.device, device_free_memory(need.device_name), f"{need.device_name} memory"))
    return [(estimate, free, where) for estimate, free, where in checks if free is not None and estimate > share * free]


def check_memory(need: MemoryNeed, plan: TilePlan, n_classes: int, batch: int = 1) -> None:
    """:class:`InputError` with the estimate and the limit when the run would not fit the free memory."""
    height, width = plan.input_shape
    tiles = "a tile" if batch == 1 else f"a batch of {batch} tiles"
    what = f"{tiles} of {width} x {height} pixels with {n_classes} classes"
    remedy = "choose a smaller tile size" if batch == 1 else "choose a smaller batch or tile size"
    for estimate, free, where in _shortfalls(need):
        raise InputError(
            f"{what} needs about {estimate / GB:.1f} GB of {where}, only {free / GB:.1f} GB is free: {remedy}"
        )


def check_batch(batch: int) -> None:
    """:class:`InputError` unless ``batch`` is 0 (automatic) or a positive number of tiles."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 0:
        raise InputError(f"batch must be 0 (automatic) or a positive number of tiles, got {batch!r}")


def choose_batch(
    requested: int, estimate: Callable[[int], MemoryNeed], *, device: str, batched: bool, n_tiles: int
) -> int:
    """The run's batch size: ``requested`` (at most the run's ``n_tiles``) when it is not 0, else the automatic
    choice (module docstring).

    ``estimate(b)`` is the run's :class:`MemoryNeed` with batches of ``b`` tiles; ``batched`` says whether the
    method has its own ``predict_batch``. The automatic choice is 1 when even that does not fit (the memory
    check then says so).
    """
    check_batch(requested)
    most = max(n_tiles, 1)
    if requested:
        return min(requested, most)
    cap = min(AUTO_BATCH_CAP.get(device.partition(":")[0], 1) if batched else 1, most)
    batch = 1
    while batch < cap and not _shortfalls(estimate(batch + 1), AUTO_MEMORY_SHARE):
        batch += 1
    return batch
