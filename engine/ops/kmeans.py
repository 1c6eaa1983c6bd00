"""Seeded, vectorised K-means in torch (AlignCLIP's clustering step, Eq. 9).

What the paper's "K-Means" most likely is: AlignCLIP cites a K-means review (Ikotun et al., 2023) and says
only "we simply used the K-Means algorithm with K_c = 3"; its pseudo code calls an unspecified
``perform_clustering(vfm_features, n_clusters=cluster_num)``. No code is public. The de-facto standard a
PyTorch/mmseg code base reaches for is scikit-learn's ``KMeans``: Lloyd iterations, greedy k-means++
initialisation with ``2 + ln(k)`` local trials, at most 300 iterations, convergence when the centroids move
less than ``tol * mean feature variance`` (tol 1e-4), euclidean distance on the features as given. This
module reproduces that algorithm (one initialisation, as scikit-learn >= 1.4 does for k-means++), in torch,
on the input's device, without a Python loop over points.

Distance metric: ``metric="euclidean"`` (scikit-learn's) clusters the features as given;
``metric="cosine"`` L2-normalises them first (euclidean on unit vectors, ``|a-b|^2 = 2 - 2 cos(a, b)``).
The CCE step (``alignment.cluster_constrained_enhancement``) normalises the VFM features itself by default,
so that clustering and its cosine affinity see the same geometry; see its docstring for why.

Determinism: all randomness comes from a CPU ``torch.Generator`` seeded with ``seed`` (never the global
RNG), so the same input and seed give the same clusters on every call; the random draws are the same on
every device (results across devices differ only where float rounding flips a near-tie).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

from ..errors import InputError

KMeansInit = Literal["k-means++", "random"]
KMeansMetric = Literal["euclidean", "cosine"]
_INITS: tuple[str, ...] = ("k-means++", "random")
_METRICS: tuple[str, ...] = ("euclidean", "cosine")


def at_least_float32(t: torch.Tensor) -> torch.Tensor:
    """``t`` in float32 if it is a half-precision (or integer) tensor, else unchanged.

    Norms, sums over thousands of patches and argmins are unstable in bf16/fp16; the numerical ops compute
    in float32 and cast their results back to the caller's dtype.
    """
    if t.dtype in (torch.float32, torch.float64):
        return t
    return t.float()


def squared_distances(x: torch.Tensor, c: torch.Tensor, x_sq: torch.Tensor | None = None) -> torch.Tensor:
    """Squared euclidean distances ``(..., N, M)`` between rows of ``x (..., N, D)`` and ``c (..., M, D)`` by
    one matmul.

    ``x_sq`` (``(..., N, 1)`` squared row norms of ``x``) may be passed when it is reused across calls.
    """
    if x_sq is None:
        x_sq = (x * x).sum(dim=-1, keepdim=True)
    return (x_sq - 2.0 * (x @ c.transpose(-1, -2)) + (c * c).sum(dim=-1)[..., None, :]).clamp_min(0.0)


def _assign(x: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Lloyd's E-step: index of the nearest centroid (``|c|^2 - 2 x.c``; ``|x|^2`` does not change it).

    ``x (..., N, D)``, ``centroids (..., k, D)`` -> ``(..., N)``."""
    return ((centroids * centroids).sum(dim=-1)[..., None, :] - 2.0 * (x @ centroids.transpose(-1, -2))).argmin(-1)


