"""SimFeatUp's JBU upsamplers: the bicubic matrices, the tiled stage against the former two-pass formula
(full-resolution kernels, then a shifted sum over the bicubic map) and against a reference written the way the
official code computes it (unfold + einsum), the real jbu_stack checkpoint, and derived properties."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.backbones.upsamplers import JBULearnedRange, bicubic_matrix, build_upsampler
from engine.errors import InputError, WeightsError

CLIP_MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
CLIP_STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def checkpoint_state(shared_data):
    path = shared_data / "weights" / "clip_jbu_stack_cocostuff.ckpt"
    if not path.exists():
        pytest.skip(f"{path} not found")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    return {key.removeprefix("upsampler."): value for key, value in ckpt["state_dict"].items()}


def _unfold_einsum(padded, kernels):
    """The official pure-PyTorch formulation (FeatUp's ``adaptive_conv_py_simple``), rewritten here."""
    b, c = padded.shape[:2]
    _, h, w, d, _ = kernels.shape
    patches = F.unfold(padded, d).view(b, c, d * d, h, w)
    return torch.einsum("bhwf,bcfhw->bchw", kernels.reshape(b, h, w, d * d), patches)


def _shifted_sum_stage(stage, source, guidance):
    """The original two-pass formula in float64, with loops over the offsets: kernels at full resolution,
    then ``sum_q k(p, q) * reflect_pad(bicubic(source))(p + q)`` as shifted slices (the former code)."""
    stage = copy.deepcopy(stage).double()
    source, guidance = source.double(), guidance.double()
    r, d = stage.radius, stage.diameter
    (b, c), (h, w) = source.shape[:2], guidance.shape[-2:]
    keys = stage.range_proj(guidance)
    padded_keys = F.pad(keys, [r] * 4, mode="reflect")
    logits = torch.stack([(padded_keys[:, :, i:i + h, j:j + w] * keys).sum(1)
                          for i in range(d) for j in range(d)], dim=1)
    range_kernel = torch.softmax(stage.range_temp.exp() * logits, dim=1)
    offsets = np.linspace(-1, 1, d)
    sigma = stage.sigma_spatial.item()
    spatial = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * sigma**2))
    combined = range_kernel * torch.tensor(spatial).reshape(1, -1, 1, 1)
    combined = combined / combined.sum(1, keepdim=True)
    kernels = combined + 0.1 * stage.fixup_proj(torch.cat([combined, guidance], 1))
    padded = F.pad(F.interpolate(source, (h, w), mode="bicubic", align_corners=False), [r] * 4, mode="reflect")
    out = torch.zeros(b, c, h, w, dtype=torch.float64)
    for i in range(d):
        for j in range(d):
            out += kernels[:, i * d + j:i * d + j + 1] * padded[:, :, i:i + h, j:j + w]
    return out


