"""Per-tile time and peak GPU memory of every method on a CUDA device (random weights, real architectures).

The papers' runtime anchors are GPU numbers (AlignCLIP Table 11, RTX 3090: SegEarth-OV 12 ms and AlignCLIP-D
16 ms per image); this measures the same methods here on whatever CUDA GPU is available. SDCI gets a 512x512
tile (its official input), the AlignCLIP family a 448x448 image (SegEarth-OV's long side). The image is a
smooth synthetic scene: with random weights the content does not change the cost, except K-means iterations.

    python bench/bench_gpu.py [--runs 10] [--batch 1 8 32] [--out FILE]

``--batch`` sizes go through the methods' ``predict_batch`` (engine.methods.base.predict_batch: a method's own
batched pass, else one ``predict`` per tile); images/s = batch / median seconds per call.
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


def measure(name: str, preset_name: str, side: int, precision: str, *, runs: int, batch: int) -> dict[str, float]:
    """Median milliseconds per tile, images/s and peak allocated GPU memory of ``predict_batch`` on ``batch``
    tiles for one method and precision."""
    import numpy as np
    import torch

    from engine.labels import load_preset, preset_params
    from engine.methods import create_method
    from engine.methods.base import predict_batch

    preset = load_preset(preset_name)
    method = create_method(name, weights="random", device="cuda", precision=precision,
                           params=preset_params(preset, name))
    method.prepare(preset.labels)
    tiles = np.stack([synthetic_tile(side)] * batch)
    predict_batch(method, tiles)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        predict_batch(method, tiles)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() / 2**20
    del method
    torch.cuda.empty_cache()
    median = statistics.median(times)
    return {"median_ms": 1000 * median / batch, "min_ms": 1000 * min(times) / batch, "images_s": batch / median,
            "peak_mib": peak}


def main() -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / f"gpu-{dt.date.today()}.md")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("skipped: no CUDA device here")
        return 0
    rows = []
    for name, preset, side in CASES:
        for precision in ("bf16", "fp32"):
            for batch in args.batch:
                numbers = measure(name, preset, side, precision, runs=args.runs, batch=batch)
                rows.append((name, side, precision, batch, numbers))
                print(f"{name:12s} {side} {precision} batch {batch}: {numbers['images_s']:.1f} images/s, "
                      f"{numbers['peak_mib']:.0f} MiB", flush=True)
    lines = [
        "# Methods on a GPU (random weights, predict_batch at several batch sizes)",
        "",
        f"- date: {dt.date.today()}",
        f"- device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, {platform.python_version()}",
        f"- command: `python bench/bench_gpu.py --runs {args.runs} --batch {' '.join(map(str, args.batch))}`",
        f"- median of {args.runs} predict_batch calls after one warm-up, synchronised, per tile; "
        "peak = torch max_memory_allocated",
        "- paper anchors (AlignCLIP Table 11, RTX 3090, per image): SegEarth-OV 12 ms / 1392 MB, "
        "AlignCLIP-D 16 ms / 2661 MB, AlignCLIP-S 18 ms / 2782 MB",
        "",
        "| method | input | precision | batch | images/s | median ms per tile | min ms per tile | peak GPU MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {name} | {side}x{side} | {precision} | {batch} | {n['images_s']:.1f} | {n['median_ms']:.1f} | "
              f"{n['min_ms']:.1f} | {n['peak_mib']:.0f} |" for name, side, precision, batch, n in rows]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
