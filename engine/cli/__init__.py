"""``python -m engine``: segment, evaluate, weights, presets, worker.

Each sub-command lives in its own module and adds itself with ``register(subparsers)``; its handler takes
the parsed arguments and returns an exit code. User errors (:class:`OVSSError`) become one line on stderr
and a non-zero exit, never a traceback. SIGTERM (``kill``, a job scheduler ending the job) is handled like
Ctrl-C: it unwinds the run, which removes its temporary files, and exits with 128 + 15.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

from .. import __version__
from ..errors import CancelledError, OVSSError

# sub-command modules, each with ``register(subparsers)``; relative to this package
COMMAND_MODULES = (".segment", ".evaluate", ".weights", ".presets", ".worker")

EXIT_USER_ERROR = 2
EXIT_CANCELLED = 130
EXIT_TERMINATED = 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: raised where the program is, so it unwinds (and cleans up) as after Ctrl-C."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    """The SIGTERM handler: ignore further SIGTERMs while unwinding, then raise :class:`Terminated`."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block (main thread only), SIGTERM raises :class:`Terminated`; the old handler comes back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every available sub-command."""
    parser = argparse.ArgumentParser(
        prog="python -m engine",
        description="Open-vocabulary land-cover segmentation of rasters (SDCI, AlignCLIP, SegEarth-OV).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name, __package__).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with sigterm_as_interrupt():
            return int(args.func(args) or 0)
    except Terminated:
        print("terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except CancelledError as exc:
        print(f"cancelled: {exc}", file=sys.stderr)
        return EXIT_CANCELLED
    except OVSSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_CANCELLED
