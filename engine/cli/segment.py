"""``python -m engine segment``: classify a raster with a registered method into a GeoTIFF.

Every input is checked (raster, bands, tiling, output folders, labels, method name) before the method is
built, so a mistake costs no model loading. ``--weights random`` or ``OVSS_WEIGHTS=random`` builds the
methods with seeded random weights: a pipeline check that says so on stderr and in the output's metadata.
A progress bar is drawn on stderr when it is a terminal.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..analysis.polygons import MinArea
from ..analysis.products import Products
from ..raster.stitch import BLEND_MODES
from .common import add_method_arguments, build_method, labels_and_params, parse_bands
from .segment_cluster import print_result, run_on_cluster


def register(subparsers: Any) -> None:
    """Add the ``segment`` sub-command."""
    parser = subparsers.add_parser(
        "segment",
        help="classify a raster into a GeoTIFF",
        description="Segment INPUT (any GDAL raster) into OUTPUT, a classified Byte GeoTIFF "
        "(value k+1 = class k, 0 = nodata) with colour table and class names.",
    )
    parser.add_argument("input", metavar="INPUT", help="input raster (any format GDAL reads)")
    parser.add_argument("output", metavar="OUTPUT", help="output GeoTIFF (.tif or .tiff)")
    add_method_arguments(parser, labels_help="classes: 'name: prompt, prompt; other class; ...'")
    parser.add_argument(
        "--bands",
        metavar="B[,G,B]",
        help="bands feeding R,G,B (one is repeated); default 1,2,3, or band 1 (with a warning) on fewer bands",
    )
    parser.add_argument(
        "--tile", type=int, default=512, metavar="N", help="tile size in pixels (default 512)"
    )
    parser.add_argument(
        "--overlap", type=int, default=64, metavar="N", help="tile overlap in pixels (default 64)"
    )
    parser.add_argument(
        "--blend", choices=BLEND_MODES, default="weighted", help="how overlapping tiles merge"
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=0,
        metavar="N",
        help="tiles per model call (default 0: as many as fit the free memory; same result, only faster)",
    )
    parser.add_argument("--probabilities", metavar="PATH", help="also write class probabilities (Float32)")
    parser.add_argument(
        "--confidence", metavar="PATH", help="also write the top probability in percent (Byte)"
    )
    add_product_arguments(parser)
    parser.add_argument(
        "--cluster",
        metavar="ADDRESS|local:N",
        help="run on a Dask cluster: a scheduler address (tcp://host:8786) or local:N worker processes; "
        "INPUT may then be a .txt list of rasters and OUTPUT a folder (one output each)",
    )
    parser.set_defaults(func=run_segment)


def add_product_arguments(parser: argparse.ArgumentParser) -> None:
    """The analysis products of a run (:mod:`engine.analysis.products`)."""
    group = parser.add_argument_group("analysis products")
    group.add_argument("--vector", metavar="PATH.gpkg", help="also write the class polygons as a GeoPackage")
    group.add_argument(
        "--min-area",
        metavar="M2|Npx",
        help="polygons: merge regions smaller than this (m2, or pixels with 'px', e.g. 20px) into a neighbour",
    )
    group.add_argument(
        "--simplify", type=float, metavar="TOL", help="polygons: simplification tolerance in map units"
    )
    group.add_argument("--stats", metavar="PATH", help="also write the areas per class (.csv or .json)")
    group.add_argument("--report", metavar="PATH.html", help="also write a self-contained HTML report")
    group.add_argument("--quicklook", metavar="PATH.png", help="also write a PNG quick-look with the legend")
    group.add_argument(
        "--uncertain-below",
        type=float,
        metavar="T",
        help="polygons and statistics: pixels of confidence below T %% form the class 'uncertain' "
        "(needs --confidence)",
    )


def products_of(args: argparse.Namespace) -> Products:
    """The products the arguments ask for."""
    return Products(
        vector=args.vector,
        min_area=MinArea.parse(args.min_area) if args.min_area is not None else None,
        simplify=args.simplify,
        stats=args.stats,
        report=args.report,
        quicklook=args.quicklook,
        uncertain_below=args.uncertain_below,
    )


def run_segment(args: argparse.Namespace) -> int:
    """Handle ``segment``: validate, build the method, run the pipeline, print a one-line summary."""
    from ..methods.base import method_info
    from ..models import weights_choice
    from ..pipeline import segment_raster, validate_run
    from ..progress import TerminalProgressBar

    weights = weights_choice(args.weights)
    labels, params = labels_and_params(args)
    info = method_info(args.method)
    bands = parse_bands(args.bands) if args.bands else None
    products = products_of(args)
    if args.cluster is not None:
        return run_on_cluster(args, weights, labels, params, bands, products=products)
    validate_run(
        args.input,
        args.output,
        bands=bands,
        tile=args.tile,
        overlap=args.overlap,
        min_tile=info.min_tile,
        blend=args.blend,
        extra_outputs=(args.probabilities, args.confidence),
        labels=labels,
        method=args.method,
        params=params,
        device=args.device,
        batch=args.batch,
    )
    products.check(args.confidence, args.input)
    method = build_method(args, weights, params)
    bar = TerminalProgressBar(sys.stderr)
    try:
        result = segment_raster(
            args.input,
            args.output,
            method,
            labels,
            bands=bands,
            tile=args.tile,
            overlap=args.overlap,
            blend=args.blend,
            probabilities_path=args.probabilities,
            confidence_path=args.confidence,
            batch=args.batch,
            metadata={
                "weights": weights,
                "seed": args.seed,
                "params": params,
            },
            progress=bar,
            warn=lambda message: print(f"warning: {message}", file=sys.stderr),
        )
    finally:
        bar.close()
    print_result(result, products, args.input)
    return 0
