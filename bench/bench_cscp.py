"""Benchmark of SDCI's post-backbone numerical parts: superpixels, CSCP (reference vs fast solver), BCDR.

Run from the repository root:

    .venv/bin/python bench/bench_cscp.py [--threads 2] [--ref-runs 3] [--out bench/results/cscp-DATE.md]

On a real 512x512 Potsdam tile with synthetic class probabilities (K=6, seeded): Felzenszwalb time; the
reference PDHG solver and the fast solver (median wall time of several runs), their energies, relative gap
and the speed-up; BCDR (two KNN graphs, cross-grid resampling, two 40-step diffusions, K=30 classes) for a
37x37 CLIP grid against a 38x38 DINOv2 grid and a 48x48 DINO grid; and how far 40 diffusion steps are from
the closed-form fixed point on a graph built from the tile's own patches.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.ops.cscp import (  # noqa: E402
    FastCscpSettings,
    cscp_energy,
    edge_weights,
    prep_prob,
    solve_cscp,
    solve_cscp_reference,
)
from engine.ops.graph import diffuse, diffuse_closed_form, knn_transition, resample_grid  # noqa: E402
from engine.ops.superpixels import felzenszwalb  # noqa: E402

TILE = ROOT.parent / "shared" / "data" / "potsdam" / "img" / "2_10_0_0_512_512.png"


def timed(fn: Callable[[], object], runs: int) -> tuple[float, object]:
    """Median wall time of ``runs`` calls and the last result."""
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def synthetic_probabilities(k: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """Smooth random class maps plus pixel noise, softmaxed: a stand-in for SDCI's two probability maps."""
    low = torch.randn(1, k, 8, 8, generator=gen) * 3
    up = torch.nn.functional.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)[0]
    return torch.softmax(up + torch.randn(k, size, size, generator=gen), dim=0)


def patch_features(img: np.ndarray, grid: int) -> torch.Tensor:
    """Raw-pixel patch vectors of the tile on a ``grid x grid`` patch grid (a realistic, clustered graph)."""
    t = torch.from_numpy(img).permute(2, 0, 1).float().unsqueeze(0) / 255.0
    t = torch.nn.functional.interpolate(t, size=(grid * 8, grid * 8), mode="bilinear", align_corners=False)
    patches = t.unfold(2, 8, 8).unfold(3, 8, 8)  # (1, 3, grid, grid, 8, 8)
    feats = patches.permute(0, 2, 3, 1, 4, 5).reshape(grid * grid, -1)
    return feats - feats.mean(dim=0, keepdim=True)


def bench_bcdr(src: int, dst: int, classes: int, runs: int, gen: torch.Generator) -> float:
    """Median time of BCDR for a CLIP grid ``src`` and a DINO grid ``dst`` with random 768-d features."""
    f_clip = torch.randn(src * src, 768, generator=gen)
    f_dino = torch.randn(dst * dst, 768, generator=gen)
    s_clip = torch.rand(src * src, classes, generator=gen)
    s_dino = torch.rand(dst * dst, classes, generator=gen)

    def run() -> tuple[torch.Tensor, torch.Tensor]:
        t_clip, t_dino = knn_transition(f_clip), knn_transition(f_dino)
        clip_on_dino = diffuse(t_dino, resample_grid(s_clip, src, dst))
        dino_on_clip = diffuse(t_clip, resample_grid(s_dino, dst, src))
        return clip_on_dino, dino_on_clip

    return timed(run, runs)[0]


def main() -> None:
    """Run every measurement and write the Markdown record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ref-runs", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    img = np.array(Image.open(TILE).convert("RGB"))
    lines = []

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    load_before = os.getloadavg()
    t_sp, labels = timed(lambda: felzenszwalb(img), args.runs)
    wh, wv = edge_weights(labels)
    k, size = 6, img.shape[0]
    p_clip = prep_prob(synthetic_probabilities(k, size, gen))
    p_dino = prep_prob(synthetic_probabilities(k, size, gen))
    solver_args = (p_clip, p_dino, wh, wv)
    t_fast, q_fast = timed(lambda: solve_cscp(*solver_args), args.runs)
    e_fast = cscp_energy(q_fast, *solver_args)
    q0 = torch.softmax((torch.log(p_clip) + 0.2 * torch.log(p_dino)) / 1.2, dim=0)
    e0 = cscp_energy(q0, *solver_args)
    say(f"# CSCP / BCDR benchmark, {dt.date.today().isoformat()}\n")
    say(f"- command: `.venv/bin/python bench/bench_cscp.py {' '.join(sys.argv[1:])}`")
    say(
        f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, torch threads {args.threads}, load average before {load_before[0]:.1f}"
    )
    say(
        f"- tile: `{TILE.name}` {size}x{size}, K={k} synthetic probabilities (seed 0), "
        f"{labels.max() + 1} Felzenszwalb superpixels\n"
    )
    say("| stage | median time (s) | runs |")
    say("|---|---|---|")
    say(f"| Felzenszwalb (scale 40, sigma 0.8, min_size 20) | {t_sp:.3f} | {args.runs} |")
    say(f"| CSCP fast ({FastCscpSettings().iterations} it.) | {t_fast:.3f} | {args.runs} |")
    if args.ref_runs:
        t_ref, q_ref = timed(lambda: solve_cscp_reference(*solver_args), args.ref_runs)
        e_ref = cscp_energy(q_ref, *solver_args)
        say(f"| CSCP reference (100 it.) | {t_ref:.3f} | {args.ref_runs} |")
    for src, dst in ((37, 38), (37, 48)):
        t_bcdr = bench_bcdr(src, dst, 30, args.runs, gen)
        say(
            f"| BCDR {src}x{src} <-> {dst}x{dst}, K=30 (2 graphs, 2 resamplings, 2x40 steps) | {t_bcdr:.3f} "
            f"| {args.runs} |"
        )
    say("\n| quantity | value |")
    say("|---|---|")
    say(f"| energy at q0 = softmax(b/a) | {e0:.6f} |")
    say(f"| energy, fast solver | {e_fast:.6f} |")
    if args.ref_runs:
        say(f"| energy, reference solver | {e_ref:.6f} |")
        say(f"| relative gap (fast - ref) / ref | {(e_fast - e_ref) / abs(e_ref):+.2e} |")
        say(f"| speed-up reference / fast | {t_ref / t_fast:.1f}x |")
    feats = patch_features(img, 37)
    graph = knn_transition(feats)
    s0 = synthetic_probabilities(30, 37, gen).reshape(30, -1).T.contiguous()
    s40, s40_half = diffuse(graph, s0), diffuse(graph, s0, dtype=torch.float16)
    star = diffuse_closed_form(graph, s0)
    rel = float((s40 - star).norm() / star.norm())
    contraction = float((s40 - star).abs().max() / (s0 - star).abs().max())
    say(f"| 40 steps vs closed form, relative Frobenius error (37x37 patch graph, K=30) | {rel:.2e} |")
    say(
        f"| 40 steps vs closed form, max error / max initial error (bound 0.9^40 = {0.9**40:.4f}) | {contraction:.2e} |"
    )
    half_error = float((s40_half - s40).abs().max())
    say(f"| fp16 vs fp32 diffusion, max abs difference (scores in 0..1) | {half_error:.2e} |")
    say(f"\nload average after: {os.getloadavg()[0]:.1f} (the machine is shared: timings are noisy)")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
