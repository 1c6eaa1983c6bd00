"""The worker protocol's frames: arrays and JSON round-trip exactly, anything else is a ProtocolError."""

from __future__ import annotations

import io

import numpy as np
import pytest

from engine.worker.protocol import (
    MAGIC,
    Message,
    ProtocolError,
    StreamClosedError,
    encode,
    read_message,
)


@pytest.mark.parametrize("dtype", ["float32", "float64", "uint8", "int32", "int64", "uint16", "bool"])
def test_arrays_and_fields_round_trip(dtype):
    rng = np.random.default_rng(0)
    values = rng.uniform(0, 255, size=(2, 3, 5, 7))
    tiles = (values > 100 if dtype == "bool" else values).astype(dtype)
    empty = np.zeros((0, 4), dtype=np.float32)
    fields = {"id": 3, "labels": {"a": [1, "x"]}}
    frames = encode(Message("predict_batch", fields, {"tiles": tiles, "e": empty})) + encode(Message("ping"))
    stream = io.BytesIO(frames)
    message = read_message(stream)
    assert message.kind == "predict_batch" and message.fields == {"id": 3, "labels": {"a": [1, "x"]}}
    assert message.arrays["tiles"].dtype == tiles.dtype and np.array_equal(message.arrays["tiles"], tiles)
    assert message.arrays["tiles"].flags.writeable
    assert message.arrays["e"].shape == (0, 4)
    assert read_message(stream).kind == "ping"
    with pytest.raises(StreamClosedError):
        read_message(stream)


def test_non_contiguous_and_big_endian_arrays_arrive_as_they_are():
    data = np.arange(24, dtype=">f4").reshape(2, 3, 4)[:, ::2, ::-1]
    message = read_message(io.BytesIO(encode(Message("x", arrays={"a": data}))))
    assert np.array_equal(message.arrays["a"], data)


def test_object_arrays_are_refused():
    with pytest.raises(ProtocolError, match="does not carry"):
        encode(Message("x", arrays={"a": np.array([object()])}))


@pytest.mark.parametrize(
    "garbage",
    [
        b"Traceback (most recent call last):\n",
        MAGIC + b"\x00\x00\x00\x05\x00\x00\x00\x00{bad}",
        MAGIC + b"\x00\x00\x00\x02\x00\x00\x00\x00[]",
        MAGIC + b"\x00\x00\x00\x10\x00\x00",  # cut inside the prefix
    ],
)
def test_garbage_is_a_protocol_error(garbage):
    with pytest.raises(ProtocolError) as caught:
        read_message(io.BytesIO(garbage))
    assert not isinstance(caught.value, StreamClosedError)


def test_a_payload_that_does_not_match_its_shape_is_refused():
    frame = bytearray(encode(Message("x", arrays={"a": np.zeros((2, 2), np.float32)})))
    with pytest.raises(ProtocolError):
        read_message(io.BytesIO(bytes(frame[:-3])))  # truncated payload
    forged = encode(Message("x", arrays={"a": np.zeros((2, 2), np.float32)})).replace(b"[2, 2]", b"[2, 3]")
    with pytest.raises(ProtocolError, match="does not hold"):
        read_message(io.BytesIO(forged))
