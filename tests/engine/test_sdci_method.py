"""SDCI as a registered method: configuration, BCDR and post-processing, end to end with random weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from engine.errors import InputError
from engine.labels import load_preset
from engine.methods import available_methods, create_method, method_info
from engine.methods.base import config_with_params
from engine.methods.sdci_config import VARIANTS, SdciConfig
from engine.methods.sdci_refine import bcdr, branch_probabilities

# Real architectures at a reduced input geometry keep the default run fast; the official one is @slow.
SMALL = {"clip_short_side": 224, "vfm_short_side": 224, "knn_k": 10}


def test_both_variants_are_registered_with_their_checkpoints() -> None:
    assert {"sdci-v1", "sdci-v2"} <= set(available_methods())
    assert method_info("sdci-v1").checkpoints == ("clip-vit-l-14", "dino-vitb8")
    assert method_info("sdci-v2").checkpoints == ("clip-vit-l-14", "dinov2-vitb14-reg")
    assert VARIANTS["sdci-v1"].vfm == "dino_vitb8" and VARIANTS["sdci-v1"].vfm_short_side == 384
    assert VARIANTS["sdci-v2"].vfm == "dinov2_vitb14_reg" and VARIANTS["sdci-v2"].vfm_short_side == 532


def test_defaults_are_the_papers_and_official_values() -> None:
    c = SdciConfig()
    assert (c.lambda_1, c.knn_k, c.knn_tau, c.diffusion_alpha, c.diffusion_steps) == (1.0, 30, 0.07, 0.9, 40)
    assert (c.lambda_c, c.lambda_d, c.beta, c.w_in, c.w_cross) == (1.0, 0.2, 0.1, 1.0, 0.1)
    assert (c.felzenszwalb_scale, c.felzenszwalb_sigma, c.felzenszwalb_min_size) == (40.0, 0.8, 20)
    assert (c.pdhg_iterations, c.pdhg_tau, c.pdhg_sigma, c.logit_scale) == (100, 0.25, 0.25, 50.0)
    assert (c.templates, c.last_level_ratio, c.diffusion_dtype, c.solver) == ("sdci_rs", 0.2, "float16", "fast")
    assert c.clip_pos_embed_fp16  # the official upsample_pos_emb(...).half()
    assert (c.cscp_tolerance, c.cscp_max_iterations, c.cscp_check_every) == (0.003, 400, 5)


def test_params_override_and_reject_unknown_or_mistyped_keys() -> None:
    cfg = config_with_params(SdciConfig(), {"score_threshold": 0, "solver": "reference", "knn_k": 12.0}, "sdci-v2")
    assert cfg.score_threshold == 0.0 and isinstance(cfg.score_threshold, float)
    assert cfg.solver == "reference" and cfg.knn_k == 12 and isinstance(cfg.knn_k, int)
    with pytest.raises(InputError, match="unknown parameter 'prob_thd' for sdci-v2"):
        config_with_params(SdciConfig(), {"prob_thd": 0.1}, "sdci-v2")
    with pytest.raises(InputError, match="sdci-v2 parameter knn_k must be a int"):
        config_with_params(SdciConfig(), {"knn_k": 2.5}, "sdci-v2")
    with pytest.raises(InputError, match="sdci-v2 parameter diffusion_closed_form must be a bool"):
        config_with_params(SdciConfig(), {"diffusion_closed_form": 1}, "sdci-v2")
    with pytest.raises(InputError, match="solver='slow'"):
        config_with_params(SdciConfig(), {"solver": "slow"}, "sdci-v2")


def test_branch_probabilities_follow_main_and_cam_to_label() -> None:
    gen = torch.Generator().manual_seed(0)
    score_map = torch.rand(3, 4, 4, generator=gen)
    final = torch.tensor([0.7, 0.3, 0.6])
    cfg = SdciConfig(score_threshold=0.5)
    got = branch_probabilities(score_map, final, (8, 8), cfg).numpy()
    up = torch.nn.functional.interpolate(score_map[None], size=(8, 8), mode="bilinear", align_corners=False)[0]
    for k in range(3):
        x = up[k].numpy().astype(np.float64)
        x = x / (x.max() + 1e-5) * float(final[k])
        x = x - x.min()
        x = x / (x.max() + 1e-6)
        expected = x if final[k] > 0.5 else np.zeros_like(x)
        np.testing.assert_allclose(got[k], expected, rtol=1e-5, atol=1e-6)
    assert got[0].min() == 0.0 and got[0].max() == pytest.approx(1.0, abs=1e-5)


def test_bcdr_resamples_across_grids_and_keeps_scores_bounded() -> None:
    gen = torch.Generator().manual_seed(3)
    clip_grid, dino_grid = (5, 5), (6, 6)
    s_clip = torch.rand(25, 2, generator=gen)
    s_dino = torch.rand(36, 2, generator=gen)
    f_clip = torch.randn(25, 8, generator=gen)
    f_dino = torch.randn(36, 8, generator=gen)
    cfg = SdciConfig(knn_k=4, diffusion_dtype="float32")
    kw = {"clip_features": f_clip, "dino_features": f_dino, "clip_grid": clip_grid, "dino_grid": dino_grid}
    clip_map, dino_map, clip_final, _ = bcdr(s_clip, s_dino, **kw, config=cfg)
    assert clip_map.shape == (2, 6, 6) and dino_map.shape == (2, 5, 5)
    resampled = torch.nn.functional.interpolate(s_clip.T.reshape(1, 2, 5, 5), size=(6, 6), mode="bilinear")
    np.testing.assert_allclose(clip_final.numpy(), resampled.reshape(2, -1).amax(-1).numpy(), rtol=1e-6)
    # a convex combination of row-stochastic averages never leaves the range of the start scores
    assert float(clip_map.max()) <= float(resampled.max()) + 1e-5
    closed = bcdr(s_clip, s_dino, **kw, config=SdciConfig(knn_k=4, diffusion_closed_form=True))
    # 40 steps are within alpha^40 of the fixed point
    assert float((closed[0] - clip_map).abs().max()) <= 0.9**40 * float(resampled.max()) + 1e-5


def _potsdam_tile() -> np.ndarray:
    from pathlib import Path

    path = sorted(Path("/work/shared/data/potsdam/img").glob("*.png"))[0]
    return np.asarray(Image.open(path).convert("RGB")).transpose(2, 0, 1).astype(np.float32)


@pytest.fixture(scope="module")
def small_v2():
    method = create_method("sdci-v2", weights="random", device="cpu", precision="fp32", seed=0, params=SMALL)
    method.prepare(load_preset("potsdam-gen").labels)
    return method


def test_random_weights_are_announced(small_v2) -> None:
    assert "random weights (seed 0)" in small_v2.weights_note


def test_end_to_end_potsdam_probabilities(small_v2, shared_data) -> None:
    tile = _potsdam_tile()[:, :256, :320]
    out = small_v2.predict(tile)
    assert out.shape == (6, 256, 320) and out.dtype == np.float32
    np.testing.assert_allclose(out.sum(axis=0), 1.0, atol=1e-4)
    assert out.min() >= 0.0
    assert np.all(out[5] == 0.0)  # the background class (clutter) is never predicted, as in SDCI
    stages = {"clip_backbone", "vfm_backbone", "caf_levels", "caf_fusion", "bcdr", "cscp"}
    assert set(small_v2.timings) == stages | {"cscp_iterations", "cscp_relative_gap"}
    assert 1 <= small_v2.timings["cscp_iterations"] <= small_v2.config.cscp_max_iterations
    assert 0 <= small_v2.timings["cscp_relative_gap"] <= small_v2.config.cscp_tolerance
    np.testing.assert_array_equal(small_v2.predict(tile), out)  # deterministic


def test_end_to_end_loveda_crop(small_v2, shared_data) -> None:
    img = np.asarray(Image.open(shared_data / "loveda" / "img" / "0.png").convert("RGB"))
    small_v2.prepare(load_preset("loveda-gen").labels)
    out = small_v2.predict(img[:200, :200].transpose(2, 0, 1).astype(np.float32))
    assert out.shape == (7, 200, 200) and out.dtype == np.float32
    np.testing.assert_allclose(out.sum(axis=0), 1.0, atol=1e-4)
    assert np.all(out[0] == 0.0)


def test_bad_tiles_are_rejected(small_v2) -> None:
    with pytest.raises(InputError, match="RGB tile"):
        small_v2.predict(np.zeros((4, 64, 64), dtype=np.float32))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sdci-v1", "sdci-v2"])
def test_official_geometry_is_deterministic_under_a_seed(name: str) -> None:
    tile = _potsdam_tile()
    labels = load_preset("potsdam-gen").labels
    outs = []
    for _ in range(2):
        method = create_method(name, weights="random", device="cpu", precision="fp32", seed=7)
        method.prepare(labels)
        outs.append(method.predict(tile))
    assert outs[0].shape == (6, 512, 512) and outs[0].dtype == np.float32
    np.testing.assert_allclose(outs[0].sum(axis=0), 1.0, atol=1e-4)
    np.testing.assert_array_equal(outs[0], outs[1])


def test_a_weights_folder_without_the_checkpoints_fails_clearly(tmp_path) -> None:
    from engine.errors import MissingWeightsError

    with pytest.raises(MissingWeightsError, match=r"ViT-L-14\.pt"):
        create_method("sdci-v2", weights=tmp_path, device="cpu", precision="fp32")


# --- Table 2 ablation rows (``stages``) -----------------------------------------------------------------------

ABLATION_TILE = (slice(None), slice(0, 96), slice(0, 112))
# random weights give every class a final score near 1/7: a zero threshold keeps the maps from being uniform
ABLATION = {**SMALL, "score_threshold": 0.0}


@pytest.fixture(scope="module")
def ablation(small_v2):
    """``run(stage, vfm=None, **overrides)``: the ablation row's output on a small Potsdam crop, memoised; the
    backbones are the fixture's (the VFM can be swapped), the config ``ABLATION``, each run its own method."""
    from dataclasses import replace

    from engine.methods.sdci import SdciMethod

    tile = _potsdam_tile()[ABLATION_TILE]
    labels = load_preset("potsdam-gen").labels
    cache: dict[tuple, tuple[np.ndarray, dict[str, float]]] = {}

    def run(stages: str, vfm=None, **overrides):
        key = (stages, id(vfm), tuple(sorted(overrides.items())))
        if key not in cache:
            config = replace(config_with_params(small_v2.config, ABLATION, "sdci-v2"), stages=stages, **overrides)
            method = SdciMethod(
                "sdci-v2",
                config,
                clip=small_v2.clip,
                vfm=vfm or small_v2.vfm,
                runtime=small_v2.runtime,
                weights_note=small_v2.weights_note,
            )
            method.prepare(labels)
            cache[key] = (method.predict(tile), dict(method.timings))
        return cache[key]

    return run


@pytest.fixture(scope="module")
def other_vfm(small_v2):
    """The same VFM architecture with weights drawn under another seed."""
    from engine.models import RANDOM, load_vfm

    return small_v2.runtime.prepare(load_vfm(small_v2.config.vfm, RANDOM, seed=1))


def test_stages_and_late_fusion_weight_are_checked() -> None:
    from engine.cli.common import parse_param

    assert SdciConfig().stages == "full" and SdciConfig().late_fusion_weight == 0.5
    given = dict(parse_param(text) for text in ("stages=late_fusion", "late_fusion_weight=0"))
    cfg = config_with_params(SdciConfig(), given, "sdci-v1")
    assert cfg.stages == "late_fusion" and isinstance(cfg.late_fusion_weight, float)
    with pytest.raises(InputError, match="stages='caf_cscp'; choose one of: baseline, late_fusion, caf"):
        config_with_params(SdciConfig(), {"stages": "caf_cscp"}, "sdci-v2")
    with pytest.raises(InputError, match=r"late_fusion_weight=1\.5 must be in"):
        SdciConfig(late_fusion_weight=1.5)


def test_fuse_branches_is_the_weighted_geometric_mean() -> None:
    from engine.methods.sdci_refine import fuse_branches

    gen = torch.Generator().manual_seed(5)
    # per-pixel sums below prep_prob's 1.5, so the maps are read as probabilities (not logits)
    pc = 0.3 * torch.rand(4, 3, 5, generator=gen)
    pd = 0.3 * torch.rand(4, 3, 5, generator=gen)
    pd[2] = 0.0  # a class switched off in one branch (its final score under the threshold)
    cfg = SdciConfig(lambda_c=1.0, lambda_d=0.3, prep_eps=1e-6)
    got = fuse_branches(pc, pd, cfg).numpy()

    def prep(p: np.ndarray) -> np.ndarray:
        p = np.clip(p.astype(np.float64), 1e-6, 1.0)
        return p / p.sum(axis=0)

    expected = prep(pc.numpy()) ** (1.0 / 1.3) * prep(pd.numpy()) ** (0.3 / 1.3)
    np.testing.assert_allclose(got, expected / expected.sum(axis=0), rtol=1e-5)
    np.testing.assert_allclose(fuse_branches(pc, None, cfg).numpy(), prep(pc.numpy()), rtol=1e-5)


