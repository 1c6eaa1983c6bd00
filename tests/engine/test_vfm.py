"""The timm vision-foundation-model wrapper: per-layer features, prefix tokens, last-block attention.

Random weights, small inputs: the architectures are the real ones, the weights do not matter for what is
checked here (agreement with timm's own forward, with a naive recomputation of the attention, with the
block's actual computation).
"""

import numpy as np
import pytest
import torch

from engine.backbones.vfm import VFM_CONFIGS, build_vfm
from engine.errors import InputError, WeightsError


@pytest.fixture(scope="module")
def dino():
    return build_vfm("dino_vitb8", seed=0)


@pytest.fixture(scope="module")
def dinov2():
    return build_vfm("dinov2_vitb14_reg", seed=0)


@pytest.fixture(scope="module")
def dino_small():
    return build_vfm("dino_vits8", seed=3)


@pytest.fixture(scope="module")
def sam_small():
    """SAM ViT-B built at 128 px: an 8x8 grid, so its relative-position tables need no resampling."""
    return build_vfm("sam_vitb", seed=0, img_size=128)


def _images(height, width, batch=1, seed=0):
    return torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(seed))


def _capture_last_block(model, images):
    """The input and output of the last block, recorded by hooks during the wrapper's forward."""
    seen = {}
    block = model.model.blocks[-1]
    pre = block.register_forward_pre_hook(lambda _m, args: seen.__setitem__("input", args[0]))
    post = block.register_forward_hook(lambda _m, _a, out: seen.__setitem__("output", out))
    try:
        with torch.no_grad():
            out = model.forward_layers(images)
    finally:
        pre.remove()
        post.remove()
    return out, seen["input"], seen["output"]


def _np(tensor):
    return tensor.detach().double().numpy()


def _naive_qkv(tokens, block):
    """LayerNorm (norm1) then the qkv projection, written out in float64 numpy."""
    x = _np(tokens)
    norm = block.norm1
    xn = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + norm.eps)
    xn = xn * _np(norm.weight) + _np(norm.bias)
    return xn @ _np(block.attn.qkv.weight).T + _np(block.attn.qkv.bias)


def _naive_attention(tokens, block, bias=None):
    """softmax(q k^T / sqrt(d) + bias) per head in float64 numpy, from the raw LayerNorm and qkv weights."""
    x = _np(tokens)
    qkv = _naive_qkv(tokens, block)
    heads = block.attn.num_heads
    dim = x.shape[-1]
    head_dim = dim // heads
    out = np.zeros((x.shape[0], heads, x.shape[1], x.shape[1]))
    for h in range(heads):
        q = qkv[..., h * head_dim:(h + 1) * head_dim]
        k = qkv[..., dim + h * head_dim:dim + (h + 1) * head_dim]
        logits = q @ np.swapaxes(k, -1, -2) / np.sqrt(head_dim)
        if bias is not None:
            logits = logits + bias[:, h]
        logits -= logits.max(-1, keepdims=True)
        weights = np.exp(logits)
        out[:, h] = weights / weights.sum(-1, keepdims=True)
    return out


