"""The feature cache inside the methods: a run with a warm cache gives the output of a run without one, a
changed label set or label-dependent parameter reuses the cache, a changed label-independent parameter or input
misses it; per method family, on real sample tiles, random weights and small geometry (fp32)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.cache import FeatureCache, using_cache
from engine.labels import LabelClass, LabelSet, load_preset
from engine.methods.base import create_method, predict_batch

SMALL = {
    "segearth-ov": {"long_side": 96, "crop": 64, "stride": 32, "templates": "sdci_rs"},
    "alignclip-d": {"long_side": 96, "crop": 64, "stride": 32, "templates": "sdci_rs"},
    "sdci-v2": {"clip_short_side": 224, "vfm_short_side": 224, "knn_k": 10},
}
# a label-dependent parameter (reuses) and a label-independent one (misses), per method
REUSE = {"segearth-ov": {"prob_thd": 0.3}, "alignclip-d": {"beta": 0.5}, "sdci-v2": {"score_threshold": 0.2}}
MISS = {"segearth-ov": {"stride": 48}, "alignclip-d": {"vfm_input": 64}, "sdci-v2": {"clip_short_side": 252}}


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _tiles(shared_data: Path) -> np.ndarray:
    """Two real 96 x 112 tiles (Potsdam and LoveDA crops) as a float32 batch (2, 3, H, W)."""
    paths = (shared_data / "potsdam/img/2_10_0_0_512_512.png", shared_data / "loveda/img/0.png")
    images = [np.asarray(Image.open(path).convert("RGB"))[100:196, 200:312] for path in paths]
    return np.stack(images).transpose(0, 3, 1, 2).astype(np.float32)


def _reworded(labels: LabelSet) -> LabelSet:
    """``labels`` with one foreground class's prompts changed (what an analyst does between runs)."""
    index = next(iter(i for i in range(len(labels)) if i != labels.background))
    first = labels[index]
    changed = LabelClass(first.name, ("grass", "lawn"), first.color)
    classes = tuple(changed if i == index else labels[i] for i in range(len(labels)))
    return LabelSet(classes, labels.background)


def _run(method, labels: LabelSet, tiles: np.ndarray, cache: FeatureCache | None) -> np.ndarray:
    method.prepare(labels)
    with using_cache(cache):
        return predict_batch(method, tiles)


def _same(cached: np.ndarray, plain: np.ndarray) -> None:
    np.testing.assert_array_equal(cached.argmax(axis=1), plain.argmax(axis=1))
    np.testing.assert_allclose(cached, plain, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["segearth-ov", "alignclip-d", pytest.param("sdci-v2", marks=pytest.mark.slow)])
def test_warm_cache_gives_the_uncached_output_and_reuses_across_labels(shared_data: Path, name: str) -> None:
    method = create_method(name, weights="random", device="cpu", precision="fp32", params=SMALL[name])
    labels = load_preset("potsdam-gen").labels
    tiles = _tiles(shared_data)
    cache = FeatureCache(host_bytes=2 * 1024**3)

    plain = _run(method, labels, tiles, None)
    _same(_run(method, labels, tiles, cache), plain)  # cold: fills the cache
    filled = cache.stats()
    assert filled.entries > 0 and filled.hits == 0
    _same(_run(method, labels, tiles, cache), plain)  # warm
    warm = cache.stats()
    assert warm.misses == filled.misses and warm.hits == filled.misses

    reworded = _reworded(labels)
    _same(_run(method, reworded, tiles, cache), _run(method, reworded, tiles, None))
    assert cache.stats().misses == filled.misses  # other labels: every entry reused

    base = method.config
    method.config = dataclasses.replace(base, **REUSE[name])
    _same(_run(method, labels, tiles, cache), _run(method, labels, tiles, None))
    assert cache.stats().misses == filled.misses  # a label-dependent parameter: reused
    method.config = dataclasses.replace(base, **MISS[name])
    before = cache.stats()
    _same(_run(method, labels, tiles, cache), _run(method, labels, tiles, None))
    after = cache.stats()
    assert after.misses > before.misses and after.hits == before.hits  # label-independent: all new
    method.config = base

    shifted = tiles.copy()
    shifted[1] = np.flip(shifted[1], axis=-1)
    before = cache.stats()
    _same(_run(method, labels, shifted, cache), _run(method, labels, shifted, None))
    after = cache.stats()
    assert after.misses > before.misses and after.hits > before.hits  # tile 0 reused, tile 1 new


def test_segment_raster_reuses_the_cache_when_only_the_labels_change(tmp_path: Path) -> None:
    from osgeo import gdal
    from raster_fixtures import pattern, write_raster

    from engine.pipeline import segment_raster

    src = write_raster(tmp_path / "in.tif", pattern(150, 170))
    method = create_method("segearth-ov", weights="random", device="cpu", precision="fp32", params=SMALL["segearth-ov"])
    labels = load_preset("potsdam-gen").labels
    cache = FeatureCache(host_bytes=1024**3)

    def run(out: str, classes: LabelSet, use: FeatureCache | None) -> np.ndarray:
        method.prepare(classes)
        result = segment_raster(src, tmp_path / out, method, classes, tile=96, overlap=16, cache=use,
                                probabilities_path=tmp_path / f"p-{out}")
        assert result.output_path.exists()
        return gdal.Open(str(tmp_path / f"p-{out}")).ReadAsArray()

    run("first.tif", labels, cache)
    filled = cache.stats()
    assert filled.entries > 0 and filled.hits == 0
    reworded = _reworded(labels)
    cached = run("second.tif", reworded, cache)
    assert cache.stats().misses == filled.misses and cache.stats().hits == filled.misses
    np.testing.assert_allclose(cached, run("plain.tif", reworded, None), atol=1e-5, rtol=0)
    labels_cached = gdal.Open(str(tmp_path / "second.tif")).ReadAsArray()
    np.testing.assert_array_equal(labels_cached, gdal.Open(str(tmp_path / "plain.tif")).ReadAsArray())
