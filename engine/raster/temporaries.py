"""The writer's temporary files: named after their owner process, created like any new file, and removed
after a crash by the next run into the same folder.

A temporary lives beside its target (the final rename stays on one file system) as a hidden
``.<stem>.ovss-<owner>-<pid>-<random><suffix>``. ``<owner>`` identifies the PID namespace the process runs
in (Linux: this boot of the kernel and the namespace; elsewhere: the host name), so a PID is only ever
looked up where it means something. The file is created with mode ``0o666`` filtered by the umask, as any
new file, so the output renamed from it gets the permissions the user expects (not ``mkstemp``'s 0600).

A run killed by SIGKILL (or a power cut) cannot remove its temporaries. :func:`remove_stale_temporaries`
removes those whose owner is of this namespace, no longer runs, and that nobody has written for
:data:`STALE_AFTER_S` seconds; files of a live process, of another host or namespace, and fresh files are
kept.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import secrets
import socket
import time
from pathlib import Path

from ..errors import RasterError

TEMP_TAG = "ovss"
STALE_AFTER_S = 60.0  # an owner-less temporary this long untouched is stale
_NAME = re.compile(rf"^\..*\.{TEMP_TAG}-(?P<owner>[0-9a-f]{{8}})-(?P<pid>\d+)-[0-9a-f]{{8}}\.")


@functools.cache
def owner_tag() -> str:
    """Eight hex digits naming the PID namespace of this process (see the module docstring)."""
    parts = [socket.gethostname()]
    with contextlib.suppress(OSError):
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
    with contextlib.suppress(OSError):
        parts.append(str(os.stat("/proc/self/ns/pid").st_ino))
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:8]


def create_temporary(target: Path, suffix: str) -> Path:
    """Create a new, empty temporary file beside ``target`` (mode 0o666 under the umask) and return it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    prefix = f".{target.stem}.{TEMP_TAG}-{owner_tag()}-{os.getpid()}-"
    for _ in range(100):
        path = target.parent / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            os.close(os.open(path, flags, 0o666))
        except FileExistsError:
            continue
        except OSError as exc:
            raise RasterError(f"cannot create a temporary file in {target.parent}: {exc.strerror}") from None
        return path
    raise RasterError(f"cannot create a temporary file in {target.parent}: every name tried exists")


def is_running(pid: int) -> bool:
    """True when process ``pid`` exists (or cannot be asked: assume it does)."""
    if os.name == "nt":  # os.kill would terminate it there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def remove_stale_temporaries(folder: Path, now: float | None = None) -> list[Path]:
    """Remove the temporaries of dead runs of this namespace in ``folder``; returns what was removed."""
    now = time.time() if now is None else now
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _NAME.match(entry.name)
        if match is None or match["owner"] != owner_tag() or is_running(int(match["pid"])):
            continue
        try:
            if now - entry.stat(follow_symlinks=False).st_mtime < STALE_AFTER_S:
                continue
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed
