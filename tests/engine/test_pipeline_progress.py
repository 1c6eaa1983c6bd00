"""Progress values, the cancel check and the terminal progress bar."""

import io

import pytest

from engine.errors import CancelledError
from engine.progress import Progress, ProgressClock, TerminalProgressBar, format_duration


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_clock_estimates_remaining_from_timed_steps():
    clock, reports = FakeClock(), []
    progress = ProgressClock(5, reports.append, clock=clock)
    clock.now += 2.0
    progress.step()  # 2 s for one tile, 4 left
    progress.step(timed=False)  # a skipped tile costs nothing and does not count in the mean
    assert [(r.tiles_done, r.elapsed_s) for r in reports] == [(1, 2.0), (2, 2.0)]
    assert reports[0].remaining_s == pytest.approx(8.0)
    assert reports[1].remaining_s == pytest.approx(6.0)
    assert reports[1].fraction == pytest.approx(0.4)


def test_first_step_skipped_has_unknown_remaining_and_last_has_zero():
    progress = ProgressClock(2, clock=FakeClock())
    assert progress.step(timed=False).remaining_s is None
    assert progress.step(timed=False).remaining_s == 0.0


def test_cancel_check():
    flag = {"stop": False}
    progress = ProgressClock(3, is_cancelled=lambda: flag["stop"])
    progress.check_cancelled()
    progress.step()
    flag["stop"] = True
    with pytest.raises(CancelledError, match="stopped after 1 of 3 tiles; no output written"):
        progress.check_cancelled()


def test_format_duration():
    assert format_duration(None) == "--:--"
    assert format_duration(65.4) == "1:05"
    assert format_duration(3 * 3600 + 2 * 60 + 1) == "3:02:01"


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_bar_draws_on_a_terminal_only():
    quiet = io.StringIO()
    bar = TerminalProgressBar(quiet)
    bar(Progress(1, 4, 1.0, 3.0))
    bar.close()
    assert quiet.getvalue() == ""
    tty = Tty()
    bar = TerminalProgressBar(tty, width=8)
    bar(Progress(1, 4, 1.0, 3.0))
    bar(Progress(4, 4, 4.0, 0.0))
    bar.close()
    assert tty.getvalue() == (
        "\r[##------]  25% 1/4 tiles, 0:01 elapsed, 0:03 left"
        "\r[########] 100% 4/4 tiles, 0:04 elapsed, 0:00 left\n"
    )


def test_estimate_counts_only_the_tiles_ahead_that_need_work():
    clock, reports = FakeClock(), []
    work = [True] * 8 + [False] * 56  # a mostly empty raster: one row of tiles with data
    progress = ProgressClock(64, reports.append, clock=clock, work=work)
    for needs_work in work[:9]:
        clock.now += 10.0 if needs_work else 0.5
        progress.step(timed=needs_work)
    assert reports[0].remaining_s == pytest.approx(70.0)  # 7 tiles of 10 s; the empty ones cost nothing yet
    assert reports[7].remaining_s == pytest.approx(0.0)
    assert reports[8].remaining_s == pytest.approx(55 * 0.5)


def test_a_wrong_guess_is_learned_from_the_tiles_as_they_run():
    clock = FakeClock()
    progress = ProgressClock(4, clock=clock, work=[False, False, False, False])
    clock.now += 10.0
    assert progress.step(timed=True).remaining_s == pytest.approx(0.0)  # no known cost of an empty tile yet
    clock.now += 1.0
    assert progress.step(timed=False).remaining_s == pytest.approx(2.0)
    with pytest.raises(ValueError, match="3 entries for 4 steps"):
        ProgressClock(4, work=[True] * 3)
