"""Raster I/O for the pipeline: windowed reading, the tile planner, the streaming stitcher and writer.

GDAL, numpy and scipy are imported inside the functions that need them, so importing this package is cheap.
"""

from .reader import RasterInfo, RasterReader, Stretch, describe_raster, open_raster, resolve_bands
from .stitch import BLEND_MODES, Block, Stitcher
from .tiles import Tile, TilePlan, Window, pad_reflect, plan_tiles, validate_tiling
from .writer import Georeference, GeoTiffWriter, RasterSpec, check_output_path

__all__ = [
    "BLEND_MODES",
    "Block",
    "GeoTiffWriter",
    "Georeference",
    "RasterInfo",
    "RasterReader",
    "RasterSpec",
    "Stitcher",
    "Stretch",
    "Tile",
    "TilePlan",
    "Window",
    "check_output_path",
    "describe_raster",
    "open_raster",
    "pad_reflect",
    "plan_tiles",
    "resolve_bands",
    "validate_tiling",
]
