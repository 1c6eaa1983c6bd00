"""Benchmark of the raster pipeline alone: tiles per second and peak memory for rasters of several sizes.

Two modes. Without ``--cost`` the method is a trivial O(pixels) numpy test double and the inputs are sparse
tiled GeoTIFFs (every block reads as 0, cheap to create whatever their size), so the numbers measure reading,
stretching, padding, stitching, writing and the final compression, not a model.

With ``--cost S`` the method costs a fixed S seconds per tile inside ``predict_batch`` (a sleep, which
releases the interpreter as a wait on a GPU does, plus a float32 result computed from the input), standing
in for a GPU, and the inputs are real DEFLATE-compressed GeoTIFFs (the demo orthophoto repeated), read from
disk. The report compares the pipeline's throughput with the method's pure ``predict_batch`` throughput
(batches already in memory): the share of the I/O the pipeline hides. ``--engine-root`` measures another
checkout's engine (e.g. main before a change) with the same method and raster.

Each run happens in a fresh Python process so its peak resident memory (ru_maxrss) is its own; the report
gives the median of the runs.

    .venv/bin/python bench/bench_pipeline.py --repeats 3 --out bench/results/pipeline-$(date +%F).md
    .venv/bin/python bench/bench_pipeline.py --cost 0.1 --sizes 5000 20000 --out bench/results/pipeline-x.md
"""

from __future__ import annotations

import argparse
import datetime
import inspect
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
DEMO = ROOT / "engine" / "data" / "demo" / "oem_koeln_50.tif"
PURE_TILES = 24  # tiles the pure predict_batch throughput is measured on


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


class FixedCostMethod:
    """Costs ``cost`` seconds per tile in ``predict_batch`` (a stand-in for a GPU); 3 classes from R, G, B."""

    name = "bench-fixed-cost"
    min_tile = 1

    def __init__(self, cost: float) -> None:
        self.cost = cost

    def prepare(self, labels: object) -> None:
        """Nothing depends on the labels."""

    def predict_batch(self, tiles):
        """Sleep ``cost`` per tile, then each band scaled to 0..1 as the class probabilities."""
        import numpy as np

        time.sleep(self.cost * len(tiles))
        return np.multiply(tiles, np.float32(1 / 255.0), dtype=np.float32)

    def predict(self, tile):
        """The batch of one (the serial pipeline of an older engine calls this)."""
        return self.predict_batch(tile[None])[0]


