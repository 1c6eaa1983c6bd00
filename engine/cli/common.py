"""Arguments and steps that ``segment`` and ``evaluate`` share: the method, its labels and its weights."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from ..device import DEVICE_CHOICES, PRECISION_CHOICES
from ..errors import InputError
from ..methods.params import parse_param

if TYPE_CHECKING:
    from ..labels import LabelSet
    from ..methods.base import Method


def parse_bands(text: str) -> tuple[int, ...]:
    """``"4,3,2"`` -> ``(4, 3, 2)``; :class:`InputError` for anything but comma-separated band numbers."""
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise InputError(f"--bands takes band numbers separated by commas (e.g. 1,2,3), got {text!r}") from None


def add_method_arguments(parser: argparse.ArgumentParser, labels_help: str) -> None:
    """``--method``, ``--labels``/``--preset``, ``--param``, device, precision, weights and seed."""
    parser.add_argument("--method", required=True, metavar="NAME", help="registered method name, e.g. sdci-v2")
    labels = parser.add_mutually_exclusive_group(required=True)
    labels.add_argument("--labels", metavar="TEXT", help=labels_help)
    labels.add_argument("--preset", metavar="NAME", help="a label preset, e.g. potsdam-gen")
    parser.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE",
        help="override a method parameter (repeatable), e.g. --param alpha=0.3",
    )
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    parser.add_argument("--precision", choices=PRECISION_CHOICES, default="auto")
    parser.add_argument("--weights-dir", metavar="DIR", help="folder with the checkpoints")
    parser.add_argument("--weights", metavar="random", help="'random': seeded random weights (pipeline check)")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="seed for random weights (default 0)")


def labels_and_params(args: argparse.Namespace) -> tuple[LabelSet, dict[str, Any]]:
    """The label set (``--labels`` or ``--preset``) and the method parameters (the preset's, then ``--param``)."""
    from ..labels import load_preset, parse_labels, preset_params
    from ..methods.base import method_info

    method_info(args.method)
    if args.labels is not None:
        labels, params = parse_labels(args.labels), {}
    else:
        preset = load_preset(args.preset)
        labels, params = preset.labels, preset_params(preset, args.method)
    params.update(parse_param(text) for text in args.param)
    return labels, params


def build_method(args: argparse.Namespace, weights: str, params: dict[str, Any]) -> Method:
    """Build the method the arguments name; random weights are announced on stderr first."""
    from ..methods.base import create_method
    from ..models import RANDOM_WEIGHTS_WARNING

    if weights == "random":
        print(RANDOM_WEIGHTS_WARNING, file=sys.stderr)
    return create_method(args.method, **method_options(args, weights, params))


def method_options(args: argparse.Namespace, weights: str, params: dict[str, Any]) -> dict[str, Any]:
    """The build options of the method the arguments name (those of ``create_method`` after its name)."""
    return {
        "weights": weights,
        "weights_dir": args.weights_dir,
        "device": args.device,
        "precision": args.precision,
        "seed": args.seed,
        "params": params,
    }
