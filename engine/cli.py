"""``python -m engine``: segment, evaluate, weights, presets.

Each sub-command lives in its own module and adds itself with ``register(subparsers)``; its handler takes
the parsed arguments and returns an exit code. User errors (:class:`OVSSError`) become one line on stderr
and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__
from .errors import CancelledError, OVSSError

# sub-command modules, each with ``register(subparsers)``; relative to this package
COMMAND_MODULES = (".cli_segment", ".cli_evaluate", ".weights.cli", ".cli_presets")

EXIT_USER_ERROR = 2
EXIT_CANCELLED = 130


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
        return int(args.func(args) or 0)
    except CancelledError as exc:
        print(f"cancelled: {exc}", file=sys.stderr)
        return EXIT_CANCELLED
    except OVSSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_CANCELLED
