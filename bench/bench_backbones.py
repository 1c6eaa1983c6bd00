"""Forward time and peak memory of every backbone at the methods' input sizes, fp32 and bf16.

Each (backbone, precision) runs in a fresh process so that its peak RSS is its own. The forward pass is
what the methods call: CLIP's ``encode_image_layers`` with attention maps, the VFMs' ``forward_layers``.
Weights are random (the architectures are real; timing does not depend on the values).

    .venv/bin/python bench/bench_backbones.py [--runs 3] [--out bench/results/backbones-DATE.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# (label, kind, name, input side): the sizes the methods feed.
CASES = (
    ("CLIP ViT-B/16 (AlignCLIP window)", "clip", "ViT-B-16", 224),
    ("CLIP ViT-B/16 @448", "clip", "ViT-B-16", 448),
    ("CLIP ViT-L/14 (SDCI)", "clip", "ViT-L-14", 518),
    ("DINO ViT-B/8 (SDCI-v1)", "vfm", "dino_vitb8", 384),
    ("DINOv2 ViT-B/14 reg (SDCI-v2)", "vfm", "dinov2_vitb14_reg", 532),
    ("DINO ViT-B/8 @112 (AlignCLIP-D, per window)", "vfm", "dino_vitb8", 112),
    ("SAM ViT-B @224 (AlignCLIP-S, per window)", "vfm", "sam_vitb", 224),
    ("SAM ViT-B @512", "vfm", "sam_vitb", 512),
    ("SAM ViT-B @1024 (native)", "vfm", "sam_vitb", 1024),
)


def measure_one(kind: str, name: str, side: int, precision: str, runs: int) -> dict[str, float]:
    """Build one backbone with random weights, warm it up, time ``runs`` forward passes."""
    import torch

    from engine.device import resolve_runtime
    from engine.models import load_clip, load_vfm

    runtime = resolve_runtime("cpu", precision)
    model = runtime.prepare(load_clip(name, "random") if kind == "clip" else load_vfm(name, "random"))
    images = runtime.cast(torch.randn(1, 3, side, side))

    def forward() -> None:
        with torch.inference_mode():
            if kind == "clip":
                model.encode_image_layers(images)
            else:
                model.forward_layers(images)

    forward()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        forward()
        times.append(time.perf_counter() - start)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"median_s": statistics.median(times), "min_s": min(times), "peak_rss_mib": peak_mib,
            "threads": torch.get_num_threads()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--one", nargs=4, metavar=("KIND", "NAME", "SIDE", "PRECISION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        kind, name, side, precision = args.one
        print(json.dumps(measure_one(kind, name, int(side), precision, args.runs)))
        return 0

    today = datetime.date.today().isoformat()
    out = args.out or ROOT / "bench" / "results" / f"backbones-{today}.md"
    rows = []
    for label, kind, name, side in CASES:
        for precision in ("fp32", "bf16"):
            result = subprocess.run(
                [sys.executable, __file__, "--runs", str(args.runs), "--one", kind, name, str(side), precision],
                check=True, capture_output=True, text=True,
            )
            numbers = json.loads(result.stdout.strip().splitlines()[-1])
            rows.append((label, side, precision, numbers))
            print(f"{label:34s} {side:5d} {precision}: {numbers['median_s']:.3f} s, "
                  f"{numbers['peak_rss_mib']:.0f} MiB", flush=True)
    lines = [
        "# Backbone forward passes (random weights, batch 1, CPU)",
        "",
        f"- date: {today}",
        f"- machine: {platform.machine()}, {platform.processor() or 'cpu'}, torch threads: {rows[0][3]['threads']}",
        f"- command: `.venv/bin/python bench/bench_backbones.py --runs {args.runs}`",
        f"- median of {args.runs} runs after one warm-up; peak RSS of the whole process (model + activations)",
        "",
        "| backbone | input | precision | median s | min s | peak RSS MiB |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {label} | {side}x{side} | {precision} | {n['median_s']:.3f} | {n['min_s']:.3f} | "
              f"{n['peak_rss_mib']:.0f} |" for label, side, precision, n in rows]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
