"""K-means: known clusters, a naive numpy Lloyd reference, determinism, monotone inertia, edge cases."""

import itertools

import numpy as np
import pytest
import torch

from engine.errors import InputError
from engine.ops.kmeans import _relocate_empty, kmeans

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def blobs(seed: int = 0, per: int = 20, spread: float = 0.3) -> tuple[torch.Tensor, np.ndarray]:
    """Three well separated 2-D blobs and their true labels."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    pts = np.concatenate([c + spread * rng.standard_normal((per, 2)) for c in centres])
    truth = np.repeat(np.arange(3), per)
    return torch.tensor(pts, dtype=torch.float32), truth


def inertia(x: torch.Tensor, labels: torch.Tensor, centroids: torch.Tensor) -> float:
    """Sum of squared distances of points to their assigned centroid, by a plain numpy loop."""
    xs, cs, ls = x.double().numpy(), centroids.double().numpy(), labels.numpy()
    return float(sum(((xs[i] - cs[ls[i]]) ** 2).sum() for i in range(len(xs))))


def naive_lloyd(x: np.ndarray, centroids: np.ndarray, iters: int) -> tuple[np.ndarray, np.ndarray]:
    """Textbook Lloyd with explicit loops over points (reference; no empty clusters in its test data)."""
    c = centroids.copy()
    for _ in range(iters):
        labels = np.array([np.argmin([((p - q) ** 2).sum() for q in c]) for p in x])
        new = np.array([x[labels == j].mean(axis=0) for j in range(len(c))])
        if np.allclose(new, c, rtol=0, atol=0):
            break
        c = new
    labels = np.array([np.argmin([((p - q) ** 2).sum() for q in c]) for p in x])
    return labels, c


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two labelings define the same partition (up to renaming the clusters)."""
    return bool(((a[:, None] == a[None, :]) == (b[:, None] == b[None, :])).all())


@pytest.mark.parametrize("device", DEVICES)
def test_recovers_known_clusters_and_their_means(device: str) -> None:
    x, truth = blobs()
    labels, centroids = kmeans(x.to(device), 3, seed=0)
    labels, centroids = labels.cpu().numpy(), centroids.cpu().numpy()
    assert same_partition(labels, truth)
    xs = x.numpy()
    for j in range(3):
        np.testing.assert_allclose(centroids[j], xs[labels == j].mean(axis=0), atol=1e-5)


def test_kmeanspp_seeds_one_centre_per_blob() -> None:
    x, truth = blobs()
    for seed in range(5):
        _, centroids = kmeans(x, 3, iters=0, seed=seed)
        rows = [int(np.flatnonzero((x.numpy() == c.numpy()).all(axis=1))[0]) for c in centroids]
        assert sorted(truth[rows].tolist()) == [0, 1, 2]


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_matches_naive_numpy_lloyd_from_the_same_init(init: str) -> None:
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.standard_normal((60, 4)), dtype=torch.float32)
    _, init_centroids = kmeans(x, 4, iters=0, seed=7, init=init)
    labels, centroids = kmeans(x, 4, iters=100, tol=0.0, seed=7, init=init)
    ref_labels, ref_centroids = naive_lloyd(x.double().numpy(), init_centroids.double().numpy(), 100)
    np.testing.assert_array_equal(labels.numpy(), ref_labels)
    np.testing.assert_allclose(centroids.numpy(), ref_centroids, atol=1e-5)


def test_deterministic_and_independent_of_the_global_rng() -> None:
    rng = np.random.default_rng(5)
    x = torch.tensor(rng.standard_normal((80, 6)), dtype=torch.float32)
    torch.manual_seed(1)
    a = kmeans(x, 5, seed=11)
    torch.manual_seed(2)
    torch.rand(10)
    b = kmeans(x, 5, seed=11)
    assert torch.equal(a[0], b[0])
    assert torch.equal(a[1], b[1])