@pytest.mark.parametrize("stages", ["baseline", "late_fusion", "caf", "caf_bcdr", "full"])
def test_every_ablation_row_gives_probabilities(ablation, stages: str) -> None:
    out, timings = ablation(stages)
    assert out.shape == (6, 96, 112) and out.dtype == np.float32
    np.testing.assert_allclose(out.sum(axis=0), 1.0, atol=1e-4)
    assert out.min() >= 0.0 and np.all(out[5] == 0.0)
    ran = {"bcdr": "bcdr" in timings, "cscp": "cscp" in timings, "vfm": "vfm_backbone" in timings}
    from engine.methods.sdci_config import STAGES

    row = STAGES[stages]
    assert ran == {"bcdr": row.bcdr, "cscp": row.cscp, "vfm": row.vfm}


def test_full_is_the_default_method(ablation, small_v2) -> None:
    assert config_with_params(small_v2.config, {"stages": "full"}, "sdci-v2") == small_v2.config
    out, _ = ablation("full")
    fresh = create_method("sdci-v2", weights="random", device="cpu", precision="fp32", seed=0, params=ABLATION)
    fresh.prepare(load_preset("potsdam-gen").labels)
    np.testing.assert_array_equal(fresh.predict(_potsdam_tile()[ABLATION_TILE]), out)


