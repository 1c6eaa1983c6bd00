"""The worker's side of the protocol: builds methods, keeps them loaded, and answers the client's requests.

Started as ``python -m engine worker`` by :mod:`.client`. It takes stdin and stdout for the frames and points
file descriptors 0 and 1 elsewhere (``/dev/null`` and stderr), so a library that prints cannot corrupt the
stream; Python's ``logging`` and ``warnings`` go to the client as ``log`` messages. A reading thread takes
the frames in: ``cancel`` (naming its ``target`` request) acts at once (that request stops at its start or
at its next :func:`cancel_point`), every other request is answered in order by the main thread. Built
methods are kept in a :class:`ModelCache` (one at a time, keyed by everything that shapes them) until
``free``, an idle time or ``shutdown``.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import queue
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO

from .. import __version__
from ..cache import feature_cache, using_cache
from ..errors import CancelledError, InputError
from ..labels import LabelSet
from ..memory import check_planned_run, method_device
from ..methods.base import Method, cancellation, create_method, method_info, method_metadata, predict_batch
from ..methods.cache import MethodKey, ModelCache
from ..raster.tiles import plan_tiles
from .protocol import PROTOCOL_VERSION, Message, ProtocolError, StreamClosedError, read_message, write_message

LOG = logging.getLogger(__name__)
POLL_S = 0.2  # how often the idle main thread looks at the idle timer


class _LogToClient(logging.Handler):
    """Sends every log record to the client as a ``log`` message."""

    def __init__(self, send: Callable[[Message], None]) -> None:
        super().__init__(logging.INFO)
        self._send = send

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._send(Message("log", {"level": record.levelname.lower(), "message": self.format(record)}))
        except Exception:  # the stream is gone: nothing left to tell
            self.handleError(record)


def hello_fields() -> dict[str, Any]:
    """What the worker says first: protocol and engine versions, torch's version and the device it would use."""
    import torch

    from ..device import resolve_device

    return {
        "protocol": PROTOCOL_VERSION,
        "engine": __version__,
        "torch": torch.__version__,
        "device": str(resolve_device("auto")),
        "python": sys.version.split()[0],
        "pid": os.getpid(),
    }


