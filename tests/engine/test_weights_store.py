"""Checkpoint resolution and downloads, against an HTTP server on 127.0.0.1 started by the tests."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import itertools
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.errors import CancelledError, ChecksumError, DownloadError, MissingWeightsError
from engine.weights import registry, store

PAYLOAD = bytes(range(256)) * 64 + b"tail"  # 16388 bytes, a few read chunks at CHUNK_BYTES below
NAME = "test-ckpt"


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.body`` at ``/file.bin`` with Range support and switchable misbehaviour."""

    def log_message(self, *args: object) -> None:
        """Keep the test output clean."""

    def do_GET(self) -> None:
        srv: LocalServer = self.server.owner  # type: ignore[attr-defined]
        srv.ranges.append(self.headers.get("Range"))
        if self.path != "/file.bin":
            self.send_error(404)
            return
        body = srv.body if srv.mode != "wrong" else b"x" * len(srv.body)
        start = 0
        range_header = self.headers.get("Range")
        if range_header and srv.mode != "ignore_range":
            start = int(range_header.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        rest = body[start:]
        self.wfile.write(rest[: len(rest) // 2] if srv.mode == "cut" else rest)


class LocalServer:
    """A threaded HTTP server on 127.0.0.1; ``mode`` is normal, ignore_range, cut or wrong."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.mode = "normal"
        self.ranges: list[str | None] = []
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/file.bin"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer(PAYLOAD)
    yield srv
    srv.close()


def register_test_checkpoint(monkeypatch: pytest.MonkeyPatch, url: str, sha256: str | None) -> None:
    """Add a registry record ``test-ckpt`` pointing at ``url`` (never the real internet)."""
    base = registry.CHECKPOINTS["simfeatup-jbu-stack-clip-b16"]
    record = dataclasses.replace(base, name=NAME, filename="file.bin", url=url, sha256=sha256, size=None)
    monkeypatch.setitem(registry.CHECKPOINTS, NAME, record)


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A user weights folder and a cache folder, with the environment cleared of overrides."""
    for var in (store.ENV_WEIGHTS_DIR, store.ENV_CACHE_DIR):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(store, "CHUNK_BYTES", 4096)
    return tmp_path / "weights", tmp_path / "cache"


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_full_download_reports_progress_and_verifies(server, folders, monkeypatch):
    weights_dir, cache_dir = folders
    register_test_checkpoint(monkeypatch, server.url, sha(PAYLOAD))
    calls: list[tuple[int, int | None]] = []
    path = store.resolve_checkpoint(
        NAME, weights_dir=weights_dir, cache_dir=cache_dir, progress=lambda d, t: calls.append((d, t))
    )
    assert path == cache_dir / "file.bin"
    assert path.read_bytes() == PAYLOAD
    assert not (cache_dir / "file.bin.part").exists()
    assert calls[0] == (0, len(PAYLOAD)) and calls[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(calls))
    assert len(calls) > 2  # several chunks
    assert server.ranges == [None]


def test_resume_partial_file_with_range_request(server, folders, monkeypatch):
    _, cache_dir = folders
    register_test_checkpoint(monkeypatch, server.url, sha(PAYLOAD))
    cache_dir.mkdir(parents=True)
    (cache_dir / "file.bin.part").write_bytes(PAYLOAD[:1000])
    calls: list[tuple[int, int | None]] = []
    path = store.resolve_checkpoint(NAME, cache_dir=cache_dir, progress=lambda d, t: calls.append((d, t)))
    assert server.ranges == ["bytes=1000-"]
    assert calls[0] == (1000, len(PAYLOAD))
    assert path.read_bytes() == PAYLOAD


def test_server_ignoring_range_restarts_the_file(server, folders, monkeypatch):
    _, cache_dir = folders
    register_test_checkpoint(monkeypatch, server.url, sha(PAYLOAD))
    server.mode = "ignore_range"
    cache_dir.mkdir(parents=True)
    (cache_dir / "file.bin.part").write_bytes(b"garbage" * 100)
    path = store.resolve_checkpoint(NAME, cache_dir=cache_dir)
    assert server.ranges == ["bytes=700-"]
    assert path.read_bytes() == PAYLOAD


def test_complete_part_file_answered_416_is_downloaded_again(server, folders, monkeypatch):
    _, cache_dir = folders
    register_test_checkpoint(monkeypatch, server.url, sha(PAYLOAD))
    cache_dir.mkdir(parents=True)
    (cache_dir / "file.bin.part").write_bytes(b"z" * (len(PAYLOAD) + 10))
    assert store.resolve_checkpoint(NAME, cache_dir=cache_dir).read_bytes() == PAYLOAD
    assert server.ranges == [f"bytes={len(PAYLOAD) + 10}-", None]


def test_cut_transfer_keeps_part_and_next_call_resumes(server, folders, monkeypatch):
    _, cache_dir = folders
    register_test_checkpoint(monkeypatch, server.url, sha(PAYLOAD))
    server.mode = "cut"
    with pytest.raises(DownloadError, match="run again to resume"):
        store.resolve_checkpoint(NAME, cache_dir=cache_dir)
    part = cache_dir / "file.bin.part"
    assert not (cache_dir / "file.bin").exists()
    kept = part.stat().st_size
    assert 0 < kept < len(PAYLOAD)
    assert part.read_bytes() == PAYLOAD[:kept]
    server.mode = "normal"
    assert store.resolve_checkpoint(NAME, cache_dir=cache_dir).read_bytes() == PAYLOAD
    assert server.ranges[-1] == f"bytes={kept}-"


def test_wrong_checksum_removes_the_file(server, folders, monkeypatch):
    _, cache_dir = folders
    register_test_checkpoint(monkeypatch, server.url, sha(PAYLOAD))
    server.mode = "wrong"
    with pytest.raises(ChecksumError) as info:
        store.resolve_checkpoint(NAME, cache_dir=cache_dir)
    message = str(info.value)
    assert sha(b"x" * len(PAYLOAD)) in message and sha(PAYLOAD) in message and "removed" in message
    assert list(cache_dir.iterdir()) == []


def test_http_404_is_a_download_error(server, folders, monkeypatch):
    _, cache_dir = folders
    register_test_checkpoint(monkeypatch, server.url.replace("file.bin", "nope.bin"), None)
    with pytest.raises(DownloadError, match="HTTP 404"):
        store.resolve_checkpoint(NAME, cache_dir=cache_dir)
    assert not (cache_dir / "file.bin").exists()


def test_no_network_names_file_folders_and_url(folders, monkeypatch):
    weights_dir, cache_dir = folders
    url = f"http://127.0.0.1:{unused_port()}/file.bin"
    register_test_checkpoint(monkeypatch, url, None)
    with pytest.raises(MissingWeightsError) as info:
        store.resolve_checkpoint(NAME, weights_dir=weights_dir, cache_dir=cache_dir)
    message = str(info.value)
    assert "\n" not in message
    for part in ("file.bin", str(weights_dir), str(cache_dir), url):
        assert part in message


def test_download_off_fails_without_connecting(server, folders, monkeypatch):
    _, cache_dir = folders
    register_test_checkpoint(monkeypatch, server.url, None)
    with pytest.raises(MissingWeightsError, match="downloading is off") as info:
        store.resolve_checkpoint(NAME, cache_dir=cache_dir, download=False)
    assert server.url in str(info.value)
    assert server.ranges == []


def test_cancel_stops_download_and_keeps_part(server, folders, monkeypatch):
    _, cache_dir = folders
    register_test_checkpoint(monkeypatch, server.url, None)
    chunks = []
    with pytest.raises(CancelledError):
        store.resolve_checkpoint(
            NAME, cache_dir=cache_dir, progress=lambda d, t: chunks.append(d), cancel=lambda: len(chunks) > 2
        )
    assert not (cache_dir / "file.bin").exists()
    assert (cache_dir / "file.bin.part").read_bytes() == PAYLOAD[: chunks[-1]]


def test_url_argument_overrides_registry(server, folders, monkeypatch):
    _, cache_dir = folders
    register_test_checkpoint(monkeypatch, f"http://127.0.0.1:{unused_port()}/file.bin", sha(PAYLOAD))
    assert store.resolve_checkpoint(NAME, cache_dir=cache_dir, url=server.url).read_bytes() == PAYLOAD


def test_resolution_order(tmp_path, folders, monkeypatch):
    weights_dir, cache_dir = folders
    register_test_checkpoint(monkeypatch, "http://127.0.0.1:9/none", None)
    for folder in (weights_dir, cache_dir):
        folder.mkdir()
        (folder / "file.bin").write_bytes(folder.name.encode())
    explicit = tmp_path / "mine.bin"
    explicit.write_bytes(b"mine")
    kwargs = {"weights_dir": weights_dir, "cache_dir": cache_dir, "download": False}
    assert store.resolve_checkpoint(NAME, path=explicit, **kwargs) == explicit
    assert store.resolve_checkpoint(NAME, **kwargs) == weights_dir / "file.bin"
    (weights_dir / "file.bin").unlink()
    assert store.resolve_checkpoint(NAME, **kwargs) == cache_dir / "file.bin"
    with pytest.raises(MissingWeightsError, match="does not exist"):
        store.resolve_checkpoint(NAME, path=tmp_path / "absent.bin", **kwargs)


def test_environment_folders(tmp_path, folders, monkeypatch):
    register_test_checkpoint(monkeypatch, "http://127.0.0.1:9/none", None)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert store.default_cache_dir() == tmp_path / "xdg" / "ovss" / "weights"
    monkeypatch.setenv(store.ENV_CACHE_DIR, str(tmp_path / "env-cache"))
    assert store.default_cache_dir() == tmp_path / "env-cache"
    assert store.default_cache_dir(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.setenv(store.ENV_WEIGHTS_DIR, str(tmp_path / "env-weights"))
    assert store.search_dirs() == [tmp_path / "env-weights", tmp_path / "env-cache"]
    (tmp_path / "env-weights").mkdir()
    (tmp_path / "env-weights" / "file.bin").write_bytes(b"1")
    assert store.resolve_checkpoint(NAME, download=False) == tmp_path / "env-weights" / "file.bin"


@pytest.mark.parametrize(
    ("content", "published", "expected"),
    [
        (None, None, store.Status.MISSING),
        (PAYLOAD, None, store.Status.UNVERIFIED),
        (PAYLOAD, sha(PAYLOAD), store.Status.OK),
        (PAYLOAD[:-1], sha(PAYLOAD), store.Status.CORRUPT),
    ],
)
def test_verify_statuses(folders, monkeypatch, content, published, expected):
    weights_dir, cache_dir = folders
    register_test_checkpoint(monkeypatch, "http://127.0.0.1:9/none", published)
    if content is not None:
        weights_dir.mkdir()
        (weights_dir / "file.bin").write_bytes(content)
    result = store.verify(NAME, weights_dir=weights_dir, cache_dir=cache_dir)
    assert result.status is expected
    assert result.sha256 == (sha(content) if content is not None else None)


def test_backbone_source_random_folder_and_errors(folders, monkeypatch, tmp_path):
    from engine import models
    from engine.errors import InputError, MissingWeightsError

    monkeypatch.setenv(store.ENV_CACHE_DIR, str(folders[1]))
    assert models.backbone_source("jbu_stack", "random") == models.RANDOM
    own = tmp_path / "my-checkpoints"
    own.mkdir()
    record = models.checkpoint_for("jbu_stack")
    (own / record.filename).write_bytes(b"not checked here")
    assert models.backbone_source("jbu_stack", own) == own / record.filename
    with pytest.raises(MissingWeightsError, match=models.checkpoint_for("jbu_one").filename) as info:
        models.backbone_source("jbu_one", own)  # a folder is searched on its own, never downloaded
    assert models.checkpoint_for("jbu_one").url in str(info.value)
    with pytest.raises(InputError, match="'default', 'random' or a folder"):
        models.backbone_source("jbu_one", tmp_path / "missing-folder")