def make_content_raster(path: Path, size: int) -> None:
    """A ``size`` x ``size`` RGB Byte GeoTIFF, DEFLATE-compressed in 256 x 256 tiles: the 1000 x 1000 demo
    orthophoto repeated (real image content, so reading decompresses real data)."""
    import numpy as np
    from osgeo import gdal

    demo = gdal.Open(str(DEMO))
    image = demo.ReadAsArray()
    options = ["TILED=YES", "COMPRESS=DEFLATE", "PREDICTOR=2", "BIGTIFF=YES", "NUM_THREADS=ALL_CPUS"]
    ds = gdal.GetDriverByName("GTiff").Create(str(path), size, size, 3, gdal.GDT_Byte, options)
    ds.SetGeoTransform(demo.GetGeoTransform())
    ds.SetProjection(demo.GetProjection())
    side = image.shape[1]
    strip = np.tile(image, (1, 1, -(-size // side)))[:, :, :size]
    for y in range(0, size, side):
        rows = min(side, size - y)
        for band in range(3):
            ds.GetRasterBand(band + 1).WriteArray(strip[band, :rows], 0, y)
        ds.FlushCache()
    ds = None


def pure_throughput(method: FixedCostMethod, tile: int, batch: int) -> float:
    """Tiles per second of ``predict_batch`` alone on batches already in memory (after one warm-up call)."""
    import numpy as np

    tiles = np.random.default_rng(0).uniform(0, 255, (batch, 3, tile, tile)).astype(np.float32)
    method.predict_batch(tiles)
    calls = max(1, PURE_TILES // batch)
    start = time.perf_counter()
    for _ in range(calls):
        method.predict_batch(tiles)
    return calls * batch / (time.perf_counter() - start)


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


def child(args: argparse.Namespace) -> dict:
    """One run in this process: returns tiles, seconds, tiles/s, peak RSS (MiB) and, with a cost per tile,
    the pure predict_batch throughput and the seconds until the last tile was done (the rest is the final
    compression of the outputs)."""
    size, tile, overlap, cost, workdir = args.child, args.tile, args.overlap, args.cost, args.workdir
    sys.path.insert(0, str(args.engine_root))
    from engine.labels import parse_labels
    from engine.pipeline import segment_raster

    kind = "content" if cost else "sparse"
    src = workdir / f"in_{kind}_{size}.tif"
    if not src.exists():
        (make_content_raster if cost else make_sparse_raster)(src, size)
    method = FixedCostMethod(cost) if cost else BrightnessMethod()
    extra = {"batch": args.batch} if "batch" in inspect.signature(segment_raster).parameters else {}
    last = [0.0]
    start = time.perf_counter()
    result = segment_raster(
        src,
        workdir / f"out_{size}.tif",
        method,
        parse_labels("dark; mid; bright"),
        tile=tile,
        overlap=overlap,
        progress=lambda _progress: last.__setitem__(0, time.perf_counter()),
        **extra,
    )
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    used = getattr(result, "batch", 1)
    row = {
        "size": size,
        "tiles": result.tiles_total,
        "batch": used,
        "seconds": seconds,
        "tiles_per_s": result.tiles_total / seconds,
        "seconds_to_last_tile": last[0] - start,
        "peak_rss_mib": peak,
        "output_bytes": os.path.getsize(result.output_path),
    }
    if cost:
        row["pure_tiles_per_s"] = pure_throughput(method, tile, used)
    return row


def run_child(args: argparse.Namespace, size: int, workdir: Path, engine_root: Path) -> dict:
    """Run :func:`child` in a fresh interpreter and parse its JSON line."""
    cmd = [
        sys.executable,
        __file__,
        "--child",
        str(size),
        "--tile",
        str(args.tile),
        "--overlap",
        str(args.overlap),
        "--workdir",
        str(workdir),
        "--cost",
        str(args.cost),
        "--batch",
        str(args.batch),
        "--engine-root",
        str(engine_root),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def median(runs: list[dict], key: str) -> float:
    """The median of ``key`` over the runs."""
    return statistics.median(r[key] for r in runs)


def report(rows: dict[tuple[str, int], list[dict]], args: argparse.Namespace, engines: dict[str, str]) -> str:
    """The results as Markdown: machine, date, settings and the medians per engine and size."""
    from osgeo import gdal

    if args.cost:
        method = (
            f"fixed cost {args.cost * 1000:.0f} ms per tile in predict_batch (sleep + float32 result from the "
            "input: a stand-in for a GPU method); input the demo orthophoto repeated, DEFLATE-compressed "
            "256 x 256 tiles, read from disk"
        )
    else:
        method = "trivial O(pixels) numpy test double; input a sparse tiled RGB Byte GeoTIFF"
    lines = [
        f"# Pipeline benchmark, {datetime.date.today().isoformat()}",
        "",
        f"- machine: {platform.node()}, {platform.machine()}, {os.cpu_count()} CPU cores visible, "
        f"Python {platform.python_version()}, GDAL {gdal.__version__}; load average before the runs: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"- method: {method}; 3 classes; tile {args.tile}, overlap {args.overlap}, weighted blending; "
        f"batch {args.batch or 'automatic'}",
        "- engines: " + "; ".join(f"{name} = {where}" for name, where in engines.items()),
        f"- median of {args.repeats} runs, each in a fresh process (peak RSS = ru_maxrss of that process, "
        "Python + numpy + GDAL included); seconds = the whole segment_raster call, to last tile = until the "
        "last tile's progress report (the rest is the outputs' final compression)",
        "",
    ]
    if args.cost:
        lines += [
            "| engine | raster | tiles | batch | seconds | to last tile (s) | pipeline tiles/s | pure predict_batch "
            "tiles/s | pipeline / pure | up to last tile / pure | peak RSS (MiB) | runs (s) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
    else:
        lines += [
            "| engine | raster | tiles | batch | seconds | tiles/s | peak RSS (MiB) | output size (KiB) | runs (s) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
    for (engine, size), runs in rows.items():
        seconds, last = median(runs, "seconds"), median(runs, "seconds_to_last_tile")
        head = f"| {engine} | {size} x {size} | {runs[0]['tiles']} | {runs[0]['batch']} | {seconds:.1f} |"
        times = ", ".join(format(r["seconds"], ".1f") for r in runs)
        if args.cost:
            pure = median(runs, "pure_tiles_per_s")
            tps = runs[0]["tiles"] / seconds
            lines.append(
                f"{head} {last:.1f} | {tps:.2f} | {pure:.2f} | {tps / pure:.0%} | "
                f"{runs[0]['tiles'] / last / pure:.0%} | {median(runs, 'peak_rss_mib'):.0f} | {times} |"
            )
        else:
            lines.append(
                f"{head} {median(runs, 'tiles_per_s'):.1f} | {median(runs, 'peak_rss_mib'):.0f} | "
                f"{runs[0]['output_bytes'] / 1024:.0f} | {times} |"
            )
    return "\n".join(lines) + "\n"


def engine_label(root: Path) -> str:
    """Where an engine comes from: its folder, branch and commit."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(root), *args], check=False, capture_output=True, text=True)
        return done.stdout.strip()

    return f"{root} ({git('rev-parse', '--abbrev-ref', 'HEAD')} {git('rev-parse', '--short', 'HEAD')})"


def main() -> None:
    """Parse options; run the children and write the report, or be a child."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--engine-root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help="keep the input rasters here (default: a temporary folder)")
    parser.add_argument("--tile", type=int, default=1024)
    parser.add_argument("--overlap", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--cost", type=float, default=0.0, help="seconds per tile of the stand-in method")
    parser.add_argument("--batch", type=int, default=0, help="tiles per batch (0: automatic)")
    parser.add_argument("--compare", type=Path, help="also measure the engine of this checkout (e.g. main)")
    parser.add_argument("--out", type=Path, help="write the Markdown report here")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    engines = {"this": ROOT, **({"compare": args.compare.resolve()} if args.compare else {})}
    rows: dict[tuple[str, int], list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="ovss-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for size in args.sizes:
            for _ in range(args.repeats):  # engines interleaved, so a change of load hits both alike
                for name, root in engines.items():
                    rows.setdefault((name, size), []).append(run_child(args, size, workdir, root))
                    print(name, json.dumps(rows[(name, size)][-1]), file=sys.stderr)
    text = report(rows, args, {name: engine_label(root) for name, root in engines.items()})
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
