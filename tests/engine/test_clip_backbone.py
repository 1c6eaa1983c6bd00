"""The CLIP wrapper against open_clip's own forward, naive interpolation and hand-computed attention paths."""

import copy
import math
import re

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F

from engine.backbones.clip import (
    ClipBackbone,
    InPlaceQuickGELU,
    LastBlockContext,
    build_clip,
    merge_heads_and_project,
    qkv_heads,
)
from engine.device import Runtime
from engine.errors import InputError, WeightsError


@pytest.fixture(scope="module")
def clip_b16() -> ClipBackbone:
    return build_clip("ViT-B-16", seed=0)


@pytest.fixture(scope="module")
def image224() -> torch.Tensor:
    return torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))


def test_attributes(clip_b16):
    assert clip_b16.arch == "ViT-B-16"
    assert (clip_b16.patch_size, clip_b16.width, clip_b16.embed_dim) == (16, 768, 512)
    assert (clip_b16.num_layers, clip_b16.heads, clip_b16.context_length) == (12, 12, 77)
    assert clip_b16.mean == pytest.approx(open_clip.OPENAI_DATASET_MEAN)
    assert clip_b16.std == pytest.approx(open_clip.OPENAI_DATASET_STD)
    assert clip_b16.tokenizer(["a photo of a field."]).shape == (1, 77)
    towers = [*clip_b16.blocks, *clip_b16.model.transformer.resblocks]
    assert all(isinstance(block.mlp.gelu, InPlaceQuickGELU) for block in towers)


def test_in_place_quick_gelu_is_open_clips_quick_gelu_bit_for_bit():
    x = torch.randn(3, 7, 64, generator=torch.Generator().manual_seed(4)) * 4
    expected = open_clip.transformer.QuickGELU()(x)
    assert torch.equal(InPlaceQuickGELU()(x.clone()), expected)
    assert torch.equal(InPlaceQuickGELU()(x.bfloat16()), open_clip.transformer.QuickGELU()(x.bfloat16()))


def test_layers_equal_open_clip_forward(clip_b16, image224):
    visual = clip_b16.model.visual
    seen_inputs = []
    hooks = [
        block.register_forward_pre_hook(lambda _module, args: seen_inputs.append(args[0]))
        for block in visual.transformer.resblocks
    ]
    try:
        with torch.no_grad():
            visual.output_tokens = True
            pooled, tokens = visual(image224)
    finally:
        visual.output_tokens = False
        for hook in hooks:
            hook.remove()

    out = clip_b16.encode_image_layers(image224)
    assert out.grid == (14, 14)
    assert len(out.block_inputs) == len(out.attentions) == 12
    for ours, theirs in zip(out.block_inputs, seen_inputs, strict=True):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    dense = clip_b16.project(out.last)
    assert dense.shape == (1, 197, 512)
    torch.testing.assert_close(dense[:, 0], pooled, atol=1e-5, rtol=0)
    with torch.no_grad():
        torch.testing.assert_close(dense[:, 1:], tokens @ visual.proj, atol=1e-5, rtol=0)


def test_attention_maps_are_torch_multihead_weights_per_head(clip_b16):
    images = torch.randn(2, 3, 48, 64, generator=torch.Generator().manual_seed(2))
    out = clip_b16.encode_image_layers(images)
    assert out.grid == (3, 4)
    for block, x, probs in zip(clip_b16.blocks, out.block_inputs, out.attentions, strict=True):
        normed = block.ln_1(x)
        with torch.no_grad():
            _, expected = block.attn(normed, normed, normed, need_weights=True, average_attn_weights=False)
        assert probs.shape == (2, 12, 13, 13)
        torch.testing.assert_close(probs, expected, atol=1e-6, rtol=0)
        torch.testing.assert_close(probs.sum(-1), torch.ones(2, 12, 13))


def test_need_attention_false_gives_the_same_tokens(clip_b16):
    images = torch.randn(1, 3, 32, 48, generator=torch.Generator().manual_seed(3))
    with_maps = clip_b16.encode_image_layers(images)
    without = clip_b16.encode_image_layers(images, need_attention=False)
    assert without.attentions == []
    torch.testing.assert_close(without.last, with_maps.last, atol=1e-5, rtol=0)


def test_qkv_heads_and_merge_match_packed_weights(clip_b16):
    block = clip_b16.blocks[3]
    x = torch.randn(2, 5, 768, generator=torch.Generator().manual_seed(4))
    q, k, v = qkv_heads(block, x)
    weight, bias = block.attn.in_proj_weight, block.attn.in_proj_bias
    with torch.no_grad():
        for index, got in enumerate((q, k, v)):
            rows = slice(index * 768, (index + 1) * 768)
            flat = x @ weight[rows].T + bias[rows]  # (2, 5, 768): head h is columns h*64 .. h*64+63
            for head in (0, 7, 11):
                torch.testing.assert_close(got[:, head], flat[..., head * 64 : (head + 1) * 64])
        merged = merge_heads_and_project(block, v)
        torch.testing.assert_close(merged, block.attn.out_proj(x @ weight[1536:].T + bias[1536:]))


