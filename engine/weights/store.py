"""Finding a checkpoint on disk, or fetching it: explicit path, user folder, cache folder, download.

Downloads use ``urllib`` only. They write ``<file>.part``, resume it with an HTTP ``Range`` request
(a server that ignores the range and answers 200 restarts the file), check the sha256 where the registry
has one and only then ``os.replace`` the file into place, so a half-written or corrupt file never carries
the checkpoint's name.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import CancelledError, ChecksumError, DownloadError, MissingWeightsError
from .registry import Checkpoint, get_checkpoint

ProgressCallback = Callable[[int, int | None], None]
CancelCheck = Callable[[], bool]

ENV_WEIGHTS_DIR = "OVSS_WEIGHTS_DIR"
ENV_CACHE_DIR = "OVSS_CACHE_DIR"
CHUNK_BYTES = 1 << 20
TIMEOUT_S = 30.0


def user_weights_dir(weights_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The user's own weights folder: the argument, else ``$OVSS_WEIGHTS_DIR``, else none."""
    chosen = weights_dir if weights_dir is not None else os.environ.get(ENV_WEIGHTS_DIR)
    return Path(chosen).expanduser() if chosen else None


def default_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The download cache: the argument, else ``$OVSS_CACHE_DIR``, else ``$XDG_CACHE_HOME/ovss/weights``
    (``~/.cache/ovss/weights``)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get(ENV_CACHE_DIR):
        return Path(os.environ[ENV_CACHE_DIR]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "ovss" / "weights"


def search_dirs(
    weights_dir: str | os.PathLike[str] | None = None, cache_dir: str | os.PathLike[str] | None = None
) -> list[Path]:
    """The folders searched for a checkpoint file, in order."""
    user = user_weights_dir(weights_dir)
    return [*([user] if user is not None else []), default_cache_dir(cache_dir)]


def find_local(
    ckpt: Checkpoint,
    weights_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path | None:
    """The first existing copy of ``ckpt`` in the search folders, or None."""
    for folder in search_dirs(weights_dir, cache_dir):
        candidate = folder / ckpt.filename
        if candidate.is_file():
            return candidate
    return None


def file_sha256(path: Path, cancel: CancelCheck | None = None) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            if cancel is not None and cancel():
                raise CancelledError(f"checksum of {path.name} cancelled")
            digest.update(chunk)
    return digest.hexdigest()


def _missing_message(ckpt: Checkpoint, folders: list[Path], url: str, reason: str) -> str:
    """The one-line message naming the file, every folder searched and where to get it."""
    searched = ", ".join(str(folder) for folder in folders)
    return (
        f"checkpoint {ckpt.filename} ({ckpt.name}) not found in {searched} and {reason}; download it "
        f"from {url} into one of those folders (or run: python -m engine weights download {ckpt.name})"
    )


def resolve_checkpoint(
    name: str,
    *,
    path: str | os.PathLike[str] | None = None,
    weights_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    progress: ProgressCallback | None = None,
    url: str | None = None,
    cancel: CancelCheck | None = None,
) -> Path:
    """The local file of checkpoint ``name``: an explicit ``path``, the user weights folder, the cache
    folder, or a fresh download into the cache folder (``url`` overrides the registry's)."""
    ckpt = get_checkpoint(name)
    if path is not None:
        explicit = Path(path).expanduser()
        if not explicit.is_file():
            raise MissingWeightsError(f"checkpoint file {explicit} ({ckpt.name}) does not exist")
        return explicit
    found = find_local(ckpt, weights_dir, cache_dir)
    if found is not None:
        return found
    source = url or ckpt.url
    folders = search_dirs(weights_dir, cache_dir)
    if not download:
        raise MissingWeightsError(_missing_message(ckpt, folders, source, "downloading is off"))
    dest = default_cache_dir(cache_dir) / ckpt.filename
    try:
        return download_file(source, dest, sha256=ckpt.sha256, progress=progress, cancel=cancel)
    except urllib.error.URLError as exc:
        reason = f"the download failed ({exc.reason})"
        raise MissingWeightsError(_missing_message(ckpt, folders, source, reason)) from exc


def _open(url: str, offset: int) -> http.client.HTTPResponse | None:
    """Open ``url``, asking for the bytes from ``offset`` on when resuming; None when the server says
    that range cannot be satisfied (HTTP 416). Network failures stay :class:`urllib.error.URLError`."""
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            return None
        raise DownloadError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError:
        raise
    except (http.client.HTTPException, OSError) as exc:
        raise DownloadError(f"download of {url} failed: {exc}") from exc


def download_file(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> Path:
    """Download ``url`` to ``dest`` through ``dest.part``, resuming a partial file, verifying ``sha256``.

    Network failures (nothing listening, DNS) surface as :class:`urllib.error.URLError`; HTTP errors and
    cut transfers as :class:`DownloadError` (the ``.part`` stays, the next call resumes it); a wrong
    checksum as :class:`ChecksumError` after the bad file is removed.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    response = _open(url, offset)
    if response is None:  # the partial file is not a prefix the server can continue: start again
        part.unlink()
        offset = 0
        response = _open(url, offset)
    assert response is not None  # only a range request can be refused with 416
    with response:
        if offset and response.status != 206:
            offset = 0  # the server ignored the Range header and sends the whole file
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        done = offset
        if progress is not None:
            progress(done, total)
        try:
            with part.open("ab" if offset else "wb") as out:
                while chunk := response.read(CHUNK_BYTES):
                    if cancel is not None and cancel():
                        raise CancelledError(f"download of {dest.name} cancelled; run again to resume")
                    out.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
        except (http.client.HTTPException, OSError) as exc:
            raise DownloadError(
                f"download of {url} interrupted after {done} bytes ({exc}); run again to resume"
            ) from exc
    if total is not None and done != total:
        raise DownloadError(f"download of {url} ended after {done} of {total} bytes; run again to resume")
    if sha256 is not None:
        actual = file_sha256(part, cancel)
        if actual != sha256.lower():
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
            raise ChecksumError(
                f"downloaded {dest.name} has sha256 {actual}, expected {sha256}; the file was removed"
            )
    os.replace(part, dest)
    return dest


class Status(enum.Enum):
    """The state of a checkpoint's local copy."""

    MISSING = "missing"
    UNVERIFIED = "present, no published checksum"
    OK = "ok"
    CORRUPT = "corrupt"


@dataclass(frozen=True)
class Verification:
    """The result of :func:`verify`: the status, the file looked at (None when missing) and its sha256."""

    name: str
    status: Status
    path: Path | None
    sha256: str | None


def verify(
    name: str,
    *,
    path: str | os.PathLike[str] | None = None,
    weights_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    cancel: CancelCheck | None = None,
) -> Verification:
    """Check the local copy of ``name`` against the registry's sha256 (never downloads)."""
    ckpt = get_checkpoint(name)
    local = Path(path) if path is not None else find_local(ckpt, weights_dir, cache_dir)
    if local is None or not local.is_file():
        return Verification(name, Status.MISSING, None, None)
    actual = file_sha256(local, cancel)
    if ckpt.sha256 is None:
        status = Status.UNVERIFIED
    else:
        status = Status.OK if actual == ckpt.sha256.lower() else Status.CORRUPT
    return Verification(name, status, local, actual)
