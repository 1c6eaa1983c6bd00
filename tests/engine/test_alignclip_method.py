"""The AlignCLIP family (segearth-ov, alignclip-d, alignclip-s) at method level, random weights, on the CPU.

Equations of the ops (SGA, CCE, fusion, K-means, sliding windows) are tested in tests/engine/test_ops_*.py;
here: the method's own pieces against naive computations, the identities that tie the variants together
(alpha = 0 and beta = 0 give the baseline exactly), the upsampler choice and its fallback, and runs on the
real LoveDA and Vaihingen samples. Small geometry (64 px windows) keeps the default run fast.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import InputError, MissingWeightsError
from engine.labels import load_preset
from engine.methods.alignclip import (
    AlignClipMethod,
    class_probabilities,
    dense_logits,
    make_config,
    segearth_last_block,
)
from engine.methods.base import available_methods, create_method

SMALL = {"long_side": 96, "crop": 64, "stride": 32, "templates": "sdci_rs"}
JBU_STACK = "weights/clip_jbu_stack_cocostuff.ckpt"


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One torch thread, no autograd: the shared 2-core machine runs several test processes at once."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with torch.no_grad():
        yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def labels():
    """LoveDA with SegEarth-OV's names: 7 classes, 9 prompts (building has three), background 0."""
    return load_preset("loveda-segearth").labels


@pytest.fixture(scope="module")
def baseline(labels) -> AlignClipMethod:
    """segearth-ov, random weights, fp32, small geometry."""
    method = create_method("segearth-ov", weights="random", precision="fp32", params=SMALL)
    method.prepare(labels)
    return method


@pytest.fixture(scope="module")
def dino(labels) -> AlignClipMethod:
    """alignclip-d with the same CLIP (same seed) and templates as ``baseline``."""
    method = create_method("alignclip-d", weights="random", precision="fp32", params=SMALL)
    method.prepare(labels)
    return method


@pytest.fixture
def restore_config(baseline: AlignClipMethod, dino: AlignClipMethod) -> Iterator[None]:
    """Tests may swap the fixtures' configs; put them back afterwards."""
    saved = (baseline.config, dino.config)
    yield
    baseline.config, dino.config = saved


