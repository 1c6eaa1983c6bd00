"""AlignCLIP's SGA (Eqs. 5-7), CCE (Eqs. 9-12) and fusion (Eq. 14) against values computed in the tests."""

import numpy as np
import pytest
import torch

from engine.errors import InputError
from engine.ops.alignment import (
    cluster_constrained_enhancement,
    cluster_mask,
    fuse_logits,
    propagate_logits,
    self_guided_alignment,
)
from engine.ops.kmeans import kmeans

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def unit(v: np.ndarray) -> np.ndarray:
    """Rows of ``v`` divided by their euclidean norms."""
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def naive_sga(patches: np.ndarray, text: np.ndarray, alpha: float, top_n: int) -> np.ndarray:
    """Eqs. 5-7 with explicit loops: cosine, sort, mean of the best normalised patches, mix, normalise."""
    out = []
    for t in text:
        cos = [p @ t / (np.linalg.norm(p) * np.linalg.norm(t)) for p in patches]
        best = np.argsort(cos)[::-1][:top_n]
        proto = np.mean([patches[i] / np.linalg.norm(patches[i]) for i in best], axis=0)
        mixed = (1 - alpha) * t / np.linalg.norm(t) + alpha * proto
        out.append(mixed / np.linalg.norm(mixed))
    return np.array(out)


def random_case(seed: int, n: int = 30, d: int = 8, k: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g) * 3, torch.randn(k, d, generator=g)


# --- SGA ------------------------------------------------------------------------------------------------


def test_sga_alpha_zero_returns_the_normalised_text() -> None:
    patches, text = random_case(0)
    out = self_guided_alignment(patches, text, alpha=0.0)
    expected = unit(text.double().numpy())
    np.testing.assert_allclose(out.double().numpy(), expected, rtol=0, atol=1e-7)


def test_sga_hand_made_example() -> None:
    patches = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    text = torch.tensor([[1.0, 0.1, 0.0], [0.0, 1.0, 0.2]])
    # t0 is closest to patch 0 (cos 0.995 vs 0.774 for patch 3), t1 to patch 1 (cos 0.981 vs 0.693).
    out = self_guided_alignment(patches, text, alpha=0.25).numpy()
    t0 = np.array([1.0, 0.1, 0.0]) / np.sqrt(1.01)
    t1 = np.array([0.0, 1.0, 0.2]) / np.sqrt(1.04)
    e0 = 0.75 * t0 + 0.25 * np.array([1.0, 0.0, 0.0])
    e1 = 0.75 * t1 + 0.25 * np.array([0.0, 1.0, 0.0])
    np.testing.assert_allclose(out[0], e0 / np.linalg.norm(e0), atol=1e-6)
    np.testing.assert_allclose(out[1], e1 / np.linalg.norm(e1), atol=1e-6)


def test_sga_alpha_one_is_the_best_patch_direction() -> None:
    patches = torch.tensor([[3.0, 4.0], [1.0, -1.0], [-2.0, 0.5]])
    out = self_guided_alignment(patches, torch.tensor([[0.5, 0.6]]), alpha=1.0)
    np.testing.assert_allclose(out.numpy()[0], [0.6, 0.8], atol=1e-6)


def test_sga_top_n_averages_the_best_patches() -> None:
    patches = torch.tensor([[1.0, 0.0], [2.0, 2.0], [0.0, 5.0], [-1.0, 0.0]])
    out = self_guided_alignment(patches, torch.tensor([[1.0, 0.2]]), alpha=1.0, top_n=2).numpy()[0]
    proto = (np.array([1.0, 0.0]) + np.array([1.0, 1.0]) / np.sqrt(2)) / 2
    np.testing.assert_allclose(out, proto / np.linalg.norm(proto), atol=1e-6)


@pytest.mark.parametrize("top_n", [1, 3])
@pytest.mark.parametrize("alpha", [0.1, 0.6])
def test_sga_matches_a_naive_loop(top_n: int, alpha: float) -> None:
    patches, text = random_case(1)
    out = self_guided_alignment(patches, text, alpha=alpha, top_n=top_n).double().numpy()
    expected = naive_sga(patches.double().numpy(), text.double().numpy(), alpha, top_n)
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_sga_batch_dimension_equals_per_image_calls() -> None:
    g = torch.Generator().manual_seed(2)
    patches, text = torch.randn(3, 20, 6, generator=g), torch.randn(5, 6, generator=g)
    batched = self_guided_alignment(patches, text, alpha=0.3, top_n=2)
    assert batched.shape == (3, 5, 6)
    for i in range(3):
        torch.testing.assert_close(batched[i], self_guided_alignment(patches[i], text, alpha=0.3, top_n=2))


