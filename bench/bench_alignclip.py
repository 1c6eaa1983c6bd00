"""Speed and memory of segearth-ov, alignclip-d and alignclip-s on a 448x448 image, stage by stage.

Run from the repository root:

    .venv/bin/python bench/bench_alignclip.py [--runs 3] [--threads 2] [--out bench/results/alignclip-DATE.md]

Each (method, precision) pair runs in its own subprocess (``--one METHOD PRECISION``), so that the peak
resident memory (``ru_maxrss``) belongs to that configuration alone. A subprocess builds the method with
random weights (the real architectures; timings do not depend on the weights), prepares the 8 OpenEarthMap
classes, runs one warm-up prediction on the real LoveDA sample cropped to 448x448 and then ``--runs`` timed
predictions. Stage times come from the method's ``stage_times`` hook; K-means is timed by wrapping
``ops.alignment.kmeans`` here, and "propagation" is the rest of CCE (mask, affinity, Eqs. 10-12).
"AlignCLIP extra" is everything beyond the baseline's stages except the VFM forward pass: SGA, K-means,
propagation and fusion, compared with the baseline's median total (the issue's 10 % target).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SAMPLE = ROOT.parent / "shared" / "data" / "loveda" / "img" / "0.png"
METHODS = ("segearth-ov", "alignclip-d", "alignclip-s")
PRECISIONS = ("fp32", "bf16")
STAGES = ("clip", "upsampler", "vfm", "sga", "kmeans", "propagation", "fusion", "post")
EXTRA = ("sga", "kmeans", "propagation", "fusion")


def run_one(method_name: str, precision: str, runs: int, threads: int) -> dict[str, object]:
    """Time one configuration in this process: per-stage medians, total median, peak memory."""
    import numpy as np
    import torch
    from PIL import Image

    from engine.labels import load_preset
    from engine.methods.base import create_method
    from engine.ops import alignment

    torch.set_num_threads(threads)
    image = np.asarray(Image.open(SAMPLE).convert("RGB"))[:448, :448]
    tile = np.moveaxis(image, -1, 0).astype(np.float32)
    method = create_method(method_name, weights="random", precision=precision)
    method.prepare(load_preset("openearthmap-ori").labels)

    real_kmeans = alignment.kmeans

    def timed_kmeans(*args: object, **kwargs: object) -> object:
        start = time.perf_counter()
        result = real_kmeans(*args, **kwargs)
        if method.stage_times is not None:
            method.stage_times["kmeans"] += time.perf_counter() - start
        return result

    alignment.kmeans = timed_kmeans
    method.predict(tile)
    per_stage: dict[str, list[float]] = defaultdict(list)
    totals = []
    for _ in range(runs):
        method.stage_times = defaultdict(float)
        start = time.perf_counter()
        method.predict(tile)
        totals.append(time.perf_counter() - start)
        times = method.stage_times
        times["propagation"] = times.pop("cce", 0.0) - times.get("kmeans", 0.0)
        for stage in STAGES:
            per_stage[stage].append(times.get(stage, 0.0))
    return {
        "method": method_name,
        "precision": precision,
        "total_s": statistics.median(totals),
        "stages_s": {stage: statistics.median(values) for stage, values in per_stage.items()},
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "upsampler": method.upsampling,
    }


def report(results: list[dict], runs: int, threads: int, command: str) -> str:
    """The Markdown table of all configurations with the 10 % target check."""
    lines = [
        f"# AlignCLIP family: speed and memory ({dt.date.today().isoformat()})",
        "",
        f"- machine: {platform.processor() or platform.machine()}, {threads} torch thread(s), "
        f"Python {platform.python_version()}, {platform.platform()}",
        f"- command: `{command}`",
        f"- input: {SAMPLE.name} (LoveDA) cropped to 448x448, 8 OpenEarthMap classes, random weights; "
        f"medians of {runs} runs after one warm-up; seconds",
        "",
        "| method | precision | total | " + " | ".join(STAGES)
        + " | AlignCLIP extra | extra / baseline | peak RSS MB |",
        "|---" * (len(STAGES) + 6) + "|",
    ]
    baseline = {r["precision"]: r["total_s"] for r in results if r["method"] == "segearth-ov"}
    for r in results:
        stages = r["stages_s"]
        extra = sum(stages.get(stage, 0.0) for stage in EXTRA) if r["method"] != "segearth-ov" else 0.0
        share = extra / baseline[r["precision"]] if r["precision"] in baseline else float("nan")
        cells = " | ".join(f"{stages.get(stage, 0.0):.3f}" for stage in STAGES)
        lines.append(
            f"| {r['method']} | {r['precision']} | {r['total_s']:.2f} | {cells} | {extra:.3f} | "
            f"{share:.1%} | {r['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    """Run every configuration in a subprocess (or one with ``--one``) and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--one", nargs=2, metavar=("METHOD", "PRECISION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], args.one[1], args.runs, args.threads)))
        return 0
    results = []
    for precision in args.precisions:
        for name in args.methods:
            cmd = [sys.executable, __file__, "--one", name, precision, "--runs", str(args.runs),
                   "--threads", str(args.threads)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            results.append(json.loads(out.strip().splitlines()[-1]))
            print(results[-1], file=sys.stderr)
    text = report(results, args.runs, args.threads, " ".join(["python", *sys.argv]))
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
