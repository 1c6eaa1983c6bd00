"""``python -m engine weights list | verify | download`` through ``engine.cli.main``."""

from __future__ import annotations

import hashlib
import io

import pytest
from test_weights_store import NAME, PAYLOAD, LocalServer, register_test_checkpoint, unused_port

from engine.cli import EXIT_USER_ERROR, main
from engine.cli.weights import EXIT_PROBLEM, ByteProgressBar
from engine.weights import registry


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    for var in ("OVSS_WEIGHTS_DIR", "OVSS_CACHE_DIR"):
        monkeypatch.delenv(var, raising=False)
    weights, cache = tmp_path / "weights", tmp_path / "cache"
    weights.mkdir()
    return ["--weights-dir", str(weights), "--cache-dir", str(cache)], weights, cache


def test_list_shows_every_checkpoint_and_local_status(dirs, capsys):
    options, weights, _ = dirs
    (weights / "sam_vit_b_01ec64.pth").write_bytes(b"12345")
    assert main(["weights", "list", *options]) == 0
    lines = capsys.readouterr().out.splitlines()
    by_name = {line.split()[0]: line for line in lines[1:]}
    assert set(by_name) == set(registry.CHECKPOINTS)
    assert f"present {weights / 'sam_vit_b_01ec64.pth'}" in by_name["sam-vitb"]
    assert "used by: alignclip-s" in by_name["sam-vitb"]
    assert all("missing" in line for name, line in by_name.items() if name != "sam-vitb")
    assert str(weights) in lines[0]


@pytest.mark.parametrize(
    "case",
    [
        (PAYLOAD, hashlib.sha256(PAYLOAD).hexdigest(), 0, f"{NAME}: ok"),
        (PAYLOAD + b"!", hashlib.sha256(PAYLOAD).hexdigest(), EXIT_PROBLEM, f"{NAME}: CORRUPT"),
        (PAYLOAD, None, 0, "no published checksum"),
        (None, None, EXIT_PROBLEM, f"{NAME}: missing"),
    ],
)
def test_verify_named(dirs, capsys, monkeypatch, case):
    content, published, code, text = case
    options, weights, _ = dirs
    register_test_checkpoint(monkeypatch, "http://127.0.0.1:9/file.bin", published)
    if content is not None:
        (weights / "file.bin").write_bytes(content)
    # argparse choices were fixed when the parser was built; the registry entry exists by now
    assert main(["weights", "verify", NAME, *options]) == code
    assert text in capsys.readouterr().out


def test_verify_all_reports_missing_without_failing(dirs, capsys):
    options, _, _ = dirs
    assert main(["weights", "verify", *options]) == 0
    out = capsys.readouterr().out
    assert all(f"{name}: missing" in out for name in registry.CHECKPOINTS)


def test_download_from_local_server_is_quiet_off_terminal(dirs, capsys, monkeypatch):
    options, _, cache = dirs
    server = LocalServer(PAYLOAD)
    try:
        register_test_checkpoint(monkeypatch, server.url, hashlib.sha256(PAYLOAD).hexdigest())
        assert main(["weights", "download", NAME, *options]) == 0
    finally:
        server.close()
    captured = capsys.readouterr()
    assert captured.out.strip() == str(cache / "file.bin")
    assert captured.err == ""
    assert (cache / "file.bin").read_bytes() == PAYLOAD


def test_download_without_network_is_one_line_error(dirs, capsys, monkeypatch):
    options, weights, cache = dirs
    url = f"http://127.0.0.1:{unused_port()}/file.bin"
    register_test_checkpoint(monkeypatch, url, None)
    assert main(["weights", "download", NAME, *options]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert url in err and str(weights) in err and str(cache) in err


def test_unknown_name_is_rejected(dirs, capsys):
    options, _, _ = dirs
    with pytest.raises(SystemExit):
        main(["weights", "download", "nope", *options])
    assert "invalid choice" in capsys.readouterr().err


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_on_a_terminal_only():
    tty, pipe = _Tty(), io.StringIO()
    for stream in (tty, pipe):
        bar = ByteProgressBar("f.bin", stream=stream, width=10)
        bar(0, 4 << 20)
        bar(2 << 20, 4 << 20)
        bar(4 << 20, 4 << 20)
        bar.close()
    assert pipe.getvalue() == ""
    frames = tty.getvalue().split("\r")[1:]
    assert frames[1] == "f.bin [#####-----]  50% 2.0/4.0 MiB"
    assert frames[2].startswith("f.bin [##########] 100% 4.0/4.0 MiB") and tty.getvalue().endswith("\n")
