"""The client side of a cluster run: plan, submit, stitch in order, write once, commit or leave nothing.

Everything is checked first, as for a single-process run (:func:`engine.pipeline.validate_run`), then one
worker builds the method (:func:`.tasks.describe_method`: a missing checkpoint fails fast, and its metadata
goes into the outputs). The tile plan is cut into tasks of ``tiles_per_task`` consecutive tiles in row-major
order; each tile carries its overlap with its neighbours (the halo the stitcher blends), read by the worker
itself. At most ``in_flight`` tasks are submitted ahead of the oldest one not yet stitched, so memory stays
bounded on every process whatever the raster's size (results wait on the workers until their turn). The
client stitches each task's tiles in row-major order with the pipeline's own
:class:`~engine.raster.stitch.Stitcher` and writers (same weights, same order of float additions), so the
output is equal to the single-process run's, pixel for pixel, for a method that gives a tile the same result
whatever else is in its batch (as the test methods do). Writing happens only here, by the process that owns
the files: a failure, Ctrl-C or a cancel cancels the outstanding tasks and removes every temporary file.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ClusterError, InputError
from ..methods.base import method_info
from ..pipeline import MAX_CLASSES, SegmentResult, _Outputs, run_metadata, run_settings, validate_run
from ..progress import CancelCheck, ProgressCallback, ProgressClock
from ..raster.reader import RasterReader
from ..raster.stitch import Stitcher
from ..raster.tiles import Tile, TilePlan, Window, plan_tiles
from ..raster.writer import Georeference
from .cluster import connect
from .tasks import MethodSummary, describe_method, predict_tiles

if TYPE_CHECKING:
    from ..labels import LabelSet
    from .spec import MethodSpec

POLL_S = 0.1  # how often a wait for a task looks at the cancel check
TILES_PER_TASK = 8
Log = Callable[[str], None]


@dataclass(frozen=True)
class Job:
    """One input of a cluster run and its options (those of :func:`segment_on_cluster`)."""

    input_path: str | os.PathLike[str]
    output_path: str | os.PathLike[str]
    bands: Sequence[int] | None = None
    tile: int = 512
    overlap: int = 64
    stretch: tuple[float, float] | None = (2.0, 98.0)
    blend: str = "weighted"
    window: Window | None = None
    probabilities_path: str | os.PathLike[str] | None = None
    confidence_path: str | os.PathLike[str] | None = None
    metadata: Mapping[str, Any] | None = None
    progress: ProgressCallback | None = None
    is_cancelled: CancelCheck | None = None
    warn: Log | None = None
    batch: int = 0
    tiles_per_task: int = TILES_PER_TASK
    in_flight: int = 0


def task_tiles(plan: TilePlan, tiles_per_task: int) -> list[list[Tile]]:
    """The plan's tiles in row-major order, cut into runs of at most ``tiles_per_task``."""
    if tiles_per_task < 1:
        raise InputError(f"tiles per task must be at least 1, got {tiles_per_task}")
    tiles = list(plan)
    return [tiles[start : start + tiles_per_task] for start in range(0, len(tiles), tiles_per_task)]


def input_name(path: str | os.PathLike[str]) -> str:
    """The input as the workers open it: absolute for a local file (they may run elsewhere), /vsi... as is."""
    name = os.fspath(path)
    return name if name.startswith("/vsi") else os.path.abspath(name)


def _result(future: Any, clock: ProgressClock) -> Any:
    """The future's result, waiting in short steps so that a cancel is noticed while it runs."""
    from distributed import KilledWorker, wait

    while True:
        clock.check_cancelled()
        try:
            wait(future, timeout=POLL_S)
            break
        except TimeoutError:
            continue
    try:
        return future.result()
    except KilledWorker as exc:
        raise ClusterError(f"the cluster lost the workers of a task too often: {exc}") from None


