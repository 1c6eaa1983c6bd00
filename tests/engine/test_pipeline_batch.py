"""Batches and overlapped I/O in ``segment_raster``: batched and one-by-one outputs are identical, the batch
size is chosen from the memory or given, a cancel acts within a batch, failures of the reading and writing
threads are one line and leave nothing, and the tiles in flight do not grow with the raster."""

import json
import threading
import time

import numpy as np
import pytest
from osgeo import gdal
from raster_fixtures import (
    TEST_METHOD,
    ColourMethod,
    colour_probabilities,
    expected_classes,
    labels,
    pattern,
    write_raster,
)

from engine import memory
from engine.cli import main
from engine.errors import CancelledError, InputError, RasterError
from engine.methods.base import cancel_point
from engine.pipeline import segment_raster
from engine.raster.reader import RasterReader
from engine.raster.tiles import plan_tiles
from engine.raster.writer import GeoTiffWriter

TILE, OVERLAP = 32, 8
GB = 1024**3


class BatchColourMethod(ColourMethod):
    """The colour test double with its own ``predict_batch`` (one vectorised pass); records each batch's shape
    and calls the cancel point between its tiles, as a method that loops over them does."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.batches: list[tuple[int, ...]] = []

    def predict_batch(self, tiles: np.ndarray) -> np.ndarray:
        assert tiles.dtype == np.float32 and tiles.ndim == 4 and tiles.flags.c_contiguous
        self.batches.append(tiles.shape)
        out = []
        for index, tile in enumerate(tiles):
            if index:
                cancel_point()
            self.calls.append(tile.shape)
            out.append(colour_probabilities(tile))
        return np.stack(out)


def ovss_threads():
    return [thread for thread in threading.enumerate() if thread.name.startswith("ovss-")]


def source(tmp_path, height=150, width=170):
    """A raster with an all-nodata corner (skipped tiles) and a ragged last row and column of tiles."""
    data = pattern(height, width, seed=4)
    data[:, :40, :70] = 0
    return write_raster(tmp_path / "in.tif", data, nodata=0)


def run(src, out, method, **kwargs):
    kwargs.setdefault("tile", TILE)
    kwargs.setdefault("overlap", OVERLAP)
    return segment_raster(src, out, method, labels(), **kwargs)


def read(path):
    return gdal.Open(str(path)).ReadAsArray()


@pytest.mark.parametrize("kind", [ColourMethod, BatchColourMethod])
@pytest.mark.parametrize("batch", [2, 5, 64])
def test_batched_and_one_by_one_outputs_are_identical(tmp_path, kind, batch):
    src = source(tmp_path)
    one = run(src, tmp_path / "one.tif", kind(), batch=1, probabilities_path=tmp_path / "p1.tif")
    method = kind()
    many = run(src, tmp_path / "many.tif", method, batch=batch, probabilities_path=tmp_path / "pn.tif")
    assert one.batch == 1 and many.batch == min(batch, many.tiles_total)
    assert np.array_equal(read(one.output_path), read(many.output_path))
    assert np.array_equal(read(one.probabilities_path), read(many.probabilities_path))
    assert one.class_pixels == many.class_pixels and one.tiles_skipped == many.tiles_skipped > 0
    predicted = many.tiles_total - many.tiles_skipped
    assert len(method.calls) == predicted  # the all-nodata tiles never reach the method
    if kind is BatchColourMethod:
        sizes = [shape[0] for shape in method.batches]
        assert sum(sizes) == predicted and max(sizes) == min(batch, predicted)
        assert {shape[1:] for shape in method.batches} == {(3, TILE, TILE)}


def test_the_batch_size_is_recorded(tmp_path):
    result = run(source(tmp_path), tmp_path / "out.tif", BatchColourMethod(), batch=3)
    settings = json.loads(gdal.Open(str(result.output_path)).GetMetadataItem("OVSS_SETTINGS"))
    assert settings["batch"] == 3


class GpuBatchColourMethod(BatchColourMethod):
    """The batched colour double as if it ran on a CUDA device, with a per-tile estimate of 1 GB there."""

    runtime = type("Runtime", (), {"device": "cuda:0"})()

    def tile_memory(self, height, width, label_set):
        return GB


def test_automatic_batch_from_the_free_memory(tmp_path, monkeypatch):
    src = source(tmp_path)  # 42 tiles
    monkeypatch.setattr(memory, "available_memory", lambda: 64 * GB)
    device_free = [80 * GB]
    monkeypatch.setattr(memory, "device_free_memory", lambda device: device_free[0] if device == "cuda:0" else None)
    assert run(src, tmp_path / "a.tif", GpuBatchColourMethod()).batch == memory.AUTO_BATCH_CAP["cuda"]
    # room on the device for five tiles within the share an automatic batch may plan with, not for six
    device_free[0] = int(5 * GB / memory.AUTO_MEMORY_SHARE) + 1
    assert run(src, tmp_path / "b.tif", GpuBatchColourMethod()).batch == 5
    device_free[0] = GB // 2  # not even one tile: the memory check says so
    with pytest.raises(InputError, match=r"a tile of 32 x 32 pixels .* cuda:0 memory"):
        run(src, tmp_path / "c.tif", GpuBatchColourMethod())
    device_free[0] = 80 * GB
    one_tile = write_raster(tmp_path / "one.tif", pattern(20, 20))
    assert run(one_tile, tmp_path / "d.tif", GpuBatchColourMethod()).batch == 1  # never more than the tiles
    assert run(src, tmp_path / "e.tif", ColourMethod()).batch == 1  # no predict_batch of its own
    cpu = run(src, tmp_path / "f.tif", BatchColourMethod()).batch
    assert cpu == memory.AUTO_BATCH_CAP["cpu"]
    # on the host the same rule: as many as fit the share of the free memory, here two
    plan = plan_tiles(170, 150, TILE, OVERLAP)
    monkeypatch.setattr(memory, "AUTO_BATCH_CAP", {"cpu": 8})
    two = memory.estimate_run(plan, labels(), batch=2).host
    monkeypatch.setattr(memory, "available_memory", lambda: int(two / memory.AUTO_MEMORY_SHARE) + 1)
    assert run(src, tmp_path / "g.tif", BatchColourMethod()).batch == 2


def test_the_memory_check_counts_the_batch(tmp_path, monkeypatch):
    src = source(tmp_path)
    plan = plan_tiles(170, 150, TILE, OVERLAP)
    two = memory.estimate_run(plan, labels(), batch=2)
    assert two.host > memory.estimate_run(plan, labels(), batch=1).host
    monkeypatch.setattr(memory, "available_memory", lambda: two.host)
    assert run(src, tmp_path / "ok.tif", BatchColourMethod(), batch=2).batch == 2
    method = BatchColourMethod()
    message = r"a batch of 3 tiles of 32 x 32 pixels with 3 classes needs about .* choose a smaller batch or tile size"
    with pytest.raises(InputError, match=message):
        run(src, tmp_path / "no.tif", method, batch=3)
    assert method.calls == [] and not (tmp_path / "no.tif").exists()


def test_a_negative_batch_is_refused_before_model_work(tmp_path):
    method = ColourMethod()
    with pytest.raises(InputError, match=r"batch must be 0 \(automatic\) or a positive number of tiles, got -1"):
        run(source(tmp_path), tmp_path / "out.tif", method, batch=-1)
    assert method.prepared is None


@pytest.mark.parametrize("kind", [ColourMethod, BatchColourMethod])
def test_cancel_acts_within_a_batch(tmp_path, kind):
    src = write_raster(tmp_path / "in.tif", pattern(100, 100))  # 16 tiles with data
    (tmp_path / "out").mkdir()
    method = kind()
    with pytest.raises(CancelledError, match="stopped after 0 of 16 tiles"):
        run(src, tmp_path / "out" / "o.tif", method, batch=8, is_cancelled=lambda: len(method.calls) >= 2)
    assert len(method.calls) == 2  # stopped between the second and third tile of the first batch of 8
    assert list((tmp_path / "out").iterdir()) == []
    assert ovss_threads() == []


def test_progress_counts_every_tile_of_a_batch(tmp_path):
    reports = []
    result = run(source(tmp_path), tmp_path / "out.tif", BatchColourMethod(), batch=4, progress=reports.append)
    assert [r.tiles_done for r in reports] == list(range(1, result.tiles_total + 1))
    assert reports[-1].remaining_s == 0.0


def test_a_read_failure_in_the_reading_thread_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    src = write_raster(tmp_path / "in.tif", pattern(100, 100))
    (tmp_path / "out").mkdir()
    read_window = RasterReader.read
    calls = []

    def failing(reader, window):
        calls.append(threading.current_thread().name)
        if len(calls) == 5:
            raise RasterError(f"cannot read band 1 of {src} at {window}")
        return read_window(reader, window)

    monkeypatch.setattr(RasterReader, "read", failing)
    with pytest.raises(RasterError, match=r"^cannot read band 1 of .*in\.tif at Window"):
        run(src, tmp_path / "out" / "o.tif", BatchColourMethod(), batch=2, confidence_path=tmp_path / "out" / "c.tif")
    assert set(calls) == {"ovss-read"}  # read in the background thread
    assert list((tmp_path / "out").iterdir()) == []
    assert ovss_threads() == []


def test_a_write_failure_in_the_writing_thread_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    src = write_raster(tmp_path / "in.tif", pattern(100, 100))
    (tmp_path / "out").mkdir()
    write_block = GeoTiffWriter.write
    calls = []

    def failing(writer, window, array):
        calls.append(threading.current_thread().name)
        if len(calls) == 3:
            raise RasterError(f"cannot write {writer.target}: GDAL refused the block at {window}")
        return write_block(writer, window, array)

    monkeypatch.setattr(GeoTiffWriter, "write", failing)
    method = BatchColourMethod()
    with pytest.raises(RasterError, match=r"^cannot write .*o\.tif: GDAL refused the block"):
        run(src, tmp_path / "out" / "o.tif", method, batch=2)
    assert set(calls) == {"ovss-write"}  # written in the background thread
    assert len(method.calls) < 16  # stopped soon after the failure, not at the end of the raster
    assert list((tmp_path / "out").iterdir()) == []
    assert ovss_threads() == []


@pytest.mark.parametrize("size", [160, 480])  # 25 and 225 tiles
def test_the_tiles_in_flight_do_not_grow_with_the_raster(tmp_path, monkeypatch, size):
    """Reading runs ahead of writing by at most the prefetch, the batch and the writing queue: a few batches,
    whatever the number of tiles (the writer is made slow, so an unbounded reader would run far ahead)."""
    batch = 3
    src = write_raster(tmp_path / "in.tif", pattern(size, size))
    read_window, write_block = RasterReader.read, GeoTiffWriter.write
    counts = {"read": 0, "written": 0}
    ahead = []

    def counted_read(reader, window):
        counts["read"] += 1
        ahead.append(counts["read"] - counts["written"])
        return read_window(reader, window)

    def slow_write(writer, window, array):
        time.sleep(0.002)
        counts["written"] += 1
        return write_block(writer, window, array)

    monkeypatch.setattr(RasterReader, "read", counted_read)
    monkeypatch.setattr(GeoTiffWriter, "write", slow_write)
    result = run(src, tmp_path / "out.tif", BatchColourMethod(), tile=TILE, overlap=0, batch=batch)
    assert result.tiles_total == (size // TILE) ** 2 and counts["written"] == result.tiles_total
    # one tile being read, the prefetch queue (batch), the batch being gathered (up to 2 * batch), the
    # writing queue (batch) and the tile being written
    assert max(ahead) <= 4 * batch + 2


def test_cli_batch(tmp_path, capsys):
    src = write_raster(tmp_path / "in.tif", pattern(100, 100))
    out = tmp_path / "out.tif"
    args = ["segment", str(src), str(out), "--method", TEST_METHOD, "--labels", "a; b; c", "--tile", "32"]
    assert main([*args, "--batch", "3", "--overlap", "8"]) == 0
    assert json.loads(gdal.Open(str(out)).GetMetadataItem("OVSS_SETTINGS"))["batch"] == 3
    assert main([*args, "--batch", "-2", "--overlap", "8"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "batch must be 0 (automatic) or a positive number of tiles, got -2" in err


def test_outputs_are_compressed_in_the_writing_thread_while_the_method_runs(tmp_path, monkeypatch):
    src = write_raster(tmp_path / "in.tif", pattern(600, 300))  # 256-row strips finish long before the end
    compress_rows = GeoTiffWriter.compress_rows
    method = BatchColourMethod()
    copied = []

    def recorded(writer, rows):
        before = writer._compressed_rows
        compress_rows(writer, rows)
        if writer._compressed_rows > before:
            copied.append((threading.current_thread().name, writer._compressed_rows, len(method.calls)))

    monkeypatch.setattr(GeoTiffWriter, "compress_rows", recorded)
    result = run(src, tmp_path / "out.tif", method, tile=64, overlap=8, batch=2, confidence_path=tmp_path / "c.tif")
    assert {name for name, _, _ in copied} == {"ovss-write"}
    assert copied[-1][1] == 600  # everything was copied before the commit
    assert any(rows >= 256 and predicted < result.tiles_total for _, rows, predicted in copied)
    assert np.array_equal(read(result.output_path), expected_classes(pattern(600, 300)))
