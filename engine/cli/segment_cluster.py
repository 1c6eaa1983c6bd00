"""``python -m engine segment ... --cluster ADDRESS|local:N``: the run on a Dask cluster (:mod:`engine.distributed`).

INPUT is one raster (a VRT mosaic of many files included: one output) or a list file (``.txt``: one raster
per line, relative paths from the list's folder, blank lines and ``#`` comments skipped); a list writes one
classified GeoTIFF per raster, ``OUTPUT/<raster stem>.tif``, into the existing folder OUTPUT. The method is
built by each worker, never here; the dashboard link and the progress bar go to stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError

if TYPE_CHECKING:
    from ..analysis.products import Products
    from ..labels import LabelSet
    from ..pipeline import SegmentResult

LIST_SUFFIX = ".txt"


def read_raster_list(path: str | Path) -> list[str]:
    """The rasters named in a list file (module docstring); :class:`InputError` if unreadable or empty."""
    source = Path(path)
    try:
        lines = source.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the raster list {source}: {exc}") from None
    names = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    if not names:
        raise InputError(f"the raster list {source} names no raster")
    return [name if name.startswith("/vsi") else str(source.parent / name) for name in names]


def summary_line(result: SegmentResult) -> str:
    """The one-line summary of a finished run."""
    return (
        f"wrote {result.output_path}: {result.width} x {result.height} pixels, "
        f"{len(result.class_names)} classes, "
        f"{result.tiles_total} tiles ({result.tiles_skipped} skipped, no data) in {result.elapsed_s:.1f} s"
    )


def print_result(result: SegmentResult, products: Products, input_path: str) -> None:
    """After a run (in one process or on a cluster): the summary line, then the analysis products it asked
    for, then the area per class."""
    from ..analysis.products import run_timings

    print(summary_line(result))
    areas = products.write(result, input_path, timings=run_timings(result), log=print)
    for line in areas.lines() if areas is not None else ():
        print(f"  {line}")


def run_on_cluster(
    args: argparse.Namespace,
    weights: str,
    labels: LabelSet,
    params: dict[str, Any],
    bands: tuple[int, ...] | None,
    *,
    products: Products,
) -> int:
    """Run ``segment`` on the cluster ``args.cluster``; prints one summary line per output. The analysis
    products (``--vector``, ``--stats``, ``--report``, ...) name one file each, so they need one INPUT raster."""
    from ..distributed import MethodSpec, segment_on_cluster, segment_rasters_on_cluster
    from ..models import RANDOM_WEIGHTS_WARNING
    from ..progress import TerminalProgressBar
    from .common import method_options

    is_list = args.input.endswith(LIST_SUFFIX)
    if is_list and products.asked():
        raise InputError("--vector, --stats, --report and --quicklook name one file each: with a list of rasters "
                         "run them per output with `python -m engine polygonize` or give one INPUT raster")
    products.check(args.confidence, None if is_list else args.input)
    if weights == "random":
        print(RANDOM_WEIGHTS_WARNING, file=sys.stderr)
    spec = MethodSpec.of(args.method, **method_options(args, weights, params))
    bar = TerminalProgressBar(sys.stderr)
    options: dict[str, Any] = {
        "bands": bands,
        "tile": args.tile,
        "overlap": args.overlap,
        "blend": args.blend,
        "batch": args.batch,
        "metadata": {"weights": weights, "seed": args.seed, "params": params},
        "progress": bar,
        "warn": lambda message: print(f"warning: {message}", file=sys.stderr),
    }

    def log(message: str) -> None:
        print(message, file=sys.stderr)

    try:
        if is_list:
            results = segment_rasters_on_cluster(
                read_raster_list(args.input), args.output, spec, labels, cluster=args.cluster, log=log, **options
            )
        else:
            results = [
                segment_on_cluster(
                    args.input,
                    args.output,
                    spec,
                    labels,
                    cluster=args.cluster,
                    log=log,
                    probabilities_path=args.probabilities,
                    confidence_path=args.confidence,
                    **options,
                )
            ]
    finally:
        bar.close()
    for result in results:
        print_result(result, products, args.input)
    return 0
