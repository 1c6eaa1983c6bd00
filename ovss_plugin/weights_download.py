"""Downloading missing checkpoints inside QGIS: QGIS's network manager (the user's proxy and SSL settings
apply), a cancellable ``QgsTask`` with progress, and the engine's rules for the files.

Each file is streamed into ``<file>.part`` (resumed with an HTTP ``Range`` request when a partial file is
there), checked against the registry's sha256 where one is published (:func:`engine.weights.store.file_sha256`)
and only then renamed into place, so a broken download never carries the checkpoint's name.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from qgis.core import QgsNetworkAccessManager, QgsTask
from qgis.PyQt.QtCore import QEventLoop, QTimer, QUrl, pyqtSignal
from qgis.PyQt.QtNetwork import QNetworkReply, QNetworkRequest

from ..engine.errors import CancelledError, ChecksumError, DownloadError, OVSSError
from ..engine.weights.registry import Checkpoint
from ..engine.weights.store import file_sha256
from .i18n import tr

POLL_MS = 100
TIMEOUT_MS = 60_000


@dataclass(frozen=True)
class DownloadItem:
    """One file to fetch: the registry record, its URL (the registry's unless overridden) and the target."""

    checkpoint: Checkpoint
    url: str
    dest: Path


def consent_text(items: Sequence[DownloadItem]) -> str:
    """What the consent dialog says: every file, its size where known, source, licence and destination."""
    lines = [tr("Download these checkpoints?")]
    for item in items:
        ckpt = item.checkpoint
        size = f"{ckpt.size / 1e6:.0f} MB" if ckpt.size else tr("size unknown")
        lines.append(tr("\u2022 {file} ({size}, licence: {licence})\n  from {url}\n  to {dest}").format(
            file=ckpt.filename, size=size, licence=ckpt.license, url=item.url, dest=item.dest))
    return "\n".join(lines)


def fetch(item: DownloadItem, task: QgsTask | None = None, share: tuple[float, float] = (0.0, 100.0)) -> Path:
    """Download ``item`` through QGIS's network manager into ``item.dest`` (``.part``, resume, sha256).

    ``task`` gives cancellation and progress (mapped into the ``share`` range of its percentage). Raises
    :class:`DownloadError`, :class:`ChecksumError` or :class:`CancelledError`; the ``.part`` file of an
    interrupted transfer stays for the next attempt, a corrupt file is removed.
    """
    dest = item.dest
    if task is not None and task.isCanceled():
        raise CancelledError(tr("Download of {file} cancelled; start it again to resume.").format(file=dest.name))
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    request = QNetworkRequest(QUrl(item.url))
    request.setAttribute(QNetworkRequest.FollowRedirectsAttribute, True)
    if offset:
        request.setRawHeader(b"Range", f"bytes={offset}-".encode())
    reply = QgsNetworkAccessManager.instance().get(request)
    loop = QEventLoop()
    state = {"base": 0, "cancelled": False}
    stream = None

    def open_stream() -> None:
        nonlocal stream
        status = reply.attribute(QNetworkRequest.HttpStatusCodeAttribute)
        resumed = offset and status == 206
        stream = part.open("ab" if resumed else "wb")
        state["base"] = offset if resumed else 0

    def read() -> None:
        if task is not None and task.isCanceled():
            poll()
            return
        if stream is None:
            open_stream()
        stream.write(bytes(reply.readAll()))

    def progress(received: int, total: int) -> None:
        if task is not None and total > 0:
            base = state["base"]
            task.setProgress(share[0] + (share[1] - share[0]) * (base + received) / (base + total))

    def poll() -> None:
        if task is not None and task.isCanceled():
            state["cancelled"] = True
            reply.abort()

    reply.readyRead.connect(read)
    reply.downloadProgress.connect(progress)
    reply.finished.connect(loop.quit)
    timer = QTimer()
    timer.timeout.connect(poll)
    timer.start(POLL_MS)
    if not reply.isFinished():
        loop.exec_()
    timer.stop()
    try:
        if reply.bytesAvailable() and not state["cancelled"]:
            read()
        error = reply.error()
        status = reply.attribute(QNetworkRequest.HttpStatusCodeAttribute)
        message = reply.errorString()
    finally:
        if stream is not None:
            stream.close()
        reply.deleteLater()
    if state["cancelled"]:
        raise CancelledError(tr("Download of {file} cancelled; start it again to resume.").format(file=dest.name))
    if status == 416:
        part.unlink(missing_ok=True)
        return fetch(item, task, share)
    if error != QNetworkReply.NoError:
        raise DownloadError(tr("Download of {url} failed: {reason}").format(url=item.url, reason=message))
    if stream is None:  # an empty body
        part.write_bytes(b"")
    sha256 = item.checkpoint.sha256
    if sha256 is not None:
        actual = file_sha256(part)
        if actual != sha256.lower():
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
            raise ChecksumError(tr("Downloaded {file} has sha256 {actual}, expected {expected}; the file was "
                                   "removed.").format(file=dest.name, actual=actual, expected=sha256))
    os.replace(part, dest)
    return dest


class WeightsDownloadTask(QgsTask):
    """Downloads checkpoints one after the other; ``completed(ok, message)`` is emitted in the main thread."""

    completed = pyqtSignal(bool, str)

    def __init__(self, items: Sequence[DownloadItem]) -> None:
        super().__init__(tr("Downloading model weights"), QgsTask.CanCancel)
        self.items = tuple(items)
        self.paths: list[Path] = []
        self.error: str | None = None

    def run(self) -> bool:
        """Fetch every item; the first failure stops the task with its one-line message."""
        count = len(self.items)
        try:
            for index, item in enumerate(self.items):
                share = (100.0 * index / count, 100.0 * (index + 1) / count)
                self.paths.append(fetch(item, self, share))
        except OVSSError as exc:
            self.error = str(exc)
            return False
        except OSError as exc:
            self.error = tr("Cannot write the weights file: {reason}").format(reason=exc)
            return False
        return True

    def finished(self, ok: bool) -> None:
        """Main thread: report the result."""
        if ok:
            message = tr("Downloaded {files}.").format(files=", ".join(p.name for p in self.paths))
        else:
            message = self.error or tr("Download cancelled.")
        self.completed.emit(ok, message)