def test_bicubic_matrix_is_torch_bicubic_resizing():
    image = _randn(2, 3, 7, 5, seed=1).double()
    for size in [(14, 10), (15, 11), (6, 4)]:
        rows, cols = bicubic_matrix(7, size[0]), bicubic_matrix(5, size[1])
        assert rows.shape == (size[0], 7)
        expected = F.interpolate(image, size, mode="bicubic", align_corners=False)
        torch.testing.assert_close(rows @ image @ cols.T, expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("radius", [3, 5])
@pytest.mark.parametrize(("lr", "hr"), [((7, 9), (14, 18)), ((5, 6), (17, 13))])
@pytest.mark.parametrize("chunk_pixels", [4096, 1])
@pytest.mark.parametrize("sigma", [0.6, 0.2])
def test_tiled_stage_equals_the_shifted_sum_formula(radius, lr, hr, *, chunk_pixels, sigma, monkeypatch):
    """Odd, non-square sizes: several tiles per axis, the last one overlapping, x2 and other ratios, one row
    of tiles or all of them per chunk, two images; a Gaussian whose smallest value is above the normalisation's
    clamp (one softmax with log s) and one below it (softmax, times s, normalised with the clamp)."""
    monkeypatch.setattr(JBULearnedRange, "chunk_pixels", chunk_pixels)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(radius)
        stage = JBULearnedRange(3, 6, key_dim=8, radius=radius).eval()
    with torch.no_grad():
        stage.range_temp.fill_(0.8)
        stage.sigma_spatial.fill_(sigma)
        assert (stage._log_spatial() is None) == (stage.spatial_kernel().min() < 1e-7) == (sigma == 0.2)
        source, guidance = _randn(2, 6, *lr, seed=17), _randn(2, 3, *hr, seed=18)
        actual = stage(source, guidance)
        expected = _shifted_sum_stage(stage, source, guidance)
    assert actual.shape == (2, 6, *hr)
    assert actual.is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_allclose(actual.double().numpy(), expected.numpy(), atol=2e-6, rtol=1e-5)


def test_one_stage_matches_the_official_formulation():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        stage = JBULearnedRange(3, 4, key_dim=8, radius=2).eval()
    with torch.no_grad():
        stage.range_temp.fill_(0.4)
        stage.sigma_spatial.fill_(0.7)
    source = _randn(1, 4, 3, 4, seed=5)
    guidance = _randn(1, 3, 6, 8, seed=6)
    r, d = 2, 5
    with torch.no_grad():
        keys = stage.range_proj(guidance)
        queries = F.unfold(F.pad(keys, [r] * 4, mode="reflect"), d).view(1, 8, d * d, 6, 8)
        logits = torch.einsum("bkphw,bkhw->bphw", queries, keys)
        range_kernel = torch.softmax(np.exp(0.4) * logits, dim=1)
        offsets = np.linspace(-1, 1, d)
        spatial = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * 0.7**2))
        combined = range_kernel * torch.tensor(spatial, dtype=torch.float32).reshape(1, -1, 1, 1)
        combined = combined / combined.sum(1, keepdim=True)
        combined = combined + 0.1 * stage.fixup_proj(torch.cat([combined, guidance], 1))
        kernels = combined.permute(0, 2, 3, 1).reshape(1, 6, 8, d, d)
        hr = F.interpolate(source, (6, 8), mode="bicubic", align_corners=False)
        expected = _unfold_einsum(F.pad(hr, [r] * 4, mode="reflect"), kernels)
        actual = stage(source, guidance)
    assert actual.shape == (1, 4, 6, 8)
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


def test_real_jbu_stack_checkpoint_loads_strictly_and_upsamples_a_real_image(checkpoint_state, shared_data):
    from PIL import Image

    upsampler = build_upsampler("jbu_stack", 512, state_dict=checkpoint_state)
    assert sum(p.numel() for p in upsampler.parameters()) == sum(v.numel() for v in checkpoint_state.values())
    rgb = np.asarray(Image.open(shared_data / "potsdam" / "img" / "2_10_0_0_512_512.png").convert("RGB"))
    image = torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1)[None]
    guidance = (F.interpolate(image, (128, 128), mode="bilinear", antialias=True) - CLIP_MEAN) / CLIP_STD
    # features that follow the image (a random projection of the pooled colours) plus noise
    projection = _randn(512, 3, seed=7)
    features = torch.einsum("oc,bchw->bohw", projection, F.adaptive_avg_pool2d(guidance, 8))
    features = features + 0.5 * _randn(1, 512, 8, 8, seed=8)
    with torch.no_grad():
        out = upsampler(features, guidance)
    assert out.shape == (1, 512, 128, 128)
    assert torch.isfinite(out).all()
    bilinear = F.interpolate(features, (128, 128), mode="bilinear", align_corners=False)
    noise = features.mean() + features.std() * _randn(1, 512, 128, 128, seed=9)
    to_bilinear = ((out - bilinear).norm() / bilinear.norm()).item()
    to_noise = ((out - noise).norm() / noise.norm()).item()
    assert to_bilinear < 0.5
    assert to_noise > 1.0
    assert F.cosine_similarity(out, bilinear, dim=1).mean() > 0.9


