"""The worker process through its client: same results as in-process, and every failure contained.

The worker runs with this repository's Python (which has torch) and imports the test methods of
:mod:`worker_methods`; a failure must give one WorkerError naming what happened, leave no output file, and
the next request must get a fresh worker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal
from raster_fixtures import TEST_METHOD, colour_probabilities, labels, pattern, write_raster
from worker_methods import BATCHED, DELAY_ENV, HANG, OUT_OF_MEMORY, PRINTS

from engine.errors import CancelledError, InputError, WorkerError
from engine.pipeline import segment_raster
from engine.worker.client import RemoteMethod, WorkerClient
from engine.worker.protocol import PROTOCOL_VERSION

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def make_client(delay: float = 0.0, **kwargs) -> tuple[WorkerClient, list[tuple[str, str]]]:
    """A client of a worker run by this Python from the repository, with the test methods; and its log."""
    logs: list[tuple[str, str]] = []
    env = {**os.environ, DELAY_ENV: str(delay), "OMP_NUM_THREADS": "1"}
    client = WorkerClient.for_python(
        sys.executable, ROOT, imports=["worker_methods"], paths=[HERE], env=env, log=lambda *item: logs.append(item),
        **kwargs,
    )
    return client, logs


@pytest.fixture(scope="module")
def client():
    """One worker for the tests that leave it running (each failure test starts its own)."""
    made, _ = make_client()
    yield made
    made.close()


def tile_batch(count: int = 3, size: int = 24) -> np.ndarray:
    return np.stack([pattern(size, size, seed).astype(np.float32) for seed in range(count)])


def raster(tmp_path: Path, size: int = 96) -> Path:
    return write_raster(tmp_path / "in.tif", pattern(size, size))


def test_handshake_reports_versions_and_device(client):
    hello = client.ensure_started()
    assert hello["protocol"] == PROTOCOL_VERSION
    assert hello["engine"] and hello["torch"] and hello["device"] == "cpu"
    assert hello["pid"] == client.pid != os.getpid()


@pytest.mark.parametrize("method", [TEST_METHOD, BATCHED, PRINTS])
def test_predictions_through_the_worker_equal_in_process(client, method):
    remote = RemoteMethod(client, method)
    remote.prepare(labels())
    tiles = tile_batch()
    expected = np.stack([colour_probabilities(tile) for tile in tiles])
    if remote.predict_batch is not None:
        assert np.array_equal(remote.predict_batch(tiles), expected)
    assert np.array_equal(remote.predict(tiles[0]), expected[0])
    assert (remote.predict_batch is None) == (method != BATCHED)
    assert (remote.tile_memory is None) == (method != BATCHED)


@pytest.mark.slow
def test_a_real_method_with_random_weights_gives_the_same_probabilities(client):
    """segearth-ov (random weights, fp32, CPU) at its smallest tile: the worker's batch equals in-process."""
    from engine.methods.base import create_method

    options = {"weights": "random", "device": "cpu", "precision": "fp32", "seed": 3}
    local = create_method("segearth-ov", **options)
    remote = RemoteMethod(client, "segearth-ov", **options)
    assert (remote.name, remote.min_tile, remote.runtime.device) == ("segearth-ov", local.min_tile, "cpu")
    assert remote.metadata == {str(k): str(v) for k, v in local.metadata.items()}
    tiles = tile_batch(2, local.min_tile)
    for method in (local, remote):
        method.prepare(labels())
    expected = local.predict_batch(tiles)
    got = remote.predict_batch(tiles)
    assert got.shape == expected.shape == (2, 3, local.min_tile, local.min_tile)
    assert np.abs(got - expected).max() <= 1e-6
    assert remote.tile_memory(64, 64, labels()) == local.tile_memory(64, 64, labels())


def test_prints_go_to_stderr_and_log_records_to_the_client():
    client, logs = make_client()
    try:
        method = RemoteMethod(client, PRINTS)
        method.prepare(labels())
        tile = tile_batch(1)[0]
        assert np.array_equal(method.predict(tile), colour_probabilities(tile))  # the stream survived the prints
        assert ("warning", "worker_methods: a log record from the method") in logs
        client.close()  # joins the stderr reader: every line is in
        assert ("stderr", "a library chatting on stdout") in logs
        assert ("stderr", "raw bytes on file descriptor 1") in logs
    finally:
        client.close()


def test_the_batched_method_s_memory_estimate_comes_from_the_worker(client):
    remote = RemoteMethod(client, BATCHED)
    assert remote.tile_memory(10, 20, labels()) == 1000 * 10 * 20 * 3