def test_inertia_never_increases_across_iterations() -> None:
    rng = np.random.default_rng(9)
    x = torch.tensor(rng.standard_normal((120, 3)), dtype=torch.float32)
    for init in ("k-means++", "random"):
        values = [inertia(x, *kmeans(x, 6, iters=t, tol=0.0, seed=4, init=init)) for t in range(12)]
        assert all(b <= a + 1e-6 for a, b in itertools.pairwise(values)), values
        assert values[-1] < values[0]


@pytest.mark.parametrize("k", [10, 13])
def test_k_at_least_n_makes_every_point_its_own_cluster(k: int) -> None:
    x = torch.randn(10, 3, generator=torch.Generator().manual_seed(0))
    labels, centroids = kmeans(x, k)
    assert torch.equal(labels, torch.arange(10))
    assert torch.equal(centroids, x)


def test_single_cluster_is_the_mean() -> None:
    x = torch.randn(25, 4, generator=torch.Generator().manual_seed(1))
    labels, centroids = kmeans(x, 1)
    assert torch.equal(labels, torch.zeros(25, dtype=torch.long))
    np.testing.assert_allclose(centroids[0].numpy(), x.numpy().mean(axis=0), atol=1e-6)


def test_fewer_distinct_points_than_clusters_is_deterministic_and_exact() -> None:
    x = torch.tensor([[0.0, 0.0]] * 8 + [[5.0, 5.0]] * 4)
    first = kmeans(x, 3, seed=2)
    second = kmeans(x, 3, seed=2)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    labels, centroids = first
    assert labels.min() >= 0 and labels.max() < 3
    assert inertia(x, labels, centroids) == 0.0


def test_cosine_metric_clusters_by_direction_not_norm() -> None:
    x = torch.tensor([[1.0, 0.0], [100.0, 1.0], [50.0, -1.0], [0.0, 1.0], [1.0, 90.0], [-1.0, 30.0]])
    labels, _ = kmeans(x, 2, metric="cosine")
    assert same_partition(labels.numpy(), np.array([0, 0, 0, 1, 1, 1]))
    euclid, _ = kmeans(x, 2, metric="euclidean")
    assert not same_partition(euclid.numpy(), np.array([0, 0, 0, 1, 1, 1]))


def test_half_precision_input_keeps_dtype_and_clusters() -> None:
    x, truth = blobs()
    labels, centroids = kmeans(x.bfloat16(), 3)
    assert centroids.dtype == torch.bfloat16
    assert same_partition(labels.numpy(), truth)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 0}, "at least 1"),
        ({"k": 2, "init": "kmeans|"}, "initialisation"),
        ({"k": 2, "metric": "manhattan"}, "metric"),
        ({"k": 2, "iters": -1}, "iterations"),
    ],
)
def test_bad_parameters_raise_input_error(kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        kmeans(torch.zeros(4, 2), **kwargs)


def test_empty_cluster_moves_onto_the_farthest_point() -> None:
    x = torch.tensor([[0.0], [1.0], [4.0], [9.0]])
    centroids = torch.tensor([[0.5], [7.0], [100.0]])
    labels = torch.tensor([0, 0, 1, 1])  # cluster 2 is empty; the point 4.0 is 3 away from its centroid
    means = torch.tensor([[0.5], [7.0], [100.0]])
    moved = _relocate_empty(x, (x * x).sum(dim=1, keepdim=True), labels, centroids, means)
    np.testing.assert_array_equal(moved.numpy(), [[0.5], [7.0], [4.0]])


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_batched_sets_equal_one_call_per_set(init: str) -> None:
    """(B, N, D): each set clustered on its own, as B calls would (own seeded draws, own stopping)."""
    gen = torch.Generator().manual_seed(21)
    sets = torch.randn(5, 150, 16, generator=gen) * torch.rand(5, 1, 16, generator=gen) * 4
    labels, centroids = kmeans(sets, 4, seed=3, init=init)
    assert labels.shape == (5, 150) and centroids.shape == (5, 4, 16)
    for b in range(5):
        one_labels, one_centroids = kmeans(sets[b], 4, seed=3, init=init)
        torch.testing.assert_close(labels[b], one_labels, atol=0, rtol=0)
        torch.testing.assert_close(centroids[b], one_centroids, atol=1e-6, rtol=1e-6)
