"""Speed and memory of SimFeatUp's JBU upsamplers for one sliding window: 512 channels, 14x14 -> 224x224.

Run from the repository root:

    .venv/bin/python bench/bench_upsampler.py [--runs 3] [--threads 1 2] [--before-code DIR]
        [--out bench/results/upsampler-DATE.md]

Each (kind, precision) pair runs in its own subprocess (``--one KIND PRECISION``), so that the peak resident
memory (``ru_maxrss``) belongs to that configuration alone. A subprocess builds the upsampler with random
weights (the real architecture; the timings do not depend on the weights), takes CLIP-normalised guidance
from the real LoveDA sample cropped to 224x224 and random 14x14 features, runs one warm-up and then ``--runs``
timed forward passes. "window MB" is the peak RSS minus the RSS just before the first forward pass: the
memory that one window's upsampling adds; "CPU s" is the process CPU time of a run (more than the wall time
times the threads: threads spin; much less: the process waited for a busy CPU).

``--before-code DIR`` names a directory holding an older ``engine`` package (e.g. a copy of the previous
commit): every configuration then also runs with it, right before the current code, so that both see the
same machine load, and the report compares them.
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
sys.path.insert(0, str(ROOT))

SAMPLE = ROOT.parent / "shared" / "data" / "loveda" / "img" / "0.png"
KINDS = ("jbu_one", "jbu_stack")
PRECISIONS = ("fp32", "bf16")
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _current_rss_mb() -> float:
    """The resident set size of this process now, in MiB (Linux ``/proc/self/statm``)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _cpu_name() -> str:
    """The CPU model from ``/proc/cpuinfo`` (Linux), else the machine type."""
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def run_one(kind: str, precision: str, runs: int, threads: int, dim: int = 512) -> dict[str, object]:
    """Time one configuration in this process: median forward time, CPU time and peak memory."""
    import numpy as np
    import torch
    from PIL import Image

    from engine.backbones.upsamplers import build_upsampler

    torch.set_num_threads(threads)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    rgb = np.asarray(Image.open(SAMPLE).convert("RGB"))[:224, :224]
    image = torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1)[None]
    guidance = ((image - torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)) / torch.tensor(CLIP_STD).view(1, 3, 1, 1))
    features = torch.randn(1, dim, 14, 14, generator=torch.Generator().manual_seed(0))
    upsampler = build_upsampler(kind, dim).to(dtype)  # type: ignore[arg-type]
    guidance, features = guidance.to(dtype), features.to(dtype)
    rss_before = _current_rss_mb()
    times, cpu_times = [], []
    with torch.no_grad():
        for index in range(runs + 1):
            start, cpu_start = time.perf_counter(), time.process_time()
            out = upsampler(features, guidance)
            if index:
                times.append(time.perf_counter() - start)
                cpu_times.append(time.process_time() - cpu_start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "kind": kind,
        "precision": precision,
        "median_s": statistics.median(times),
        "runs_s": times,
        "cpu_s": statistics.median(cpu_times),
        "threads": threads,
        "peak_rss_mb": peak,
        "window_mb": peak - rss_before,
        "out_shape": list(out.shape),
    }


def report(results: list[dict], runs: int, command: str) -> str:
    """The Markdown table of all configurations; rows of the older code (``code: before``) where measured."""
    lines = [
        f"# SimFeatUp JBU upsamplers: speed and memory ({dt.date.today().isoformat()})",
        "",
        f"- machine: {_cpu_name()}, {os.cpu_count()} CPU(s), Python {platform.python_version()}, "
        f"{platform.platform()}",
        f"- command: `{command}`",
        f"- input: 512-channel random features 14x14 -> 224x224, guided by {SAMPLE.name} (LoveDA) cropped to "
        f"224x224; random weights; median of {runs} runs after one warm-up; seconds; memory in MiB",
        "",
        "| kind | precision | threads | code | median s | runs s | CPU s | peak RSS | window MB | speed-up |",
        "|---" * 10 + "|",
    ]
    before = {(r["kind"], r["precision"], r["threads"]): r for r in results if r["code"] == "before"}
    for r in results:
        prev = before.get((r["kind"], r["precision"], r["threads"]))
        speedup = f"{prev['median_s'] / r['median_s']:.1f}x" if prev and r["code"] != "before" else "-"
        runs_text = ", ".join(f"{t:.3f}" for t in r["runs_s"])
        lines.append(f"| {r['kind']} | {r['precision']} | {r['threads']} | {r['code']} | {r['median_s']:.3f} | "
                     f"{runs_text} | {r['cpu_s']:.3f} | {r['peak_rss_mb']:.0f} | {r['window_mb']:.0f} | "
                     f"{speedup} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    """Run every configuration in a subprocess (or one with ``--one``) and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[2])
    parser.add_argument("--kinds", nargs="+", default=list(KINDS))
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS))
    parser.add_argument("--before-code", type=Path, help="directory with an older engine package to compare")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--one", nargs=2, metavar=("KIND", "PRECISION"), help=argparse.SUPPRESS)
    parser.add_argument("--code", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        if args.code:
            sys.path.insert(0, str(args.code.resolve()))
        print(json.dumps(run_one(args.one[0], args.one[1], args.runs, args.threads[0])))
        return 0
    codes = {"before": args.before_code, "after": ROOT} if args.before_code else {"current": ROOT}
    results = []
    for threads in args.threads:
        for precision in args.precisions:
            for kind in args.kinds:
                for label, code in codes.items():
                    cmd = [sys.executable, __file__, "--one", kind, precision, "--runs", str(args.runs),
                           "--threads", str(threads), "--code", str(code)]
                    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                    results.append({**json.loads(out.strip().splitlines()[-1]), "code": label})
                    print(results[-1], file=sys.stderr)
    text = report(results, args.runs, " ".join(["python", *sys.argv]))
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