class WorkerServer:
    """Answers the requests read from ``frames_in`` on ``frames_out`` (see the module docstring)."""

    def __init__(self, frames_in: BinaryIO, frames_out: BinaryIO, idle_free_s: float = 0.0) -> None:
        self.frames_in = frames_in
        self.frames_out = frames_out
        self.idle_free_s = idle_free_s
        self.cache = ModelCache()
        self.cancelled: set[Any] = set()  # ids of the requests the client cancelled
        self.current: Any = None  # id of the request being answered
        self.requests: queue.Queue[Message | None] = queue.Queue()
        self._write_lock = threading.Lock()
        self._handlers: dict[str, Callable[[Message], Message]] = {
            "load": self.load,
            "prepare": self.prepare,
            "predict": self.predict,
            "predict_batch": self.predict_batch,
            "tile_memory": self.tile_memory,
            "check_run": self.check_run,
            "free": self.free,
            "ping": lambda request: Message("result"),
        }

    def send(self, message: Message) -> None:
        """Write one frame (any thread)."""
        with self._write_lock:
            write_message(self.frames_out, message)

    def log(self, message: str, level: str = "info") -> None:
        """A log line for the client."""
        self.send(Message("log", {"level": level, "message": message}))

    def _read(self) -> None:
        """The reading thread: ``cancel`` sets the flag, other requests are queued; None marks the end."""
        try:
            while True:
                message = read_message(self.frames_in)
                if message.kind == "cancel":
                    self.cancelled.add(message.fields.get("target"))
                elif message.kind == "shutdown":
                    return
                else:
                    self.requests.put(message)
        except StreamClosedError:
            return
        except ProtocolError as exc:
            LOG.error("the client's stream is broken: %s", exc)
        finally:
            self.requests.put(None)

    def _check_cancelled(self) -> None:
        """The cancel check of the running request (a ``cancel`` may arrive before the request starts)."""
        if self.current in self.cancelled:
            raise CancelledError("cancelled in the worker")

    def serve(self) -> None:
        """Say hello, then answer requests until ``shutdown`` or the end of the stream."""
        self.send(Message("hello", hello_fields()))
        threading.Thread(target=self._read, name="ovss-worker-read", daemon=True).start()
        last = time.monotonic()
        while True:
            try:
                request = self.requests.get(timeout=POLL_S)
            except queue.Empty:
                if self.idle_free_s > 0 and time.monotonic() - last > self.idle_free_s and self.free_models():
                    self.log(f"models freed after {self.idle_free_s:g} s without a request")
                continue
            if request is None:
                return
            self.answer(request)
            last = time.monotonic()

    def answer(self, request: Message) -> None:
        """Run one request and send its ``result`` or ``error`` (with the request's ``id``)."""
        ident = request.fields.get("id")
        handler = self._handlers.get(request.kind)
        self.current = ident
        try:
            if handler is None:
                raise InputError(f"the worker does not know the request {request.kind!r}")
            self._check_cancelled()
            with cancellation(self._check_cancelled):
                reply = handler(request)
        except BaseException as exc:  # every failure goes back to the client, the worker stays up
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            reply = Message(
                "error",
                {"error": type(exc).__name__, "message": str(exc), "traceback": traceback.format_exc()},
            )
        reply.fields["id"] = ident
        self.cancelled.discard(ident)
        self.send(reply)

    def _method(self, request: Message) -> Method:
        """The loaded method the request names (loaded again if it was freed in between)."""
        fields = request.fields
        key = MethodKey.of(
            str(fields["method"]),
            weights=str(fields.get("weights") or "default"),
            weights_dir=fields.get("weights_dir") or None,
            device=str(fields.get("device") or "auto"),
            precision=str(fields.get("precision") or "auto"),
            seed=int(fields.get("seed") or 0),
            params=fields.get("params") or {},
        )

        def build() -> Method:
            return create_method(
                key.name,
                weights=key.weights,
                weights_dir=key.weights_dir or None,
                device=key.device,
                precision=key.precision,
                seed=key.seed,
                params=json.loads(key.params),
            )

        return self.cache.get(key, build)

    def free_models(self) -> bool:
        """Drop the held method, its memory and the feature cache; True when a method was held."""
        held = self.cache.loaded is not None
        self.cache.clear()
        feature_cache().clear()
        return held

    def load(self, request: Message) -> Message:
        """Build (or reuse) the method; answer what the pipeline reads from it."""
        method = self._method(request)
        return Message(
            "result",
            {
                "name": method.name,
                "min_tile": int(method.min_tile),
                "device": method_device(method),
                "metadata": method_metadata(method),
                "batched": getattr(method, "predict_batch", None) is not None,
                "tile_memory": getattr(method, "tile_memory", None) is not None,
            },
        )

    def prepare(self, request: Message) -> Message:
        """``method.prepare(labels)`` (the method's own text cache makes a repeated label set cheap)."""
        self._method(request).prepare(LabelSet.from_dict(request.fields["labels"]))
        return Message("result")

    def predict(self, request: Message) -> Message:
        """``method.predict(tile)``, with the worker's feature cache (the cache lives with the models)."""
        method = self._method(request)
        with using_cache(feature_cache()):
            return Message("result", arrays={"probabilities": method.predict(request.arrays["tile"])})

    def predict_batch(self, request: Message) -> Message:
        """The batched entry point (:func:`predict_batch`), stopping at a :func:`cancel_point` on ``cancel``; with
        the worker's feature cache, so a run with changed labels reuses what the last one computed."""
        method = self._method(request)
        with using_cache(feature_cache()):
            probabilities = predict_batch(method, request.arrays["tiles"])
        return Message("result", arrays={"probabilities": probabilities})

    def tile_memory(self, request: Message) -> Message:
        """The built method's ``tile_memory(height, width, labels)``."""
        fields = request.fields
        estimate = self._method(request).tile_memory  # type: ignore[attr-defined]
        labels = LabelSet.from_dict(fields["labels"])
        return Message("result", {"bytes": int(estimate(int(fields["height"]), int(fields["width"]), labels))})

    def check_run(self, request: Message) -> Message:
        """:func:`check_planned_run` before any model is built, with the worker's view of the device."""
        fields = request.fields
        method = str(fields["method"])
        plan = plan_tiles(
            int(fields["width"]), int(fields["height"]), int(fields["tile"]), int(fields["overlap"]),
            method_info(method).min_tile,
        )
        check_planned_run(
            method,
            fields.get("params") or {},
            LabelSet.from_dict(fields["labels"]),
            plan,
            str(fields.get("device") or "auto"),
            probabilities=bool(fields.get("probabilities")),
            confidence=bool(fields.get("confidence")),
            batch=min(int(fields.get("batch") or 0), plan.n_tiles),
        )
        return Message("result")

    def free(self, request: Message) -> Message:
        """Drop the loaded models."""
        return Message("result", {"freed": self.free_models()})


def take_stdio() -> tuple[BinaryIO, BinaryIO]:
    """The frame streams (the process's original stdin and stdout); fd 0 becomes /dev/null and fd 1 stderr,
    so nothing else can read or write the frames."""
    frames_in = os.fdopen(os.dup(0), "rb")
    frames_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return frames_in, frames_out


def run_worker(idle_free_s: float = 0.0, imports: Sequence[str] = ()) -> int:
    """The worker process's main: take the streams, import ``imports`` (modules registering extra methods),
    route logs and warnings to the client, serve."""
    frames_in, frames_out = take_stdio()
    for module in imports:
        importlib.import_module(module)
    server = WorkerServer(frames_in, frames_out, idle_free_s)
    handler = _LogToClient(server.send)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    warnings.simplefilter("default")
    server.serve()
    server.free_models()
    return 0
