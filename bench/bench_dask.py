"""Benchmark of cluster runs (``engine.distributed``): wall time, peak memory per process and scheduler
overhead per task, for a single-process run and for a ``LocalCluster`` of 1 and 2 worker processes.

The method is the trivial O(pixels) numpy test double of ``bench_pipeline.py`` (three classes from the
brightness) and the input a sparse tiled RGB Byte GeoTIFF (every block reads as 0, cheap to create whatever
its size), so the numbers measure the cluster's machinery (reading on the workers, shipping the tiles'
probabilities to the client, stitching and writing there), not a model. Each run happens in a fresh Python
process with its own cluster, so every process's peak resident memory (``ru_maxrss``) is that run's:
"client" is the run's own process (the client, its stitcher and writers, and the LocalCluster's scheduler,
which lives in it), "worker" the largest of the worker processes. The scheduler overhead per task is timed
apart: no-op tasks submitted the way a run submits its tasks (a bounded number in flight, results fetched in
order), their round trip per task.

    .venv/bin/python bench/bench_dask.py --sizes 5000 20000 --workers 0 1 2 --repeats 3 \
        --out bench/results/dask-$(date +%F).md
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
BENCH = Path(__file__).resolve().parent
METHOD = "bench-brightness"
NOOP_TASKS = 400


sys.path[:0] = [str(ROOT), str(BENCH)]  # the workers import this module too, to build the method
from bench_pipeline import BrightnessMethod, make_sparse_raster  # noqa: E402


class BrightnessBench(BrightnessMethod):
    """``bench_pipeline``'s :class:`BrightnessMethod`, built by the registry (which passes weights, device, ...)."""

    def __init__(self, **_: object) -> None:
        super().__init__()


def register_bench_method() -> None:
    """Register :class:`BrightnessBench` as :data:`METHOD`."""
    from engine.methods.base import register_method

    register_method(METHOD, "brightness, three classes (benchmark double)")(BrightnessBench)


def noop(index: int) -> int:
    """A task that does nothing (the scheduler overhead's measure)."""
    return index


def overhead_per_task(client: object, in_flight: int) -> float:
    """Seconds per no-op task, submitted and fetched in order with ``in_flight`` tasks ahead (as a run does)."""
    futures: dict[int, object] = {}
    start = time.perf_counter()
    for index in range(NOOP_TASKS):
        for ahead in range(len(futures) + index, min(index + in_flight, NOOP_TASKS)):
            futures[ahead] = client.submit(noop, ahead, pure=False)
        futures.pop(index).result()
    return (time.perf_counter() - start) / NOOP_TASKS


