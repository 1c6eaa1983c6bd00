"""Benchmark of SDCI's post-backbone numerical parts: superpixels, CSCP (reference vs fast solver), BCDR.

Run from the repository root:

    .venv/bin/python bench/bench_cscp.py [--threads 2] [--runs 5] [--ref-runs 1] [--out bench/results/cscp-DATE.md]

CSCP on real problems: the official Potsdam 512 problem (its own inputs, ``reference/sdci_potsdam_cscp.npz``)
and problems built from the real samples through sdci-v2's stages with random weights (three 512 tiles and a
1024 tile). Per problem: Felzenszwalb time, the fast solver's median time, iterations and certified gap, its
energy against the official 100-iteration PDHG's (and that solver's time), and label agreement. Then BCDR
(two KNN graphs, cross-grid resampling, two 40-step diffusions, K=30 classes) for a 37x37 CLIP grid against a
38x38 DINOv2 grid and a 48x48 DINO grid, and how far 40 diffusion steps are from the closed-form fixed point
on a graph built from the Potsdam tile's own patches.
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


def real_problems(
    shared: Path, official_only: bool = False
) -> dict[str, tuple[np.ndarray, tuple[torch.Tensor, ...]]]:
    """CSCP problems of real tiles: the official Potsdam one (reference file) and ones built from the samples
    through ``sdci-v2``'s own stages (random weights, score threshold 0): Vaihingen 512, a LoveDA 512 crop,
    the Koeln GeoTIFF 512 crop and a whole LoveDA 1024 tile. Values: the 8-bit tile and (p_C, p_D, w_h, w_v)."""
    from osgeo import gdal

    from engine.labels import load_preset
    from engine.methods import create_method
    from engine.methods.sdci_refine import cscp_problem

    ref = np.load(shared / "reference" / "sdci_potsdam_cscp.npz")
    problems = {
        "potsdam 512 (official inputs)": (
            np.array(Image.open(TILE).convert("RGB")),
            tuple(torch.from_numpy(ref[key]) for key in ("cscp_P1", "cscp_P2", "cscp_wx", "cscp_wy")),
        )
    }
    if official_only:
        return problems
    koeln = gdal.Open(str(shared / "geotiff" / "oem_koeln_50.tif")).ReadAsArray()[:3].transpose(1, 2, 0)
    tiles = {
        "vaihingen 512": (np.array(Image.open(shared / "vaihingen/img/area1_0_0_512_512.png").convert("RGB")),
                          "vaihingen-gen"),
        "loveda 512": (np.array(Image.open(shared / "loveda/img/1.png").convert("RGB"))[256:768, 256:768],
                       "loveda-gen"),
        "koeln 512": (koeln[200:712, 300:812], "openearthmap-ori"),
        "loveda 1024": (np.array(Image.open(shared / "loveda/img/2.png").convert("RGB")), "loveda-gen"),
    }
    method = create_method("sdci-v2", weights="random", device="cpu", precision="bf16", params={"score_threshold": 0.0})
    for name, (image, preset) in tiles.items():
        rgb = np.ascontiguousarray(image)
        method.prepare(load_preset(preset).labels)
        probs = method.branch_maps(rgb.transpose(2, 0, 1).astype(np.float32))
        problems[name] = (rgb, cscp_problem(probs[0], probs[1], rgb, method.config))
    return problems


def main() -> None:
    """Run every measurement and write the Markdown record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ref-runs", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--official-only", action="store_true", help="only the official Potsdam problem")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    lines = []

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    problems = real_problems(ROOT.parent / "shared" / "data", args.official_only)
    reference_file = ROOT.parent / "shared" / "data" / "reference" / "sdci_potsdam_cscp.npz"
    official_q = torch.from_numpy(np.load(reference_file)["cscp_q"])
    load_before = os.getloadavg()
    settings = FastCscpSettings()
    say(f"# CSCP / BCDR benchmark, {dt.date.today().isoformat()}\n")
    say(f"- command: `.venv/bin/python bench/bench_cscp.py {' '.join(sys.argv[1:])}`")
    say(
        f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, torch threads {args.threads}, load average before {load_before[0]:.1f}"
    )
    say(
        f"- fast solver: relative duality gap <= {settings.tolerance}, checked every {settings.check_every} "
        f"iterations, at most {settings.max_iterations}; reference = the official PDHG, 100 iterations"
    )
    say("- problems: the official Potsdam CSCP inputs, and real tiles through sdci-v2's stages (random weights)\n")
    say(
        "| problem | K | Felzenszwalb (s) | fast (s) | iterations | certified gap | E fast | E PDHG-100 "
        "| fast vs PDHG | PDHG-100 (s) | labels equal |"
    )
    say("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, (rgb, problem) in problems.items():
        if not args.ref_runs and not name.startswith("potsdam"):
            continue
        t_sp, _ = timed(lambda rgb=rgb: felzenszwalb(rgb), args.runs)
        t_fast, solution = timed(lambda problem=problem: solve_cscp(*problem), args.runs)
        e_fast = cscp_energy(solution.q, *problem)
        if args.ref_runs:
            t_ref, q_ref = timed(lambda problem=problem: solve_cscp_reference(*problem), args.ref_runs)
        else:  # the official problem carries the official solver's own result
            t_ref, q_ref = float("nan"), official_q
        e_ref = cscp_energy(q_ref, *problem)
        agree = float((solution.q.argmax(0) == q_ref.argmax(0)).float().mean())
        say(
            f"| {name} | {problem[0].shape[0]} | {t_sp:.3f} | {t_fast:.3f} | {solution.iterations} "
            f"| {solution.relative_gap:.2%} | {e_fast:.2f} | {e_ref:.2f} | {(e_fast - e_ref) / e_ref:+.2%} "
            f"| {t_ref:.2f} | {agree:.2%} |"
        )
    say(f"\nmedian of {args.runs} runs (fast solver, superpixels), {args.ref_runs} run(s) of the reference.\n")
    say("| stage | median time (s) | runs |")
    say("|---|---|---|")
    for src, dst in ((37, 38), (37, 48)):
        t_bcdr = bench_bcdr(src, dst, 30, args.runs, gen)
        say(
            f"| BCDR {src}x{src} <-> {dst}x{dst}, K=30 (2 graphs, 2 resamplings, 2x40 steps) | {t_bcdr:.3f} "
            f"| {args.runs} |"
        )
    img = np.array(Image.open(TILE).convert("RGB"))
    feats = patch_features(img, 37)
    graph = knn_transition(feats)
    s0 = synthetic_probabilities(30, 37, gen).reshape(30, -1).T.contiguous()
    s40, s40_half = diffuse(graph, s0), diffuse(graph, s0, dtype=torch.float16)
    star = diffuse_closed_form(graph, s0)
    rel = float((s40 - star).norm() / star.norm())
    contraction = float((s40 - star).abs().max() / (s0 - star).abs().max())
    say("\n| quantity | value |")
    say("|---|---|")
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