def test_replaced_last_block_identity_attention(clip_b16):
    """MaskCLIP's value path: identity attention, out_proj(v), no residual or MLP."""
    images = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    contexts = []

    def value_path(context: LastBlockContext) -> torch.Tensor:
        contexts.append(context)
        _, _, v = qkv_heads(context.block, context.block.ln_1(context.x))
        return merge_heads_and_project(context.block, v)

    out = clip_b16.encode_image_layers(images, last_block=value_path)
    assert len(out.block_inputs) == 12
    assert len(out.attentions) == 11
    (context,) = contexts
    assert context.block is clip_b16.blocks[-1]
    assert context.x is out.block_inputs[-1]
    assert context.grid == (2, 2)

    block = clip_b16.blocks[-1]
    with torch.no_grad():
        x = out.block_inputs[-1][0].double()
        mean, var = x.mean(-1, keepdim=True), x.var(-1, unbiased=False, keepdim=True)
        normed = (x - mean) / torch.sqrt(var + block.ln_1.eps) * block.ln_1.weight.double() + block.ln_1.bias
        v = normed @ block.attn.in_proj_weight[1536:].double().T + block.attn.in_proj_bias[1536:].double()
        expected = v @ block.attn.out_proj.weight.double().T + block.attn.out_proj.bias.double()
    torch.testing.assert_close(out.last[0].double(), expected, atol=1e-4, rtol=1e-5)
    assert not torch.allclose(out.last, clip_b16.encode_image_layers(images, need_attention=False).last)


def _interp_matrix(n_in: int, n_out: int, mode: str, scale: float) -> np.ndarray:
    """1-D resampling matrix (n_out, n_in): half-pixel centres, source = (i + 0.5) / scale - 0.5."""
    matrix = np.zeros((n_out, n_in))
    a = -0.75  # torch's bicubic kernel
    for i in range(n_out):
        src = (i + 0.5) / scale - 0.5
        if mode == "bilinear":
            src = max(src, 0.0)
            lo = min(math.floor(src), n_in - 1)
            frac = src - lo
            matrix[i, lo] += 1 - frac
            matrix[i, min(lo + 1, n_in - 1)] += frac
        else:
            lo = math.floor(src)
            t = src - lo
            for offset in (-1, 0, 1, 2):
                d = abs(t - offset)
                if d <= 1:
                    w = ((a + 2) * d - (a + 3)) * d * d + 1
                else:
                    w = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
                matrix[i, min(max(lo + offset, 0), n_in - 1)] += w
    return matrix


@pytest.mark.parametrize("grid", [(20, 17), (3, 5)])
def test_pos_embed_resizes_follow_the_reference_rules(clip_b16, grid):
    table = clip_b16.model.visual.positional_embedding.detach().double().numpy()
    patches = table[1:].reshape(14, 14, -1)
    # SDCI: bilinear to the target size (scale = out / in)
    rows, cols = (_interp_matrix(14, n, "bilinear", n / 14) for n in grid)
    expected = np.einsum("ai,ijc,bj->abc", rows, patches, cols).reshape(-1, table.shape[1])
    got = clip_b16.pos_embed(grid, "bilinear")
    assert got.shape == (1 + grid[0] * grid[1], 768)
    np.testing.assert_allclose(got[0].numpy(), table[0], atol=1e-7)
    np.testing.assert_allclose(got[1:].numpy(), expected, atol=1e-5)
    # SegEarth-OV: bicubic with scale_factor (g + 0.1) / 14, which also sets the sampling positions
    rows, cols = (_interp_matrix(14, n, "bicubic", (n + 0.1) / 14) for n in grid)
    expected = np.einsum("ai,ijc,bj->abc", rows, patches, cols).reshape(-1, table.shape[1])
    np.testing.assert_allclose(clip_b16.pos_embed(grid, "bicubic")[1:].numpy(), expected, atol=1e-5)
    # the scale-factor rule is not a resize by size
    by_size = F.interpolate(
        torch.from_numpy(patches).permute(2, 0, 1)[None], size=grid, mode="bicubic", align_corners=False
    )
    assert not np.allclose(by_size[0].permute(1, 2, 0).reshape(-1, 768).numpy(), expected, atol=1e-4)


