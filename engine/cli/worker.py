"""``python -m engine worker``: the inference worker QGIS talks to over stdin/stdout (:mod:`engine.worker`)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``worker`` sub-command."""
    parser = subparsers.add_parser(
        "worker",
        help="serve the methods to QGIS over stdin/stdout (started by the plugin, not by hand)",
        description="Run the inference worker: length-prefixed frames on stdin/stdout (docs/ARCHITECTURE.md, "
        "'Worker protocol'); logs go to the client, anything printed goes to stderr.",
    )
    parser.add_argument(
        "--idle-free", type=float, default=0.0, metavar="SECONDS",
        help="free the loaded models after this many seconds without a request (0: keep them)",
    )
    parser.add_argument(
        "--import", dest="imports", action="append", default=[], metavar="MODULE",
        help="import MODULE first (a module registering extra methods); may be repeated",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve until the client shuts the worker down."""
    from ..worker.server import run_worker

    return run_worker(args.idle_free, args.imports)
