"""``segment_raster``: raster file in, georeferenced classified GeoTIFF out, for any registered method.

reader (windows, band mapping, stretch, masks) -> tile planner -> ``predict_batch`` -> stitcher (blended
probabilities, streamed) -> writers (classes, optional probabilities and confidence), with a progress
callback per tile and a cancel check between batches and between the tiles a method loops over. Everything
the user can get wrong is checked before any model work (:func:`validate_run`); a failed or cancelled run
leaves no output and an existing output untouched.

Three threads overlap: a background thread reads and pads the next tiles (its own GDAL handle), at most one
batch ahead; the run's thread gathers batches of ``batch`` tiles with data (:func:`engine.memory.choose_batch`;
tiles without a valid pixel are never predicted) and feeds them to the method's batched entry point; a second
background thread stitches and writes the finished tiles, at most one batch behind (:mod:`.background`).

Output contract (design document): one Byte band, pixel value ``k + 1`` is class ``k`` and 0 is nodata
(input nodata, masked or alpha-transparent pixels); same size (of the window, if one is given), CRS and
geotransform as the input; a colour table of exactly nodata and the classes and GDAL category names
(0 = "nodata"), both in the ``.aux.xml``, and the run's method, labels, parameters, weights and engine
version in the metadata (keys ``OVSS_*``). Optional outputs: the blended probabilities (Float32, one band
per class, nodata -1) and the confidence, i.e. the highest class probability in percent (Byte 1..100,
nodata 0). Every output is a GeoTIFF named ``.tif``/``.tiff`` with a QGIS style ``<stem>.qml`` beside it
(class palette; grey ramp over 0..1 or 1..100), created with the permissions of a new file under the
umask, and never one of the input's files or another output's (:mod:`.raster.outputs`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .analysis.areas import AreaCounter, AreaTable, PixelArea, class_value_names
from .background import Drain, Prefetch
from .cache import FeatureCache, using_cache
from .errors import InputError
from .memory import (
    MemoryNeed,
    check_batch,
    check_memory,
    check_planned_run,
    choose_batch,
    estimate_run,
    method_device,
)
from .methods.base import cancellation, method_metadata, predict_batch
from .progress import CancelCheck, ProgressCallback, ProgressClock
from .raster.outputs import check_run_outputs
from .raster.qml import grey_style, paletted_style
from .raster.reader import (
    RasterInfo,
    RasterReader,
    describe_raster,
    open_raster,
    resolve_bands,
    resolve_window,
)
from .raster.stitch import BLEND_MODES, Block, Stitcher
from .raster.tiles import Tile, TilePlan, Window, pad_reflect, plan_tiles, validate_tiling
from .raster.writer import Georeference, GeoTiffWriter, RasterSpec, check_free_space, disk_needs, raster_bytes

if TYPE_CHECKING:
    import numpy as np

    from .labels import LabelSet
    from .methods.base import Method

MAX_CLASSES = 255  # pixel values 1..255 in a Byte raster
PROBABILITY_NODATA = -1.0
RANDOM_WEIGHTS_NOTE = "random weights: a pipeline check, NOT a real segmentation"
# bands and GDAL type of the outputs, in validate_run's order (classes, probabilities, confidence); K = classes
OUTPUT_LAYOUT: tuple[tuple[str, str], ...] = (("1", "Byte"), ("K", "Float32"), ("1", "Byte"))


@dataclass(frozen=True)
class SegmentResult:
    """What a finished run wrote and how it went."""

    output_path: Path
    probabilities_path: Path | None
    confidence_path: Path | None
    width: int
    height: int
    class_names: tuple[str, ...]
    class_pixels: tuple[int, ...]  # pixels per output value: index 0 nodata, k + 1 class k
    tiles_total: int
    tiles_skipped: int
    elapsed_s: float
    warnings: tuple[str, ...]
    batch: int = 1  # tiles per predict_batch call
    areas: AreaTable | None = None  # areas per class, also in the output's metadata (OVSS_AREAS)


@dataclass(frozen=True)
class ReadTile:
    """A tile as read: its padded model input (None when it has no valid pixel: never predicted) and validity."""

    tile: Tile
    rgb: np.ndarray | None
    valid: np.ndarray


def validate_run(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    bands: Sequence[int] | None = None,
    tile: int = 512,
    overlap: int = 64,
    min_tile: int = 1,
    window: Window | None = None,
    blend: str = "weighted",
    extra_outputs: Sequence[str | os.PathLike[str] | None] = (),
    labels: LabelSet | None = None,
    method: str | None = None,
    params: Mapping[str, Any] | None = None,
    device: str = "auto",
    batch: int = 0,
) -> RasterInfo:
    """Check every user input of a run without loading a model; :class:`InputError` (one line) if wrong.

    ``extra_outputs``: the probabilities and confidence paths (None: not written), in that order; with
    ``labels`` they give the disk space the run needs (:data:`OUTPUT_LAYOUT`), checked against the free
    space of the output folders. With ``method`` (a registered name), its ``params`` and the ``device``
    choice too, the run's peak memory with ``batch`` tiles per batch (0: automatic) is checked against the
    free memory (:func:`check_planned_run`).
    """
    validate_tiling(tile, overlap, min_tile)
    check_batch(batch)
    if blend not in BLEND_MODES:
        raise InputError(f"blend must be one of {', '.join(BLEND_MODES)}, got {blend!r}")
    dataset = open_raster(input_path)
    info = describe_raster(dataset)
    resolve_bands(bands, info)
    region = resolve_window(window, info)
    targets = check_run_outputs((output_path, *extra_outputs), dataset)
    sizes: list[tuple[Path, int]] = []
    for target, (count, data_type) in zip(targets, OUTPUT_LAYOUT, strict=False):
        if target is not None:
            bands_out = len(labels or ()) if count == "K" else int(count)
            sizes.append((target, raster_bytes(region.width, region.height, bands_out, data_type)))
    check_free_space(sizes)
    if method is not None and labels is not None:
        plan = plan_tiles(region.width, region.height, tile, overlap, min_tile)
        probabilities, confidence = (*extra_outputs, None, None)[:2]
        check_planned_run(
            method,
            params,
            labels,
            plan,
            device,
            probabilities=probabilities is not None,
            confidence=confidence is not None,
            batch=min(batch, plan.n_tiles),
        )
    return info


def run_metadata(
    method: Method, labels: LabelSet, settings: Mapping[str, Any], extra: Mapping[str, Any] | None
) -> dict[str, str]:
    """The ``OVSS_*`` metadata items of an output: method, labels, settings, caller's items, engine version.

    The method's own items (:func:`method_metadata`: device, weights source, fallbacks) and then the caller's
    (weights, seed, method parameters) are written as ``OVSS_<KEY>``; ``weights == "random"`` adds an
    ``OVSS_WARNING`` that cannot be missed.
    """
    items = {
        "OVSS_METHOD": method.name,
        "OVSS_LABELS": labels.to_text(),
        "OVSS_SETTINGS": json.dumps(dict(settings), sort_keys=True),
        "OVSS_ENGINE_VERSION": __version__,
    }
    for key, value in {**method_metadata(method), **(extra or {})}.items():
        items[f"OVSS_{key.upper()}"] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    if str((extra or {}).get("weights", "")) == "random":
        items["OVSS_WARNING"] = RANDOM_WEIGHTS_NOTE
    return items


def run_settings(
    reader: RasterReader,
    *,
    tile: int,
    overlap: int,
    blend: str,
    stretch: tuple[float, float] | None,
    batch: int,
) -> dict[str, Any]:
    """The run's settings as recorded in the output's ``OVSS_SETTINGS``."""
    region = reader.region
    return {
        "tile": tile,
        "overlap": overlap,
        "blend": blend,
        "bands": list(reader.bands),
        "stretch": list(stretch) if stretch else None,
        "window": [region.x, region.y, region.width, region.height],
        "batch": batch,
    }


def check_prediction(
    method: Method, probabilities: Any, n_classes: int, shape: tuple[int, int], count: int | None = None
) -> None:
    """A method that breaks the contract is a programming error: say which and how (``count``: the tiles of
    a batch; None: one tile, no batch axis)."""
    expected = (n_classes, *shape) if count is None else (count, n_classes, *shape)
    if getattr(probabilities, "shape", None) != expected:
        raise RuntimeError(
            f"method {method.name!r} returned shape {getattr(probabilities, 'shape', None)}, "
            f"expected {expected}"
        )


class _Outputs:
    """The run's writers (classes, optional probabilities and confidence): write blocks, commit or abort."""

    def __init__(
        self,
        *,
        output_path: str | os.PathLike[str],
        probabilities_path: str | os.PathLike[str] | None,
        confidence_path: str | os.PathLike[str] | None,
        plan: TilePlan,
        labels: LabelSet,
        georef: Georeference,
        metadata: Mapping[str, str],
    ) -> None:
        import numpy as np

        self.counts = np.zeros(len(labels) + 1, dtype=np.int64)
        self.areas = AreaCounter(PixelArea.of(georef.geotransform, georef.projection))
        self.class_names = labels.names
        self.writers: dict[str, GeoTiffWriter] = {}
        self.width = plan.width
        size = (plan.width, plan.height)
        specs: dict[str, tuple[Path, RasterSpec]] = {}
        if probabilities_path is not None:
            spec = RasterSpec(
                len(labels),
                "Float32",
                PROBABILITY_NODATA,
                metadata,
                band_descriptions=labels.names,
                style=grey_style(1, 0.0, 1.0),
            )
            specs["probabilities"] = (Path(probabilities_path).absolute(), spec)
        if confidence_path is not None:
            spec = RasterSpec(
                1, "Byte", 0, metadata, band_descriptions=("confidence (%)",), style=grey_style(1, 1, 100)
            )
            specs["confidence"] = (Path(confidence_path).absolute(), spec)
        colors = [(0, 0, 0, 0)] + [(*color, 255) for color in labels.colors]
        style = paletted_style(labels.names, labels.colors)
        spec = RasterSpec(1, "Byte", 0, metadata, colors, ("nodata", *labels.names), ("class",), style)
        specs["classes"] = (Path(output_path).absolute(), spec)
        needs = disk_needs(
            (path, raster_bytes(*size, spec.band_count, spec.data_type)) for path, spec in specs.values()
        )
        try:
            for name, (path, spec) in specs.items():
                self.writers[name] = GeoTiffWriter(path, *size, spec, georef, disk_need=needs[path])
        except BaseException:
            self.abort()
            raise

    def write(self, block: Block) -> None:
        """Classes (argmax + 1, 0 where invalid), probabilities and confidence of a finished block."""
        import numpy as np

        valid = block.valid
        classes = np.argmax(block.probabilities, axis=0).astype(np.uint8)  # K <= 255 (MAX_CLASSES)
        classes += 1
        classes[~valid] = 0
        self.counts += np.bincount(classes.ravel(), minlength=self.counts.size)
        self.areas.add(block.window.x, block.window.y, classes)
        self.writers["classes"].write(block.window, classes)
        if "probabilities" in self.writers:
            probs = np.where(valid, block.probabilities, np.float32(PROBABILITY_NODATA)).astype(np.float32)
            self.writers["probabilities"].write(block.window, probs)
        if "confidence" in self.writers:
            percent = np.clip(np.rint(block.probabilities.max(axis=0) * 100.0), 1, 100)
            self.writers["confidence"].write(block.window, np.where(valid, percent, 0).astype(np.uint8))
        if block.window.x_end == self.width:  # the last block of a tile row: every row above it is final
            for writer in self.writers.values():
                writer.compress_rows(block.window.y_end)

    def flush(self) -> None:
        """Push written blocks to disk and out of GDAL's cache."""
        for writer in self.writers.values():
            writer.flush()

    def commit(self) -> dict[str, Path]:
        """Compress every output, then rename them all into place (the class raster last): a failure while
        compressing (a full disk) leaves no output of the run."""
        self.writers["classes"].add_metadata(self.area_table().metadata())
        for writer in self.writers.values():
            writer.compress()
        return {name: writer.commit() for name, writer in self.writers.items()}

    def area_table(self) -> AreaTable:
        """Pixels, m2 and percent of the valid area per class of the blocks written so far."""
        return self.areas.table(class_value_names(self.class_names))

    def abort(self) -> None:
        """Remove every temporary file."""
        for writer in self.writers.values():
            writer.abort()


