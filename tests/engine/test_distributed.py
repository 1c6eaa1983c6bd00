"""Runs on a Dask cluster (``engine.distributed``): equal to the single-process run, pixel for pixel, with a
worker killed half-way, cancelled, on an unreachable scheduler, on a list of rasters, and with the analysis
products.

One ``LocalCluster`` of two worker processes (one thread each, on 127.0.0.1) serves the whole module; the
runs reach it by its address, as a run on a real cluster would.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from dask_fixtures import CONTEXT_METHOD, KILL_METHOD, ContextMethod
from osgeo import gdal
from raster_fixtures import labels, pattern, write_raster

from engine.cli import main
from engine.distributed import MethodSpec, segment_on_cluster, segment_rasters_on_cluster
from engine.distributed.cluster import local_cluster
from engine.errors import CancelledError, InputError
from engine.pipeline import segment_raster

ROTATED = (350000.0, 0.5, 0.1, 5650000.0, 0.1, -0.5)
TILING = {"tile": 64, "overlap": 16}


@pytest.fixture(scope="module")
def cluster():
    with local_cluster(2) as local:
        yield local


def nodata_raster(path: Path, height: int = 230, width: int = 310, seed: int = 0) -> Path:
    """A raster of several tasks' worth of tiles with a nodata corner and hole, rotated geotransform."""
    data = pattern(height, width, seed)
    data[:, :70, :100] = 0
    data[:, 120:150, 200:260] = 0
    return write_raster(path, data, nodata=0, geotransform=ROTATED)


def read(path: Path) -> np.ndarray:
    return gdal.Open(str(path)).ReadAsArray()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".ovss-" in p.name)


def single(src: Path, out: Path, **kwargs):
    return segment_raster(src, out, ContextMethod(), labels(), **TILING, **kwargs)


def test_equal_to_single_process_with_nodata_and_rotation(tmp_path, cluster):
    src = nodata_raster(tmp_path / "in.tif")
    want = single(src, tmp_path / "one.tif", probabilities_path=tmp_path / "one-p.tif")
    seen, logged = [], []
    got = segment_on_cluster(
        src,
        tmp_path / "dask.tif",
        MethodSpec.of(CONTEXT_METHOD),
        labels(),
        cluster=cluster.scheduler_address,
        probabilities_path=tmp_path / "dask-p.tif",
        tiles_per_task=3,  # tasks cross tile rows
        in_flight=2,
        progress=lambda progress: seen.append((progress.tiles_done, progress.tiles_total)),
        log=logged.append,
        **TILING,
    )
    assert got.tiles_total == want.tiles_total > 20
    assert got.tiles_skipped == want.tiles_skipped == 1  # the nodata corner's first tile
    assert got.class_pixels == want.class_pixels
    classes = read(tmp_path / "dask.tif")
    assert np.array_equal(classes, read(tmp_path / "one.tif"))
    assert (classes == 0).sum() == 70 * 100 + 30 * 60 and len(np.unique(classes)) == 4
    assert np.array_equal(read(tmp_path / "dask-p.tif"), read(tmp_path / "one-p.tif"))  # bit for bit
    assert gdal.Open(str(tmp_path / "dask.tif")).GetGeoTransform() == ROTATED
    assert [done for done, _ in seen] == list(range(1, want.tiles_total + 1))
    assert {total for _, total in seen} == {want.tiles_total}
    assert any(line.startswith("Dask dashboard:") for line in logged)
    assert leftovers(tmp_path) == []


def test_worker_killed_half_way_output_still_equal(tmp_path, cluster):
    src = nodata_raster(tmp_path / "in.tif", seed=3)
    single(src, tmp_path / "one.tif")
    marker = tmp_path / "killed"
    spec = MethodSpec.of(KILL_METHOD, params={"marker": str(marker), "after": 6})
    workers_before = set(cluster.scheduler_info["workers"])
    result = segment_on_cluster(
        src, tmp_path / "dask.tif", spec, labels(), cluster=cluster.scheduler_address, tiles_per_task=2, **TILING
    )
    assert marker.exists()  # a worker process did die, at its 6th tile
    assert set(cluster.scheduler_info["workers"]) != workers_before  # its nanny started a new one
    assert result.tiles_total > 20
    assert np.array_equal(read(tmp_path / "dask.tif"), read(tmp_path / "one.tif"))
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("stop", [CancelledError, KeyboardInterrupt])
def test_cancel_cancels_the_tasks_and_leaves_no_output(tmp_path, cluster, stop):
    """A cancel (Processing's check) or Ctrl-C (KeyboardInterrupt while the client waits for a task)."""
    src = nodata_raster(tmp_path / "in.tif")
    out = tmp_path / "out.tif"
    out.write_bytes(b"the user's earlier result")
    seen = []

    def cancelled() -> bool:
        if stop is KeyboardInterrupt and len(seen) >= 3:
            raise KeyboardInterrupt
        return len(seen) >= 3

    with pytest.raises(stop):
        segment_on_cluster(
            src,
            out,
            MethodSpec.of(CONTEXT_METHOD),
            labels(),
            cluster=cluster.scheduler_address,
            tiles_per_task=1,
            progress=seen.append,
            is_cancelled=cancelled,
            **TILING,
        )
    assert len(seen) == 3
    assert out.read_bytes() == b"the user's earlier result"
    assert leftovers(tmp_path) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["in.tif", "out.tif"]
    deadline = time.monotonic() + 10
    while cluster.scheduler.tasks and time.monotonic() < deadline:  # the scheduler forgets cancelled tasks
        time.sleep(0.05)
    assert not cluster.scheduler.tasks


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_scheduler_is_one_clear_line(tmp_path, capsys, monkeypatch):
    src = nodata_raster(tmp_path / "in.tif", 40, 50)
    address = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(InputError, match=f"cannot reach the Dask scheduler at {address}"):
        segment_on_cluster(
            src, tmp_path / "out.tif", MethodSpec.of(CONTEXT_METHOD), labels(), cluster=address, connect_timeout_s=1
        )
    monkeypatch.setattr("engine.distributed.cluster.CONNECT_TIMEOUT_S", 1.0)
    code = main(["segment", str(src), str(tmp_path / "out.tif"), "--method", CONTEXT_METHOD,
                 "--labels", "a; b; c", "--cluster", address])
    err = capsys.readouterr().err
    assert code != 0
    assert err.startswith(f"error: cannot reach the Dask scheduler at {address}") and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif"]


