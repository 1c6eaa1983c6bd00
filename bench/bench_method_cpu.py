"""Seconds per tile of one method on a real sample, CPU time and wall time, for before/after comparisons.

Run from the root of the checkout to measure (it imports that checkout's ``engine``), e.g. an older commit in a
detached worktree and the current one back to back in the same minutes:

    .venv/bin/python /path/to/bench/bench_method_cpu.py sdci-v2 --precision bf16 --batch 1 --runs 3 --threads 1

The process CPU time (``time.process_time``, all threads) is the figure that survives a loaded machine: with
other processes competing for the cores the wall time mostly measures waiting. ``--batch B`` > 1 sends ``B``
tiles (the sample and its mirror images) through ``predict_batch``; the figures are per tile. Random weights,
real architectures. Prints one JSON line (with the process's peak resident memory, models included).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

SAMPLES = {  # method family -> (sample under shared/data, size of the square crop, preset)
    "sdci": ("potsdam/img/2_10_0_0_512_512.png", 512, "potsdam-gen"),
    "alignclip": ("loveda/img/0.png", 448, "openearthmap-ori"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("method")
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    args = parser.parse_args()

    sys.path.insert(0, os.getcwd())
    import numpy as np
    import torch
    from PIL import Image

    from engine.labels import load_preset
    from engine.methods import create_method

    torch.set_num_threads(args.threads)
    sample, side, preset = SAMPLES["sdci" if args.method.startswith("sdci") else "alignclip"]
    image = np.asarray(Image.open(Path(args.data) / sample).convert("RGB"))[:side, :side]
    tile = image.transpose(2, 0, 1).astype(np.float32)
    mirrors = [tile, np.flip(tile, -1), np.flip(tile, -2), np.flip(tile, (-2, -1))]
    tiles = np.stack([mirrors[i % 4] for i in range(args.batch)]).copy()
    method = create_method(args.method, weights="random", device="cpu", precision=args.precision, seed=0)
    method.prepare(load_preset(preset).labels)

    def once() -> None:
        if args.batch == 1:
            method.predict(tile)
        else:
            method.predict_batch(tiles)

    once()
    cpu, wall = [], []
    for _ in range(args.runs):
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        once()
        cpu.append((time.process_time() - cpu_start) / args.batch)
        wall.append((time.perf_counter() - wall_start) / args.batch)
    print(json.dumps({
        "method": args.method, "precision": args.precision, "batch": args.batch, "threads": args.threads,
        "cpu_per_tile": round(statistics.median(cpu), 3), "wall_per_tile": round(statistics.median(wall), 3),
        "cpu_runs": [round(x, 3) for x in cpu], "load": os.getloadavg(),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }))


if __name__ == "__main__":
    main()
