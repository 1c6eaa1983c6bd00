"""Run a method over a folder of images and masks and accumulate one confusion matrix over the dataset.

Images and masks are paired by file stem (a dataset's ``mask_suffix`` added to the mask's stem); every pair is
checked (unmatched files, empty folders, size mismatch, mask encoding) before the method is built. Each image
goes through the method as one tile (the datasets are pre-tiled, as both papers evaluate them); with a
``tile`` smaller than an image, the engine's own tile planner and stitcher (:mod:`engine.raster`) cut it and
blend the tiles' probabilities. The prediction at each pixel is the best class among those the protocol
evaluates (:class:`.protocols.ClassSpace`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..progress import CancelCheck, ProgressCallback, ProgressClock
from ..raster.reader import RasterReader, describe_raster, open_raster
from ..raster.stitch import Stitcher
from ..raster.tiles import TilePlan, pad_reflect, plan_tiles
from .metrics import ConfusionMatrix
from .protocols import IGNORE, ClassSpace

if TYPE_CHECKING:
    import numpy as np

    from ..methods.base import Method
    from .datasets import DatasetInfo, MaskEncoding

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
_SHOWN = 3  # file names quoted in an error message


@dataclass(frozen=True)
class Pair:
    """One image and its mask, with the sizes read from their headers."""

    stem: str
    image: Path
    mask: Path
    width: int
    height: int
    mask_bands: int


def _rasters_in(folder: str | os.PathLike[str], what: str) -> dict[str, Path]:
    """Raster files of ``folder`` by stem (hidden files and other suffixes skipped); InputError if none."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{what} folder not found: {root}")
    files: dict[str, Path] = {}
    for path in sorted(root.iterdir()):
        if path.name.startswith(".") or not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if path.stem in files:
            raise InputError(
                f"{what} folder {root} has two files for {path.stem!r}: {files[path.stem].name}, {path.name}"
            )
        files[path.stem] = path
    if not files:
        raise InputError(f"{what} folder {root} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def _listing(names: Sequence[str]) -> str:
    """``a, b, c and 4 more``."""
    shown = ", ".join(sorted(names)[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def find_pairs(
    images_dir: str | os.PathLike[str],
    masks_dir: str | os.PathLike[str],
    mask_suffix: str = "",
    limit: int | None = None,
) -> list[Pair]:
    """Pair images with masks by stem (mask stem = image stem + ``mask_suffix``), sorted by stem.

    Every image needs a mask and every mask an image, and each pair must have the same size (InputError
    naming the files otherwise). ``limit`` keeps the first N pairs.
    """
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be at least 1, got {limit}")
    images = _rasters_in(images_dir, "images")
    masks = _rasters_in(masks_dir, "masks")
    wanted = {stem + mask_suffix: stem for stem in images}
    no_mask = [images[stem].name for mask_stem, stem in wanted.items() if mask_stem not in masks]
    if no_mask:
        suffix = f" (mask name = image name + {mask_suffix!r})" if mask_suffix else ""
        raise InputError(
            f"{len(no_mask)} image(s) without a mask in {masks_dir}{suffix}: {_listing(no_mask)}"
        )
    no_image = [path.name for mask_stem, path in masks.items() if mask_stem not in wanted]
    if no_image:
        raise InputError(f"{len(no_image)} mask(s) without an image in {images_dir}: {_listing(no_image)}")
    pairs = []
    for stem in sorted(images)[:limit]:
        image_info = describe_raster(open_raster(images[stem]))
        mask_info = describe_raster(open_raster(masks[stem + mask_suffix]))
        if (image_info.width, image_info.height) != (mask_info.width, mask_info.height):
            raise InputError(
                f"{images[stem].name} is {image_info.width} x {image_info.height} pixels but its mask "
                f"{masks[stem + mask_suffix].name} is {mask_info.width} x {mask_info.height}"
            )
        pairs.append(
            Pair(
                stem,
                images[stem],
                masks[stem + mask_suffix],
                image_info.width,
                image_info.height,
                mask_info.band_count,
            )
        )
    return pairs


def read_mask(pair: Pair, encoding: MaskEncoding) -> np.ndarray:
    """The pair's mask decoded to label-set class indices (:data:`IGNORE` where not evaluated)."""
    from .datasets import decode_mask

    dataset = open_raster(pair.mask)
    bands = 1 if encoding.kind == "index" else 3
    data = dataset.ReadAsArray(band_list=list(range(1, bands + 1)))
    return decode_mask(data, encoding, f"mask {pair.mask.name}")


@dataclass(frozen=True)
class EvaluationResult:
    """The accumulated confusion matrix and how it was obtained."""

    class_indices: tuple[int, ...]  # label-set index of each evaluated class (confusion-matrix order)
    matrix: np.ndarray
    images: int
    ignored_pixels: int
    elapsed_s: float
    image_stems: tuple[str, ...]


def _plan(pair: Pair, method: Method, tile: int | None, overlap: int) -> TilePlan:
    """One tile per image (``tile`` None), else the engine's tile plan over the image."""
    if tile is None:
        return plan_tiles(pair.width, pair.height, max(pair.width, pair.height), 0, method.min_tile)
    return plan_tiles(pair.width, pair.height, tile, overlap, method.min_tile)


def predict_classes(
    reader: RasterReader, plan: TilePlan, method: Method, space: ClassSpace, step: Callable[[], Any]
) -> tuple[np.ndarray, np.ndarray]:
    """Best evaluated class ``(h, w)`` and validity of one image, tile by tile through the stitcher."""
    import numpy as np

    from ..pipeline import check_prediction

    classes = np.zeros((plan.height, plan.width), dtype=np.uint8)
    valid_all = np.zeros((plan.height, plan.width), dtype=bool)
    stitcher = Stitcher(plan, space.num_labels)
    for tile in plan:
        rgb, valid = reader.read(tile.window)
        probabilities = None
        if valid.any():
            padded = pad_reflect(rgb, plan.input_shape)
            prediction = method.predict(np.ascontiguousarray(padded, dtype=np.float32))
            check_prediction(method, prediction, space.num_labels, plan.input_shape)
            probabilities = prediction[:, : tile.window.height, : tile.window.width]
        block = stitcher.add(tile, probabilities, valid)
        rows = slice(block.window.y, block.window.y_end)
        cols = slice(block.window.x, block.window.x_end)
        classes[rows, cols] = space.prediction(block.probabilities)
        valid_all[rows, cols] = block.valid
        step()
    return classes, valid_all


def count_tiles(pairs: Sequence[Pair], method: Method, tile: int | None, overlap: int) -> int:
    """Tiles the whole run will predict (for progress reports)."""
    return sum(_plan(pair, method, tile, overlap).n_tiles for pair in pairs)


def evaluate_pairs(
    pairs: Sequence[Pair],
    method: Method,
    space: ClassSpace,
    encoding_of: Callable[[Pair], MaskEncoding],
    *,
    bands: Sequence[int] | None = None,
    tile: int | None = None,
    overlap: int = 0,
    progress: ProgressCallback | None = None,
    is_cancelled: CancelCheck | None = None,
) -> EvaluationResult:
    """Predict every pair (the method already prepared for the labels) and accumulate the confusion matrix.

    Pixels the image marks invalid (nodata, alpha) are left out, like ignored mask pixels.
    """
    import numpy as np

    started = time.perf_counter()
    clock = ProgressClock(count_tiles(pairs, method, tile, overlap), progress, is_cancelled)
    accumulator = ConfusionMatrix(len(space.evaluated), IGNORE)
    ignored = 0
    for pair in pairs:
        clock.check_cancelled()
        target = space.target(read_mask(pair, encoding_of(pair)))
        reader = RasterReader(pair.image, bands)
        try:
            plan = _plan(pair, method, tile, overlap)
            pred, valid = predict_classes(reader, plan, method, space, clock.step)
        finally:
            reader.close()
        target = np.where(valid, target, np.uint8(IGNORE))
        ignored += int(np.count_nonzero(target == IGNORE))
        accumulator.update(pred, target)
    return EvaluationResult(
        class_indices=space.evaluated,
        matrix=accumulator.matrix,
        images=len(pairs),
        ignored_pixels=ignored,
        elapsed_s=time.perf_counter() - started,
        image_stems=tuple(pair.stem for pair in pairs),
    )


def encoding_chooser(
    dataset: DatasetInfo | None, plain: MaskEncoding | None
) -> Callable[[Pair], MaskEncoding]:
    """The encoding for a pair: the dataset's by the mask's band count, or the plain index encoding."""

    def choose(pair: Pair) -> MaskEncoding:
        where = f"mask {pair.mask.name}"
        if dataset is not None:
            return dataset.encoding_for(pair.mask_bands, where)
        if pair.mask_bands != 1 or plain is None:
            raise InputError(
                f"{where} has {pair.mask_bands} bands; colour masks need --dataset NAME (what colours mean)"
            )
        return plain

    return choose
