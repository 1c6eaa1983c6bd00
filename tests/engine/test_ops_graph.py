"""BCDR graph pieces: KNN transitions, diffusion, closed form, cross-grid resampling (SDCI Eqs. 11-15)."""

import numpy as np
import pytest
import torch

from engine.errors import InputError
from engine.ops.graph import diffuse, diffuse_closed_form, knn_transition, resample_grid


def _official_knn(features: np.ndarray, k: int, tau: float) -> np.ndarray:
    """The official dense computation in float64: cos sim, diagonal -1e9, top-k, exp(s/tau) / (sum + 1e-6)."""
    f = features / np.linalg.norm(features, axis=1, keepdims=True)
    sim = f @ f.T
    np.fill_diagonal(sim, -1e9)
    out = np.zeros_like(sim)
    for i in range(sim.shape[0]):
        top = np.argsort(-sim[i], kind="stable")[:k]
        w = np.exp(sim[i, top] / tau)
        out[i, top] = w / (w.sum() + 1e-6)
    return out


def test_knn_transition_matches_official_formula():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(60, 8))
    T = knn_transition(torch.from_numpy(feats).float(), k=7, tau=0.07)
    expected = _official_knn(feats, 7, 0.07)
    assert T.values.shape == (60, 7) and T.indices.shape == (60, 7)
    np.testing.assert_allclose(T.to_dense().double().numpy(), expected, rtol=2e-5, atol=1e-9)


def test_knn_transition_rows_have_k_distinct_off_diagonal_entries_and_sum_to_one():
    feats = torch.randn(40, 5, generator=torch.Generator().manual_seed(1))
    T = knn_transition(feats, k=6)
    assert (T.values > 0).all()
    rows = torch.arange(40).unsqueeze(1)
    assert not (T.indices == rows).any()
    assert all(len(set(r.tolist())) == 6 for r in T.indices)
    dense = T.to_dense()
    assert ((dense != 0).sum(dim=1) == 6).all()
    torch.testing.assert_close(dense.sum(dim=1), torch.ones(40), atol=1e-5, rtol=0)


def test_knn_transition_keeps_the_official_epsilon_on_the_unshifted_row_sum():
    # A regular tetrahedron: every pairwise cosine is -1/3, so exp(s / tau) is small and the official +1e-6
    # visibly lowers the row sums; subtracting the row max must not change that.
    verts = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=np.float64)
    T = knn_transition(torch.from_numpy(verts).float(), k=2, tau=0.07)
    s = 2 * np.exp(-1 / 3 / 0.07)
    np.testing.assert_allclose(T.values.sum(dim=1).numpy(), np.full(4, s / (s + 1e-6)), rtol=1e-6)
    assert s / (s + 1e-6) < 1 - 5e-5


def test_knn_transition_is_finite_where_the_unshifted_exponential_overflows_float32():
    rng = np.random.default_rng(2)
    feats = rng.normal(size=(30, 4))
    T = knn_transition(torch.from_numpy(feats).float(), k=5, tau=0.005)
    assert torch.isfinite(T.values).all()
    np.testing.assert_allclose(T.to_dense().double().numpy(), _official_knn(feats, 5, 0.005), atol=1e-4)


def test_knn_transition_rejects_k_not_below_n():
    with pytest.raises(InputError, match="k must be"):
        knn_transition(torch.randn(5, 3), k=5)


def test_sparse_csr_and_dense_forms_agree():
    T = knn_transition(torch.randn(25, 4, generator=torch.Generator().manual_seed(3)), k=4)
    S = torch.randn(25, 3)
    torch.testing.assert_close(T.to_sparse_csr() @ S, T.to_dense() @ S)


def _graph_and_scores(n: int = 81, classes: int = 4) -> tuple:
    g = torch.Generator().manual_seed(4)
    T = knn_transition(torch.randn(n, 6, generator=g), k=8)
    return T, torch.rand(n, classes, generator=g)


