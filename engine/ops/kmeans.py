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
    """Squared euclidean distances ``(N, M)`` between rows of ``x (N, D)`` and ``c (M, D)`` by one matmul.

    ``x_sq`` (``(N, 1)`` squared row norms of ``x``) may be passed when it is reused across calls.
    """
    if x_sq is None:
        x_sq = (x * x).sum(dim=1, keepdim=True)
    return (x_sq - 2.0 * (x @ c.T) + (c * c).sum(dim=1)).clamp_min(0.0)


def _assign(x: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Lloyd's E-step: index of the nearest centroid (``|c|^2 - 2 x.c``; ``|x|^2`` does not change it)."""
    return ((centroids * centroids).sum(dim=1) - 2.0 * (x @ centroids.T)).argmin(dim=1)


def _kmeans_plusplus(x: torch.Tensor, x_sq: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """Greedy k-means++ seeding (Arthur & Vassilvitskii 2007, scikit-learn's variant): ``(k, D)`` centroids.

    Each new centre is drawn ``2 + ln(k)`` times with probability proportional to the squared distance to
    the nearest centre so far; the candidate that lowers the total potential most is kept. If every point
    already coincides with a centre (fewer distinct points than ``k``), candidates are drawn uniformly.
    """
    n = x.shape[0]
    n_trials = 2 + int(math.log(k))
    first = int(torch.randint(n, (1,), generator=generator))
    centers = [x[first]]
    closest = squared_distances(x, x[first : first + 1], x_sq)[:, 0]
    for _ in range(1, k):
        weights = closest.detach().double().cpu()
        if float(weights.sum()) <= 0.0:
            weights = torch.ones_like(weights)
        candidates = torch.multinomial(weights, n_trials, replacement=True, generator=generator)
        candidates = candidates.to(x.device)
        trial = torch.minimum(closest[:, None], squared_distances(x, x[candidates], x_sq))
        best = int(trial.sum(dim=0).argmin())
        centers.append(x[candidates[best]])
        closest = trial[:, best]
    return torch.stack(centers)


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
    float32 at least; centroids come back in ``x``'s dtype, on ``x``'s device.
    """
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"kmeans expects a non-empty (N, D) tensor, got shape {tuple(x.shape)}")
    if k < 1:
        raise InputError(f"the number of clusters must be at least 1, got {k}")
    if iters < 0:
        raise InputError(f"the number of K-means iterations must be >= 0, got {iters}")
    if init not in _INITS:
        raise InputError(f"unknown K-means initialisation {init!r}; choose one of {', '.join(_INITS)}")
    if metric not in _METRICS:
        raise InputError(f"unknown K-means metric {metric!r}; choose one of {', '.join(_METRICS)}")
    work = at_least_float32(x)
    if metric == "cosine":
        work = F.normalize(work, dim=1)
    n = work.shape[0]
    if k >= n:
        return torch.arange(n, device=x.device), work.clone().to(x.dtype)
    generator = torch.Generator().manual_seed(seed)
    x_sq = (work * work).sum(dim=1, keepdim=True)
    if init == "k-means++":
        centroids = _kmeans_plusplus(work, x_sq, k, generator)
    else:
        centroids = work[torch.randperm(n, generator=generator)[:k].to(work.device)]
    threshold = tol * float(((work - work.mean(dim=0)) ** 2).mean())
    for _ in range(iters):
        labels = _assign(work, centroids)
        sums = torch.zeros_like(centroids).index_add_(0, labels, work)
        counts = torch.bincount(labels, minlength=k)
        updated = sums / counts.clamp_min(1).to(work.dtype)[:, None]
        has_empty, shift = torch.stack(
            [(counts == 0).any().to(work.dtype), ((updated - centroids) ** 2).sum()]
        ).tolist()
        if has_empty:
            updated = _relocate_empty(work, x_sq, labels, centroids, updated)
            shift = float(((updated - centroids) ** 2).sum())
        centroids = updated
        if shift <= threshold:
            break
    return _assign(work, centroids), centroids.to(x.dtype)
