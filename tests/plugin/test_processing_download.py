"""``ovss:download_weights`` against an HTTP server on 127.0.0.1: files land in the chosen folder with
progress, present files are not fetched again, a wrong checksum is a clear error."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import threading

import processing
import pytest
from processing_doubles import (
    TEST_METHOD,
    ovss_provider,  # noqa: F401 - the fixture used by every test below
    register_test_methods,
)
from qgis.core import QgsProcessingException, QgsProcessingFeedback

PAYLOAD = bytes(range(256)) * 300
pytestmark = pytest.mark.usefixtures("provider_with_checkpoints", "ovss_provider")


class CountingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder and counts GET requests in ``server.hits``."""

    def log_message(self, *args: object) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        self.server.hits += 1  # type: ignore[attr-defined]
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    (folder / "tiny.bin").write_bytes(PAYLOAD)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(CountingHandler, directory=folder))
    httpd.hits = 0
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}/tiny.bin"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def provider_with_checkpoints(monkeypatch, server, qgis_app):
    """The test method needing two checkpoints served locally (one with a checksum, one without)."""
    from ovss.engine.methods import base
    from ovss.engine.weights import registry

    _, url = server
    template = registry.CHECKPOINTS["simfeatup-jbu-stack-clip-b16"]
    records = {
        "test-a": dataclasses.replace(
            template, name="test-a", filename="a.bin", url=url, sha256=hashlib.sha256(PAYLOAD).hexdigest()
        ),
        "test-b": dataclasses.replace(template, name="test-b", filename="b.bin", url=url, sha256=None),
    }
    for name, record in records.items():
        monkeypatch.setitem(registry.CHECKPOINTS, name, record)
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))
    register_test_methods(checkpoints=tuple(records))
    return records


def test_downloads_every_checkpoint_into_the_folder_with_progress(server, tmp_path):
    httpd, _ = server
    folder = tmp_path / "weights"
    folder.mkdir()
    feedback = QgsProcessingFeedback()
    progress = []
    feedback.progressChanged.connect(progress.append)
    result = processing.run("ovss:download_weights", {"METHOD": TEST_METHOD, "FOLDER": str(folder)}, feedback=feedback)
    assert (folder / "a.bin").read_bytes() == PAYLOAD and (folder / "b.bin").read_bytes() == PAYLOAD
    assert result["OUTPUT_FOLDER"] == str(folder)
    assert result["FILES"].split(";") == [str(folder / "a.bin"), str(folder / "b.bin")]
    assert progress == sorted(progress) and progress[-1] == 100.0
    assert any(0 < value <= 50 for value in progress)  # the first of two files is half the work
    assert httpd.hits == 2

    processing.run("ovss:download_weights", {"METHOD": TEST_METHOD, "FOLDER": str(folder)})
    assert httpd.hits == 2  # present files are kept


def test_wrong_checksum_is_a_clear_error(provider_with_checkpoints, monkeypatch, tmp_path):
    from ovss.engine.weights import registry

    record = provider_with_checkpoints["test-a"]
    monkeypatch.setitem(registry.CHECKPOINTS, "test-a", dataclasses.replace(record, sha256="0" * 64))
    with pytest.raises(QgsProcessingException, match=r"has sha256 \w+, expected 0000"):
        processing.run("ovss:download_weights", {"METHOD": TEST_METHOD, "FOLDER": str(tmp_path)})
    assert not (tmp_path / "a.bin").exists()


def test_default_folder_is_the_user_weights_folder(monkeypatch, tmp_path):
    from qgis.core import QgsApplication

    from ovss.ovss_plugin.processing.download_weights import default_weights_folder

    monkeypatch.setenv("OVSS_WEIGHTS_DIR", str(tmp_path / "mine"))
    assert default_weights_folder() == str(tmp_path / "mine")
    monkeypatch.delenv("OVSS_WEIGHTS_DIR")
    monkeypatch.setenv("OVSS_CACHE_DIR", str(tmp_path / "cache"))
    assert default_weights_folder() == str(tmp_path / "cache")
    alg = QgsApplication.processingRegistry().createAlgorithmById("ovss:download_weights")
    assert alg.parameterDefinition("FOLDER").defaultValue() == str(tmp_path / "cache")