@pytest.mark.parametrize("address", ["", "local:0", "local:x"])
def test_bad_cluster_option_is_an_input_error(tmp_path, address):
    src = nodata_raster(tmp_path / "in.tif", 40, 50)
    with pytest.raises(InputError, match="--cluster"):
        segment_on_cluster(src, tmp_path / "out.tif", MethodSpec.of(CONTEXT_METHOD), labels(), cluster=address)


def test_list_of_rasters_one_output_each_from_the_command_line(tmp_path, cluster, capsys):
    folder = tmp_path / "tiles"
    folder.mkdir()
    sources = [nodata_raster(folder / f"r{i}.tif", 100 + 20 * i, 140, seed=i) for i in range(2)]
    listing = tmp_path / "rasters.txt"
    listing.write_text("# two rasters\ntiles/r0.tif\n\ntiles/r1.tif\n")
    out = tmp_path / "out"
    out.mkdir()
    args = ["segment", str(listing), str(out), "--method", CONTEXT_METHOD, "--labels", "dark: a; mid: b; bright: c",
            "--tile", "64", "--overlap", "16", "--cluster", cluster.scheduler_address]
    assert main(args) == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("  ")]  # not areas
    assert [line.split(":")[0] for line in printed] == [f"wrote {out / 'r0.tif'}", f"wrote {out / 'r1.tif'}"]
    for source in sources:
        single(source, tmp_path / f"one-{source.name}")
        assert np.array_equal(read(out / source.name), read(tmp_path / f"one-{source.name}"))


def test_products_after_a_cluster_run_equal_the_single_process_ones(tmp_path, cluster, capsys):
    source = nodata_raster(tmp_path / "scene.tif", 120, 150)
    common = ["--method", CONTEXT_METHOD, "--labels", "dark: a; mid: b; bright: c", "--tile", "64", "--overlap", "16"]
    for name, extra in (("one", []), ("dask", ["--cluster", cluster.scheduler_address])):
        outputs = [str(tmp_path / f"{name}.tif"), "--stats", str(tmp_path / f"{name}.json")]
        assert main(["segment", str(source), *outputs, *common, *extra]) == 0
    assert json.loads((tmp_path / "dask.json").read_text()) == json.loads((tmp_path / "one.json").read_text())
    assert "  dark:" in capsys.readouterr().out  # the area lines follow the summary on both paths

    listing = tmp_path / "rasters.txt"
    listing.write_text("scene.tif\n")
    (tmp_path / "outs").mkdir()
    assert main(["segment", str(listing), str(tmp_path / "outs"), *common, "--stats", str(tmp_path / "s.csv"),
                 "--cluster", cluster.scheduler_address]) == 2
    assert "name one file each" in capsys.readouterr().err
    assert not list((tmp_path / "outs").iterdir())


def test_list_outputs_must_not_collide(tmp_path, cluster):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    sources = [nodata_raster(tmp_path / name / "r.tif", 40, 50) for name in ("a", "b")]
    with pytest.raises(InputError, match="would both write"):
        segment_rasters_on_cluster(
            sources, tmp_path, MethodSpec.of(CONTEXT_METHOD), labels(), cluster=cluster.scheduler_address
        )


def test_reader_travels_by_path_and_opens_nothing_when_unpickled(tmp_path):
    """Dask's scheduler unpickles tasks too: a shipped reader opens its raster only when a worker reopens it."""
    import pickle

    from engine.raster.reader import RasterReader
    from engine.raster.tiles import Window

    reader = RasterReader(nodata_raster(tmp_path / "in.tif"))
    shipped = pickle.loads(pickle.dumps(reader))
    assert shipped.dataset is None
    window = Window(60, 50, 64, 64)
    for got, want in zip(shipped.reopened().read(window), reader.read(window), strict=True):
        assert np.array_equal(got, want)


def test_method_specs_pickle_and_key_the_worker_cache():
    """Built-in methods travel by name (their factories are closures), test methods by their factory; an
    unpickled spec keys the same cache entry, so a worker builds its method once, not once per task."""
    import pickle

    for name in ("sdci-v2", "alignclip-s", CONTEXT_METHOD):
        spec = MethodSpec.of(name, params={"b": 2, "a": 1})
        again = pickle.loads(pickle.dumps(spec))
        assert again == spec and hash(again) == hash(spec)
        assert (spec.factory is None) == (name != CONTEXT_METHOD)
        assert spec.params == {"a": 1, "b": 2}
    assert MethodSpec.of("sdci-v2", seed=1) != MethodSpec.of("sdci-v2")