def _kmeans_plusplus(x: torch.Tensor, x_sq: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    """Greedy k-means++ seeding (Arthur & Vassilvitskii 2007, scikit-learn's variant): ``(B, k, D)`` centroids
    of each of the ``B`` point sets ``x (B, N, D)``.

    Each new centre is drawn ``2 + ln(k)`` times with probability proportional to the squared distance to
    the nearest centre so far; the candidate that lowers the total potential most is kept. If every point
    already coincides with a centre (fewer distinct points than ``k``), candidates are drawn uniformly.
    Every set draws from its own CPU generator seeded with ``seed``, so a set's centres do not depend on the
    others in the batch; the distances go to the host once per centre for the whole batch.
    """
    batch, n = x.shape[:2]
    generator = torch.Generator().manual_seed(seed)
    n_trials = 2 + int(math.log(k))
    first = int(torch.randint(n, (1,), generator=generator))
    generators = [torch.Generator().set_state(generator.get_state()) for _ in range(batch)]
    sets = torch.arange(batch, device=x.device)
    centers = [x[:, first]]
    closest = squared_distances(x, x[:, first : first + 1], x_sq)[..., 0]
    for _ in range(1, k):
        weights = closest.detach().double().cpu()
        drawn = []
        for row, rng in zip(weights, generators, strict=True):
            probabilities = row if float(row.sum()) > 0.0 else torch.ones_like(row)
            drawn.append(torch.multinomial(probabilities, n_trials, replacement=True, generator=rng))
        candidates = torch.stack(drawn).to(x.device)  # (B, T)
        chosen = x[sets[:, None], candidates]  # (B, T, D)
        trial = torch.minimum(closest[:, :, None], squared_distances(x, chosen, x_sq))
        best = trial.sum(dim=1).argmin(dim=1)
        centers.append(chosen[sets, best])
        closest = trial[sets, :, best]
    return torch.stack(centers, dim=1)


def _relocate_empty(
    x: torch.Tensor, x_sq: torch.Tensor, labels: torch.Tensor, centroids: torch.Tensor, means: torch.Tensor
) -> torch.Tensor:
    """Move each empty cluster onto a far point, deterministically (scikit-learn's rule).

    The empty clusters, in index order, take the points farthest from their assigned centroid, so the
    result depends only on the data and never on the RNG; it cannot increase the inertia.
    """
    counts = torch.bincount(labels, minlength=centroids.shape[0])
    empty = torch.nonzero(counts == 0)[:, 0]
    own = squared_distances(x, centroids, x_sq).gather(1, labels[:, None])[:, 0]
    means = means.clone()
    means[empty] = x[own.topk(len(empty)).indices]
    return means


def kmeans(
    x: torch.Tensor,
    k: int,
    *,
    iters: int = 300,
    tol: float = 1e-4,
    seed: int = 0,
    init: KMeansInit = "k-means++",
    metric: KMeansMetric = "euclidean",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cluster the rows of ``x (N, D)`` into ``k`` groups: ``(labels (N,) int64, centroids (k, D))``.

    Lloyd's algorithm (AlignCLIP Eq. 9's "Clustering") with k-means++ (or uniformly random distinct points)
    initialisation. Stops after ``iters`` iterations or when the total squared centroid shift is at most
    ``tol`` times the mean per-feature variance (scikit-learn's rule); ``iters=0`` returns the
    initialisation. The labels always come from a final assignment to the returned centroids. With
    ``k >= N`` every point is its own cluster (labels ``0..N-1``, centroids the points, ``(N, D)``).
    ``metric="cosine"`` clusters the L2-normalised rows (centroids then live in that space). Computes in
    float32 at least; centroids come back in ``x``'s dtype, on ``x``'s device. ``x (B, N, D)`` clusters each
    of the B sets on its own, as B calls would, in one pass: ``(labels (B, N), centroids (B, k, D))``.
    """
    if x.ndim not in (2, 3) or 0 in x.shape[-2:] or x.shape[0] == 0:
        raise ValueError(f"kmeans expects a non-empty (N, D) or (B, N, D) tensor, got shape {tuple(x.shape)}")
    if k < 1:
        raise InputError(f"the number of clusters must be at least 1, got {k}")
    if iters < 0:
        raise InputError(f"the number of K-means iterations must be >= 0, got {iters}")
    if init not in _INITS:
        raise InputError(f"unknown K-means initialisation {init!r}; choose one of {', '.join(_INITS)}")
    if metric not in _METRICS:
        raise InputError(f"unknown K-means metric {metric!r}; choose one of {', '.join(_METRICS)}")
    if x.ndim == 2:
        labels, centroids = kmeans(x[None], k, iters=iters, tol=tol, seed=seed, init=init, metric=metric)
        return labels[0], centroids[0]
    work = at_least_float32(x)
    if metric == "cosine":
        work = F.normalize(work, dim=-1)
    batch, n = work.shape[:2]
    if k >= n:
        return torch.arange(n, device=x.device).expand(batch, n), work.clone().to(x.dtype)
    x_sq = (work * work).sum(dim=-1, keepdim=True)
    if init == "k-means++":
        centroids = _kmeans_plusplus(work, x_sq, k, seed)
    else:
        picked = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:k].to(work.device)
        centroids = work[:, picked]
    thresholds = (tol * ((work - work.mean(dim=1, keepdim=True)) ** 2).mean(dim=(1, 2))).tolist()
    active = [True] * batch
    offsets = torch.arange(batch, device=work.device)[:, None] * k
    for _ in range(iters):
        labels = _assign(work, centroids)
        flat = (labels + offsets).flatten()
        sums = torch.zeros((batch * k, work.shape[-1]), dtype=work.dtype, device=work.device)
        sums = sums.index_add_(0, flat, work.flatten(0, 1)).view(batch, k, -1)
        counts = torch.bincount(flat, minlength=batch * k).view(batch, k)
        updated = sums / counts.clamp_min(1).to(work.dtype)[..., None]
        state = torch.stack([(counts == 0).any(dim=1).to(work.dtype), ((updated - centroids) ** 2).sum(dim=(1, 2))])
        has_empty, shifts = state.tolist()
        for b in range(batch):
            if active[b] and has_empty[b]:
                updated[b] = _relocate_empty(work[b], x_sq[b], labels[b], centroids[b], updated[b])
                shifts[b] = float(((updated[b] - centroids[b]) ** 2).sum())
        keep = torch.tensor(active, device=work.device)[:, None, None]
        centroids = torch.where(keep, updated, centroids)
        active = [on and shift > limit for on, shift, limit in zip(active, shifts, thresholds, strict=True)]
        if not any(active):
            break
    return _assign(work, centroids), centroids.to(x.dtype)