def rgb_tile(seed: int, h: int = 80, w: int = 100) -> np.ndarray:
    """A smooth random RGB tile in 0..255 (blocks of colour, like land cover)."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (3, h // 20 + 1, w // 20 + 1))
    return np.kron(coarse, np.ones((1, 20, 20)))[:, :h, :w].astype(np.float32)


def read_png(path: Path) -> np.ndarray:
    """An RGB PNG as a (3, H, W) float32 array in 0..255."""
    from skimage.io import imread

    return np.moveaxis(imread(path)[..., :3], -1, 0).astype(np.float32)


def test_registered() -> None:
    assert {"segearth-ov", "alignclip-d", "alignclip-s"} <= set(available_methods())


def test_last_block_matches_naive_attention(baseline: AlignClipMethod) -> None:
    """Eq. 2: softmax(qq^T s) + softmax(kk^T s) + softmax(vv^T s) applied to v, out_proj, no residual/MLP."""
    from engine.backbones.clip import LastBlockContext

    block = baseline.clip.blocks[-1]
    x = torch.randn(1, 5, baseline.clip.width, generator=torch.Generator().manual_seed(0))
    got = segearth_last_block(LastBlockContext(block, x, [x], [], (2, 2)))[0].double().numpy()

    attn = block.attn
    heads, width = attn.num_heads, baseline.clip.width
    hd = width // heads
    xn = block.ln_1(x)[0].double().detach().numpy()
    w_in = attn.in_proj_weight.double().detach().numpy()
    b_in = attn.in_proj_bias.double().detach().numpy()
    q, k, v = (xn @ w_in[i * width:(i + 1) * width].T + b_in[i * width:(i + 1) * width] for i in range(3))

    def softmax(m: np.ndarray) -> np.ndarray:
        e = np.exp(m - m.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    out = np.zeros((5, width))
    for h in range(heads):
        cols = slice(h * hd, (h + 1) * hd)
        total = sum(softmax(m[:, cols] @ m[:, cols].T / np.sqrt(hd)) for m in (q, k, v))
        out[:, cols] = total @ v[:, cols]
    expected = out @ attn.out_proj.weight.double().detach().numpy().T + attn.out_proj.bias.double().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_dense_logits_cls_bias_removal() -> None:
    """logits[i, q] = cos(f_i, t_q) + lambda cos(CLS, t_q), for shared and per-window text."""
    g = torch.Generator().manual_seed(1)
    feats, cls_token = torch.randn(2, 6, 4, generator=g) * 5, torch.randn(2, 4, generator=g)
    text = torch.nn.functional.normalize(torch.randn(3, 4, generator=g), dim=-1)

    def cos(a: torch.Tensor, b: torch.Tensor) -> float:
        return float(a @ b / (a.norm() * b.norm()))

    got = dense_logits(feats, cls_token, text, -0.3)
    for n in range(2):
        for i in range(6):
            for q in range(3):
                want = cos(feats[n, i], text[q]) - 0.3 * cos(cls_token[n], text[q])
                assert abs(float(got[n, i, q]) - want) < 1e-5
    per_window = dense_logits(feats, cls_token, text.expand(2, 3, 4), -0.3)
    torch.testing.assert_close(per_window, got)
    no_bias = dense_logits(feats, cls_token, text, 0.0)
    assert not torch.allclose(no_bias, got)


def test_class_probabilities_max_over_prompts_and_background_threshold() -> None:
    """SegEarth-OV's postprocess: softmax(50 x) over queries, max per class, prob_thd -> background."""
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(5, 4, 6, generator=g) * 0.05
    owners = torch.tensor([0, 1, 1, 2, 2])
    got = class_probabilities(logits, owners, 3, 50.0, prob_thd=0.45, background=0).numpy()

    x = logits.double().numpy() * 50.0
    soft = np.exp(x - x.max(axis=0)) / np.exp(x - x.max(axis=0)).sum(axis=0)
    per_class = np.stack([soft[0], np.maximum(soft[1], soft[2]), np.maximum(soft[3], soft[4])])
    np.testing.assert_allclose(got.sum(axis=0), 1.0, atol=1e-6)
    low = per_class.max(axis=0) < 0.45
    assert low.any() and (~low).any()
    expected_pred = np.where(low, 0, per_class.argmax(axis=0))
    np.testing.assert_array_equal(got.argmax(axis=0), expected_pred)
    kept = ~low
    np.testing.assert_allclose(got[:, kept], (per_class / per_class.sum(axis=0))[:, kept], rtol=1e-5)
    np.testing.assert_array_equal(got[0, low], 1.0)
    without_bg = class_probabilities(logits, owners, 3, 50.0, prob_thd=0.45, background=None).numpy()
    np.testing.assert_array_equal(without_bg.argmax(axis=0), per_class.argmax(axis=0))


def test_params_are_checked() -> None:
    assert make_config("alignclip-s", {"alpha": 0.5}).alpha == 0.5
    assert make_config("segearth-ov").templates == "openai_imagenet"
    assert make_config("alignclip-d").templates == "alignclip_rs"
    with pytest.raises(InputError, match="unknown parameter 'alhpa'"):
        make_config("alignclip-d", {"alhpa": 0.5})
    with pytest.raises(InputError, match="alpha and beta"):
        make_config("alignclip-d", {"beta": 1.5})
    with pytest.raises(InputError, match="upsampler must be one of"):
        make_config("segearth-ov", {"upsampler": "nearest"})
    assert make_config("alignclip-d", {"vfm": None}).vfm is None  # CCE off, as REPRODUCE.md's ablation
    assert make_config("alignclip-d", {"vfm_input": 224}).vfm_input == 224
    with pytest.raises(InputError, match="alignclip-d parameter alpha must be a float"):
        make_config("alignclip-d", {"alpha": "high"})


def test_predict_contract_and_determinism(baseline: AlignClipMethod, dino: AlignClipMethod) -> None:
    tile = rgb_tile(3)
    for method in (baseline, dino):
        probs = method.predict(tile)
        assert probs.shape == (7, 80, 100) and probs.dtype == np.float32
        assert (probs >= 0).all()
        np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-5)
        np.testing.assert_array_equal(method.predict(tile), probs)
    with pytest.raises(InputError, match="RGB tile"):
        baseline.predict(tile[:2])


@pytest.mark.usefixtures("restore_config")
def test_alpha_and_beta_zero_is_the_baseline_exactly(baseline: AlignClipMethod, dino: AlignClipMethod) -> None:
    """SGA alpha = 0 and fusion beta = 0: the full alignclip-d (VFM, K-means, CCE run) equals segearth-ov."""
    tile = rgb_tile(4)
    dino.config = replace(dino.config, alpha=0.0, beta=0.0)
    np.testing.assert_array_equal(dino.predict(tile), baseline.predict(tile))
    dino.config = replace(dino.config, beta=0.5)
    assert not np.allclose(dino.predict(tile), baseline.predict(tile), atol=1e-4)


