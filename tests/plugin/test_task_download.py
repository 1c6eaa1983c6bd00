"""Downloading weights through QGIS's network manager from a local HTTP server: verify, resume, refuse, cancel."""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
from dataclasses import replace
from typing import ClassVar

import pytest

BODY = bytes(range(256)) * 4000  # ~1 MB


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves BODY at any path, honouring ``Range: bytes=N-``; records the ranges asked for."""

    ranges: ClassVar[list[str | None]] = []
    delay_s = 0.0

    def do_GET(self) -> None:
        asked = self.headers.get("Range")
        type(self).ranges.append(asked)
        start = int(asked.split("=")[1].rstrip("-")) if asked else 0
        self.send_response(206 if asked else 200)
        self.send_header("Content-Length", str(len(BODY) - start))
        self.end_headers()
        for offset in range(start, len(BODY), 1 << 16):  # in pieces, so that a client sees progress
            self.wfile.write(BODY[offset : offset + (1 << 16)])
            self.wfile.flush()
            time.sleep(self.delay_s)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    RangeHandler.ranges = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def item_for(url, dest, sha256):
    from ovss.engine.weights.registry import get_checkpoint
    from ovss.ovss_plugin.weights_download import DownloadItem

    ckpt = replace(get_checkpoint("simfeatup-jbu-stack-clip-b16"), sha256=sha256, size=len(BODY))
    return DownloadItem(ckpt, f"{url}/{ckpt.filename}", dest / ckpt.filename)


def test_download_verifies_and_renames(server, tmp_path):
    from ovss.ovss_plugin.weights_download import WeightsDownloadTask, consent_text

    item = item_for(server, tmp_path, hashlib.sha256(BODY).hexdigest())
    task = WeightsDownloadTask([item])
    assert task.run(), task.error
    assert item.dest.read_bytes() == BODY
    assert not item.dest.with_name(item.dest.name + ".part").exists()
    assert task.progress() == pytest.approx(100.0)
    text = consent_text([item])
    assert item.url in text and str(item.dest) in text and "MIT" in text


def test_partial_file_is_resumed(server, tmp_path):
    from ovss.ovss_plugin.weights_download import fetch

    item = item_for(server, tmp_path, hashlib.sha256(BODY).hexdigest())
    item.dest.with_name(item.dest.name + ".part").write_bytes(BODY[:1000])
    assert fetch(item).read_bytes() == BODY
    assert RangeHandler.ranges == ["bytes=1000-"]


def test_wrong_checksum_removes_the_file(server, tmp_path):
    from ovss.ovss_plugin.weights_download import WeightsDownloadTask

    item = item_for(server, tmp_path, "0" * 64)
    task = WeightsDownloadTask([item])
    assert task.run() is False
    assert "expected 0000" in task.error and "removed" in task.error
    assert list(tmp_path.iterdir()) == []


def test_cancel_and_unreachable_server(server, tmp_path, monkeypatch):
    from ovss.ovss_plugin.weights_download import WeightsDownloadTask

    monkeypatch.setattr(RangeHandler, "delay_s", 0.05)

    item = item_for(server, tmp_path, None)
    task = WeightsDownloadTask([item])
    task.progressChanged.connect(lambda value: 0 < value < 100 and task.cancel())
    assert task.run() is False and "cancelled" in task.error
    assert not item.dest.exists()
    part = item.dest.with_name(item.dest.name + ".part")
    assert 0 < part.stat().st_size < len(BODY)  # kept for resuming
    again = WeightsDownloadTask([item])
    again.cancel()
    assert again.run() is False and "cancelled" in again.error

    closed = WeightsDownloadTask([item_for("http://127.0.0.1:9", tmp_path, None)])
    assert closed.run() is False and closed.error.startswith("Download of http://127.0.0.1:9/")