def test_baseline_does_not_depend_on_the_vfm_but_the_fused_rows_do(ablation, other_vfm) -> None:
    np.testing.assert_array_equal(ablation("baseline", vfm=other_vfm)[0], ablation("baseline")[0])
    for stages in ("late_fusion", "full"):
        assert np.abs(ablation(stages, vfm=other_vfm)[0] - ablation(stages)[0]).max() > 1e-4


def test_late_fusion_with_zero_dino_weight_is_the_baseline(ablation) -> None:
    np.testing.assert_array_equal(ablation("late_fusion", late_fusion_weight=0.0)[0], ablation("baseline")[0])
    assert np.abs(ablation("late_fusion")[0] - ablation("baseline")[0]).max() > 1e-4


def test_caf_without_cross_term_and_dino_weight_is_the_baseline(ablation) -> None:
    # lambda_1 = 0 removes CAF's cross attention, lambda_d = 0 the DINO branch from the fusion
    np.testing.assert_allclose(ablation("caf", lambda_1=0.0, lambda_d=0.0)[0], ablation("baseline")[0], atol=1e-5)
    assert np.abs(ablation("caf")[0] - ablation("baseline")[0]).max() > 1e-4


def test_caf_bcdr_is_full_without_the_tv_term(ablation) -> None:
    np.testing.assert_allclose(ablation("caf_bcdr")[0], ablation("full", beta=0.0)[0], atol=1e-6)
    assert np.abs(ablation("full")[0] - ablation("caf_bcdr")[0]).max() > 1e-4
