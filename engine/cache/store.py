"""A bounded store of label-independent features: an in-memory LRU by bytes, spilling to a disk folder.

Entries are dicts of tensors (and small plain values: ints, tuples). Memory is bounded per place: host
tensors by ``host_bytes``, device tensors by ``device_bytes`` (defaults: a fraction of the free memory
when first needed). An entry evicted from memory is written to the disk folder (if any), which has its own
limit (oldest files removed first). Disk writes go to a temporary name in the same folder and are renamed
into place, so concurrent runs never read half a file; an unreadable file is removed and counts as a miss.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

Entry = dict[str, Any]

DEFAULT_FRACTION = 0.25  # of the free host (or device) memory when the cache first needs a limit
_SUFFIX = ".pt"


@dataclass(frozen=True)
class CacheStats:
    """What the cache holds and how it was used since the last :meth:`FeatureCache.clear`."""

    entries: int
    bytes: int
    disk_entries: int
    disk_bytes: int
    hits: int
    misses: int
    disk_hits: int


def entry_bytes(entry: Entry) -> int:
    """Bytes of the tensors of ``entry`` (plain values count as nothing)."""
    return sum(value.numel() * value.element_size() for value in _tensors(entry))


def _tensors(entry: Entry) -> list[torch.Tensor]:
    """The tensors among ``entry``'s values (entries hold tensors, ints and tuples of ints)."""
    import torch

    return [value for value in entry.values() if isinstance(value, torch.Tensor)]


def _place(entry: Entry) -> str:
    """``"device"`` when the entry's tensors live on an accelerator, else ``"host"``."""
    tensors = _tensors(entry)
    return "device" if tensors and tensors[0].device.type != "cpu" else "host"