def read_tiles(reader: RasterReader, plan: TilePlan) -> Callable[[Callable[[], bool]], Iterator[ReadTile]]:
    """The producer of the reading thread: every tile of ``plan`` in order, read through ``reader`` (a handle
    of its own, closed when it ends) and padded to the plan's input shape."""

    def produce(stopped: Callable[[], bool]) -> Iterator[ReadTile]:
        try:
            for tile_ in plan:
                if stopped():
                    return
                yield read_tile(reader, tile_, plan.input_shape)
        finally:
            reader.close()

    return produce


def read_tile(reader: RasterReader, tile_: Tile, input_shape: tuple[int, int]) -> ReadTile:
    """One tile read through ``reader`` and padded to ``input_shape`` (no model input without a valid pixel)."""
    import numpy as np

    rgb, valid = reader.read(tile_.window)
    reader.release()  # GDAL's block cache would otherwise grow with the raster's width
    padded = None
    if valid.any():
        padded = np.ascontiguousarray(pad_reflect(rgb, input_shape), dtype=np.float32)
    return ReadTile(tile_, padded, valid)


def predict_group(
    method: Method, group: Sequence[ReadTile], n_classes: int, input_shape: tuple[int, int]
) -> list[np.ndarray | None]:
    """Class probabilities of each tile of ``group``, cropped to its window (None for a tile without data),
    from one :func:`predict_batch` call over the tiles with data."""
    import numpy as np

    inputs = [item.rgb for item in group if item.rgb is not None]
    predictions: Iterator[np.ndarray] = iter(())
    if inputs:
        prediction = predict_batch(method, np.stack(inputs))
        check_prediction(method, prediction, n_classes, input_shape, len(inputs))
        predictions = iter(prediction)
    return [
        next(predictions)[:, : item.tile.window.height, : item.tile.window.width] if item.rgb is not None else None
        for item in group
    ]