def test_engine_errors_come_back_as_themselves_and_the_worker_stays(client):
    with pytest.raises(InputError, match="unknown method 'nope'"):
        RemoteMethod(client, "nope")
    pid = client.pid
    RemoteMethod(client, TEST_METHOD)
    assert client.pid == pid


def test_segment_raster_through_the_worker_writes_the_same_file(client, tmp_path):
    from raster_fixtures import ColourMethod

    source = raster(tmp_path)
    local = segment_raster(source, tmp_path / "local.tif", ColourMethod(), labels(), tile=32, overlap=8)
    method = RemoteMethod(client, TEST_METHOD)
    remote = segment_raster(source, tmp_path / "remote.tif", method, labels(), tile=32, overlap=8)
    assert remote.class_pixels == local.class_pixels and remote.batch == local.batch
    a, b = gdal.Open(str(local.output_path)), gdal.Open(str(remote.output_path))
    assert np.array_equal(a.ReadAsArray(), b.ReadAsArray())
    assert a.GetMetadata() == b.GetMetadata()


def test_kill_9_mid_run_is_one_error_no_output_and_the_next_run_works(tmp_path):
    client, _ = make_client(delay=0.2)
    try:
        source, output = raster(tmp_path), tmp_path / "out.tif"
        method = RemoteMethod(client, TEST_METHOD)
        pid = client.pid

        def kill_on_first_tile(progress) -> None:
            if progress.tiles_done == 1:
                os.kill(pid, signal.SIGKILL)

        with pytest.raises(WorkerError, match=r"stopped during 'predict' \(exit code -9, killed by signal 9"):
            segment_raster(source, output, method, labels(), tile=32, overlap=8, progress=kill_on_first_tile)
        assert not output.exists() and list(tmp_path.iterdir()) == [source]
        assert not client.running
        result = segment_raster(source, output, method, labels(), tile=32, overlap=8)  # a fresh worker, prepared again
        assert client.pid != pid and result.output_path.exists()
    finally:
        client.close()


def test_a_hanging_worker_is_stopped_after_the_timeout():
    client, _ = make_client(timeouts_s={"predict": 1.0})
    try:
        method = RemoteMethod(client, HANG)
        method.prepare(labels())
        started = time.monotonic()
        with pytest.raises(WorkerError, match=r"did not answer 'predict' within 1 s and was stopped"):
            method.predict(tile_batch(1)[0])
        assert time.monotonic() - started < 10 and not client.running
    finally:
        client.close()


def test_out_of_memory_in_the_worker_is_one_clear_error(client):
    method = RemoteMethod(client, OUT_OF_MEMORY)
    with pytest.raises(WorkerError, match=r"ran out of memory \(MemoryError: cannot allocate 64 GiB\)"):
        method.predict(tile_batch(1)[0])
    assert not client.running
    RemoteMethod(client, TEST_METHOD)  # the next request gets a fresh worker
    assert client.running and client.generation == 2


def _fake_worker(script: str) -> WorkerClient:
    code = f"import sys, time; sys.path.insert(0, {str(ROOT)!r}); {script}; sys.stdout.flush(); time.sleep(60)"
    return WorkerClient([sys.executable, "-c", code], timeouts_s={"hello": 20.0})


def test_garbage_on_the_stream_is_one_clear_error():
    client = _fake_worker("sys.stdout.write('Loading model...\\n' * 3)")
    with pytest.raises(WorkerError, match=r"answered garbage: not a protocol frame: b'Load"):
        client.ensure_started()
    assert not client.running


def test_another_protocol_version_is_refused():
    client = _fake_worker(
        "from engine.worker.protocol import Message, write_message; "
        "write_message(sys.stdout.buffer, Message('hello', {'protocol': 999}))"
    )
    with pytest.raises(WorkerError, match=f"speaks protocol version 999, this plugin needs version {PROTOCOL_VERSION}"):
        client.ensure_started()
    assert not client.running


def test_another_engine_version_is_refused():
    client = _fake_worker(
        "from engine.worker.protocol import Message, write_message; "
        "write_message(sys.stdout.buffer, Message('hello', "
        f"{{'protocol': {PROTOCOL_VERSION}, 'engine': '0.0.1-other'}}))"
    )
    with pytest.raises(WorkerError, match=r"runs engine 0.0.1-other, this plugin is .*another copy of the engine"):
        client.ensure_started()
    assert not client.running


def test_a_worker_that_cannot_start_says_why():
    client = WorkerClient([sys.executable, "-c", "import no_such_module_for_the_worker"])
    with pytest.raises(WorkerError, match=r"before it was ready \(exit code 1\).*No module named"):
        client.ensure_started()
    with pytest.raises(WorkerError, match="cannot start the worker /no/such/python"):
        WorkerClient(["/no/such/python"]).ensure_started()


