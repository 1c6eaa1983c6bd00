"""Progress reports and cancellation for long runs, and the command line's terminal progress bar.

The pipeline reports a :class:`Progress` for every tile through a plain callback (the tiles of a batch one
after the other once the batch is done) and asks a cancel check between batches and between the tiles a
method loops over; the QGIS task, Processing feedback and the terminal bar are all just such callbacks.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

from .errors import CancelledError


@dataclass(frozen=True)
class Progress:
    """How far a run is: tiles done of the total, time spent, estimated time left (None: unknown)."""

    tiles_done: int
    tiles_total: int
    elapsed_s: float
    remaining_s: float | None

    @property
    def fraction(self) -> float:
        """Share of the tiles done, 0..1 (1 for a run without tiles)."""
        return self.tiles_done / self.tiles_total if self.tiles_total else 1.0


ProgressCallback = Callable[[Progress], None]
CancelCheck = Callable[[], bool]


class ProgressClock:
    """Times a run of ``total`` steps, reports each step to ``callback`` and raises on cancellation.

    Steps that need work (a tile the method predicts) and steps that do not (an all-nodata tile, only read
    and written) are timed apart: the remaining time is the mean duration of each kind times the number of
    steps of that kind still ahead. ``work`` says for every step, in order, whether it is expected to need
    work (from a cheap look at the raster's mask, :meth:`RasterReader.likely_valid`); without it every step
    ahead is assumed to. A wrong guess only costs accuracy: the means are learned from the steps as they
    run. The remaining time is unknown (None) until one step that needed work has been timed, unless no
    such step is expected any more.
    """

    def __init__(
        self,
        total: int,
        callback: ProgressCallback | None = None,
        is_cancelled: CancelCheck | None = None,
        clock: Callable[[], float] = time.perf_counter,
        work: Sequence[bool] | None = None,
    ) -> None:
        if work is not None and len(work) != total:
            raise ValueError(f"work has {len(work)} entries for {total} steps")
        self.total = total
        self.done = 0
        self._callback = callback
        self._is_cancelled = is_cancelled
        self._clock = clock
        self._start = clock()
        self._last = self._start
        self._seconds = {True: 0.0, False: 0.0}  # time spent in steps that needed work / did not
        self._steps = {True: 0, False: 0}
        # work steps expected from step i on: _work_after[i]
        flags = [True] * total if work is None else [bool(flag) for flag in work]
        self._work_after = list(itertools.accumulate(reversed(flags), initial=0))[::-1]

    def check_cancelled(self) -> None:
        """Raise :class:`CancelledError` if the user asked to stop."""
        if self._is_cancelled is not None and self._is_cancelled():
            raise CancelledError(f"stopped after {self.done} of {self.total} tiles; no output written")

    def step(self, *, timed: bool = True) -> Progress:
        """Count one finished step (``timed``: it needed work) and report it."""
        return self.advance([timed])

    def advance(self, timed: Sequence[bool]) -> Progress:
        """Count steps finished together (a batch), in order, reporting each; ``timed``: each needed work.

        The time since the last report is shared by the steps that needed work (by the others when none
        did), so the means stay per step of each kind.
        """
        now = self._clock()
        kind = any(timed)
        share = (now - self._last) / max(sum(flag == kind for flag in timed), 1)
        self._last = now
        progress = Progress(self.done, self.total, now - self._start, self.remaining())
        for flag in timed:
            self._seconds[flag] += share if flag == kind else 0.0
            self._steps[flag] += 1
            self.done += 1
            progress = Progress(self.done, self.total, now - self._start, self.remaining())
            if self._callback is not None:
                self._callback(progress)
        return progress

    def remaining(self) -> float | None:
        """Estimated seconds left: steps of each kind ahead times their mean duration so far."""
        left = self.total - self.done
        if left == 0:
            return 0.0
        work_left = self._work_after[self.done]
        means = {kind: self._seconds[kind] / self._steps[kind] if self._steps[kind] else None for kind in (True, False)}
        if work_left and means[True] is None:
            return None
        return work_left * (means[True] or 0.0) + (left - work_left) * (means[False] or 0.0)


def format_duration(seconds: float | None) -> str:
    """``h:mm:ss`` or ``m:ss`` for a duration; ``--:--`` when unknown."""
    if seconds is None:
        return "--:--"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class TerminalLine:
    """One line on a terminal (``stderr`` by default) redrawn in place; silent when the stream is not a TTY."""

    def __init__(self, stream: TextIO | None = None, width: int = 30, force: bool = False) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.enabled = force or bool(getattr(self.stream, "isatty", lambda: False)())
        self._drawn = False

    def bar(self, fraction: float) -> str:
        """``[#####-----]`` filled to ``fraction`` of :attr:`width`."""
        filled = round(self.width * fraction)
        return f"[{'#' * filled}{'-' * (self.width - filled)}]"

    def draw(self, text: str) -> None:
        """Replace the line's text."""
        if self.enabled:
            self.stream.write("\r" + text)
            self.stream.flush()
            self._drawn = True

    def close(self) -> None:
        """End the line so that later messages start on a fresh one."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


class TerminalProgressBar(TerminalLine):
    """The tile progress bar of a segmentation run."""

    def render(self, progress: Progress) -> str:
        """The bar's text for ``progress`` (no carriage return)."""
        return (
            f"{self.bar(progress.fraction)} {progress.fraction:4.0%} {progress.tiles_done}/{progress.tiles_total} "
            f"tiles, {format_duration(progress.elapsed_s)} elapsed, {format_duration(progress.remaining_s)} left"
        )

    def __call__(self, progress: Progress) -> None:
        """Redraw the bar in place."""
        self.draw(self.render(progress))
