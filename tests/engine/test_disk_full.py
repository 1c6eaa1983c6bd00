"""A full disk: refused before model work when the estimate does not fit, one line and nothing left behind
when the disk fills during the run (GDAL faults injected at its boundary, and a real 1 MB tmpfs when the
machine allows mounting one)."""

import re
import shutil
import subprocess
from collections import namedtuple

import pytest
from osgeo import gdal
from raster_fixtures import TEST_METHOD, ColourMethod, labels, pattern, write_raster

from engine.cli import main
from engine.errors import RasterError
from engine.pipeline import segment_raster

ENOSPC = "_tiffWriteProc:No space left on device"


def no_space(folder):
    """The one line the run must end with for a full ``folder``."""
    return rf"^no space left on {re.escape(str(folder))} \(needs about \d+ MB\)"


def inputs(tmp_path, size=200):
    folder = tmp_path / "in"
    folder.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    return write_raster(folder / "src.tif", pattern(size, size)), out


def run(src, out, method, **kwargs):
    return segment_raster(src, out, method, labels(), tile=64, overlap=8, **kwargs)


def test_write_error_at_the_first_flush_stops_the_run(tmp_path, monkeypatch):
    src, out = inputs(tmp_path)
    flush = gdal.Dataset.FlushCache

    def full_disk(dataset):
        flush(dataset)
        if dataset.GetDescription().endswith(".raw.tif"):
            gdal.Error(gdal.CE_Failure, gdal.CPLE_FileIO, ENOSPC)

    monkeypatch.setattr(gdal.Dataset, "FlushCache", full_disk)
    method = ColourMethod()
    with pytest.raises(RasterError, match=no_space(out)):
        run(src, out / "classes.tif", method, confidence_path=out / "conf.tif")
    # stopped at the first failed write, not after every tile (16): the writing thread runs at most one
    # batch (here of one tile) behind the method, so the method may have predicted one or two tiles more
    assert len(method.calls) <= 3
    assert list(out.iterdir()) == []


def test_failed_read_back_while_compressing_is_one_line_not_a_traceback(tmp_path, monkeypatch):
    src, out = inputs(tmp_path)
    read = gdal.Band.ReadAsArray

    def truncated(band, *args, **kwargs):
        if band.GetDataset().GetDescription().endswith(".raw.tif"):
            gdal.Error(gdal.CE_Failure, gdal.CPLE_FileIO, ENOSPC)
            gdal.Error(gdal.CE_Failure, gdal.CPLE_AppDefined, "TIFFReadEncodedTile() failed.")
            return None
        return read(band, *args, **kwargs)

    monkeypatch.setattr(gdal.Band, "ReadAsArray", truncated)
    with pytest.raises(RasterError, match=no_space(out)):
        run(src, out / "classes.tif", ColourMethod())
    assert list(out.iterdir()) == []


def test_other_gdal_write_errors_name_the_output_and_gdals_reason(tmp_path, monkeypatch):
    src, out = inputs(tmp_path)
    flush = gdal.Dataset.FlushCache

    def broken(dataset):
        flush(dataset)
        if dataset.GetDescription().endswith(".raw.tif"):
            gdal.Error(gdal.CE_Failure, gdal.CPLE_FileIO, "Input/output error")

    monkeypatch.setattr(gdal.Dataset, "FlushCache", broken)
    with pytest.raises(RasterError, match=r"cannot write .*classes\.tif: Input/output error$"):
        run(src, out / "classes.tif", ColourMethod())
    assert list(out.iterdir()) == []


def test_free_space_is_checked_against_all_outputs_before_model_work(tmp_path, monkeypatch, capsys):
    src, out = inputs(tmp_path, size=100)
    usage = namedtuple("usage", "total used free")
    classes = 100 * 100  # one Byte band
    probabilities = 100 * 100 * 3 * 4  # three Float32 bands
    # peak: every uncompressed temporary file at once, each with its compressed copy growing beside it
    need = 2 * (classes + probabilities)
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage(10**9, 0, need - 1))
    method = ColourMethod()
    with pytest.raises(RasterError, match=no_space(out) + r", 0 MB free$"):
        run(src, out / "classes.tif", method, probabilities_path=out / "p.tif")
    assert method.prepared is None and method.calls == []
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage(10**9, 0, need))
    run(src, out / "classes.tif", method, probabilities_path=out / "p.tif")
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage(10**9, 0, need - 1))
    code = main(["segment", str(src), str(out / "again.tif"), "--method", TEST_METHOD,
                 "--labels", "a; b; c", "--probabilities", str(out / "p2.tif")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "no space left on" in err
    assert not (out / "again.tif").exists()


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MB tmpfs (skip where mounting is not permitted)."""
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=False)  # even while a failed test holds a file


def test_real_small_disk_is_refused_before_model_work(tmp_path, small_disk, capsys):
    src, _ = inputs(tmp_path, size=900)  # 0.8 MB of classes: 1.6 MB at the peak, on a 1 MB disk
    code = main(["segment", str(src), str(small_disk / "c.tif"), "--method", TEST_METHOD, "--labels", "a; b; c"])
    err = capsys.readouterr().err
    assert code == 2
    assert re.match(no_space(small_disk) + r", 1 MB free$", err.removeprefix("error: ").strip())
    assert list(small_disk.iterdir()) == []


def test_real_disk_filling_during_the_run_stops_with_one_line_and_no_output(tmp_path, small_disk):
    src, _ = inputs(tmp_path, size=400)  # fits: 0.3 MB at the peak
    filler = small_disk / "someone-else.bin"

    class FillsTheDisk(ColourMethod):
        def predict(self, tile):
            if not self.calls:  # another program takes what is left
                with open(filler, "wb") as handle, pytest.raises(OSError):
                    handle.write(b"x" * 2 * 1024 * 1024)
            return super().predict(tile)

    method = FillsTheDisk()
    with pytest.raises(RasterError, match=no_space(small_disk)):
        run(src, small_disk / "classes.tif", method)
    assert len(method.calls) < 4  # 64 tiles planned: stopped at the first write that failed
    assert [p.name for p in small_disk.iterdir()] == [filler.name]


def test_disk_full_while_compressing_the_last_output_leaves_none_of_the_run(tmp_path, monkeypatch):
    src, out = inputs(tmp_path)
    (out / "classes.tif").write_bytes(b"an earlier result")
    flush = gdal.Dataset.FlushCache

    def full_at_the_end(dataset):
        flush(dataset)
        name = dataset.GetDescription()
        if ".classes." in name and not name.endswith(".raw.tif"):  # the class raster is compressed last
            gdal.Error(gdal.CE_Failure, gdal.CPLE_FileIO, ENOSPC)

    monkeypatch.setattr(gdal.Dataset, "FlushCache", full_at_the_end)
    with pytest.raises(RasterError, match=no_space(out)):
        run(src, out / "classes.tif", ColourMethod(), confidence_path=out / "conf.tif",
            probabilities_path=out / "p.tif")
    assert sorted(p.name for p in out.iterdir()) == ["classes.tif"]  # no confidence, no probabilities
    assert (out / "classes.tif").read_bytes() == b"an earlier result"