def test_diffuse_matches_a_naive_loop():
    T, S0 = _graph_and_scores()
    P = T.to_dense().double().numpy()
    S = S0.double().numpy()
    for _ in range(40):
        S = 0.9 * P @ S + (1 - 0.9) * S0.double().numpy()
    np.testing.assert_allclose(diffuse(T, S0).numpy(), S, rtol=1e-5, atol=1e-6)


def test_diffuse_in_half_rounds_every_step_to_half():
    T, S0 = _graph_and_scores()
    S16 = diffuse(T, S0, dtype=torch.float16)
    assert S16.dtype == torch.float32
    assert torch.equal(S16, S16.half().float())
    torch.testing.assert_close(S16, diffuse(T, S0), rtol=1e-2, atol=1e-3)


def test_closed_form_is_the_fixed_point_and_bounds_the_40_step_error():
    T, S0 = _graph_and_scores()
    P = T.to_dense().double().numpy()
    expected = (1 - 0.9) * np.linalg.inv(np.eye(P.shape[0]) - 0.9 * P) @ S0.double().numpy()
    star = diffuse_closed_form(T, S0, alpha=0.9)
    np.testing.assert_allclose(star.numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(diffuse(T, S0, steps=400).numpy(), expected, rtol=1e-4, atol=1e-5)
    err40 = np.abs(diffuse(T, S0).numpy() - expected).max()
    assert err40 <= 0.9**40 * np.abs(S0.numpy() - expected).max() + 1e-6


def _bilinear_naive(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Half-pixel bilinear resize (align_corners=False, edge clamped) of (K, h, w), loop by loop."""
    k, h, w = img.shape
    out = np.zeros((k, out_h, out_w))
    for i in range(out_h):
        y = max((i + 0.5) * h / out_h - 0.5, 0.0)
        y0 = min(int(np.floor(y)), h - 1)
        y1, fy = min(y0 + 1, h - 1), y - y0
        for j in range(out_w):
            x = max((j + 0.5) * w / out_w - 0.5, 0.0)
            x0 = min(int(np.floor(x)), w - 1)
            x1, fx = min(x0 + 1, w - 1), x - x0
            top = (1 - fx) * img[:, y0, x0] + fx * img[:, y0, x1]
            bottom = (1 - fx) * img[:, y1, x0] + fx * img[:, y1, x1]
            out[:, i, j] = (1 - fy) * top + fy * bottom
    return out


@pytest.mark.parametrize(("src", "dst"), [(37, 38), (38, 37), (37, 48), ((5, 7), (6, 4))])
def test_resample_grid_is_half_pixel_bilinear_in_both_layouts(src, dst):
    src_hw = (src, src) if isinstance(src, int) else src
    dst_hw = (dst, dst) if isinstance(dst, int) else dst
    maps = torch.rand(3, *src_hw, generator=torch.Generator().manual_seed(5))
    expected = _bilinear_naive(maps.double().numpy(), *dst_hw)
    out_maps = resample_grid(maps, src, dst)
    np.testing.assert_allclose(out_maps.numpy(), expected, atol=1e-5)
    tokens = maps.reshape(3, -1).T
    out_tokens = resample_grid(tokens, src, dst)
    assert out_tokens.shape == (dst_hw[0] * dst_hw[1], 3)
    np.testing.assert_allclose(out_tokens.T.reshape(3, *dst_hw).numpy(), expected, atol=1e-5)


def test_resample_grid_keeps_dtype_and_identity_on_the_same_grid():
    tokens = torch.rand(37 * 37, 2).half()
    out = resample_grid(tokens, 37, 37)
    assert out.dtype == torch.float16
    assert torch.equal(out, tokens)


def test_resample_grid_rejects_a_token_count_that_does_not_fit():
    with pytest.raises(InputError, match="source grid 37x37"):
        resample_grid(torch.rand(38 * 38, 2), 37, 38)