def _run_one(
    client: Any,
    summary: MethodSummary,
    spec: MethodSpec,
    labels: LabelSet,
    job: Job,
) -> SegmentResult:
    """One input on a connected cluster."""
    started = time.perf_counter()
    reader = RasterReader(input_name(job.input_path), job.bands, job.stretch, job.window)
    warn = job.warn
    if warn is not None:
        for message in reader.warnings:
            warn(message)
    region = reader.region
    plan = plan_tiles(region.width, region.height, job.tile, job.overlap, summary.min_tile)
    settings = run_settings(
        reader, tile=job.tile, overlap=job.overlap, blend=job.blend, stretch=job.stretch, batch=job.batch
    )
    work = reader.likely_valid([tile_.window for tile_ in plan])
    clock = ProgressClock(plan.n_tiles, job.progress, job.is_cancelled, work=work)
    clock.check_cancelled()
    outputs = _Outputs(
        output_path=job.output_path,
        probabilities_path=job.probabilities_path,
        confidence_path=job.confidence_path,
        plan=plan,
        labels=labels,
        georef=Georeference.of(reader.dataset, region),
        metadata=run_metadata(summary, labels, settings, job.metadata),  # type: ignore[arg-type]
    )
    reader.release()
    stitcher = Stitcher(plan, len(labels), job.blend)
    chunks = task_tiles(plan, job.tiles_per_task)
    in_flight = job.in_flight or max(2, 2 * sum(client.nthreads().values()))
    futures: dict[int, Any] = {}
    skipped = 0
    try:
        for index, chunk in enumerate(chunks):
            for ahead in range(len(futures) + index, min(index + in_flight, len(chunks))):
                futures[ahead] = client.submit(
                    predict_tiles, spec, labels, reader, plan, chunks[ahead], batch=job.batch, pure=False
                )
            results = _result(futures.pop(index), clock)
            for tile_, (probabilities, valid) in zip(chunk, results, strict=True):
                outputs.write(stitcher.add(tile_, probabilities, valid))
                outputs.flush()
            skipped += sum(probabilities is None for probabilities, _ in results)
            clock.advance([probabilities is not None for probabilities, _ in results])
        paths = outputs.commit()
    except BaseException:
        client.cancel(list(futures.values()))
        outputs.abort()
        raise
    finally:
        reader.close()
    return SegmentResult(
        output_path=paths["classes"],
        probabilities_path=paths.get("probabilities"),
        confidence_path=paths.get("confidence"),
        width=region.width,
        height=region.height,
        class_names=labels.names,
        class_pixels=tuple(int(c) for c in outputs.counts),
        tiles_total=plan.n_tiles,
        tiles_skipped=skipped,
        elapsed_s=time.perf_counter() - started,
        warnings=reader.warnings,
        batch=job.batch,
        areas=outputs.area_table(),
    )


def _validate(spec: MethodSpec, labels: LabelSet, job: Job) -> None:
    """The checks of a single-process run (inputs, outputs, disk space), before the cluster is asked."""
    if len(labels) > MAX_CLASSES:
        raise InputError(f"at most {MAX_CLASSES} classes fit in the output raster, got {len(labels)}")
    validate_run(
        job.input_path,
        job.output_path,
        bands=job.bands,
        tile=job.tile,
        overlap=job.overlap,
        min_tile=method_info(spec.name).min_tile,
        window=job.window,
        blend=job.blend,
        extra_outputs=(job.probabilities_path, job.confidence_path),
        labels=labels,
        batch=job.batch,
    )


def _run_jobs(
    spec: MethodSpec,
    labels: LabelSet,
    jobs: Sequence[Job],
    *,
    cluster: str,
    connect_timeout_s: float | None,
    log: Log | None,
) -> list[SegmentResult]:
    """Validate every job, connect, build the method on a worker, then run the jobs one after the other."""
    for job in jobs:
        _validate(spec, labels, job)
    with connect(cluster, timeout_s=connect_timeout_s, log=log) as client:
        summary = client.submit(describe_method, spec, labels, pure=False).result()
        if log is not None:
            workers = len(client.scheduler_info().get("workers", {}))
            log(f"method {summary.name} built on a worker; {workers} worker(s) connected")
        return [_run_one(client, summary, spec, labels, job) for job in jobs]


