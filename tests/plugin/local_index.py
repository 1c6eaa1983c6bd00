"""A PEP 503 package index on 127.0.0.1 serving wheels the tests build themselves (no network).

:func:`build_wheel` writes a minimal, valid wheel with ``zipfile``; :class:`LocalIndex` lays wheels out as
``simple/<name>/index.html`` + ``files/<wheel>`` and serves them with ``http.server``; its ``mode`` breaks it
on purpose ("404": every page is missing, "garbage": pages and files are nonsense) and ``slow`` delays the
named files, so a test can interrupt pip while it downloads.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import os
import re
import threading
import time
import zipfile
from pathlib import Path

import pytest

TINY_PINS = {"ovsstiny-a": "1.0", "ovsstiny-b": "1.0"}
TINY_MODULES = ("ovsstiny_a", "ovsstiny_b")


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def build_wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = (), payload: int = 0) -> Path:
    """A pure-Python wheel of distribution ``name`` with module ``name`` (dashes as underscores) whose
    ``VERSION`` is ``version``; ``payload`` bytes of random data make it as big as a test needs."""
    module = name.replace("-", "_")
    info = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": f"VERSION = {version!r}\n".encode(),
        f"{info}/METADATA": (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                             + "".join(f"Requires-Dist: {req}\n" for req in requires)).encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: ovss-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    if payload:
        files[f"{module}/payload.bin"] = os.urandom(payload)
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    path = folder / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for member, data in files.items():
            archive.writestr(member, data)
    return path


def lay_out_index(root: Path, wheels: list[Path]) -> None:
    """``root/simple/<project>/index.html`` linking each wheel under ``root/files`` (where wheels built
    elsewhere are symlinked)."""
    projects: dict[str, list[str]] = {}
    (root / "files").mkdir(parents=True, exist_ok=True)
    for wheel in wheels:
        link = root / "files" / wheel.name
        if wheel.parent != link.parent:  # a wheel kept elsewhere (a download cache) is linked, not moved
            link.unlink(missing_ok=True)
            link.symlink_to(wheel.resolve())
        project = re.sub(r"[-_.]+", "-", wheel.name.split("-")[0]).lower()
        projects.setdefault(project, []).append(wheel.name)
    for project, names in projects.items():
        page = root / "simple" / project / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        links = "".join(f'<a href="/files/{name}">{name}</a>\n' for name in names)
        page.write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")
    links = "".join(f'<a href="/simple/{project}/">{project}</a>\n' for project in projects)
    (root / "simple" / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the index folder, broken or slowed down as the server says."""

    def log_message(self, *args: object) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        server = self.server
        server.requests.append(self.path)  # type: ignore[attr-defined]
        mode = server.mode  # type: ignore[attr-defined]
        if mode == "404":
            self.send_error(404)
            return
        if mode == "garbage":
            body = b"\x00garbage\xff" * 100
            self.send_response(200)
            self.send_header("Content-Type", "text/html" if "/simple/" in self.path else "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if mode == "garbage-files" and self.path.startswith("/files/"):
            body = b"this is not a zip file" * 10
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        delay = server.slow.get(self.path.rsplit("/", 1)[-1], 0.0)  # type: ignore[attr-defined]
        if delay:
            time.sleep(delay)
        super().do_GET()


class LocalIndex:
    """A running index: ``url`` is its ``/simple/`` address; stop it with :meth:`close`."""

    def __init__(self, root: Path) -> None:
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=root))
        self.httpd.daemon_threads = True
        self.httpd.mode = "ok"  # type: ignore[attr-defined]
        self.httpd.slow = {}  # type: ignore[attr-defined]
        self.httpd.requests = []  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/simple/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def requests(self) -> list[str]:
        """Paths requested so far."""
        return self.httpd.requests  # type: ignore[attr-defined]

    def set_mode(self, mode: str) -> None:
        """"ok", "404", "garbage" or "garbage-files"."""
        self.httpd.mode = mode  # type: ignore[attr-defined]

    def slow_down(self, filename: str, seconds: float) -> None:
        """Delay every request for ``filename`` by ``seconds``."""
        self.httpd.slow[filename] = seconds  # type: ignore[attr-defined]

    def close(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def pip_isolated(monkeypatch, tmp_path_factory):
    """pip sees no user or site configuration (this machine sets find-links), no cache, no retries."""
    for name in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_CACHE_DIR", str(tmp_path_factory.mktemp("pip-cache")))
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "10")


@pytest.fixture
def tiny_index(tmp_path, pip_isolated):
    """An index with ovsstiny-a 1.0 and 2.0 (the pin is 1.0) and ovsstiny-b 1.0 (needs ovsstiny-a)."""
    wheels_dir = tmp_path / "index"
    wheels_dir.mkdir()
    wheels = [build_wheel(wheels_dir, "ovsstiny-a", "1.0"), build_wheel(wheels_dir, "ovsstiny-a", "2.0"),
              build_wheel(wheels_dir, "ovsstiny-b", "1.0", requires=("ovsstiny-a",))]
    lay_out_index(wheels_dir, wheels)
    index = LocalIndex(wheels_dir)
    yield index
    index.close()


@pytest.fixture
def tiny_constraints(tmp_path) -> Path:
    """A constraints file pinning the tiny packages."""
    path = tmp_path / "constraints.txt"
    path.write_text("".join(f"{name}=={version}\n" for name, version in TINY_PINS.items()))
    return path


@pytest.fixture
def tiny_requirements(monkeypatch, tiny_constraints):
    """The plugin's environment must hold the tiny packages; the engine's Python setting is empty during the
    test and restored afterwards."""
    from qgis.core import QgsSettings

    from ovss.ovss_plugin import environment_settings
    from ovss.ovss_plugin.engine_runtime import PYTHON_SETTING

    monkeypatch.setattr(environment_settings, "CONSTRAINTS", tiny_constraints)
    monkeypatch.setattr(environment_settings, "MODULES", TINY_MODULES)
    monkeypatch.delenv("OVSS_PYTHON", raising=False)
    store = QgsSettings()
    before = {key: store.value(key, "") for key in (PYTHON_SETTING, environment_settings.INDEX_SETTING)}
    for key in before:
        store.setValue(key, "")
    yield
    for key, value in before.items():
        store.setValue(key, value)


class _ForwardingHandler(http.server.BaseHTTPRequestHandler):
    """A plain HTTP forward proxy: fetches the absolute URL it is asked for and records it."""

    def log_message(self, *args: object) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        import urllib.error
        import urllib.request

        self.server.requests.append(self.path)  # type: ignore[attr-defined]
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through itself
        try:
            with opener.open(self.path, timeout=30) as answer:
                status, body, kind = answer.status, answer.read(), answer.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            status, body, kind = exc.code, b"", "text/plain"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def forwarding_proxy():
    """A forward proxy on 127.0.0.1: ``(url, requests)``."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ForwardingHandler)
    httpd.daemon_threads = True
    httpd.requests = []  # type: ignore[attr-defined]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd.requests  # type: ignore[attr-defined]
    httpd.shutdown()
    httpd.server_close()
