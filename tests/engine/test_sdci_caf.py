"""SDCI's CAF stages (Eqs. 1-9) on small hand-made tensors, against independent numpy/loop references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.methods import sdci_caf as caf


def _np_process_levels(summed: np.ndarray, levels: int) -> list[np.ndarray]:
    """The official in-place loop, written out in numpy with explicit loops over rows and columns."""
    state = summed.astype(np.float64).copy()
    out = []
    n = state.shape[-1]
    for _ in range(levels):
        for h in range(state.shape[0]):
            for j in range(n):
                state[h, :, j] /= state[h, :, j].sum()
            for i in range(n):
                state[h, i, :] /= state[h, i, :].sum()
        sym = (state + np.swapaxes(state, -1, -2)) / 2
        sym = sym - sym.mean(axis=-2, keepdims=True)
        sym = np.maximum(sym, 0)
        out.append(sym / sym.sum(axis=-1, keepdims=True))
    return out


def test_scaled_size_is_the_official_resize_rule() -> None:
    assert caf.scaled_size(512, 512, 512, 14) == (518, 518)
    assert caf.scaled_size(512, 512, 532, 14) == (532, 532)
    assert caf.scaled_size(512, 512, 384, 8) == (384, 384)
    # non-square: short side to 512, long side in proportion, each rounded to the nearest multiple
    h, w = caf.scaled_size(300, 600, 512, 14)
    assert (h, w) == (int(512 / 14 + 0.5) * 14, int(1024 / 14 + 0.5) * 14)


def test_process_attention_compounds_like_the_official_in_place_loop() -> None:
    gen = torch.Generator().manual_seed(0)
    summed = torch.softmax(torch.randn(2, 7, 7, generator=gen) * 2, dim=-1) * 3
    expected = _np_process_levels(summed.numpy(), 4)
    state = summed.clone().double()
    for level in range(4):
        got = caf.process_attention_(state)
        np.testing.assert_allclose(got.numpy(), expected[level], rtol=1e-10, atol=1e-12)
    # the levels really differ (the quirk is visible) and each processed row is an L1-normalised row
    assert not np.allclose(expected[0], expected[3], atol=1e-6)
    np.testing.assert_allclose(expected[3].sum(-1), 1.0)


def test_fused_level_tokens_is_the_last_blocks_value_path_without_residual() -> None:
    torch.manual_seed(0)
    width, heads, tokens = 8, 2, 5
    block = torch.nn.Module()
    block.ln_1 = torch.nn.LayerNorm(width)
    block.attn = torch.nn.MultiheadAttention(width, heads, batch_first=True)
    torch.nn.init.normal_(block.attn.in_proj_bias)
    levels = torch.randn(3, tokens, width)
    summed = torch.softmax(torch.randn(heads, tokens, tokens), dim=-1) * 2
    got, last = caf.fused_level_tokens(block, levels, summed)

    processed = _np_process_levels(summed.numpy(), 3)
    w_v = block.attn.in_proj_weight[2 * width :].detach().numpy()
    b_v = block.attn.in_proj_bias[2 * width :].detach().numpy()
    w_o = block.attn.out_proj.weight.detach().numpy()
    b_o = block.attn.out_proj.bias.detach().numpy()
    hd = width // heads
    for level in range(3):
        x = levels[level].numpy().astype(np.float64)
        x = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
        v = x @ w_v.T + b_v
        merged = np.concatenate([processed[level][h] @ v[:, h * hd : (h + 1) * hd] for h in range(heads)], axis=-1)
        np.testing.assert_allclose(got[level].numpy(), merged @ w_o.T + b_o, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(last.numpy(), processed[-1], rtol=1e-5, atol=1e-7)


def test_text_bank_and_class_probabilities() -> None:
    fg = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    other = torch.tensor([0.0, 0.0, 1.0])
    bank = caf.text_bank(fg, other)
    assert bank.shape == (4, 3)
    np.testing.assert_allclose(bank[3].numpy(), [0.5, 0.5, 0.0])
    feats = torch.tensor([[2.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    got = caf.class_probabilities(feats, bank, 2, 50.0)
    # independent: cosines by hand, softmax over all four entries, first two kept
    for row, f in enumerate(feats.numpy()):
        cos = [float(f @ t / np.linalg.norm(f) / np.linalg.norm(t)) for t in bank.numpy()]
        e = np.exp(50 * np.array(cos) - max(50 * np.array(cos)))
        np.testing.assert_allclose(got[row].numpy(), (e / e.sum())[:2], rtol=1e-5, atol=1e-7)
    assert float(got[1].sum()) < 1.0  # "other" and the mean take probability mass


def test_threshold_last_zeroes_below_a_fraction_of_the_class_max() -> None:
    scores = torch.tensor([[1.0, 0.05], [0.19, 0.5], [0.2, 0.09]])
    got = caf.threshold_last(scores, 0.2)
    expected = np.array([[1.0, 0.0], [0.0, 0.5], [0.2, 0.0]])
    np.testing.assert_allclose(got.numpy(), expected)
    assert scores[1, 0] == pytest.approx(0.19)  # input untouched


def _bilinear_1d(n_in: int, n_out: int) -> np.ndarray:
    """The ``align_corners=False`` bilinear interpolation matrix (n_out x n_in), written from its formula."""
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        x = max((i + 0.5) * n_in / n_out - 0.5, 0.0)
        x0 = min(int(np.floor(x)), n_in - 1)
        x1 = min(x0 + 1, n_in - 1)
        m[i, x0] += 1 - (x - x0)
        m[i, x1] += x - x0
    return m


def test_align_attention_is_separable_bilinear_over_keys_then_queries() -> None:
    gen = torch.Generator().manual_seed(1)
    src, dst = (3, 4), (5, 2)
    attention = torch.rand(12, 12, generator=gen)
    interp = np.kron(_bilinear_1d(src[0], dst[0]), _bilinear_1d(src[1], dst[1]))  # (10, 12)
    expected = interp @ attention.numpy().astype(np.float64) @ interp.T
    np.testing.assert_allclose(caf.align_attention(attention, src, dst).numpy(), expected, rtol=1e-5, atol=1e-6)
    # identity when the grids agree
    np.testing.assert_allclose(caf.align_attention(attention, src, src).numpy(), attention.numpy(), atol=1e-6)


def test_cross_fuse_is_eq_8() -> None:
    gen = torch.Generator().manual_seed(2)
    own = torch.rand(4, 4, generator=gen)
    other = torch.rand(4, 4, generator=gen)
    levels = torch.rand(3, 4, 2, generator=gen)
    got = caf.cross_fuse(own, other, levels, 0.2, 0.5)
    last = levels[-1].numpy().copy()
    for c in range(2):
        col = last[:, c]
        col[col < 0.2 * col.max()] = 0
    expected = (own.numpy() + 0.5 * other.numpy()) @ last + (levels[0].numpy() + levels[1].numpy()) / 2
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6, atol=1e-6)


def test_vfm_pixels_normalise_then_resize() -> None:
    rgb = np.full((6, 6, 3), 128, dtype=np.uint8)
    got = caf.vfm_pixels(rgb, (4, 4), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert got.shape == (1, 3, 4, 4)
    np.testing.assert_allclose(got.numpy(), (128 / 255 - 0.5) / 0.25, atol=1e-6)
    clip = caf.clip_pixels(rgb, (7, 7), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    np.testing.assert_allclose(clip.numpy(), 128 / 255, rtol=1e-6)


def test_converged_sinkhorn_levels_share_one_product_and_match_the_full_loop() -> None:
    torch.manual_seed(1)
    width, heads, tokens, count = 8, 2, 6, 24
    block = torch.nn.Module()
    block.ln_1 = torch.nn.LayerNorm(width)
    block.attn = torch.nn.MultiheadAttention(width, heads, batch_first=True)
    levels = torch.randn(count, tokens, width, dtype=torch.float64)
    block.double()
    summed = (torch.softmax(torch.randn(23, heads, tokens, tokens, dtype=torch.float64), dim=-1)).sum(0)

    exact, exact_last = caf.fused_level_tokens(block, levels, summed, sinkhorn_tolerance=0.0)
    steps = []
    state = summed.clone()
    for _ in range(count):
        steps.append(caf.sinkhorn_step_(state))
    converged_at = next(i for i, drift in enumerate(steps) if drift <= 1e-6)
    assert 0 < converged_at < count - 1  # the shortcut really applies, not only at the last level

    fast, fast_last = caf.fused_level_tokens(block, levels, summed, sinkhorn_tolerance=1e-6)
    np.testing.assert_allclose(fast.numpy(), exact.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fast_last.numpy(), exact_last.numpy(), rtol=1e-5, atol=1e-7)
    # before convergence the levels differ by more than the tolerance: they were not merged
    assert not np.allclose(exact[0].numpy(), exact[converged_at].numpy(), rtol=1e-4)


def test_clip_levels_add_the_fp16_rounded_position_embedding_by_default() -> None:
    """The official ``upsample_pos_emb(...).half()``: on by default, and it changes the levels slightly."""
    from engine.backbones.clip import build_clip

    clip = build_clip("ViT-B-16", seed=0)
    pixels = torch.randn(1, 3, 160, 176, generator=torch.Generator().manual_seed(0))
    rounded = caf.clip_levels(clip, pixels, torch.float32)
    exact = caf.clip_levels(clip, pixels, torch.float32, pos_embed_fp16=False)
    x_rounded, _ = clip.embed(pixels, "bilinear_fp16")
    x_exact, _ = clip.embed(pixels, "bilinear")
    assert torch.equal(rounded.levels[0, 0], clip.blocks[0].ln_1(x_rounded)[0])
    assert torch.equal(exact.levels[0, 0], clip.blocks[0].ln_1(x_exact)[0])
    relative = (rounded.levels - exact.levels).norm() / exact.levels.norm()
    assert 0 < relative < 1e-3
