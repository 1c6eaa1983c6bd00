"""Benchmark of 512x512 tiles through ``sdci-v2`` and ``sdci-v1`` (random weights, real architectures).

Run from the repository root:

    .venv/bin/python bench/bench_sdci.py [--runs 3] [--threads 2] [--batches 1,2] [--configs sdci-v2:bf16]
        [--out bench/results/sdci-DATE.md]

Each (method, precision, batch size) runs in its own process, so its peak RSS is its own. A batch of ``B``
goes through ``predict_batch`` (``B = 1``: ``predict``); its tiles are the Potsdam and Vaihingen samples and
their mirror images, in turn. Per stage (the method's ``timings``: CLIP backbone, VFM backbone, CAF levels,
CAF fusion, BCDR, superpixels + CSCP) the median wall time over ``--runs`` calls after one warm-up, PER TILE
(the batch's seconds divided by ``B``), the total per tile, "beyond the backbones" (everything except the
two backbone passes), the process CPU time per tile, and the peak RSS while predicting (``VmHWM`` reset after
the build, whose fp32 construction peak is reported apart). Targets (issue 4): sdci-v2 bf16 beyond-backbones
<= 1.5 s, total <= 7 s, peak RSS <= 3 GB; issue 13: no slower than that per tile.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
TILES = (DATA / "potsdam" / "img" / "2_10_0_0_512_512.png", DATA / "vaihingen" / "img" / "area1_0_0_512_512.png")
BACKBONES = ("clip_backbone", "vfm_backbone")
COUNTS = ("cscp_iterations", "cscp_relative_gap")  # timings entries that are not seconds
CONFIGS = ("sdci-v2:bf16", "sdci-v2:fp32", "sdci-v1:bf16", "sdci-v1:fp32")


def _peak_rss_gb() -> float:
    """This process's peak resident set (``VmHWM``) in GB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024**2
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _reset_peak_rss() -> None:
    """Reset ``VmHWM`` to the current RSS (Linux ``clear_refs`` 5), so the prediction's peak is measured alone."""
    Path("/proc/self/clear_refs").write_text("5")


def batch_of(size: int):
    """``size`` 512x512 tiles ``(B, 3, 512, 512)`` float32: the samples and their mirror images, in turn."""
    import numpy as np
    from PIL import Image

    images = [np.asarray(Image.open(path).convert("RGB")) for path in TILES]
    images += [image[:, ::-1] for image in images]
    return np.stack([images[i % len(images)] for i in range(size)]).transpose(0, 3, 1, 2).astype(np.float32)


def measure(method_name: str, precision: str, runs: int, threads: int, batch: int) -> dict[str, object]:
    """Build, prepare and time ``runs`` calls on a batch of ``batch`` tiles (after a warm-up) in this process."""
    import torch

    sys.path.insert(0, str(ROOT))
    from engine.labels import load_preset
    from engine.methods import create_method

    torch.set_num_threads(threads)
    tiles = batch_of(batch)
    method = create_method(method_name, weights="random", device="cpu", precision=precision, seed=0)
    method.prepare(load_preset("potsdam-gen").labels)
    build_peak = _peak_rss_gb()
    _reset_peak_rss()

    def call() -> None:
        if batch == 1:
            method.predict(tiles[0])
        else:
            method.predict_batch(tiles)

    call()
    stages: dict[str, list[float]] = {}
    totals, cpu = [], []
    for _ in range(runs):
        start, cpu_start = time.perf_counter(), time.process_time()
        call()
        totals.append((time.perf_counter() - start) / batch)
        cpu.append((time.process_time() - cpu_start) / batch)
        for stage, seconds in method.timings.items():
            if stage not in COUNTS:
                stages.setdefault(stage, []).append(seconds / batch)
    medians = {stage: statistics.median(values) for stage, values in stages.items()}
    beyond = [sum(v[i] for s, v in stages.items() if s not in BACKBONES) for i in range(runs)]
    return {
        "method": method_name,
        "precision": precision,
        "batch": batch,
        "stages": medians,
        "total": statistics.median(totals),
        "cpu_total": statistics.median(cpu),
        "beyond_backbones": statistics.median(beyond),
        "peak_rss_gb": _peak_rss_gb(),
        "build_peak_rss_gb": build_peak,
    }


def main() -> None:
    """Run every configuration in a child process and write the Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", default="1", help="comma-separated batch sizes (default 1)")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated METHOD:PRECISION")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / f"sdci-{dt.date.today()}.md")
    parser.add_argument("--child", nargs=3, metavar=("METHOD", "PRECISION", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, precision, batch = args.child
        print(json.dumps(measure(name, precision, args.runs, args.threads, int(batch))))
        return
    load_start = os.getloadavg()[0]
    results = []
    batches = [int(b) for b in args.batches.split(",")]
    for config in args.configs.split(","):
        name, precision = config.split(":")
        for batch in batches:
            cmd = [sys.executable, __file__, "--runs", str(args.runs), "--threads", str(args.threads)]
            child = [*cmd, "--child", name, precision, str(batch)]
            proc = subprocess.run(child, capture_output=True, text=True, check=True)
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(results[-1], flush=True)
    stages = list(results[0]["stages"])
    lines = [
        f"# SDCI benchmark, {dt.date.today()}",
        "",
        f"Machine: {platform.node()}, {platform.processor() or platform.machine()}, "
        f"{args.threads} torch threads; the CPU column is this process's CPU time; load average at the start "
        f"{load_start:.1f}, at the end {os.getloadavg()[0]:.1f} (a load above the thread count inflates the "
        "wall times).",
        f"Command: `.venv/bin/python bench/bench_sdci.py --runs {args.runs} --threads {args.threads} "
        f"--batches {args.batches} --configs {args.configs}`",
        f"Input: batches of {', '.join(p.name for p in TILES)} and their mirror images (512x512), preset "
        f"potsdam-gen, random weights, medians of {args.runs} runs after a warm-up; seconds PER TILE (a batch's "
        "time divided by its size).",
        "",
        "| method | precision | batch | "
        + " | ".join(stages)
        + " | beyond backbones | total | CPU | peak RSS GB predict | build |",
        "|---" * (len(stages) + 8) + "|",
    ]
    for r in results:
        cells = " | ".join(f"{r['stages'][s]:.2f}" for s in stages)
        lines.append(
            f"| {r['method']} | {r['precision']} | {r['batch']} | {cells} | {r['beyond_backbones']:.2f} | "
            f"{r['total']:.2f} | "
            f"{r['cpu_total']:.2f} | {r['peak_rss_gb']:.2f} | {r['build_peak_rss_gb']:.2f} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