@pytest.mark.parametrize("grid", [(37, 37), (14, 14)])
def test_sdci_pos_embed_is_the_bilinear_table_rounded_to_fp16(clip_b16, grid):
    """SDCI's ``upsample_pos_emb(...).half()``: the whole table, CLS row included, on any grid and device."""
    exact = clip_b16.pos_embed(grid, "bilinear")
    rounded = clip_b16.pos_embed(grid, "bilinear_fp16")
    assert rounded.dtype == exact.dtype == torch.float32
    assert torch.equal(rounded, exact.half().float())
    assert torch.equal(rounded[0], clip_b16.model.visual.positional_embedding[0].detach().half().float())
    changed = (rounded != exact).float().mean()
    assert changed > 0.9  # random fp32 values are almost never fp16 numbers
    assert (rounded - exact).abs().max() <= exact.abs().max() * 2.0**-11


def test_pos_embed_native_grid_unchanged_and_cached(clip_b16):
    native = clip_b16.model.visual.positional_embedding
    for mode in ("bicubic", "bilinear"):
        assert torch.equal(clip_b16.pos_embed((14, 14), mode), native)
    first = clip_b16.pos_embed((6, 9), "bicubic")
    assert clip_b16.pos_embed((6, 9), "bicubic") is first
    assert clip_b16.pos_embed((6, 9), "bilinear") is not first


def test_bad_inputs(clip_b16):
    with pytest.raises(InputError, match="image size 40x32 is not a multiple of the CLIP patch size 16"):
        clip_b16.encode_image_layers(torch.zeros(1, 3, 40, 32))
    with pytest.raises(InputError, match=r"CLIP expects images shaped \(B, 3, H, W\)"):
        clip_b16.encode_image_layers(torch.zeros(3, 32, 32))
    with pytest.raises(InputError, match="unknown position-embedding resize 'nearest'"):
        clip_b16.encode_image_layers(torch.zeros(1, 3, 32, 32), pos_resize="nearest")
    with pytest.raises(InputError, match="unknown CLIP architecture 'ViT-H-14'"):
        build_clip("ViT-H-14")


def test_build_is_seeded_loads_state_dicts_and_rejects_misfits(clip_b16):
    before = torch.random.get_rng_state()
    reference = clip_b16.model.state_dict()
    loaded = build_clip("ViT-B-16", state_dict=reference, seed=7)
    assert torch.equal(torch.random.get_rng_state(), before)
    for key, value in loaded.model.state_dict().items():
        assert torch.equal(value, reference[key]), key

    broken = dict(reference)
    del broken["visual.proj"]
    broken["visual.conv1.weight"] = torch.zeros(768, 3, 14, 14)
    broken["extra.weight"] = torch.zeros(1)
    message = (
        "the weights do not fit CLIP ViT-B-16: 1 missing (e.g. visual.proj), "
        "1 unexpected (e.g. extra.weight), 1 wrongly shaped (e.g. visual.conv1.weight)"
    )
    with pytest.raises(WeightsError, match=re.escape(message)):
        build_clip("ViT-B-16", state_dict=broken)


def test_same_seed_same_weights_other_seed_other_weights(clip_b16):
    again = build_clip("ViT-B-16", seed=0)
    other = build_clip("ViT-B-16", seed=1)
    key = "visual.transformer.resblocks.0.attn.in_proj_weight"
    assert torch.equal(again.model.state_dict()[key], clip_b16.model.state_dict()[key])
    assert not torch.equal(other.model.state_dict()[key], clip_b16.model.state_dict()[key])


def test_bf16_weights_match_fp32_features(clip_b16):
    images = torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(7))
    fp32 = clip_b16.project(clip_b16.encode_image_layers(images, need_attention=False).last)
    bf16_model = Runtime(torch.device("cpu"), torch.bfloat16).prepare(copy.deepcopy(clip_b16))
    assert bf16_model.dtype == torch.bfloat16
    out = bf16_model.encode_image_layers(images)
    assert out.attentions[0].dtype == torch.bfloat16
    bf16 = bf16_model.project(out.last).float()
    cosine = F.cosine_similarity(bf16, fp32, dim=-1)
    assert cosine.min() > 0.99, f"min cosine {cosine.min():.5f}"


@pytest.mark.slow
def test_vit_l14_at_sdci_resolution():
    clip = build_clip("ViT-L-14", seed=0)
    assert (clip.patch_size, clip.width, clip.embed_dim) == (14, 1024, 768)
    assert (clip.num_layers, clip.heads) == (24, 16)
    image = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        pooled = clip.model.visual(image)
    dense = clip.project(clip.encode_image_layers(image).last)
    torch.testing.assert_close(dense[:, 0], pooled, atol=1e-5, rtol=0)
    out = clip.encode_image_layers(torch.zeros(1, 3, 518, 518), need_attention=False, pos_resize="bilinear")
    assert out.grid == (37, 37)
    assert out.last.shape == (1, 1 + 37 * 37, 1024)
