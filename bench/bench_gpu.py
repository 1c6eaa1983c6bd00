"""Per-tile time and peak GPU memory of every method on a CUDA device (random weights, real architectures).

The papers' runtime anchors are GPU numbers (AlignCLIP Table 11, RTX 3090: SegEarth-OV 12 ms and AlignCLIP-D
16 ms per image); this measures the same methods here on whatever CUDA GPU is available. SDCI gets a 512x512
tile (its official input), the AlignCLIP family a 448x448 image (SegEarth-OV's long side). The image is a
smooth synthetic scene: with random weights the content does not change the cost, except K-means iterations.

    python bench/bench_gpu.py [--runs 10] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CASES = (
    ("segearth-ov", "openearthmap-segearth", 448),
    ("alignclip-d", "openearthmap-segearth", 448),
    ("alignclip-s", "openearthmap-segearth", 448),
    ("sdci-v1", "potsdam-gen", 512),
    ("sdci-v2", "potsdam-gen", 512),
)


def synthetic_tile(side: int):
    """A smooth RGB scene ``(3, side, side)`` in 0..255 (gradients and blobs, deterministic)."""
    import numpy as np

    y, x = np.mgrid[0:side, 0:side] / side
    r = 128 + 100 * np.sin(6 * x) * np.cos(4 * y)
    g = 128 + 90 * np.cos(5 * x + 3 * y)
    b = 128 + 80 * np.sin(9 * y)
    return np.clip(np.stack([r, g, b]), 0, 255).astype(np.float32)


def measure(name: str, preset_name: str, side: int, precision: str, runs: int) -> dict[str, float]:
    """Median seconds per predict and peak allocated GPU memory for one method and precision."""
    import torch

    from engine.labels import load_preset, preset_params
    from engine.methods import create_method

    preset = load_preset(preset_name)
    method = create_method(name, weights="random", device="cuda", precision=precision,
                           params=preset_params(preset, name))
    method.prepare(preset.labels)
    tile = synthetic_tile(side)
    method.predict(tile)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        method.predict(tile)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() / 2**20
    del method
    torch.cuda.empty_cache()
    return {"median_ms": 1000 * statistics.median(times), "min_ms": 1000 * min(times), "peak_mib": peak}


def main() -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / f"gpu-{dt.date.today()}.md")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("skipped: no CUDA device here")
        return 0
    rows = []
    for name, preset, side in CASES:
        for precision in ("bf16", "fp32"):
            numbers = measure(name, preset, side, precision, args.runs)
            rows.append((name, side, precision, numbers))
            print(f"{name:12s} {side} {precision}: {numbers['median_ms']:.1f} ms, {numbers['peak_mib']:.0f} MiB",
                  flush=True)
    lines = [
        "# Methods on a GPU (random weights, one tile per predict)",
        "",
        f"- date: {dt.date.today()}",
        f"- device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, {platform.python_version()}",
        f"- command: `python bench/bench_gpu.py --runs {args.runs}`",
        f"- median of {args.runs} predicts after one warm-up, synchronised; peak = torch max_memory_allocated",
        "- paper anchors (AlignCLIP Table 11, RTX 3090, per image): SegEarth-OV 12 ms / 1392 MB, "
        "AlignCLIP-D 16 ms / 2661 MB, AlignCLIP-S 18 ms / 2782 MB",
        "",
        "| method | input | precision | median ms | min ms | peak GPU MiB |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {name} | {side}x{side} | {precision} | {n['median_ms']:.1f} | {n['min_ms']:.1f} | "
              f"{n['peak_mib']:.0f} |" for name, side, precision, n in rows]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
