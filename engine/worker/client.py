"""The client's side of the worker: starts ``python -m engine worker``, talks to it, and contains its failures.

:class:`WorkerClient` owns one worker process: it starts it on first use (the handshake checks the protocol
version), sends one request at a time and waits for its answer while forwarding the worker's ``log``
messages and keeping the last lines of its stderr. Every way the worker can fail ends in ONE
:class:`~engine.errors.WorkerError` with a specific message (crashed or killed with its exit code and last
stderr lines, out of memory, no answer in time, garbage on the stream, another protocol version); the
process is then gone and the next request starts a fresh one. An engine error raised in the worker (bad
input, missing weights, cancel) comes back as the same engine exception.

:class:`RemoteMethod` is the method contract (:class:`engine.methods.base.Method`) over a client, so the
pipeline runs unchanged: rasters are read and written in the client's process, only tiles and probabilities
cross. A user's cancel (the pipeline's :func:`cancel_point` check, looked at while waiting) is sent to the
worker, which stops within the batch; a worker that does not stop within the grace period is killed.

Only the standard library, numpy and the engine's light modules are imported: QGIS's Python loads this.
"""

from __future__ import annotations

import collections
import itertools
import os
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__, errors
from ..errors import CancelledError, OVSSError, WorkerError
from ..methods.base import cancel_point
from .protocol import PROTOCOL_VERSION, Message, ProtocolError, StreamClosedError, read_message, write_message

if TYPE_CHECKING:
    import numpy as np

    from ..labels import LabelSet

LogCallback = Callable[[str, str], None]  # (level, line)

POLL_S = 0.05  # how often a waiting request looks at the process, the clock and the user's cancel
STDERR_LINES = 12  # last lines of the worker's stderr quoted when it fails
# seconds each request may take before the worker is considered hung (None: the default)
TIMEOUTS_S: dict[str, float] = {
    "hello": 300.0,  # torch's first import on a cold disk
    "load": 3600.0,  # may download checkpoints
    "prepare": 900.0,
    "predict": 1800.0,
    "predict_batch": 1800.0,
    "default": 120.0,
}
CANCEL_GRACE_S = 10.0
SHUTDOWN_WAIT_S = 5.0
OUT_OF_MEMORY = ("MemoryError", "OutOfMemoryError")  # exception names that mean the worker ran out of memory
_EOF = object()


def describe_exit(code: int) -> str:
    """``exit code 1`` or ``killed by signal 9 (SIGKILL: ...)`` for a process's return code."""
    if code >= 0:
        return f"exit code {code}"
    text = f"exit code {code}, killed by signal {-code}"
    if code == -9:
        text += " (SIGKILL: killed from outside or by the system's out-of-memory killer)"
    return text


