"""Reading pip's output: per-package progress while it runs, and a clear error when it fails.

pip prints one line per step (``Collecting torch==2.5.1``, ``Downloading torch-...whl (190 MB)``,
``Installing collected packages: ...``, ``Successfully installed ...``); :class:`PipProgress` turns them into
a fraction and a short message. :func:`pip_failure` maps the output of a failed pip to the error the user
can act on (disk full, index unreachable or incomplete, damaged file).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import DiskSpaceError, PackageIndexError, SetupError

DOWNLOAD_SHARE = 0.8  # resolving and downloading: 0..0.8 of the pip step, installing the rest

_COLLECTING = re.compile(r"^\s*Collecting (\S+?)(?:[<>=!~;\[ ]|$)")
_DOWNLOADING = re.compile(r"^\s*Downloading (\S+)(?: \((.+)\))?")
_NOT_OFFERED = re.compile(r"No matching distribution found for (\S+)|Cannot install (\S+?) because")
DISK_FULL = ("No space left on device", "[Errno 28]", "ENOSPC", "There is not enough space on the disk")
UNREACHABLE = ("Could not fetch URL", "Max retries exceeded", "ConnectionError", "ProxyError",
               "Failed to establish a new connection", "Connection refused", "Temporary failure in name resolution",
               "SSLError", "HTTP error", "Client Error", "Server Error")
GARBLED = ("UnicodeDecodeError", "JSONDecodeError", "html5lib", "ParseError")
DAMAGED = (".whl is invalid", "BadZipFile", "not a zip file", "DO NOT MATCH THE HASHES", "is not a valid wheel",
           "invalid wheel", "Wheel has unexpected file name")


@dataclass(frozen=True)
class Progress:
    """A fraction of the pip step (0..1) and what pip does now."""

    fraction: float
    message: str


class PipProgress:
    """Follows pip's lines; ``expected`` is the number of pinned packages (dependencies may add a few)."""

    def __init__(self, expected: int) -> None:
        self.expected = max(expected, 1)
        self.collected: list[str] = []

    def feed(self, line: str) -> Progress | None:
        """The progress after ``line``; None for lines that change nothing."""
        collecting = _COLLECTING.match(line)
        if collecting:
            self.collected.append(collecting.group(1))
            return self._download(f"Collecting {collecting.group(1)}")
        downloading = _DOWNLOADING.match(line)
        if downloading and self.collected:
            size = f" ({downloading.group(2)})" if downloading.group(2) else ""
            return self._download(f"Downloading {self.collected[-1]}{size}")
        if line.startswith("Installing collected packages:"):
            return Progress(DOWNLOAD_SHARE, "Installing " + line.split(":", 1)[1].strip())
        if line.startswith("Successfully installed"):
            return Progress(1.0, "Installed")
        return None

    def _download(self, message: str) -> Progress:
        count = len(self.collected)
        total = max(self.expected, count)
        fraction = DOWNLOAD_SHARE * (count - 1) / total
        return Progress(fraction, f"{message} ({count} of {total}+)" if count > self.expected else
                        f"{message} ({count} of {total})")


def pip_failure(lines: Sequence[str], returncode: int, index: str, log: str) -> SetupError:
    """The error a failed pip run (exit status ``returncode``, output ``lines``) means for the user."""
    text = "\n".join(lines)
    if any(marker in text for marker in DISK_FULL):
        return DiskSpaceError(f"The disk is full (no space left on device) while installing the packages; free "
                              f"some space and run the setup again, it resumes. Details: {log}")
    missing = _NOT_OFFERED.search(text)
    if missing:
        name = missing.group(1) or missing.group(2)
        return PackageIndexError(f"The package index {index} does not offer {name}; check the index URL and "
                                 f"proxy. Details: {log}")
    if any(marker in text for marker in GARBLED):
        return PackageIndexError(f"The package index {index} answers with something pip cannot read; check the "
                                 f"index URL and proxy. Details: {log}")
    if any(marker in text for marker in DAMAGED):
        return PackageIndexError(f"A package downloaded from {index} is damaged; run the setup again, or check "
                                 f"the index. Details: {log}")
    if any(marker in text for marker in UNREACHABLE):
        return PackageIndexError(f"The package index {index} cannot be reached; check the network and the proxy "
                                 f"settings (QGIS Options > Network). Details: {log}")
    errors = [line.strip() for line in lines if line.strip().startswith("ERROR")]
    last = errors[-1] if errors else (lines[-1].strip() if lines else "no output")
    return SetupError(f"pip failed (exit status {returncode}): {last}. Details: {log}")
