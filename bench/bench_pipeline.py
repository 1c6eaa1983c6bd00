"""Benchmark of the raster pipeline alone: tiles per second and peak memory for 2000^2 and 20000^2 rasters.

The method is a trivial O(pixels) numpy test double, so the numbers measure reading, stretching, padding,
stitching, writing and the final compression, not a model. The inputs are sparse tiled GeoTIFFs (every
block reads as 0), cheap to create whatever their size. Each run happens in a fresh Python process so its
peak resident memory (ru_maxrss) is its own; the report gives the median of the runs.

    .venv/bin/python bench/bench_pipeline.py --repeats 3 --out bench/results/pipeline-$(date +%F).md
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = (2000, 20000)


class BrightnessMethod:
    """Three classes from the mean brightness: O(pixels), no model."""

    name = "bench-brightness"
    min_tile = 1

    def prepare(self, labels: object) -> None:
        """Nothing depends on the labels."""

    def predict(self, tile):
        """Probabilities of dark, mid, bright from the mean of R, G, B."""
        import numpy as np

        a = tile.mean(axis=0) / 255.0
        probs = np.stack([1.0 - a, np.full_like(a, 0.5), a])
        return (probs / probs.sum(axis=0)).astype(np.float32)


def make_sparse_raster(path: Path, size: int) -> None:
    """A ``size`` x ``size`` RGB Byte GeoTIFF with no block written (reads as zeros, a few KB on disk)."""
    from osgeo import gdal, osr

    ds = gdal.GetDriverByName("GTiff").Create(
        str(path), size, size, 3, gdal.GDT_Byte, ["TILED=YES", "SPARSE_OK=TRUE", "BIGTIFF=YES"]
    )
    ds.SetGeoTransform((350000.0, 0.5, 0.0, 5650000.0, 0.0, -0.5))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(25832)
    ds.SetProjection(srs.ExportToWkt())
    ds = None


def child(size: int, tile: int, overlap: int, workdir: Path) -> dict:
    """One run in this process: returns tiles, seconds, tiles/s and peak RSS (MiB)."""
    sys.path.insert(0, str(ROOT))
    from engine.labels import parse_labels
    from engine.pipeline import segment_raster

    src = workdir / f"in_{size}.tif"
    if not src.exists():
        make_sparse_raster(src, size)
    start = time.perf_counter()
    result = segment_raster(
        src,
        workdir / f"out_{size}.tif",
        BrightnessMethod(),
        parse_labels("dark; mid; bright"),
        tile=tile,
        overlap=overlap,
    )
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {
        "size": size,
        "tiles": result.tiles_total,
        "seconds": seconds,
        "tiles_per_s": result.tiles_total / seconds,
        "peak_rss_mib": peak,
        "output_bytes": os.path.getsize(result.output_path),
    }


def run_child(size: int, tile: int, overlap: int, workdir: Path) -> dict:
    """Run :func:`child` in a fresh interpreter and parse its JSON line."""
    cmd = [
        sys.executable,
        __file__,
        "--child",
        str(size),
        "--tile",
        str(tile),
        "--overlap",
        str(overlap),
        "--workdir",
        str(workdir),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def report(rows: dict[int, list[dict]], tile: int, overlap: int, repeats: int) -> str:
    """The results as Markdown: machine, date, settings and the medians per size."""
    from osgeo import gdal

    lines = [
        f"# Pipeline benchmark, {datetime.date.today().isoformat()}",
        "",
        f"- machine: {platform.node()}, {platform.machine()}, {os.cpu_count()} CPU cores visible, "
        f"Python {platform.python_version()}, GDAL {gdal.__version__}",
        f"- method: trivial O(pixels) numpy test double (3 classes); tile {tile}, overlap {overlap}, "
        "weighted blending; input a sparse tiled RGB Byte GeoTIFF",
        f"- median of {repeats} runs, each in a fresh process (peak RSS = ru_maxrss of that process, "
        "Python + numpy + GDAL included)",
        "",
        "| raster | tiles | seconds | tiles/s | peak RSS (MiB) | output size (KiB) | runs (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for size, runs in rows.items():
        med = {
            key: statistics.median(r[key] for r in runs) for key in ("seconds", "tiles_per_s", "peak_rss_mib")
        }
        lines.append(
            f"| {size} x {size} | {runs[0]['tiles']} | {med['seconds']:.1f} | {med['tiles_per_s']:.1f} | "
            f"{med['peak_rss_mib']:.0f} | {runs[0]['output_bytes'] / 1024:.0f} | "
            f"{', '.join(format(r['seconds'], '.1f') for r in runs)} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    """Parse options; run the children and write the report, or be a child."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--tile", type=int, default=1024)
    parser.add_argument("--overlap", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--out", type=Path, help="write the Markdown report here")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.tile, args.overlap, args.workdir)))
        return
    rows: dict[int, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="ovss-bench-") as tmp:
        for size in args.sizes:
            rows[size] = []
            for _ in range(args.repeats):
                rows[size].append(run_child(size, args.tile, args.overlap, Path(tmp)))
                print(json.dumps(rows[size][-1]), file=sys.stderr)
    text = report(rows, args.tile, args.overlap, args.repeats)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
