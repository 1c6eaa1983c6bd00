"""The worker protocol: length-prefixed frames of a JSON header plus raw array payloads, over a byte stream.

A frame is ``MAGIC`` (4 bytes), the header's length and the number of payloads (two big-endian uint32), the
header (UTF-8 JSON, an object with at least ``"kind"``), then each payload as its length (big-endian uint64)
and its bytes. Arrays travel as payloads described in the header's ``"arrays"`` list (``name``, ``dtype``,
``shape``), C-ordered raw bytes of one of :data:`DTYPES`: no pickle, so nothing the peer sends is executed.
Anything else on the stream (a library printing to stdout, a crash half-way through a frame) is a
:class:`ProtocolError` naming what was read. docs/ARCHITECTURE.md ("Worker protocol") lists the messages.

Only the standard library and numpy are imported: QGIS's own Python loads this module.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np

PROTOCOL_VERSION = 1
MAGIC = b"OVSW"
_PREFIX = struct.Struct(">4sII")
_PAYLOAD = struct.Struct(">Q")
MAX_HEADER_BYTES = 16 * 2**20  # a header is small JSON; a larger length means the stream is not frames
MAX_PAYLOADS = 64
MAX_PAYLOAD_BYTES = 64 * 2**30
# the array types that may cross the stream (numpy dtype strings, little-endian)
DTYPES: frozenset[str] = frozenset({"|u1", "|b1", "<u2", "<i4", "<i8", "<f4", "<f8"})


class ProtocolError(Exception):
    """The stream does not hold a well-formed frame (garbage, a truncated frame, a forbidden array type)."""


class StreamClosedError(ProtocolError):
    """The stream ended cleanly between two frames (the peer closed it or exited)."""


@dataclass
class Message:
    """One frame: its ``kind``, the other header ``fields`` and the named ``arrays``."""

    kind: str
    fields: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def _read_exactly(stream: BinaryIO, size: int, what: str, *, at_start: bool = False) -> bytes:
    """``size`` bytes of ``stream``; :class:`StreamClosedError` at a clean end, :class:`ProtocolError` mid-frame."""
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            if at_start and remaining == size:
                raise StreamClosedError("the stream ended")
            got = b"".join(chunks)
            raise ProtocolError(f"the stream ended inside a frame ({what}: {len(got)} of {size} bytes: {got[:40]!r})")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def encode(message: Message) -> bytes:
    """The frame of ``message`` as bytes (arrays are made C-contiguous little-endian; see :data:`DTYPES`)."""
    descriptions = []
    payloads = []
    for name, array in message.arrays.items():
        data = np.ascontiguousarray(array)
        data = data.astype(data.dtype.newbyteorder("<"), copy=False)
        dtype = data.dtype.str
        if dtype not in DTYPES:
            raise ProtocolError(f"array {name!r} has type {dtype}, which the protocol does not carry")
        descriptions.append({"name": name, "dtype": dtype, "shape": list(data.shape)})
        payloads.append(data.tobytes())
    header = {**message.fields, "kind": message.kind}
    if descriptions:
        header["arrays"] = descriptions
    text = json.dumps(header).encode("utf-8")
    parts = [_PREFIX.pack(MAGIC, len(text), len(payloads)), text]
    for payload in payloads:
        parts += [_PAYLOAD.pack(len(payload)), payload]
    return b"".join(parts)


def write_message(stream: BinaryIO, message: Message) -> None:
    """Write one frame and flush (the caller serialises writers)."""
    stream.write(encode(message))
    stream.flush()


def read_message(stream: BinaryIO) -> Message:
    """The next frame of ``stream``; :class:`StreamClosedError` when it ended, :class:`ProtocolError` for garbage."""
    prefix = _read_exactly(stream, _PREFIX.size, "prefix", at_start=True)
    magic, header_size, count = _PREFIX.unpack(prefix)
    if magic != MAGIC or header_size > MAX_HEADER_BYTES or count > MAX_PAYLOADS:
        raise ProtocolError(f"not a protocol frame: {prefix!r}")
    try:
        header = json.loads(_read_exactly(stream, header_size, "header").decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"a frame header is not JSON: {exc}") from None
    if not isinstance(header, dict) or not isinstance(header.get("kind"), str):
        raise ProtocolError(f"a frame header has no kind: {str(header)[:80]}")
    descriptions = header.pop("arrays", [])
    if not isinstance(descriptions, list) or len(descriptions) != count:
        raise ProtocolError(f"a frame announces {count} payloads but describes {descriptions!r:.80}")
    arrays = {}
    for description in descriptions:
        arrays[str(description.get("name"))] = _read_array(stream, description)
    kind = header.pop("kind")
    return Message(kind, header, arrays)


def _read_array(stream: BinaryIO, description: Mapping[str, Any]) -> np.ndarray:
    """One payload as the array its ``description`` names, checked against its length."""
    (size,) = _PAYLOAD.unpack(_read_exactly(stream, _PAYLOAD.size, "payload length"))
    dtype, shape = description.get("dtype"), description.get("shape")
    if dtype not in DTYPES or not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise ProtocolError(f"a payload has an unknown type or shape: {dict(description)!r:.80}")
    expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    if size != expected or size > MAX_PAYLOAD_BYTES:
        raise ProtocolError(f"a payload of {size} bytes does not hold a {dtype} array of shape {shape}")
    array = np.empty(shape, dtype=np.dtype(dtype))
    view = memoryview(array).cast("B") if size else memoryview(b"")
    done = 0
    while done < size:  # straight into the array: a tile batch is copied once
        count = stream.readinto(view[done:])  # type: ignore[attr-defined]
        if not count:
            raise ProtocolError(f"the stream ended inside a payload ({done} of {size} bytes)")
        done += count
    return array