def batch_groups(tiles: Iterable[ReadTile], batch: int) -> Iterator[list[ReadTile]]:
    """Consecutive tiles, each group ending with its ``batch``-th tile that has data (or at ``2 * batch``
    tiles in all, so runs of tiles without data do not pile up)."""
    group: list[ReadTile] = []
    with_data = 0
    for item in tiles:
        group.append(item)
        with_data += item.rgb is not None
        if with_data == batch or len(group) == 2 * batch:
            yield group
            group, with_data = [], 0
    if group:
        yield group


def close_threads(*threads: Prefetch[Any] | Drain[Any] | None) -> None:
    """Stop and join the run's background threads (those started)."""
    for thread in threads:
        if thread is not None:
            thread.close()


def segment_raster(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    method: Method,
    labels: LabelSet,
    *,
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
    warn: Callable[[str], None] | None = None,
    batch: int = 0,
    cache: FeatureCache | None = None,
) -> SegmentResult:
    """Segment ``input_path`` with a built ``method`` into ``output_path`` (see the module docstring).

    ``bands``: 1-based bands feeding R, G, B (one band is repeated; None: 1,2,3 or band 1). ``tile`` and
    ``overlap`` in pixels (``overlap < tile / 2``, ``tile >= method.min_tile``). ``stretch``: percentiles
    for non-Byte data. ``blend``: ``"weighted"`` or ``"core"``. ``window``: a pixel window to segment
    instead of the whole raster. ``metadata``: extra ``OVSS_*`` items (weights, device, ...). ``warn``
    receives one line per warning (no CRS, no georeferencing, rotation, band 1 as R, G and B). ``batch``:
    tiles per ``predict_batch`` call, 0 to choose from the free memory (:func:`engine.memory.choose_batch`).
    ``cache``: where the method keeps and reuses what it computes before the labels enter (:mod:`engine.cache`;
    e.g. :func:`engine.cache.feature_cache`), so that a rerun with other labels skips the backbones; None: none.
    Raises :class:`InputError` before any model work for bad input, for outputs the disk has no room for and
    for a batch whose estimated peak memory does not fit the free memory (:mod:`.memory`), and
    :class:`CancelledError` when ``is_cancelled()`` turns true.
    """
    started = time.perf_counter()
    if len(labels) > MAX_CLASSES:
        raise InputError(f"at most {MAX_CLASSES} classes fit in the output raster, got {len(labels)}")
    validate_run(
        input_path,
        output_path,
        bands=bands,
        tile=tile,
        overlap=overlap,
        min_tile=method.min_tile,
        window=window,
        blend=blend,
        extra_outputs=(probabilities_path, confidence_path),
        labels=labels,
        batch=batch,
    )
    reader = RasterReader(input_path, bands, stretch, window)
    if warn is not None:
        for message in reader.warnings:
            warn(message)
    region = reader.region
    plan = plan_tiles(region.width, region.height, tile, overlap, method.min_tile)

    def need(size: int) -> MemoryNeed:
        return estimate_run(
            plan,
            labels,
            tile_memory=getattr(method, "tile_memory", None),
            device=method_device(method),
            probabilities=probabilities_path is not None,
            confidence=confidence_path is not None,
            batch=size,
        )

    batch = choose_batch(
        batch,
        need,
        device=method_device(method),
        batched=getattr(method, "predict_batch", None) is not None,
        n_tiles=plan.n_tiles,
    )
    check_memory(need(batch), plan, len(labels), batch)
    settings = run_settings(reader, tile=tile, overlap=overlap, blend=blend, stretch=stretch, batch=batch)
    work = reader.likely_valid([tile_.window for tile_ in plan])
    clock = ProgressClock(plan.n_tiles, progress, is_cancelled, work=work)
    clock.check_cancelled()
    method.prepare(labels)
    outputs = _Outputs(
        output_path=output_path,
        probabilities_path=probabilities_path,
        confidence_path=confidence_path,
        plan=plan,
        labels=labels,
        georef=Georeference.of(reader.dataset, region),
        metadata=run_metadata(method, labels, settings, metadata),
    )
    stitcher = Stitcher(plan, len(labels), blend)

    def write(item: tuple[Tile, np.ndarray | None, np.ndarray]) -> None:
        outputs.write(stitcher.add(*item))
        outputs.flush()  # GDAL's block cache would otherwise grow with the raster's width

    skipped = 0
    prefetch: Prefetch[ReadTile] | None = None
    drain: Drain[tuple[Tile, np.ndarray | None, np.ndarray]] | None = None
    try:
        drain = Drain(write, batch, "ovss-write")
        prefetch = Prefetch(read_tiles(reader.reopened(), plan), batch, "ovss-read")
        with cancellation(clock.check_cancelled), using_cache(cache):
            for group in batch_groups(prefetch, batch):
                clock.check_cancelled()
                predictions = predict_group(method, group, len(labels), plan.input_shape)
                for item, probabilities in zip(group, predictions, strict=True):
                    drain.put((item.tile, probabilities, item.valid))
                skipped += sum(item.rgb is None for item in group)
                clock.advance([item.rgb is not None for item in group])
        drain.finish()
        paths = outputs.commit()
    except BaseException:
        close_threads(prefetch, drain)
        outputs.abort()  # after the writing thread stopped: it no longer touches the files
        raise
    finally:
        close_threads(prefetch, drain)
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
        batch=batch,
        areas=outputs.area_table(),
    )