def test_sga_keeps_dtype_and_rejects_bad_parameters() -> None:
    patches, text = random_case(3)
    assert self_guided_alignment(patches.bfloat16(), text.bfloat16(), 0.3).dtype == torch.bfloat16
    with pytest.raises(InputError, match="alpha"):
        self_guided_alignment(patches, text, alpha=1.5)
    with pytest.raises(InputError, match="top_n"):
        self_guided_alignment(patches, text, alpha=0.5, top_n=31)


# --- CCE ------------------------------------------------------------------------------------------------


def naive_clamp_propagation(aff: np.ndarray, logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Algorithm 2 with its loop over clusters, then a weighted average with non-negative weights."""
    masked = np.zeros_like(aff)
    for c in np.unique(labels):
        rows = labels == c
        masked[rows] = aff[rows] * rows[None, :]
    weights = np.maximum(masked, 0)
    return (weights / weights.sum(axis=1, keepdims=True)) @ logits


def features_logits(seed: int, n: int = 24, c: int = 5, k: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, generator=g) * 2, torch.randn(n, k, generator=g)


def test_cce_one_cluster_is_unmasked_propagation() -> None:
    feats, logits = features_logits(0)
    out = cluster_constrained_enhancement(feats, logits, n_clusters=1)
    f = unit(feats.double().numpy())
    weights = np.maximum(f @ f.T, 0)
    expected = (weights / weights.sum(axis=1, keepdims=True)) @ logits.double().numpy()
    np.testing.assert_allclose(out.double().numpy(), expected, atol=1e-5)


@pytest.mark.parametrize("propagation", ["clamp", "proxy"])
def test_cce_one_cluster_per_patch_is_the_identity(propagation: str) -> None:
    feats, logits = features_logits(1)
    out = cluster_constrained_enhancement(feats, logits, n_clusters=feats.shape[0], propagation=propagation)
    torch.testing.assert_close(out, logits, atol=1e-6, rtol=0)


def test_cce_with_attention_affinity_identity_and_one_cluster() -> None:
    feats, logits = features_logits(2)
    g = torch.Generator().manual_seed(5)
    attention = torch.rand(24, 24, generator=g).softmax(dim=-1)
    same = cluster_constrained_enhancement(feats, logits, 24, affinity="attention", attention=attention)
    torch.testing.assert_close(same, logits, atol=1e-6, rtol=0)
    one = cluster_constrained_enhancement(feats, logits, 1, affinity="attention", attention=attention)
    a = attention.double().numpy()
    expected = (a / a.sum(axis=1, keepdims=True)) @ logits.double().numpy()
    np.testing.assert_allclose(one.double().numpy(), expected, atol=1e-6)


def test_cce_matches_the_pseudo_code_loop() -> None:
    feats, logits = features_logits(3, n=40)
    out = cluster_constrained_enhancement(feats, logits, n_clusters=3, seed=4)
    normalised = torch.nn.functional.normalize(feats, dim=-1)
    labels, _ = kmeans(normalised, 3, seed=4)
    assert len(labels.unique()) == 3
    f = normalised.double().numpy()
    expected = naive_clamp_propagation(f @ f.T, logits.double().numpy(), labels.numpy())
    np.testing.assert_allclose(out.double().numpy(), expected, atol=1e-5)


def test_cce_clusters_do_not_interact() -> None:
    g = torch.Generator().manual_seed(6)
    a = torch.tensor([5.0, 0.0, 0.0]) + 0.1 * torch.randn(10, 3, generator=g)
    b = torch.tensor([0.0, 5.0, 0.0]) + 0.1 * torch.randn(10, 3, generator=g)
    feats = torch.cat([a, b])
    logits = torch.randn(20, 4, generator=g)
    changed = logits.clone()
    changed[10:] = torch.randn(10, 4, generator=g) * 10
    first = cluster_constrained_enhancement(feats, logits, n_clusters=2)
    second = cluster_constrained_enhancement(feats, changed, n_clusters=2)
    torch.testing.assert_close(first[:10], second[:10])
    assert not torch.allclose(first[10:], second[10:])


def test_proxy_propagation_matches_proxyclip_formula() -> None:
    g = torch.Generator().manual_seed(7)
    f = torch.nn.functional.normalize(torch.randn(12, 4, generator=g), dim=-1)
    logits = torch.randn(12, 3, generator=g)
    aff = f @ f.T
    labels = torch.tensor([0, 1, 0, 1, 2, 2, 0, 1, 2, 0, 1, 2])
    out = propagate_logits(aff, logits, cluster_mask(labels), "proxy")
    a = aff.double().numpy()
    s = (a - 1.2 * a.mean()) * 3.0
    expected = np.zeros((12, 3))
    for i in range(12):
        keep = [j for j in range(12) if labels[j] == labels[i] and (s[i, j] >= 0 or i == j)]
        w = np.exp(s[i, keep] - s[i, keep].max())
        expected[i] = (w / w.sum()) @ logits.double().numpy()[keep]
    np.testing.assert_allclose(out.double().numpy(), expected, atol=1e-5)


def test_cluster_mask_is_same_cluster_indicator() -> None:
    labels = torch.tensor([2, 0, 2, 1])
    mask = cluster_mask(labels).numpy()
    expected = np.array([[labels[i] == labels[j] for j in range(4)] for i in range(4)])
    np.testing.assert_array_equal(mask, expected)


def test_cce_bad_arguments() -> None:
    feats, logits = features_logits(8)
    with pytest.raises(InputError, match="affinity"):
        cluster_constrained_enhancement(feats, logits, affinity="cosine")
    with pytest.raises(ValueError, match="attention matrix"):
        cluster_constrained_enhancement(feats, logits, affinity="attention")
    with pytest.raises(ValueError, match="logit rows"):
        cluster_constrained_enhancement(feats, logits[:5])
    with pytest.raises(InputError, match="propagation"):
        cluster_constrained_enhancement(feats, logits, propagation="softmax")


@pytest.mark.parametrize("device", DEVICES)
def test_cce_runs_on_the_input_device_and_dtype(device: str) -> None:
    feats, logits = features_logits(9)
    out = cluster_constrained_enhancement(feats.to(device).bfloat16(), logits.to(device).bfloat16())
    assert out.device.type == device and out.dtype == torch.bfloat16
    ref = cluster_constrained_enhancement(feats, logits)
    torch.testing.assert_close(out.float().cpu(), ref, atol=0.05, rtol=0.05)


# --- fusion ---------------------------------------------------------------------------------------------


def test_fuse_beta_zero_is_s_up_and_beta_one_is_bilinear_s_hat() -> None:
    s_hat = torch.tensor([[[1.0, 3.0], [5.0, 7.0]], [[0.0, 4.0], [8.0, 12.0]]])
    s_up = torch.randn(2, 4, 4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(fuse_logits(s_hat, s_up, 0.0), s_up)
    # Half-pixel bilinear x2 of a pair [a, b]: [a, 0.75a + 0.25b, 0.25a + 0.75b, b] along each axis.
    ramp = np.array([[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]])
    expected = np.stack([ramp @ s_hat[c].numpy() @ ramp.T for c in range(2)])
    np.testing.assert_allclose(fuse_logits(s_hat, s_up, 1.0).numpy(), expected, atol=1e-6)
    mixed = fuse_logits(s_hat[None], s_up[None], 0.3)[0].numpy()
    np.testing.assert_allclose(mixed, 0.3 * expected + 0.7 * s_up.numpy(), atol=1e-6)


def test_fuse_rejects_bad_beta_and_shapes() -> None:
    with pytest.raises(InputError, match="beta"):
        fuse_logits(torch.zeros(2, 3, 3), torch.zeros(2, 6, 6), -0.1)
    with pytest.raises(ValueError, match="cannot fuse"):
        fuse_logits(torch.zeros(2, 3, 3), torch.zeros(3, 6, 6), 0.5)


@pytest.mark.parametrize("propagation", ["clamp", "proxy"])
def test_cce_batch_equals_one_window_at_a_time(propagation: str) -> None:
    gen = torch.Generator().manual_seed(8)
    feats, logits = torch.randn(4, 49, 12, generator=gen), torch.randn(4, 49, 5, generator=gen)
    batched = cluster_constrained_enhancement(feats, logits, 3, propagation=propagation, seed=2)
    alone = torch.stack([cluster_constrained_enhancement(f, s, 3, propagation=propagation, seed=2)
                         for f, s in zip(feats, logits, strict=True)])
    torch.testing.assert_close(batched, alone, atol=1e-6, rtol=1e-6)