class FeatureCache:
    """Keyed entries bounded by bytes in memory (LRU) and, optionally, on disk (see the module docstring).

    ``host_bytes`` / ``device_bytes``: the memory limits (None: :data:`DEFAULT_FRACTION` of the free memory,
    read when the first entry of that place arrives; 0 disables memory storage). ``disk_dir``: the spill
    folder (None: no disk); ``disk_bytes``: its limit. Thread-safe.
    """

    def __init__(
        self,
        host_bytes: int | None = None,
        device_bytes: int | None = None,
        disk_dir: str | os.PathLike[str] | None = None,
        disk_bytes: int = 2 * 1024**3,
    ) -> None:
        self._limits: dict[str, int | None] = {"host": host_bytes, "device": device_bytes}
        self.disk_dir = Path(disk_dir) if disk_dir is not None else None
        self.disk_bytes = disk_bytes
        self._entries: OrderedDict[str, tuple[Entry, int, str]] = OrderedDict()
        self._used = {"host": 0, "device": 0}
        self._lock = threading.RLock()
        self._hits = self._misses = self._disk_hits = 0

    def limit(self, place: str) -> int:
        """The byte limit for ``place`` (``host``/``device``), fixed from the free memory on first use."""
        from ..memory import available_memory, device_free_memory

        limit = self._limits[place]
        if limit is None:
            if place == "host":
                free = available_memory()
            else:
                import torch

                free = device_free_memory("cuda") if torch.cuda.is_available() else None
            limit = int(DEFAULT_FRACTION * (free or 0))
            self._limits[place] = limit
        return limit

    def get(self, key: str, device: torch.device | str | None = None) -> Entry | None:
        """The entry stored under ``key`` (moved to ``device`` when read from disk), or None."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self._hits += 1
                return found[0]
        entry = self._read_disk(key, device)
        with self._lock:
            if entry is None:
                self._misses += 1
                return None
            self._hits += 1
            self._disk_hits += 1
        self._remember(key, entry, spill=False)
        return entry

    def put(self, key: str, entry: Entry) -> None:
        """Store ``entry`` under ``key`` (its tensors are kept as they are: callers pass detached copies)."""
        self._remember(key, entry, spill=True)

    def _remember(self, key: str, entry: Entry, *, spill: bool) -> None:
        """Keep ``entry`` in memory, evicting least recently used entries of its place to disk beyond the limit;
        an entry larger than the limit goes to disk directly (when ``spill``)."""
        size, place = entry_bytes(entry), _place(entry)
        evicted: list[tuple[str, Entry]] = []
        with self._lock:
            limit = self.limit(place)
            if key in self._entries:
                old = self._entries.pop(key)
                self._used[old[2]] -= old[1]
            if size > limit:
                evicted.append((key, entry))
            else:
                self._entries[key] = (entry, size, place)
                self._used[place] += size
                for other in list(self._entries):
                    if self._used[place] <= limit:
                        break
                    if self._entries[other][2] == place:
                        gone, gone_size, _ = self._entries.pop(other)
                        self._used[place] -= gone_size
                        evicted.append((other, gone))
        if self.disk_dir is not None:
            for gone_key, gone_entry in evicted:
                if spill or gone_key != key:
                    self._write_disk(gone_key, gone_entry)

    def _path(self, key: str) -> Path:
        assert self.disk_dir is not None
        return self.disk_dir / f"{key}{_SUFFIX}"

    def _write_disk(self, key: str, entry: Entry) -> None:
        """Write ``entry`` atomically (temporary name + rename), then trim the folder to its limit."""
        import torch

        assert self.disk_dir is not None
        path = self._path(key)
        if path.exists():
            return
        self.disk_dir.mkdir(parents=True, exist_ok=True)
        temporary = self.disk_dir / f".{key}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
        host = {name: value.cpu() if isinstance(value, torch.Tensor) else value for name, value in entry.items()}
        try:
            torch.save(host, temporary)
            os.replace(temporary, path)
        except OSError:
            with contextlib.suppress(OSError):
                temporary.unlink()
            return
        self._trim_disk()

    def _disk_files(self) -> list[tuple[float, int, Path]]:
        """``(mtime, size, path)`` of the folder's entries, oldest first (files vanishing meanwhile skipped)."""
        if self.disk_dir is None or not self.disk_dir.is_dir():
            return []
        files = []
        for path in self.disk_dir.glob(f"*{_SUFFIX}"):
            with contextlib.suppress(OSError):
                info = path.stat()
                files.append((info.st_mtime, info.st_size, path))
        return sorted(files)

    def _trim_disk(self) -> None:
        """Remove the oldest files until the folder holds at most ``disk_bytes``."""
        files = self._disk_files()
        total = sum(size for _, size, _ in files)
        for _, size, path in files:
            if total <= self.disk_bytes:
                break
            with contextlib.suppress(OSError):
                path.unlink()
            total -= size

    def _read_disk(self, key: str, device: torch.device | str | None) -> Entry | None:
        """The entry in the disk folder, or None; a file that cannot be read is removed."""
        import torch

        if self.disk_dir is None:
            return None
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            entry = torch.load(path, map_location=device or "cpu", weights_only=True)
            if not isinstance(entry, dict):
                raise ValueError("not a cache entry")
        except Exception:  # any unreadable file (truncated, foreign, corrupt) is a miss
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: trimmed last
        return entry

    def clear(self) -> None:
        """Drop every entry from memory and from the disk folder, and reset the counters."""
        with self._lock:
            self._entries.clear()
            self._used = {"host": 0, "device": 0}
            self._hits = self._misses = self._disk_hits = 0
            for _, _, path in self._disk_files():
                with contextlib.suppress(OSError):
                    path.unlink()

    def stats(self) -> CacheStats:
        """Entries and bytes in memory and on disk, hits (from disk among them) and misses."""
        with self._lock:
            files = self._disk_files()
            return CacheStats(
                entries=len(self._entries),
                bytes=sum(self._used.values()),
                disk_entries=len(files),
                disk_bytes=sum(size for _, size, _ in files),
                hits=self._hits,
                misses=self._misses,
                disk_hits=self._disk_hits,
            )
