"""The feature cache's store and keys: LRU by bytes, disk spill (atomic, bounded, corrupt files dropped),
clear/stats, and which config fields enter the key."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.cache import FeatureCache, RowLookup, content_hash, feature_fields, method_key, using_cache
from engine.cache.keys import weights_identity
from engine.methods.alignclip_config import AlignClipConfig
from engine.methods.sdci_config import SdciConfig

MB = 1024**2


def entry(value: float, megabytes: int = 1) -> dict:
    """An entry of ``megabytes`` MiB of float32 holding ``value``, plus a plain grid item."""
    return {"x": torch.full((megabytes * MB // 4,), float(value)), "grid": (2, 3)}


def test_memory_is_an_lru_bounded_by_bytes() -> None:
    cache = FeatureCache(host_bytes=3 * MB)
    for index in range(3):
        cache.put(f"k{index}", entry(index))
    assert cache.get("k0") is not None  # k0 now most recently used: k1 goes first
    cache.put("k3", entry(3))
    assert cache.get("k1") is None
    assert [cache.get(key) is not None for key in ("k0", "k2", "k3")] == [True, True, True]
    stats = cache.stats()
    assert (stats.entries, stats.bytes, stats.hits, stats.misses) == (3, 3 * MB, 4, 1)


def test_evicted_entries_spill_to_disk_and_come_back_equal(tmp_path: Path) -> None:
    cache = FeatureCache(host_bytes=2 * MB, disk_dir=tmp_path, disk_bytes=100 * MB)
    for index in range(4):
        cache.put(f"k{index}", entry(index))
    assert cache.stats().disk_entries == 2
    back = cache.get("k0")
    assert back is not None and back["grid"] == (2, 3) and torch.equal(back["x"], entry(0)["x"])
    assert cache.stats().disk_hits == 1
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))


def test_disk_keeps_its_own_limit_oldest_out(tmp_path: Path) -> None:
    cache = FeatureCache(host_bytes=0, disk_dir=tmp_path, disk_bytes=int(2.5 * MB))
    for index in range(4):
        cache.put(f"k{index}", entry(index))
    stats = cache.stats()
    assert stats.entries == 0 and stats.disk_entries == 2 and stats.disk_bytes <= 2.5 * MB
    assert cache.get("k0") is None and cache.get("k3") is not None


def test_a_corrupt_disk_entry_is_a_miss_and_is_removed(tmp_path: Path) -> None:
    cache = FeatureCache(host_bytes=0, disk_dir=tmp_path)
    cache.put("k0", entry(0))
    (path,) = tmp_path.glob("*.pt")
    path.write_bytes(path.read_bytes()[:100])  # a half-written file from a crashed writer
    assert cache.get("k0") is None
    assert not path.exists()


def test_concurrent_caches_on_one_folder_never_see_partial_files(tmp_path: Path) -> None:
    writers = [FeatureCache(host_bytes=0, disk_dir=tmp_path) for _ in range(3)]
    reader = FeatureCache(host_bytes=0, disk_dir=tmp_path)
    errors: list[str] = []

    def write(cache: FeatureCache) -> None:
        for index in range(6):
            cache.put(f"k{index}", entry(index))

    def read() -> None:
        for _ in range(30):
            for index in range(6):
                found = reader.get(f"k{index}")
                if found is not None and not torch.equal(found["x"], entry(index)["x"]):
                    errors.append(f"k{index}")

    threads = [threading.Thread(target=write, args=(cache,)) for cache in writers] + [threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(list(tmp_path.glob("*.pt"))) == 6 and not list(tmp_path.glob(".*.tmp"))


def test_clear_empties_memory_and_disk_and_resets_counts(tmp_path: Path) -> None:
    cache = FeatureCache(host_bytes=MB, disk_dir=tmp_path)
    for index in range(3):
        cache.put(f"k{index}", entry(index))
    cache.get("k2")
    cache.get("missing")
    cache.clear()
    assert cache.stats() == type(cache.stats())(0, 0, 0, 0, 0, 0, 0)
    assert cache.get("k2") is None and not list(tmp_path.glob("*.pt"))


def test_default_limit_is_a_fraction_of_the_free_memory(monkeypatch) -> None:
    import engine.memory

    monkeypatch.setattr(engine.memory, "available_memory", lambda: 40 * MB)
    assert FeatureCache().limit("host") == 10 * MB


def test_row_lookup_stores_one_entry_per_row_and_merges_in_order() -> None:
    cache = FeatureCache(host_bytes=100 * MB)
    computed = {"f": torch.arange(6.0).reshape(3, 2), "grid": (1, 2)}
    with using_cache(cache):
        first = RowLookup("m", "part", ["a", "b", "c"], shared=frozenset({"grid"}))
        assert first.missing == [0, 1, 2]
        first.fill(computed)
        second = RowLookup("m", "part", ["c", "x", "a"], shared=frozenset({"grid"}))
        assert second.missing == [1]
        second.fill({"f": torch.tensor([[9.0, 9.0]]), "grid": (1, 2)})
    merged = second.merged()
    assert merged["grid"] == (1, 2)
    assert torch.equal(merged["f"], torch.tensor([[4.0, 5.0], [9.0, 9.0], [0.0, 1.0]]))
    assert RowLookup("m", "part", ["a"]).missing == [0]  # outside using_cache: no cache


def test_row_lookup_without_a_cache_hands_back_the_batch_uncopied() -> None:
    computed = {"f": torch.arange(6.0).reshape(3, 2), "pending": object()}
    lookup = RowLookup("m", "part", ["a", "b", "c"])
    lookup.fill(computed)
    merged = lookup.merged()
    assert merged["f"] is computed["f"] and merged["pending"] is computed["pending"]
    assert lookup.entries == [None, None, None]  # nothing sliced or kept per row


def test_content_hash_sees_pixels_shape_and_dtype() -> None:
    pixels = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    changed = pixels.copy()
    changed[1, 2, 3] += 1
    hashes = {content_hash(pixels), content_hash(changed), content_hash(pixels.reshape(3, 2, 4)),
              content_hash(pixels.astype(np.float64))}
    assert len(hashes) == 4
    assert content_hash(torch.from_numpy(pixels)) == content_hash(pixels.copy())


def test_weights_identity_changes_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "w.pt"
    path.write_bytes(b"1234")
    before = weights_identity([path, "random"], seed=0)
    path.write_bytes(b"12345")
    assert weights_identity([path, "random"], seed=0) != before
    assert weights_identity(["random"], seed=0) != weights_identity(["random"], seed=1)


# the split is data on the config fields: these must reuse the cache, those must miss
ALIGNCLIP_REUSE = ("templates", "prob_thd", "alpha", "beta", "logit_scale", "cce_clusters", "sga_top_n")
ALIGNCLIP_MISS = ("clip_arch", "long_side", "crop", "stride", "upsampler", "vfm", "vfm_input", "cce_affinity")
SDCI_REUSE = ("templates", "score_threshold", "lambda_1", "diffusion_steps", "solver", "cscp_tolerance", "beta")
SDCI_MISS = ("clip_arch", "vfm", "clip_short_side", "vfm_short_side", "attention_dtype", "felzenszwalb_scale",
             "w_cross", "stages")


@pytest.mark.parametrize(("config", "reuse", "miss"), [
    (AlignClipConfig(), ALIGNCLIP_REUSE, ALIGNCLIP_MISS),
    (SdciConfig(), SDCI_REUSE, SDCI_MISS),
])
def test_only_label_independent_fields_enter_the_key(config, reuse: tuple[str, ...], miss: tuple[str, ...]) -> None:
    fields = feature_fields(config)
    assert not set(reuse) & set(fields)
    assert set(miss) <= set(fields)
    names = {field.name for field in dataclasses.fields(config)}
    assert set(reuse) | set(miss) <= names
    key = method_key("m", config, "w", "fp32", "cpu")
    assert method_key("m", config, "w", "bf16", "cpu") != key
    assert method_key("m", config, "w", "fp32", "cuda:0") != key
    assert method_key("m", config, "v", "fp32", "cpu") != key
    assert method_key("n", config, "w", "fp32", "cpu") != key