class WorkerClient:
    """One worker process, started on demand (see the module docstring).

    ``command`` starts the worker (normally from :meth:`for_python`); ``log(level, line)`` receives its log
    messages and stderr lines; ``timeouts_s`` overrides :data:`TIMEOUTS_S` entries.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        log: LogCallback | None = None,
        timeouts_s: Mapping[str, float] | None = None,
        cancel_grace_s: float = CANCEL_GRACE_S,
    ) -> None:
        self.command = [str(part) for part in command]
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self.log = log or (lambda level, line: None)
        self.timeouts_s = {**TIMEOUTS_S, **(timeouts_s or {})}
        self.cancel_grace_s = cancel_grace_s
        self.generation = 0  # incremented at each start: a new process holds no model yet
        self.hello: dict[str, Any] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._replies: queue.Queue[object] = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._threads: list[threading.Thread] = []
        self._lock = threading.RLock()
        self._write_lock = threading.Lock()
        self._ids = itertools.count(1)

    @classmethod
    def for_python(
        cls,
        python: str | os.PathLike[str],
        root: str | os.PathLike[str],
        *,
        idle_free_s: float = 0.0,
        imports: Sequence[str] = (),
        paths: Sequence[str | os.PathLike[str]] = (),
        env: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> WorkerClient:
        """A client whose worker is ``python -m engine worker`` run from ``root`` (the folder holding
        ``engine/``) and importing ``imports`` first.

        Its ``PYTHONPATH`` is ``root`` and ``paths`` only, and ``PYTHONHOME`` is dropped: QGIS sets both for its
        own Python (OSGeo4W), and the worker's interpreter must find its own packages, not QGIS's.
        """
        command = [str(python), "-m", "engine", "worker", "--idle-free", str(idle_free_s)]
        for module in imports:
            command += ["--import", module]
        environment = dict(os.environ if env is None else env)
        environment.pop("PYTHONHOME", None)
        environment["PYTHONPATH"] = os.pathsep.join(str(path) for path in (root, *paths))
        environment["PYTHONUNBUFFERED"] = "1"
        return cls(command, cwd=root, env=environment, **kwargs)

    # process -------------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while a started worker process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The worker's process id (None when none is started)."""
        return None if self._process is None else self._process.pid

    def ensure_started(self) -> dict[str, Any]:
        """Start the worker if none is running and check its handshake; returns its ``hello`` fields."""
        with self._lock:
            if self.running:
                return self.hello
            self._discard()
            try:
                self._process = subprocess.Popen(
                    self.command,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    cwd=self.cwd,
                    env=self.env,
                    creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),  # no console window on Windows
                )
            except OSError as exc:
                raise WorkerError(f"cannot start the worker {self.command[0]}: {exc}") from None
            self.generation += 1
            self._replies = queue.Queue()
            self._stderr.clear()
            self._threads = [
                threading.Thread(target=self._read_frames, args=(self._process,), name="ovss-worker-frames"),
                threading.Thread(target=self._read_stderr, args=(self._process,), name="ovss-worker-stderr"),
            ]
            for thread in self._threads:
                thread.daemon = True
                thread.start()
            hello = self._wait("hello", None, self.timeouts_s["hello"], starting=True)
            version = hello.fields.get("protocol")
            if version != PROTOCOL_VERSION:
                raise self._failure(
                    f"the worker ({self.command[0]}) speaks protocol version {version}, this plugin needs "
                    f"version {PROTOCOL_VERSION}: set up the environment again"
                )
            if hello.fields.get("engine") != __version__:
                raise self._failure(
                    f"the worker ({self.command[0]}) runs engine {hello.fields.get('engine')}, this plugin is "
                    f"{__version__}: it imported another copy of the engine"
                )
            self.hello = hello.fields
            self.log("info", f"worker started: {self.describe()}")
            return self.hello

    def describe(self) -> str:
        """One line about the running worker: engine and torch versions, device, Python, process id."""
        hello = self.hello
        return (
            f"engine {hello.get('engine')}, torch {hello.get('torch')} on {hello.get('device')}, "
            f"Python {hello.get('python')}, pid {hello.get('pid')}"
        )

    def _read_frames(self, process: subprocess.Popen[bytes]) -> None:
        """Thread: frames from the worker's stdout; logs go to ``log``, everything else to the reply queue."""
        replies = self._replies
        try:
            while True:
                message = read_message(process.stdout)  # type: ignore[arg-type]
                if message.kind == "log":
                    self.log(str(message.fields.get("level", "info")), str(message.fields.get("message", "")))
                else:
                    replies.put(message)
        except StreamClosedError:
            replies.put(_EOF)
        except (ProtocolError, OSError, ValueError) as exc:
            replies.put(ProtocolError(str(exc)))

    def _read_stderr(self, process: subprocess.Popen[bytes]) -> None:
        """Thread: the worker's stderr, line by line, kept (last lines) and logged."""
        for raw in process.stderr:  # type: ignore[union-attr]
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                self._stderr.append(line)
                self.log("stderr", line)

    def _discard(self) -> None:
        """Kill the process (if any) and join its reading threads."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.kill()
            process.wait()
            for thread in self._threads:
                thread.join(timeout=SHUTDOWN_WAIT_S)
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        self._threads = []

    def _stderr_tail(self) -> str:
        """The last stderr lines, for a failure message (after the reading thread has seen them)."""
        for thread in self._threads[1:]:
            thread.join(timeout=1.0)
        lines = list(self._stderr)
        return "; last output: " + " | ".join(lines[-4:]) if lines else ""

    def _failure(self, message: str) -> WorkerError:
        """Stop the worker and make the one :class:`WorkerError` of a failure (the next request starts anew)."""
        error = WorkerError(message)
        self.log("error", message)
        self._discard()
        return error

    def close(self) -> None:
        """Ask the worker to exit; kill it if it does not within :data:`SHUTDOWN_WAIT_S`."""
        with self._lock:
            process = self._process
            if process is not None and process.poll() is None:
                try:
                    self._send(Message("shutdown"))
                    process.stdin.close()  # type: ignore[union-attr]
                    process.wait(timeout=SHUTDOWN_WAIT_S)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            self._discard()

    # requests ------------------------------------------------------------------------------------------

    def _send(self, message: Message) -> None:
        with self._write_lock:
            write_message(self._process.stdin, message)  # type: ignore[union-attr, arg-type]

    def request(
        self,
        kind: str,
        fields: Mapping[str, Any] | None = None,
        arrays: Mapping[str, np.ndarray] | None = None,
        timeout_s: float | None = None,
    ) -> Message:
        """Send one request and return its answer (starting the worker first if needed).

        Raises :class:`WorkerError` for a failed worker, the engine's own exception for an engine error
        raised in the worker, :class:`CancelledError` when the pipeline's cancel check fires while waiting.
        """
        with self._lock:
            self.ensure_started()
            ident = next(self._ids)
            try:
                self._send(Message(kind, {**(fields or {}), "id": ident}, dict(arrays or {})))
            except OSError:
                raise self._crashed("while receiving a request") from None
            if timeout_s is None:
                timeout_s = self.timeouts_s.get(kind, self.timeouts_s["default"])
            reply = self._wait(kind, ident, timeout_s)
            if reply.kind == "error":
                raise self._remote_error(reply)
            return reply

    def _wait(self, kind: str, ident: int | None, timeout_s: float, starting: bool = False) -> Message:
        """The answer to request ``ident`` (``None``: the handshake), watching the process and the clock."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                item = self._replies.get(timeout=POLL_S)
            except queue.Empty:
                if self._process is not None and self._process.poll() is not None and self._replies.empty():
                    item = _EOF
                elif time.monotonic() > deadline:
                    what = "start" if starting else f"answer {kind!r}"
                    raise self._failure(
                        f"the worker did not {what} within {timeout_s:g} s and was stopped (hung?)"
                        f"{self._stderr_tail()}"
                    ) from None
                else:
                    if not starting:
                        self._watch_cancel(ident)
                    continue
            if item is _EOF:
                raise self._crashed("before it was ready" if starting else f"during {kind!r}")
            if isinstance(item, ProtocolError):
                raise self._failure(f"the worker answered garbage: {item}{self._stderr_tail()}")
            assert isinstance(item, Message)
            if starting:
                if item.kind != "hello":
                    raise self._failure(f"the worker answered garbage: {item.kind!r} instead of its hello")
                return item
            if item.fields.get("id") == ident:
                return item
            # the late answer to a cancelled request: skip it

    def _watch_cancel(self, ident: int | None) -> None:
        """The pipeline's cancel check; on a cancel, tell the worker and wait for it to stop (else kill it)."""
        try:
            cancel_point()
        except CancelledError:
            self._cancel(ident)
            raise

    def _cancel(self, ident: int | None) -> None:
        """Send ``cancel``; a worker that has not answered within the grace period is killed."""
        try:
            self._send(Message("cancel", {"target": ident}))
        except OSError:
            self._discard()
            return
        deadline = time.monotonic() + self.cancel_grace_s
        while time.monotonic() < deadline:
            try:
                item = self._replies.get(timeout=POLL_S)
            except queue.Empty:
                if not self.running:
                    break
                continue
            if isinstance(item, Message) and item.fields.get("id") == ident:
                return
            if not isinstance(item, Message):
                break
        self.log("warning", f"the worker did not stop within {self.cancel_grace_s:g} s of the cancel; killed it")
        self._discard()

    def _crashed(self, when: str) -> WorkerError:
        """The :class:`WorkerError` of a worker that exited (its exit code and last stderr lines)."""
        code = self._process.wait() if self._process is not None else None
        exit_text = describe_exit(code) if code is not None else "no process"
        return self._failure(f"the worker stopped {when} ({exit_text}){self._stderr_tail()}")

    def _remote_error(self, reply: Message) -> Exception:
        """The exception to raise for an ``error`` answer (see the module docstring)."""
        name = str(reply.fields.get("error", "Exception"))
        message = str(reply.fields.get("message", ""))
        engine_class = getattr(errors, name, None)
        if isinstance(engine_class, type) and issubclass(engine_class, OVSSError):
            return engine_class(message)
        if name in OUT_OF_MEMORY:
            return self._failure(f"the worker ran out of memory ({name}: {message}); choose a smaller tile or batch")
        self.log("error", str(reply.fields.get("traceback", "")))
        return RuntimeError(f"{name} in the worker: {message}")

    # queries -------------------------------------------------------------------------------------------

    def free_models(self) -> bool:
        """Drop the worker's loaded models (nothing to do when no worker runs); True when some were held."""
        with self._lock:
            if not self.running:
                return False
            return bool(self.request("free").fields.get("freed"))

    def check_run(self, method: str, labels: LabelSet, **fields: Any) -> None:
        """The worker's memory check of a planned run before any model is built (``fields``: params, width,
        height, tile, overlap, device, probabilities, confidence, batch); :class:`InputError` if it won't fit."""
        self.request("check_run", {"method": method, "labels": labels.to_dict(), **fields})


