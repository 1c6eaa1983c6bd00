"""Temporary files of the writer: a SIGTERM removes them like Ctrl-C; after a SIGKILL the next run into the
folder removes those of the dead run (by owner process and age) and never those of a live run. The runs are
real ``segment`` processes (``slow_segment.py``) signalled while they write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from raster_fixtures import TEST_METHOD, pattern, write_raster

from engine.cli import EXIT_TERMINATED, main
from engine.raster import temporaries
from engine.raster.temporaries import STALE_AFTER_S, create_temporary, owner_tag, remove_stale_temporaries

HERE = Path(__file__).resolve().parent
LABELS = "dark: shadow; mid: grey; bright: roofs"
TILING = ["--tile", "32", "--overlap", "4"]


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def reaped_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def backdate(paths: list[Path], seconds: float) -> None:
    past = time.time() - seconds
    for path in paths:
        os.utime(path, (past, past))


def test_stale_means_dead_owner_of_this_namespace_and_old(tmp_path):
    dead = reaped_pid()
    other = format(int(owner_tag(), 16) ^ 1, "08x")  # another host or PID namespace
    names = {
        "dead-old": f".o.ovss-{owner_tag()}-{dead}-0123abcd.raw.tif",
        "dead-old-sidecar": f".o.ovss-{owner_tag()}-{dead}-0123abcd.tif.aux.xml",
        "dead-fresh": f".p.ovss-{owner_tag()}-{dead}-4567cdef.tif",
        "live-old": f".q.ovss-{owner_tag()}-{os.getpid()}-89abcdef.raw.tif",
        "other-host-old": f".r.ovss-{other}-{dead}-01234567.tif",
        "not-ours": ".s.tif",
    }
    for name in names.values():
        (tmp_path / name).write_bytes(b"x")
    backdate([tmp_path / n for k, n in names.items() if k != "dead-fresh"], STALE_AFTER_S + 5)
    removed = remove_stale_temporaries(tmp_path)
    assert sorted(p.name for p in removed) == sorted([names["dead-old"], names["dead-old-sidecar"]])
    assert hidden(tmp_path) == sorted(n for k, n in names.items() if not k.startswith("dead-old"))


def test_temporaries_are_named_after_their_owner(tmp_path):
    path = create_temporary(tmp_path / "out.tif", ".raw.tif")
    assert path.name.startswith(f".out.ovss-{owner_tag()}-{os.getpid()}-") and path.name.endswith(".raw.tif")
    assert remove_stale_temporaries(tmp_path, now=time.time() + 10 * STALE_AFTER_S) == []


def start_slow_run(src: Path, out: Path) -> subprocess.Popen:
    """A ``segment`` process into ``out``, returned once its temporaries exist."""
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "slow_segment.py"), "segment", str(src), str(out),
         "--method", "slow-colours", "--labels", LABELS, *TILING],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len([n for n in hidden(out.parent) if f"-{proc.pid}-" in n]) < 2:
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "the run never created its temporaries"
        time.sleep(0.05)
    return proc


def segment_here(src: Path, out: Path) -> None:
    assert main(["segment", str(src), str(out), "--method", TEST_METHOD, "--labels", LABELS, *TILING]) == 0


@pytest.fixture
def scene(tmp_path):
    (tmp_path / "out").mkdir()
    return write_raster(tmp_path / "in.tif", pattern(100, 130)), tmp_path / "out"


def test_sigterm_cleans_up_and_a_live_runs_files_are_kept(scene, monkeypatch):
    src, out = scene
    proc = start_slow_run(src, out / "slow.tif")
    try:
        theirs = [out / n for n in hidden(out)]
        monkeypatch.setattr(temporaries, "STALE_AFTER_S", -1e9)  # only the owner's liveness protects them
        segment_here(src, out / "mine.tif")
        assert all(path.exists() for path in theirs)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == EXIT_TERMINATED
    finally:
        proc.kill()
        proc.wait()
    assert proc.stderr.read().strip().splitlines()[-1] == "terminated"
    assert hidden(out) == [] and not (out / "slow.tif").exists()
    assert (out / "mine.tif").exists()


def test_after_sigkill_the_next_run_removes_the_dead_runs_files(scene):
    src, out = scene
    proc = start_slow_run(src, out / "slow.tif")
    proc.kill()
    proc.wait()
    proc.stderr.close()
    left = [out / n for n in hidden(out)]
    assert len(left) >= 2 and all(f"-{proc.pid}-" in p.name for p in left)
    segment_here(src, out / "first.tif")
    assert all(path.exists() for path in left)  # too fresh: an owner elsewhere might still write them
    backdate(left, STALE_AFTER_S + 1)
    segment_here(src, out / "second.tif")
    assert hidden(out) == []
    assert sorted(p.name for p in out.glob("*.tif")) == ["first.tif", "second.tif"]
