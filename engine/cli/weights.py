"""``python -m engine weights list | verify [NAME] | download NAME``."""

from __future__ import annotations

import argparse
from typing import TextIO

from ..progress import TerminalLine
from ..weights.registry import CHECKPOINTS, Checkpoint, get_checkpoint
from ..weights.store import Status, find_local, resolve_checkpoint, search_dirs, verify

EXIT_PROBLEM = 1
MIB = 1 << 20


def _human_size(size: int | None) -> str:
    """Bytes as MiB, or ``?`` when unknown."""
    return "?" if size is None else f"{size / MIB:.1f} MiB"


class ByteProgressBar(TerminalLine):
    """A one-line download bar: bytes done of the total (or a byte count when the size is unknown)."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        super().__init__(stream, width)
        self.label = label

    def __call__(self, done: int, total: int | None) -> None:
        """Redraw the bar for ``done`` of ``total`` bytes (total None: a byte count only)."""
        if total:
            text = f"{self.bar(done / total)} {done / total:4.0%} {done / MIB:.1f}/{total / MIB:.1f} MiB"
        else:
            text = f"{done / MIB:.1f} MiB"
        self.draw(f"{self.label} {text}")


def _selected(name: str | None) -> list[Checkpoint]:
    """One checkpoint by name, or all of them."""
    return [get_checkpoint(name)] if name else list(CHECKPOINTS.values())


def _list(args: argparse.Namespace) -> int:
    """Print every checkpoint: name, size, local status and the methods that use it."""
    print(f"searched: {', '.join(str(folder) for folder in search_dirs(args.weights_dir, args.cache_dir))}")
    for ckpt in CHECKPOINTS.values():
        local = find_local(ckpt, args.weights_dir, args.cache_dir)
        size = local.stat().st_size if local is not None else ckpt.size
        status = f"present {local}" if local is not None else "missing"
        used_by = ", ".join(ckpt.used_by) or "-"
        print(f"{ckpt.name:30} {_human_size(size):>11}  {status}  (used by: {used_by})")
    return 0


def _verify(args: argparse.Namespace) -> int:
    """Check local files against the registry's sha256; exit 1 on a corrupt file or a named missing one."""
    problem = False
    for ckpt in _selected(args.name):
        result = verify(ckpt.name, weights_dir=args.weights_dir, cache_dir=args.cache_dir)
        if result.status is Status.MISSING:
            print(f"{ckpt.name}: missing ({ckpt.filename})")
            problem = problem or args.name is not None
        elif result.status is Status.UNVERIFIED:
            print(f"{ckpt.name}: present, no published checksum ({result.path}, sha256 {result.sha256})")
        elif result.status is Status.OK:
            print(f"{ckpt.name}: ok ({result.path})")
        else:
            print(f"{ckpt.name}: CORRUPT ({result.path}: sha256 {result.sha256}, expected {ckpt.sha256})")
            problem = True
    return EXIT_PROBLEM if problem else 0


def _download(args: argparse.Namespace) -> int:
    """Fetch one checkpoint into the cache folder (a progress bar on a terminal) and print its path."""
    ckpt = get_checkpoint(args.name)
    bar = ByteProgressBar(ckpt.filename)
    try:
        path = resolve_checkpoint(
            ckpt.name, weights_dir=args.weights_dir, cache_dir=args.cache_dir, progress=bar
        )
    finally:
        bar.close()
    print(path)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``weights`` with its actions ``list``, ``verify`` and ``download`` to the command line."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--weights-dir", metavar="DIR", help="your weights folder ($OVSS_WEIGHTS_DIR)")
    common.add_argument("--cache-dir", metavar="DIR", help="download cache ($OVSS_CACHE_DIR)")
    parser = subparsers.add_parser(
        "weights", help="list, verify or download checkpoints", description="Manage model checkpoints."
    )
    actions = parser.add_subparsers(dest="weights_action", metavar="ACTION")
    actions.required = True
    actions.add_parser("list", parents=[common], help="every checkpoint and its local status").set_defaults(
        func=_list
    )
    verify_parser = actions.add_parser("verify", parents=[common], help="check local files' sha256")
    verify_parser.add_argument("name", nargs="?", metavar="NAME", choices=list(CHECKPOINTS))
    verify_parser.set_defaults(func=_verify)
    download_parser = actions.add_parser("download", parents=[common], help="fetch a checkpoint")
    download_parser.add_argument("name", metavar="NAME", choices=list(CHECKPOINTS))
    download_parser.set_defaults(func=_download)