def test_constant_guidance_makes_a_stage_a_fixed_convolution(checkpoint_state):
    """Constant guidance: equal keys, so a uniform range kernel; the kernel is then the normalised spatial
    Gaussian plus 0.1 x the (pixel-independent) fixup, the same at every pixel: a depthwise convolution."""
    stage = build_upsampler("jbu_stack", 512, state_dict=checkpoint_state).up1
    sigma = stage.sigma_spatial.item()
    source = _randn(1, 5, 4, 5, seed=10)
    guidance = torch.tensor([0.3, -0.2, 0.1]).view(1, 3, 1, 1).expand(1, 3, 8, 10).contiguous()
    offsets = np.linspace(-1, 1, 7)
    spatial = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * sigma**2))
    gaussian = torch.tensor(spatial / spatial.sum(), dtype=torch.float32).reshape(1, 49, 1, 1)
    with torch.no_grad():
        fixup = stage.fixup_proj(torch.cat([gaussian, guidance[:, :, :1, :1]], 1))
        kernel = (gaussian + 0.1 * fixup).reshape(1, 1, 7, 7).expand(5, 1, 7, 7)
        hr = F.interpolate(source, (8, 10), mode="bicubic", align_corners=False)
        expected = F.conv2d(F.pad(hr, [3] * 4, mode="reflect"), kernel, groups=5)
        actual = stage(source, guidance)
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


def test_without_fixup_constant_guidance_is_a_normalised_blur_that_keeps_constants():
    upsampler = build_upsampler("jbu_one", 3, seed=1)
    stage = upsampler.up
    with torch.no_grad():
        stage.fixup_proj[3].weight.zero_()
        stage.fixup_proj[3].bias.zero_()
        constant = torch.full((1, 3, 6, 6), 2.5)
        out = stage(constant, torch.ones(1, 3, 12, 12))
    torch.testing.assert_close(out, torch.full((1, 3, 12, 12), 2.5), atol=1e-5, rtol=1e-5)


def test_jbu_one_shares_one_stage_and_upsamples_x16_whatever_the_guidance_size():
    upsampler = build_upsampler("jbu_one", 16, seed=0)
    assert {key.split(".")[0] for key in upsampler.state_dict()} == {"up", "fixup_proj"}
    assert upsampler.stage_names == ("up",) * 4
    features = _randn(2, 16, 4, 3, seed=11)
    guidance = _randn(2, 3, 60, 50, seed=12)
    with torch.no_grad():
        out = upsampler(features, guidance)
        manual = features
        for _ in range(4):
            h, w = manual.shape[-2:]
            manual = upsampler.up(manual, F.adaptive_avg_pool2d(guidance, (2 * h, 2 * w)))
        manual = manual + 0.1 * upsampler.fixup_proj(manual)
    assert out.shape == (2, 16, 64, 48)
    # the final fixup's channel mixing runs before the (per-channel linear) stages: equal up to rounding
    torch.testing.assert_close(out, manual, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("kind", "radius"), [("jbu_one", 5), ("jbu_stack", 3)])
def test_parameter_counts_follow_the_architecture(kind, radius):
    dim, key_dim, taps = 512, 32, (2 * radius + 1) ** 2
    stage = (key_dim * 3 + key_dim) + (key_dim * key_dim + key_dim) + (taps * (3 + taps) + taps) \
        + (taps * taps + taps) + 2
    stages = 1 if kind == "jbu_one" else 4
    upsampler = build_upsampler(kind, dim)
    assert sum(p.numel() for p in upsampler.parameters()) == stages * stage + dim * dim + dim


def test_round_trip_seeds_and_global_rng():
    before = torch.random.get_rng_state()
    first = build_upsampler("jbu_stack", 8, seed=0)
    assert torch.equal(torch.random.get_rng_state(), before)
    loaded = build_upsampler("jbu_stack", 8, state_dict=first.state_dict(), seed=5)
    other = build_upsampler("jbu_stack", 8, seed=1)
    features, guidance = _randn(1, 8, 4, 4, seed=13), _randn(1, 3, 64, 64, seed=14)
    with torch.no_grad():
        a, b, c = first(features, guidance), loaded(features, guidance), other(features, guidance)
    torch.testing.assert_close(a, b, atol=0, rtol=0)
    assert not torch.allclose(a, c)