def _block_output_from_attention(block, tokens, attention):
    """Recompute a pre-norm block's output from a given attention map: x + proj(A v), then the MLP."""
    batch, count, dim = tokens.shape
    heads = block.attn.num_heads
    qkv = block.attn.qkv(block.norm1(tokens)).reshape(batch, count, 3, heads, dim // heads)
    v = qkv[:, :, 2].transpose(1, 2)
    mixed = (attention.to(v.dtype) @ v).transpose(1, 2).reshape(batch, count, dim)
    x = tokens + block.ls1(block.attn.proj(mixed))
    return x + block.ls2(block.mlp(block.norm2(x)))


def test_dino_last_layer_equals_timm_forward_features_on_a_non_square_image(dino):
    images = _images(64, 48)
    with torch.no_grad():
        out = dino.forward_layers(images)
        reference = dino.model.forward_features(images)
    assert out.grid == (8, 6)
    assert len(out.layers) == 12
    assert out.layers[-1].shape == (1, 48, 768)
    torch.testing.assert_close(out.layers[-1], reference[:, 1:], atol=1e-5, rtol=0)
    torch.testing.assert_close(out.features, reference[:, 1:], atol=1e-5, rtol=0)
    torch.testing.assert_close(out.prefix.cls[-1], reference[:, 0], atol=1e-5, rtol=0)
    assert out.prefix.registers is None


def test_every_layer_and_prefix_matches_timm_normed_intermediates(dinov2):
    images = _images(56, 42, batch=2)
    with torch.no_grad():
        out = dinov2.forward_layers(images)
        _, intermediates = dinov2.model.forward_intermediates(images, norm=True, return_prefix_tokens=True)
    assert out.grid == (4, 3)
    assert out.num_prefix == 5
    for layer, cls, registers, (spatial, prefix) in zip(
        out.layers, out.prefix.cls, out.prefix.registers, intermediates, strict=True
    ):
        torch.testing.assert_close(layer, spatial.flatten(2).transpose(1, 2), atol=1e-5, rtol=0)
        torch.testing.assert_close(cls, prefix[:, 0], atol=1e-5, rtol=0)
        assert registers.shape == (2, 4, 768)
        torch.testing.assert_close(registers, prefix[:, 1:], atol=1e-5, rtol=0)


@pytest.mark.parametrize("fixture", ["dino", "dinov2"])
def test_vit_attention_is_the_softmax_of_the_last_blocks_qk(fixture, request):
    model = request.getfixturevalue(fixture)
    images = _images(56, 56) if fixture == "dinov2" else _images(48, 40)
    out, block_input, block_output = _capture_last_block(model, images)
    tokens = out.num_prefix + out.grid[0] * out.grid[1]
    assert out.attention.shape == (1, model.config.num_heads, tokens, tokens)
    torch.testing.assert_close(out.attention.sum(-1), torch.ones(1, model.config.num_heads, tokens))
    naive = _naive_attention(block_input, model.model.blocks[-1])
    np.testing.assert_allclose(_np(out.attention), naive, atol=1e-5)
    with torch.no_grad():
        rebuilt = _block_output_from_attention(model.model.blocks[-1], block_input, out.attention)
    torch.testing.assert_close(rebuilt, block_output, atol=1e-4, rtol=1e-4)


def test_attention_views_drop_the_prefix_and_average_heads(dinov2):
    with torch.no_grad():
        out = dinov2.forward_layers(_images(42, 28))
    full = out.attention.numpy()
    np.testing.assert_array_equal(out.patch_attention().numpy(), full[:, :, 5:, 5:])
    np.testing.assert_allclose(out.mean_attention().numpy(), full.mean(axis=1), atol=1e-7)
    np.testing.assert_allclose(out.mean_attention(patch_only=True).numpy(), full[:, :, 5:, 5:].mean(axis=1),
                               atol=1e-7)
    assert out.patch_attention().shape == (1, 12, 6, 6)


def test_sam_layers_are_raw_block_tokens_and_features_the_neck_output(sam_small):
    images = _images(128, 128)
    with torch.no_grad():
        out = sam_small.forward_layers(images)
        reference, intermediates = sam_small.model.forward_intermediates(images)
    assert out.grid == (8, 8)
    assert out.num_prefix == 0
    assert out.prefix.cls is None and out.prefix.registers is None
    assert out.features.shape == (1, 64, 256)
    torch.testing.assert_close(out.features, reference.flatten(2).transpose(1, 2), atol=1e-5, rtol=0)
    assert len(out.layers) == 12
    for layer, spatial in zip(out.layers, intermediates, strict=True):
        assert layer.shape == (1, 64, 768)
        torch.testing.assert_close(layer, spatial.flatten(2).transpose(1, 2), atol=1e-5, rtol=0)


def test_sam_attention_is_global_with_the_relative_position_bias(sam_small):
    out, block_input, block_output = _capture_last_block(sam_small, _images(128, 128))
    block = sam_small.model.blocks[-1]
    assert block.window_size == 0
    gh, gw = out.grid
    tokens = block_input.reshape(1, gh * gw, -1)
    heads = block.attn.num_heads
    head_dim = tokens.shape[-1] // heads
    # naive decomposed relative-position bias: q_(y,x) . (R_h[y - y' + gh - 1] + R_w[x - x' + gw - 1])
    q_all = _naive_qkv(tokens, block)
    rel_h = _np(block.attn.rel_pos_h)
    rel_w = _np(block.attn.rel_pos_w)
    bias = np.zeros((1, heads, gh * gw, gh * gw))
    for h in range(heads):
        q = q_all[0, :, h * head_dim:(h + 1) * head_dim]
        for i in range(gh * gw):
            y, xq = divmod(i, gw)
            for j in range(gh * gw):
                yk, xk = divmod(j, gw)
                bias[0, h, i, j] = q[i] @ rel_h[y - yk + gh - 1] + q[i] @ rel_w[xq - xk + gw - 1]
    naive = _naive_attention(tokens, block, bias)
    np.testing.assert_allclose(_np(out.attention), naive, atol=1e-5)
    with torch.no_grad():
        rebuilt = _block_output_from_attention(block, tokens, out.attention)
    torch.testing.assert_close(rebuilt, block_output.reshape(1, gh * gw, -1), atol=1e-4, rtol=1e-4)


def test_sam_built_at_native_size_runs_small_inputs():
    model = build_vfm("sam_vitb", seed=0)
    assert model.model.pos_embed.shape[1:3] == (64, 64)
    images = _images(96, 64)
    out, block_input, block_output = _capture_last_block(model, images)
    assert out.grid == (6, 4)
    assert out.features.shape == (1, 24, 256)
    torch.testing.assert_close(out.attention.sum(-1), torch.ones(1, 12, 24))
    with torch.no_grad():
        rebuilt = _block_output_from_attention(model.model.blocks[-1], block_input.reshape(1, 24, -1),
                                               out.attention)
    torch.testing.assert_close(rebuilt, block_output.reshape(1, 24, -1), atol=1e-4, rtol=1e-4)


def test_configs_agree_with_the_timm_models(dino, dinov2, sam_small):
    for model in (dino, dinov2, sam_small):
        config = model.config
        assert model.model.patch_embed.patch_size == (config.patch_size, config.patch_size)
        assert model.model.embed_dim == config.embed_dim
        assert model.model.blocks[-1].attn.num_heads == config.num_heads
        assert getattr(model.model, "num_prefix_tokens", 0) == config.num_prefix_tokens
        assert model.model.num_features == config.out_dim
        assert config.default_input_size % config.patch_size == 0
        assert model.mean == config.mean and model.std == config.std
    assert set(VFM_CONFIGS) == {"dino_vitb8", "dino_vits8", "dinov2_vitb14_reg", "sam_vitb"}


def test_state_dict_round_trip_seeds_and_global_rng(dino_small):
    first = dino_small
    before = torch.random.get_rng_state()
    other = build_vfm("dino_vits8", seed=4)
    assert torch.equal(torch.random.get_rng_state(), before)
    loaded = build_vfm("dino_vits8", state_dict=first.model.state_dict(), seed=99)
    images = _images(32, 32)
    with torch.no_grad():
        a = first(images)
        b = loaded(images)
        c = other(images)
    torch.testing.assert_close(a, b, atol=0, rtol=0)
    assert not torch.allclose(a, c)
    assert not first.training and not loaded.training


def test_mismatched_state_dict_is_a_one_line_weights_error(dino_small):
    state = dict(dino_small.model.state_dict())
    state.pop("norm.weight")
    state["head.weight"] = torch.zeros(3)
    state["pos_embed"] = torch.zeros(1, 5, 384)
    with pytest.raises(WeightsError) as info:
        build_vfm("dino_vits8", state_dict=state)
    message = str(info.value)
    assert "\n" not in message
    assert "1 missing (e.g. norm.weight)" in message
    assert "1 unexpected (e.g. head.weight)" in message
    assert "1 wrongly shaped (e.g. pos_embed)" in message


def test_bad_inputs_are_input_errors(dinov2):
    with pytest.raises(InputError, match="multiple of 14"):
        dinov2.forward_layers(_images(56, 50))
    with pytest.raises(InputError, match=r"\(B, 3, H, W\)"):
        dinov2.forward_layers(torch.zeros(1, 4, 56, 56))
    with pytest.raises(InputError, match="unknown vision foundation model 'dino'"):
        build_vfm("dino")
    with pytest.raises(InputError, match="not a multiple of the patch size 16"):
        build_vfm("sam_vitb", img_size=100)
