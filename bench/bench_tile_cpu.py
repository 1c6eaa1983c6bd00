"""CPU seconds of one segearth-ov ``predict`` on the real 1000 x 1000 demo GeoTIFF as one tile, one thread.

Run from the root of the checkout to measure (it imports that checkout's ``engine``; the GeoTIFF is this one's),
e.g. an older commit in a detached worktree and the current one back to back:

    OMP_NUM_THREADS=1 .venv/bin/python /path/to/bench/bench_tile_cpu.py fp32

Prints one JSON line: the median CPU seconds of 3 calls after a warm-up, and each call's.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

DEMO = Path(__file__).resolve().parents[1] / "engine" / "data" / "demo" / "oem_koeln_50.tif"


def main() -> None:
    sys.path.insert(0, os.getcwd())
    import numpy as np
    import torch
    from osgeo import gdal

    from engine.labels import load_preset
    from engine.methods import create_method

    torch.set_num_threads(1)
    precision = sys.argv[1] if len(sys.argv) > 1 else "fp32"
    tile = gdal.Open(str(DEMO)).ReadAsArray()[:3].astype(np.float32)
    method = create_method("segearth-ov", weights="random", device="cpu", precision=precision, seed=0)
    method.prepare(load_preset("openearthmap-ori").labels)
    method.predict(tile)
    cpu = []
    for _ in range(3):
        start = time.process_time()
        method.predict(tile)
        cpu.append(time.process_time() - start)
    print(json.dumps({"shape": list(tile.shape), "precision": precision,
                      "cpu_per_tile": round(statistics.median(cpu), 3), "runs": [round(value, 3) for value in cpu]}))


if __name__ == "__main__":
    main()