def test_errors(checkpoint_state):
    with pytest.raises(WeightsError, match="do not fit jbu_one") as info:
        build_upsampler("jbu_one", 512, state_dict=checkpoint_state)
    assert "\n" not in str(info.value)
    with pytest.raises(InputError, match="unknown upsampler 'bilinear'"):
        build_upsampler("bilinear", 512)
    upsampler = build_upsampler("jbu_one", 4)
    with pytest.raises(InputError, match="too small"):
        upsampler(_randn(1, 4, 2, 2), _randn(1, 3, 32, 32))
    with pytest.raises(InputError, match="upsampler expects"):
        upsampler(_randn(2, 4, 4, 4), _randn(1, 3, 64, 64))


def test_runs_in_the_modules_dtype():
    upsampler = build_upsampler("jbu_stack", 8, seed=2)
    features, guidance = _randn(1, 8, 3, 3, seed=15), _randn(1, 3, 48, 48, seed=16)
    with torch.no_grad():
        reference = upsampler(features, guidance)
        low = upsampler.to(torch.bfloat16)(features.bfloat16(), guidance.bfloat16())
    assert low.dtype == torch.bfloat16
    assert ((low.float() - reference).abs().max() / reference.abs().max()).item() < 0.05


@pytest.mark.parametrize("kind", ["jbu_one", "jbu_stack"])
def test_batch_equals_images_one_by_one_with_chunks_spanning_images(kind, monkeypatch):
    """Three images, chunks of three tile rows (a chunk ends inside one image and goes on in the next)."""
    upsampler = build_upsampler(kind, 8, seed=4)
    monkeypatch.setattr(JBULearnedRange, "chunk_pixels", 3 * 8 * 48)
    features, guidance = _randn(3, 8, 3, 3, seed=5), _randn(3, 3, 48, 48, seed=6)
    with torch.no_grad():
        batched = upsampler(features, guidance)
        alone = torch.cat([upsampler(features[i:i + 1], guidance[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(batched, alone, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize(("channels", "grid"), [(40, (3, 4)), (9, (3, 4))])
def test_low_rank_output_equals_the_dense_output(channels, grid):
    """Coordinates in the patch basis (12 < 40 channels) or the identity basis (12 >= 9): same features,
    dot products and norms as ``forward``."""
    upsampler = build_upsampler("jbu_one", channels, seed=7)
    with torch.no_grad():
        upsampler.fixup_proj[1].bias.normal_(generator=torch.Generator().manual_seed(1))
        features, guidance = _randn(2, channels, *grid, seed=8), _randn(2, 3, 16 * grid[0], 16 * grid[1], seed=9)
        dense = upsampler(features, guidance).flatten(2).transpose(1, 2)
        low_rank = upsampler.forward_low_rank(features, guidance)
    vectors = _randn(5, channels, seed=10)
    assert low_rank.coords.shape[-1] == min(channels, grid[0] * grid[1])
    torch.testing.assert_close(low_rank.dense(), dense, atol=1e-5, rtol=1e-5)
    per_image = _randn(2, 5, channels, seed=11)
    pending = upsampler.forward_pending(features, guidance)
    for features_of in (low_rank, pending):  # the last stage fused with the products: the same values
        dots, norms = features_of.dots_and_norms(vectors)
        torch.testing.assert_close(dots, dense @ vectors.T, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(norms, dense.norm(dim=-1, keepdim=True), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(features_of.dots_and_norms(per_image)[0], dense @ per_image.transpose(1, 2),
                                   atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(pending.dense(), dense, atol=1e-5, rtol=1e-5)


def test_the_fused_last_stage_gives_the_products_of_the_finished_features_in_bf16(monkeypatch):
    """Chunks of two tile rows spanning images; the fused stage reduces each chunk's bf16 output in float32,
    as the finished coordinates are read."""
    monkeypatch.setattr(JBULearnedRange, "chunk_pixels", 2 * 8 * 64)
    upsampler = build_upsampler("jbu_one", 32, seed=12).to(torch.bfloat16)
    features, guidance = _randn(3, 32, 4, 4, seed=13).bfloat16(), _randn(3, 3, 64, 64, seed=14).bfloat16()
    vectors = _randn(4, 32, seed=15)
    with torch.no_grad():
        finished = upsampler.forward_low_rank(features, guidance).dots_and_norms(vectors)
        fused = upsampler.forward_pending(features, guidance).dots_and_norms(vectors)
    for a, b in zip(fused, finished, strict=True):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