@pytest.mark.usefixtures("restore_config")
def test_beta_zero_is_the_upsampled_logits_with_aligned_text(
    baseline: AlignClipMethod, dino: AlignClipMethod
) -> None:
    """beta = 0 leaves S_up (with SGA's T') untouched; SGA itself does change the result."""
    tile = rgb_tile(5)
    plain = baseline.predict(tile)
    baseline.config = replace(baseline.config, alpha=0.6)
    dino.config = replace(dino.config, alpha=0.6, beta=0.0)
    aligned = baseline.predict(tile)
    np.testing.assert_array_equal(dino.predict(tile), aligned)
    assert not np.allclose(aligned, plain, atol=1e-4)


def test_constant_image_does_not_depend_on_tile_position(dino: AlignClipMethod) -> None:
    """Two tiles cut at different places of a constant raster give the same, finite probabilities."""
    raster = np.full((3, 300, 300), 90.0, dtype=np.float32)
    raster[1] = 140.0
    first = dino.predict(raster[:, 10:90, 20:120])
    second = dino.predict(raster[:, 150:230, 170:270])
    assert np.isfinite(first).all()
    np.testing.assert_array_equal(first, second)


@pytest.mark.usefixtures("restore_config")
@pytest.mark.parametrize(
    "change",
    [
        {"cce_affinity": "attention"},
        {"cce_grid": "vfm", "vfm_input": 64},
        {"cce_propagation": "proxy", "sga_top_n": 3, "sga_source": "upsampled"},
        {"sga_in_upsampled": False, "cce_clusters": 1},
    ],
)
def test_options_give_valid_probabilities(dino: AlignClipMethod, change: dict) -> None:
    tile = rgb_tile(6)
    default = dino.predict(tile)
    dino.config = replace(dino.config, **change)
    probs = dino.predict(tile)
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-5)
    assert not np.array_equal(probs, default)


def test_missing_upsampler_falls_back_to_bilinear_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, labels, baseline: AlignClipMethod
) -> None:
    import engine.models

    real = engine.models.resolve_source

    def fake(role: str, *, random: bool = False, **kwargs: object) -> object:
        if role == "jbu_one":
            raise MissingWeightsError("checkpoint xclip_jbu_one_million_aid.ckpt not found")
        return real(role, random=True)

    monkeypatch.setattr(engine.models, "resolve_source", fake)
    with caplog.at_level(logging.WARNING, logger="engine.methods.alignclip"):
        method = create_method("segearth-ov", params=SMALL, precision="fp32")
    assert "falling back to bilinear" in caplog.text
    assert method.upsampling == "bilinear" and method.upsampler is None
    assert "xclip_jbu_one_million_aid.ckpt" in method.metadata["method_warning"]
    method.prepare(labels)
    probs = method.predict(rgb_tile(7))
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-5)
    assert not np.allclose(probs, baseline.predict(rgb_tile(7)), atol=1e-4)
    assert baseline.metadata == {"device": baseline.runtime.describe(), "upsampler": "jbu_one"}


def test_real_jbu_stack_checkpoint_runs_inside_the_method(shared_data: Path, labels) -> None:
    path = shared_data / JBU_STACK
    params = {**SMALL, "upsampler": "jbu_stack", "upsampler_checkpoint": str(path)}
    method = create_method("segearth-ov", weights="random", precision="fp32", params=params)
    assert method.upsampling == "jbu_stack"
    state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    torch.testing.assert_close(method.upsampler.up1.range_temp, state["upsampler.up1.range_temp"].float())
    method.prepare(labels)
    probs = method.predict(rgb_tile(8))
    assert probs.shape == (7, 80, 100)
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-5)


@pytest.mark.parametrize("sample", ["loveda/img/0.png", "vaihingen/img/area1_0_0_512_512.png"])
def test_real_samples_end_to_end(shared_data: Path, dino: AlignClipMethod, sample: str) -> None:
    """A 160 px crop of the real sample (a 1024 or 512 px image is not the point here)."""
    tile = read_png(shared_data / sample)[:, :160, :128]
    probs = dino.predict(tile)
    assert probs.shape == (7, 160, 128)
    assert (probs >= 0).all() and np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-5)
    np.testing.assert_array_equal(dino.predict(tile), probs)