@dataclass(frozen=True)
class RemoteRuntime:
    """What the pipeline reads of a method's runtime: the device it runs on (in the worker)."""

    device: str


class RemoteMethod:
    """The method contract over a :class:`WorkerClient` (see the module docstring).

    Built like :func:`engine.methods.base.create_method`; the worker builds (or reuses) the real method.
    ``predict_batch`` and ``tile_memory`` are None when the real method has none, as the pipeline expects.
    """

    def __init__(
        self,
        client: WorkerClient,
        name: str,
        *,
        weights: str | Path = "default",
        weights_dir: str | Path | None = None,
        device: str = "auto",
        precision: str = "auto",
        seed: int = 0,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        self.client = client
        self._spec = {
            "method": name,
            "weights": str(weights),
            "weights_dir": None if weights_dir is None else str(weights_dir),
            "device": device,
            "precision": precision,
            "seed": seed,
            "params": dict(params or {}),
        }
        self._labels: dict[str, Any] | None = None
        reply = self.client.request("load", self._spec)
        self._generation = self.client.generation
        info = reply.fields
        self.name: str = str(info["name"])
        self.min_tile: int = int(info["min_tile"])
        self.runtime = RemoteRuntime(str(info["device"]))
        self.metadata: dict[str, str] = dict(info.get("metadata") or {})
        self.predict_batch: Callable[[np.ndarray], np.ndarray] | None = self._predict_batch if info["batched"] else None
        self.tile_memory: Callable[[int, int, LabelSet], int] | None = (
            self._tile_memory if info["tile_memory"] else None
        )

    def _call(self, kind: str, fields: Mapping[str, Any] | None = None, **arrays: np.ndarray) -> Message:
        """One request about this method; a fresh worker (after a failure) is given the labels again first."""
        self.client.ensure_started()
        if self._generation != self.client.generation:
            self._generation = self.client.generation
            if self._labels is not None and kind != "prepare":
                self.client.request("prepare", {**self._spec, "labels": self._labels})
        return self.client.request(kind, {**self._spec, **(fields or {})}, arrays)

    def prepare(self, labels: LabelSet) -> None:
        """The worker's ``prepare(labels)`` (text embeddings)."""
        self._labels = labels.to_dict()
        self._call("prepare", {"labels": self._labels})

    def predict(self, tile: np.ndarray) -> np.ndarray:
        """Class probabilities of one tile, computed in the worker."""
        return self._call("predict", tile=tile).arrays["probabilities"]

    def _predict_batch(self, tiles: np.ndarray) -> np.ndarray:
        """Class probabilities of a batch, computed in the worker (a cancel stops it within the batch)."""
        return self._call("predict_batch", tiles=tiles).arrays["probabilities"]

    def _tile_memory(self, height: int, width: int, labels: LabelSet) -> int:
        """The real method's estimate of a tile's working memory."""
        reply = self._call("tile_memory", {"height": height, "width": width, "labels": labels.to_dict()})
        return int(reply.fields["bytes"])