def test_cancel_stops_the_worker_within_a_batch(tmp_path):
    client, _ = make_client(delay=0.5)
    try:
        method = RemoteMethod(client, BATCHED)
        pid = client.pid
        started = time.monotonic()
        with pytest.raises(CancelledError):
            segment_raster(
                raster(tmp_path, 64), tmp_path / "out.tif", method, labels(), tile=16, overlap=0, batch=16,
                is_cancelled=lambda: time.monotonic() - started > 1.0,
            )
        elapsed = time.monotonic() - started
        assert elapsed < 3.0  # the batch of 16 tiles takes 8 s; the worker stopped after the tile it was on
        assert client.pid == pid and client.running  # it stopped by itself, nobody killed it
        assert not (tmp_path / "out.tif").exists()
    finally:
        client.close()


def test_a_worker_that_ignores_the_cancel_is_killed(tmp_path):
    client, logs = make_client(cancel_grace_s=0.5)
    try:
        method = RemoteMethod(client, HANG)
        started = time.monotonic()
        with pytest.raises(CancelledError):
            segment_raster(
                raster(tmp_path, 32), tmp_path / "out.tif", method, labels(), tile=16, overlap=0,
                is_cancelled=lambda: time.monotonic() - started > 0.5,
            )
        assert time.monotonic() - started < 5.0 and not client.running
        assert any("did not stop within 0.5 s" in line for _, line in logs)
        assert not (tmp_path / "out.tif").exists()
    finally:
        client.close()


def test_models_are_kept_freed_on_request_and_after_an_idle_time():
    client, logs = make_client(idle_free_s=0.5)
    try:
        RemoteMethod(client, TEST_METHOD)
        assert client.free_models() is True and client.free_models() is False
        RemoteMethod(client, TEST_METHOD)
        deadline = time.monotonic() + 10
        while not any("models freed after 0.5 s" in line for _, line in logs) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert any("models freed after 0.5 s" in line for _, line in logs)
        assert client.free_models() is False
    finally:
        client.close()


def test_the_client_runs_where_torch_cannot_be_imported(tmp_path):
    """QGIS's Python has numpy and GDAL only: the client side must not need torch."""
    script = f"""
import sys
sys.modules["torch"] = None  # import torch now raises ImportError
sys.path[:0] = [{str(ROOT)!r}, {str(HERE)!r}]
from raster_fixtures import TEST_METHOD, labels, pattern, write_raster
from engine.pipeline import segment_raster
from engine.worker.client import RemoteMethod, WorkerClient
client = WorkerClient.for_python(sys.executable, {str(ROOT)!r}, imports=["raster_fixtures"], paths=[{str(HERE)!r}],
                                 env={{"OMP_NUM_THREADS": "1", "PYTHONPATH": "/nowhere"}})
source = write_raster(__import__("pathlib").Path({str(tmp_path)!r}) / "in.tif", pattern(40, 40))
method = RemoteMethod(client, TEST_METHOD)
result = segment_raster(source, {str(tmp_path / "out.tif")!r}, method, labels(), tile=16, overlap=4)
client.close()
print("torch absent:", sys.modules["torch"] is None, "pixels:", sum(result.class_pixels))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "torch absent: True pixels: 1600" in done.stdout


def test_the_worker_runs_methods_with_its_feature_cache_and_frees_it():
    """The feature cache lives with the models in the worker: predict runs inside it, ``free`` empties it."""
    import io

    import torch

    from engine.cache import active_cache, feature_cache
    from engine.worker.protocol import Message
    from engine.worker.server import WorkerServer

    server = WorkerServer(io.BytesIO(), io.BytesIO())
    seen = []

    class Probe:
        name = "cache-probe"
        min_tile = 1

        def predict(self, tile: np.ndarray) -> np.ndarray:
            seen.append(active_cache())
            return np.ones((1, *tile.shape[1:]), np.float32)

    server._method = lambda request: Probe()  # the method a request names, without building one
    tiles = np.zeros((2, 3, 4, 4), np.float32)
    answer = server.predict_batch(Message("predict_batch", {"method": "cache-probe"}, {"tiles": tiles}))
    assert answer.arrays["probabilities"].shape == (2, 1, 4, 4)
    assert seen == [feature_cache(), feature_cache()] and active_cache() is None

    feature_cache().put("probe", {"features": torch.zeros(4)})
    server.free(Message("free", {}))
    assert feature_cache().stats().entries == 0