def test_sam_variant_runs(labels) -> None:
    method = create_method("alignclip-s", weights="random", precision="fp32", params=SMALL)
    method.prepare(labels)
    probs = method.predict(rgb_tile(9))
    assert probs.shape == (7, 80, 100)
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-5)
    assert method.vfm is not None and method.vfm.config.name == "sam_vitb"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["segearth-ov", "alignclip-d", "alignclip-s"])
def test_full_geometry_on_real_loveda(shared_data: Path, name: str) -> None:
    """The default geometry (long side 448, 224/112 windows) and templates on a whole 1024 px LoveDA tile."""
    method = create_method(name, weights="random", precision="fp32")
    method.prepare(load_preset("loveda-segearth").labels)
    probs = method.predict(read_png(shared_data / "loveda/img/0.png"))
    assert probs.shape == (7, 1024, 1024)
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-5)


def _mixed_batch(shared_data: Path) -> np.ndarray:
    """Four 80 x 100 tiles: three real 8-bit crops (LoveDA, Vaihingen, Potsdam) and one with fractional values
    (the float resize path), so that the batch mixes both per-tile resizes."""
    crops = [read_png(shared_data / sample)[:, 40:120, 60:160] for sample in (
        "loveda/img/0.png", "vaihingen/img/area1_0_0_512_512.png", "potsdam/img/2_10_0_0_512_512.png")]
    return np.stack([*crops, rgb_tile(5) + 0.25]).astype(np.float32)


def _check_batch_against_one_by_one(method: AlignClipMethod, tiles: np.ndarray) -> None:
    """fp32: predict_batch equals predict tile by tile within 1e-5, all windows in one pass and in passes of
    5 windows (which split tiles); bf16: the same labels."""
    alone = np.stack([method.predict(tile) for tile in tiles])
    batched = method.predict_batch(tiles)
    assert batched.shape == alone.shape and batched.dtype == np.float32
    if method.runtime.dtype == torch.float32:
        np.testing.assert_allclose(batched, alone, atol=1e-5, rtol=0)
        method.config = replace(method.config, windows_per_call=5)
        np.testing.assert_allclose(method.predict_batch(tiles), alone, atol=1e-5, rtol=0)
    else:
        np.testing.assert_array_equal(batched.argmax(axis=1), alone.argmax(axis=1))


@pytest.mark.usefixtures("restore_config")
def test_batch_equals_tiles_one_by_one(shared_data: Path, baseline: AlignClipMethod, dino: AlignClipMethod) -> None:
    for method in (baseline, dino):
        _check_batch_against_one_by_one(method, _mixed_batch(shared_data))


@pytest.mark.slow
@pytest.mark.parametrize(("name", "precision"), [
    ("alignclip-s", "fp32"), ("segearth-ov", "bf16"), ("alignclip-d", "bf16"), ("alignclip-s", "bf16")])
def test_batch_equals_tiles_one_by_one_for_every_method(shared_data: Path, labels, name: str, precision: str) -> None:
    method = create_method(name, weights="random", precision=precision, params=SMALL)
    method.prepare(labels)
    _check_batch_against_one_by_one(method, _mixed_batch(shared_data)[:3 if precision == "bf16" else 4])


def test_upsampled_logits_equal_those_of_the_dense_upsampled_features(baseline: AlignClipMethod) -> None:
    """The method keeps the upsampled features in the windows' patch basis; their logits equal those of the
    upsampler's own (B, C, H, W) output."""
    assert baseline.upsampler is not None
    grid, size = (4, 4), (64, 64)
    patches = torch.randn(3, 16, baseline.clip.embed_dim, generator=torch.Generator().manual_seed(2))
    crops = torch.randn(3, 3, *size, generator=torch.Generator().manual_seed(3))
    cls_token, text = patches[:, 0], torch.nn.functional.normalize(baseline._text, dim=-1)
    pending = baseline._upsample(patches, grid, crops)
    assert pending is not None
    low_rank = pending.finish()
    assert low_rank.coords.shape == (3, 64 * 64, 16)
    maps = patches.transpose(1, 2).reshape(3, -1, *grid)
    dense = baseline.upsampler(maps, crops).flatten(2).transpose(1, 2)
    expected = dense_logits(dense, cls_token, text, -0.3)
    for features in (pending, low_rank):  # the last stage fused with the logits, or finished (for a cache)
        torch.testing.assert_close(dense_logits(features, cls_token, text, -0.3), expected, atol=1e-5, rtol=1e-5)