def child(args: argparse.Namespace) -> dict:
    """One run in this process (``args.child`` workers; 0: the single-process ``segment_raster``)."""
    import logging

    from engine.labels import parse_labels

    register_bench_method()
    size, workers = args.size, args.child_workers
    src = args.workdir / f"in_sparse_{size}.tif"
    if not src.exists():
        make_sparse_raster(src, size)
    labels = parse_labels("dark; mid; bright")
    out = args.workdir / f"out_{size}_{workers}.tif"
    row: dict = {"size": size, "workers": workers}
    start = time.perf_counter()
    if workers == 0:
        from engine.methods.base import create_method
        from engine.pipeline import segment_raster

        result = segment_raster(src, out, create_method(METHOD), labels, tile=args.tile, overlap=args.overlap)
        row["seconds"] = time.perf_counter() - start
    else:
        from distributed import Client, LocalCluster, get_task_stream

        from engine.distributed import MethodSpec, segment_on_cluster

        with LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster, Client(cluster) as client:
            start = time.perf_counter()
            with get_task_stream(client=client) as stream:
                result = segment_on_cluster(
                    src,
                    out,
                    MethodSpec.of(METHOD),
                    labels,
                    cluster=cluster.scheduler_address,
                    tile=args.tile,
                    overlap=args.overlap,
                    tiles_per_task=args.tiles_per_task,
                )
            row["seconds"] = time.perf_counter() - start
            computes = [
                part["stop"] - part["start"]
                for task in stream.data
                if task["key"].startswith("predict_tiles")
                for part in task["startstops"]
                if part["action"] == "compute"
            ]
            row["tasks"] = len(computes)
            row["compute_s_per_task"] = statistics.mean(computes)
            peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
            row["worker_peak_mib"] = max(peaks.values())
            row["overhead_s_per_task"] = overhead_per_task(client, 2 * workers)
    row["tiles"] = result.tiles_total
    row["client_peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    out.unlink()
    return row


def run_child(args: argparse.Namespace, size: int, workers: int, workdir: Path) -> dict:
    """Run :func:`child` in a fresh interpreter and parse its JSON line."""
    cmd = [sys.executable, __file__, "--child-workers", str(workers), "--size", str(size), "--workdir",
           str(workdir), "--tile", str(args.tile), "--overlap", str(args.overlap), "--tiles-per-task",
           str(args.tiles_per_task)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def report(rows: dict[tuple[int, int], list[dict]], args: argparse.Namespace, loads: list[float]) -> str:
    """The results as Markdown: machine, date, load, settings and the medians per size and worker count."""
    from osgeo import gdal

    def med(runs: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    lines = [
        f"# Dask benchmark, {datetime.date.today().isoformat()}",
        "",
        f"- machine: {platform.node()}, {platform.machine()}, {os.cpu_count()} CPU cores visible, "
        f"Python {platform.python_version()}, GDAL {gdal.__version__}; load average (1 min) before each run: "
        f"{', '.join(f'{x:.1f}' for x in loads)}",
        f"- method: trivial O(pixels) numpy double, 3 classes; input a sparse tiled RGB Byte GeoTIFF; tile "
        f"{args.tile}, overlap {args.overlap}; {args.tiles_per_task} tiles per task, 2 tasks in flight per worker",
        f"- median of {args.repeats} runs, each in a fresh process with its own LocalCluster (one thread per "
        "worker process, OMP_NUM_THREADS=1); peak RSS = ru_maxrss (Python + numpy + GDAL included)",
        "",
        "| raster | workers | tiles | tasks | seconds | tiles/s | client peak (MiB) | worker peak (MiB) | "
        "compute per task (ms) | scheduler round trip per no-op task (ms) | runs (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (size, workers), runs in sorted(rows.items()):
        seconds = med(runs, "seconds")
        times = ", ".join(format(r["seconds"], ".1f") for r in runs)
        name = "0 (segment_raster)" if workers == 0 else str(workers)
        if workers:
            extra = (f"{runs[0]['tasks']} | {seconds:.1f} | {runs[0]['tiles'] / seconds:.1f} | "
                     f"{med(runs, 'client_peak_mib'):.0f} | {med(runs, 'worker_peak_mib'):.0f} | "
                     f"{med(runs, 'compute_s_per_task') * 1000:.0f} | {med(runs, 'overhead_s_per_task') * 1000:.1f}")
        else:
            extra = (f"- | {seconds:.1f} | {runs[0]['tiles'] / seconds:.1f} | {med(runs, 'client_peak_mib'):.0f} "
                     "| - | - | -")
        lines.append(f"| {size} x {size} | {name} | {runs[0]['tiles']} | {extra} | {times} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Parse options; run the children and write the report, or be a child."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child-workers", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help="keep the input rasters here (default: a temporary folder)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2], help="0: single-process run")
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--overlap", type=int, default=64)
    parser.add_argument("--tiles-per-task", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, help="write the Markdown report here")
    args = parser.parse_args()
    if args.child_workers is not None:
        print(json.dumps(child(args)))
        return
    rows: dict[tuple[int, int], list[dict]] = {}
    loads: list[float] = []
    with tempfile.TemporaryDirectory(prefix="ovss-bench-dask-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for size in args.sizes:
            for _ in range(args.repeats):  # worker counts interleaved, so a change of load hits all alike
                for workers in args.workers:
                    loads.append(os.getloadavg()[0])
                    row = run_child(args, size, workers, workdir)
                    print(json.dumps(row), file=sys.stderr)
                    rows.setdefault((size, workers), []).append(row)
    text = report(rows, args, loads)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
