"""``python -m engine polygonize``: class polygons (GeoPackage) and areas of an existing classified raster."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``polygonize`` sub-command."""
    parser = subparsers.add_parser(
        "polygonize",
        help="class polygons of a classified raster as a GeoPackage",
        description="Polygons of RASTER's classes (value = class, 0 = nodata; names and colours from its "
        ".aux.xml or .qml) into OUTPUT.gpkg, styled by class (<stem>.qml).",
    )
    parser.add_argument("raster", metavar="RASTER", help="a classified raster")
    parser.add_argument("output", metavar="OUTPUT", help="the GeoPackage (.gpkg)")
    parser.add_argument("--confidence", metavar="PATH", help="confidence raster (%%): mean confidence per polygon")
    parser.add_argument("--min-area", metavar="M2|Npx", help="merge smaller regions into a neighbour first")
    parser.add_argument("--simplify", type=float, metavar="TOL", help="simplification tolerance in map units")
    parser.add_argument(
        "--uncertain-below", type=float, metavar="T", help="pixels below T %% confidence form the class 'uncertain'"
    )
    parser.add_argument("--stats", metavar="PATH", help="also write the areas per class (.csv or .json)")
    parser.set_defaults(func=run_polygonize)


def run_polygonize(args: argparse.Namespace) -> int:
    """Handle ``polygonize``: check the options, write the polygons (and areas), print a summary."""
    from ..analysis.areas import check_stats_path, raster_areas, write_stats
    from ..analysis.polygons import MinArea, polygonize_raster, raster_classes

    min_area = MinArea.parse(args.min_area) if args.min_area is not None else None
    if args.stats is not None:
        check_stats_path(args.stats)
    names, colors = raster_classes(args.raster)
    result = polygonize_raster(
        args.raster,
        args.output,
        names,
        colors,
        confidence_path=args.confidence,
        uncertain_below=args.uncertain_below,
        min_area=min_area,
        simplify=args.simplify,
    )
    print(f"wrote {result.path}: {result.features} polygons")
    if args.stats is not None:
        table = raster_areas(
            args.raster, names, confidence_path=args.confidence, uncertain_below=args.uncertain_below
        )
        print(f"wrote {write_stats(table, args.stats)}")
    return 0
