"""Per-tile time and peak GPU memory of every method on a CUDA device (random weights, real architectures).

The papers' runtime anchors are GPU numbers (AlignCLIP Table 11, RTX 3090: SegEarth-OV 12 ms and AlignCLIP-D
16 ms per image); this measures the same methods here on whatever CUDA GPU is available. SDCI gets a 512x512
tile (its official input), the AlignCLIP family a 448x448 image (SegEarth-OV's long side). The image is a
smooth synthetic scene: with random weights the content does not change the cost, except K-means iterations.
``--batch 1,8,32`` times the batched entry point (:func:`engine.methods.base.predict_batch`) on batches of that
many tiles (the scene and its shifted copies) and reports tiles per second. ``--profile`` adds, per method and
precision at the largest batch, the CPU/GPU time split of one call from ``torch.profiler`` (self CPU time of
the host ops against the CUDA kernels' time).

    python bench/bench_gpu.py [--runs 10] [--batch 1] [--precisions bf16,fp32] [--methods sdci-v2,...]
        [--profile] [--out FILE]
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


def profile_split(method: object, tiles: object) -> dict[str, float]:
    """One profiled call: the host ops' self CPU milliseconds, the CUDA kernels' milliseconds, the wall
    milliseconds and the share of the wall time the GPU was busy (kernel time / wall time)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from engine.methods.base import predict_batch

    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        predict_batch(method, tiles)  # type: ignore[arg-type]
        torch.cuda.synchronize()
    wall = 1000 * (time.perf_counter() - start)
    events = prof.key_averages()
    cpu = sum(event.self_cpu_time_total for event in events) / 1000
    gpu = sum(getattr(event, "self_device_time_total", 0.0) for event in events) / 1000
    return {"cpu_ms": cpu, "gpu_ms": gpu, "wall_ms": wall, "gpu_busy": gpu / wall if wall else 0.0}


def measure(name: str, preset_name: str, side: int, precision: str, runs: int, *, batch: int,
            profile: bool = False) -> dict[str, float]:
    """Median milliseconds per call on a batch of ``batch`` tiles, tiles per second and peak allocated GPU memory
    for one method and precision."""
    import numpy as np
    import torch

    from engine.labels import load_preset, preset_params
    from engine.methods import create_method
    from engine.methods.base import predict_batch

    preset = load_preset(preset_name)
    method = create_method(name, weights="random", device="cuda", precision=precision,
                           params=preset_params(preset, name))
    method.prepare(preset.labels)
    tile = synthetic_tile(side)
    tiles = np.stack([np.roll(tile, 7 * i, axis=-1) for i in range(batch)])
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
    split = profile_split(method, tiles) if profile else {}
    del method
    torch.cuda.empty_cache()
    median = statistics.median(times)
    return {"median_ms": 1000 * median, "min_ms": 1000 * min(times), "peak_mib": peak,
            "tile_ms": 1000 * median / batch, "tiles_per_s": batch / median, **split}


def main() -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--batch", default="1", help="comma-separated batch sizes (default 1)")
    parser.add_argument("--methods", default=",".join(case[0] for case in CASES), help="comma-separated names")
    parser.add_argument("--precisions", default="bf16,fp32", help="comma-separated precisions")
    parser.add_argument("--profile", action="store_true", help="CPU/GPU time split at the largest batch")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / f"gpu-{dt.date.today()}.md")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("skipped: no CUDA device here")
        return 0
    rows = []
    chosen = args.methods.split(",")
    for name, preset, side in (case for case in CASES if case[0] in chosen):
        for precision in args.precisions.split(","):
            batches = [int(b) for b in args.batch.split(",")]
            for batch in batches:
                numbers = measure(name, preset, side, precision, args.runs, batch=batch,
                                  profile=args.profile and batch == max(batches))
                rows.append((name, side, precision, batch, numbers))
                print(f"{name:12s} {side} {precision} batch {batch}: {numbers['tile_ms']:.1f} ms per tile, "
                      f"{numbers['tiles_per_s']:.1f} tiles/s, {numbers['peak_mib']:.0f} MiB", flush=True)
    lines = [
        "# Methods on a GPU (random weights, predict_batch on batches of tiles)",
        "",
        f"- date: {dt.date.today()}",
        f"- device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, {platform.python_version()}",
        f"- command: `python bench/bench_gpu.py --runs {args.runs} --batch {args.batch} --precisions "
        f"{args.precisions} --methods {args.methods}{' --profile' if args.profile else ''}`",
        f"- median of {args.runs} calls after one warm-up, synchronised; peak = torch max_memory_allocated",
        "- paper anchors (AlignCLIP Table 11, RTX 3090, per image): SegEarth-OV 12 ms / 1392 MB, "
        "AlignCLIP-D 16 ms / 2661 MB, AlignCLIP-S 18 ms / 2782 MB",
        "",
        "| method | input | precision | batch | median ms per call | min ms | ms per tile | tiles/s | peak GPU MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {name} | {side}x{side} | {precision} | {batch} | {n['median_ms']:.1f} | {n['min_ms']:.1f} | "
              f"{n['tile_ms']:.1f} | {n['tiles_per_s']:.1f} | {n['peak_mib']:.0f} |"
              for name, side, precision, batch, n in rows]
    profiled = [(name, precision, batch, n) for name, _, precision, batch, n in rows if "gpu_ms" in n]
    if profiled:
        lines += ["", "CPU/GPU split of one profiled call (torch.profiler; GPU busy = kernel time / wall time):", "",
                  "| method | precision | batch | wall ms | host ops self CPU ms | CUDA kernels ms | GPU busy |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {name} | {precision} | {batch} | {n['wall_ms']:.1f} | {n['cpu_ms']:.1f} | {n['gpu_ms']:.1f} | "
                  f"{100 * n['gpu_busy']:.0f} % |" for name, precision, batch, n in profiled]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
