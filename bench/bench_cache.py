"""Benchmark of the label-independent feature cache (issue 17): a first run and a second run after changing one
class's prompts, on the demo raster (``engine/data/demo/oem_koeln_50.tif``, 1000 x 1000), per method.

Run from the repository root:

    .venv/bin/python bench/bench_cache.py [--methods segearth-ov alignclip-d sdci-v2] [--threads 1]
        [--precision auto] [--out bench/results/cache-DATE.md]

Each method runs in its own process (random weights, CPU, the command line's defaults: tile 512, overlap 64,
the ``openearthmap-segearth`` labels): the first run fills an empty cache, the second run (prepare + segment)
uses the labels with the first foreground class's prompts changed. Per run the wall time and the process CPU
time (the honest measure on a loaded machine with one torch thread); the ratio second / first; the cache's
bytes per tile after the first run. Targets: second run <= 25 % of the first for segearth-ov and alignclip-d,
<= 40 % for sdci-v2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "engine" / "data" / "demo" / "oem_koeln_50.tif"
sys.path.insert(0, str(ROOT))
TARGETS = {"segearth-ov": 0.25, "alignclip-d": 0.25, "alignclip-s": 0.25, "sdci-v1": 0.40, "sdci-v2": 0.40}


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def measure(name: str, precision: str, threads: int) -> dict[str, object]:
    """Both runs of method ``name`` in this process; the numbers as a dict."""
    import torch

    from engine.cache import FeatureCache
    from engine.labels import LabelClass, LabelSet, load_preset
    from engine.methods.base import create_method
    from engine.pipeline import segment_raster

    torch.set_num_threads(threads)
    labels = load_preset("openearthmap-segearth").labels
    index = next(i for i in range(len(labels)) if i != labels.background)
    changed = LabelClass(labels[index].name, ("grass", "lawn", "meadow"), labels[index].color)
    reworded = LabelSet(tuple(changed if i == index else labels[i] for i in range(len(labels))), labels.background)
    method = create_method(name, weights="random", device="cpu", precision=precision)
    cache = FeatureCache()
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        for run, classes in enumerate((labels, reworded)):
            wall, cpu = time.perf_counter(), time.process_time()
            method.prepare(classes)
            result = segment_raster(DEMO, Path(folder) / f"run{run}.tif", method, classes, cache=cache)
            runs.append((time.perf_counter() - wall, time.process_time() - cpu, _load()))
            if run == 0:
                filled = cache.stats()
    stats = cache.stats()
    return {
        "method": name, "precision": method.runtime.precision, "tiles": result.tiles_total,
        "first_wall": runs[0][0], "first_cpu": runs[0][1], "second_wall": runs[1][0], "second_cpu": runs[1][1],
        "loads": [runs[0][2], runs[1][2]], "bytes": filled.bytes, "entries": filled.entries,
        "hits": stats.hits, "misses": stats.misses, "cache_limit": cache.limit("host"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["segearth-ov", "alignclip-d", "sdci-v2"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # child process: one method, JSON out
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.precision, args.threads)))
        return
    rows = []
    for name in args.methods:
        command = [sys.executable, __file__, "--one", name, "--threads", str(args.threads),
                   "--precision", args.precision]
        done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT,
                              env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    lines = [
        f"# Feature cache benchmark, {dt.date.today()}",
        "",
        f"- machine: {platform.node()}, {platform.machine()}, {os.cpu_count()} CPU cores visible; "
        f"{args.threads} torch thread(s); load average at the end: {_load()}",
        f"- command: `.venv/bin/python bench/bench_cache.py --threads {args.threads} --precision {args.precision}"
        f" --methods {' '.join(args.methods)}`",
        "- input: engine/data/demo/oem_koeln_50.tif (1000 x 1000), tile 512, overlap 64, labels "
        "openearthmap-segearth; second run: the first foreground class's prompts changed to grass, lawn, meadow",
        "",
        "| method | precision | tiles | first wall s | second wall s | first CPU s | second CPU s | second/first CPU "
        "| target | cache MB per tile | entries | hits / misses | load (first; second) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = row["second_cpu"] / row["first_cpu"]
        target = TARGETS.get(row["method"], 1.0)
        lines.append(
            f"| {row['method']} | {row['precision']} | {row['tiles']} | {row['first_wall']:.1f} | "
            f"{row['second_wall']:.1f} | {row['first_cpu']:.1f} | {row['second_cpu']:.1f} | {ratio:.0%} | "
            f"<= {target:.0%} {'met' if ratio <= target else 'NOT met'} | {row['bytes'] / row['tiles'] / 2**20:.0f} | "
            f"{row['entries']} | {row['hits']} / {row['misses']} | {row['loads'][0]}; {row['loads'][1]} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