def segment_on_cluster(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    spec: MethodSpec,
    labels: LabelSet,
    *,
    cluster: str,
    bands: Sequence[int] | None = None,
    tile: int = 512,
    overlap: int = 64,
    stretch: tuple[float, float] | None = (2.0, 98.0),
    blend: str = "weighted",
    window: Window | None = None,
    probabilities_path: str | os.PathLike[str] | None = None,
    confidence_path: str | os.PathLike[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    is_cancelled: CancelCheck | None = None,
    warn: Log | None = None,
    log: Log | None = None,
    batch: int = 0,
    tiles_per_task: int = TILES_PER_TASK,
    in_flight: int = 0,
    connect_timeout_s: float | None = None,
) -> SegmentResult:
    """:func:`engine.pipeline.segment_raster` on a Dask cluster (module docstring); the same arguments, with
    the method given as a :class:`.spec.MethodSpec` that each worker builds.

    ``cluster``: a scheduler address or ``local:N``; ``connect_timeout_s``: how long to try to reach it.
    ``log`` gets informational lines (the dashboard link).
    ``batch``: tiles per model call on a worker (0: chosen by each worker from its free memory).
    ``tiles_per_task``: consecutive tiles per Dask task; ``in_flight``: tasks submitted ahead of the one being
    stitched (0: twice the cluster's worker threads). Raises :class:`InputError` for bad input or an
    unreachable scheduler, :class:`CancelledError` on cancel, :class:`ClusterError` when workers keep dying.
    """
    job = Job(
        input_path,
        output_path,
        bands=bands,
        tile=tile,
        overlap=overlap,
        stretch=stretch,
        blend=blend,
        window=window,
        probabilities_path=probabilities_path,
        confidence_path=confidence_path,
        metadata=metadata,
        progress=progress,
        is_cancelled=is_cancelled,
        warn=warn,
        batch=batch,
        tiles_per_task=tiles_per_task,
        in_flight=in_flight,
    )
    return _run_jobs(spec, labels, [job], cluster=cluster, connect_timeout_s=connect_timeout_s, log=log)[0]


def list_outputs(inputs: Sequence[str | os.PathLike[str]], folder: str | os.PathLike[str]) -> list[Path]:
    """One output per input raster: ``<folder>/<input stem>.tif``; :class:`InputError` when two inputs share a
    stem or the folder does not exist."""
    target = Path(folder)
    if not target.is_dir():
        raise InputError(f"with several input rasters the output must be an existing folder, got {folder}")
    outputs = [target / f"{Path(os.fspath(path)).stem}.tif" for path in inputs]
    seen: dict[Path, str] = {}
    for path, output in zip(inputs, outputs, strict=True):
        if output in seen:
            raise InputError(f"inputs {seen[output]} and {os.fspath(path)} would both write {output}")
        seen[output] = os.fspath(path)
    return outputs


def segment_rasters_on_cluster(
    inputs: Sequence[str | os.PathLike[str]],
    output_folder: str | os.PathLike[str],
    spec: MethodSpec,
    labels: LabelSet,
    *,
    cluster: str,
    log: Log | None = None,
    connect_timeout_s: float | None = None,
    **options: Any,
) -> list[SegmentResult]:
    """Several rasters on one cluster, one classified output each (:func:`list_outputs`), one after the other.

    Every input and output is checked before the first is run; ``options`` are those of
    :func:`segment_on_cluster` except the probabilities and confidence outputs (classes only). For one
    mosaic output, give a VRT of the rasters (``gdalbuildvrt``) to :func:`segment_on_cluster` instead.
    """
    if not inputs:
        raise InputError("no input rasters given")
    if options.get("probabilities_path") or options.get("confidence_path"):
        raise InputError("several input rasters write their classes only (no probabilities or confidence)")
    jobs = [
        Job(path, output, **options) for path, output in zip(inputs, list_outputs(inputs, output_folder), strict=True)
    ]
    return _run_jobs(spec, labels, jobs, cluster=cluster, connect_timeout_s=connect_timeout_s, log=log)
