"""Bounded hand-over between the run's thread and a background thread, with errors carried back.

The pipeline reads the next tiles in one background thread (:class:`Prefetch`) and stitches and writes the
finished ones in another (:class:`Drain`) while its own thread feeds the method. Each hand-over is a queue
of at most ``size`` items, so memory stays bounded by the items in flight whatever the raster's size. An
exception in a background thread is raised again, as the same object (its one-line message intact), in the
run's thread at its next hand-over; :meth:`close` stops and joins the thread in every case, so a failed or
cancelled run leaves no thread behind. Each background thread owns what it works on (its own GDAL dataset
handle: GDAL handles are not thread-safe), handed over before it starts and back after it is joined.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
POLL_S = 0.05  # how often a blocked hand-over looks whether the other side stopped or failed
_END = object()  # marks the end of the items


class Prefetch(Generic[T]):
    """Runs ``produce(stopped)`` (an iterator) in a background thread, at most ``size`` items ahead.

    ``stopped()`` tells the producer that the consumer has gone (it may then return early); iterate over the
    prefetch to get the items in order.
    """

    def __init__(self, produce: Callable[[Callable[[], bool]], Iterator[T]], size: int, name: str) -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(size, 1))
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(produce,), name=name, daemon=True)
        self._thread.start()

    def _run(self, produce: Callable[[Callable[[], bool]], Iterator[T]]) -> None:
        items = produce(self._stop.is_set)
        try:
            for item in items:
                if not self._offer(item):
                    return
        except BaseException as exc:  # carried to the consumer, raised there
            self._error = exc
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # a generator's own clean-up (its ``finally``) runs in this thread, now
        self._offer(_END)

    def _offer(self, item: object) -> bool:
        """Queue ``item``, waiting for room; False when the consumer stopped."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[T]:
        while True:
            try:
                item = self._queue.get(timeout=POLL_S)
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    item = _END
                else:
                    continue
            if item is _END:
                if self._error is not None:
                    raise self._error
                return
            yield item  # type: ignore[misc]

    def close(self) -> None:
        """Stop the producer and wait for its thread."""
        self._stop.set()
        self._thread.join()


class Drain(Generic[T]):
    """Runs ``consume(item)`` in a background thread for each item :meth:`put`, at most ``size`` waiting."""

    def __init__(self, consume: Callable[[T], None], size: int, name: str) -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(size, 1))
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(consume,), name=name, daemon=True)
        self._thread.start()

    def _run(self, consume: Callable[[T], None]) -> None:
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if item is _END:
                return
            try:
                consume(item)  # type: ignore[arg-type]
            except BaseException as exc:  # carried to the producer, raised at its next hand-over
                self._error = exc
                return

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def put(self, item: T) -> None:
        """Hand ``item`` over, waiting for room; raises the consumer's exception if it failed."""
        while True:
            self._raise_error()
            if not self._thread.is_alive():
                raise RuntimeError(f"background thread {self._thread.name} stopped")
            try:
                self._queue.put(item, timeout=POLL_S)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        """Wait until every item is consumed; raises the consumer's exception if it failed."""
        self.put(_END)  # type: ignore[arg-type]
        self._thread.join()
        self._raise_error()

    def close(self) -> None:
        """Stop the consumer (items still waiting are dropped) and wait for its thread."""
        self._stop.set()
        self._thread.join()
