"""``python -m engine presets list | show NAME``: the built-in (and saved) label presets."""

from __future__ import annotations

import argparse
from typing import Any

from ..labels import color_to_hex, list_presets, load_preset, load_presets_from, preset_to_json


def register(subparsers: Any) -> None:
    """Add the ``presets`` sub-command with its ``list`` and ``show`` actions."""
    parser = subparsers.add_parser(
        "presets",
        help="list or show the label presets",
        description="Label presets: the papers' class names per dataset and the methods' dataset parameters.",
    )
    actions = parser.add_subparsers(dest="presets_action", metavar="ACTION")
    actions.required = True
    user_dir = {"metavar": "DIR", "help": "also read the presets saved in DIR"}

    listing = actions.add_parser("list", help="one line per preset: name, classes, background, description")
    listing.add_argument("--user-dir", **user_dir)
    listing.set_defaults(func=list_handler)

    show = actions.add_parser("show", help="the classes, prompts, colours and method parameters of a preset")
    show.add_argument("name", metavar="NAME")
    show.add_argument("--json", action="store_true", help="print the preset file's JSON instead")
    show.add_argument("--user-dir", **user_dir)
    show.set_defaults(func=show_handler)


def list_handler(args: argparse.Namespace) -> int:
    """Print every preset, one per line."""
    presets = [load_preset(name) for name in list_presets()]
    if args.user_dir:
        presets += load_presets_from(args.user_dir)
    width = max(len(p.name) for p in presets)
    print(f"{'NAME':<{width}}  CLASSES  BACKGROUND          DESCRIPTION")
    for preset in presets:
        labels = preset.labels
        background = "-" if labels.background is None else labels.names[labels.background]
        print(f"{preset.name:<{width}}  {len(labels):>7}  {background:<18}  {preset.description}")
    return 0


def show_handler(args: argparse.Namespace) -> int:
    """Print one preset in full, ending with the label text that ``--labels`` accepts."""
    preset = load_preset(args.name, args.user_dir)
    if args.json:
        print(preset_to_json(preset), end="")
        return 0
    labels = preset.labels
    print(f"name:        {preset.name}")
    print(f"dataset:     {preset.dataset or '-'}")
    print(f"kind:        {preset.kind}")
    print(f"description: {preset.description}")
    print("classes:")
    width = max(len(name) for name in labels.names)
    for index, label_class in enumerate(labels):
        mark = "  (background)" if index == labels.background else ""
        color = color_to_hex(label_class.color)
        print(f"  {index:>2}  {label_class.name:<{width}}  {color}  {', '.join(label_class.prompts)}{mark}")
    print("parameters:")
    for method, values in preset.params.items():
        print(f"  {method}: " + ", ".join(f"{key}={value}" for key, value in values.items()))
    if not preset.params:
        print("  (none)")
    print("sources:")
    for source in preset.sources:
        print(f"  - {source}")
    print(f"labels: {labels.to_text()}")
    return 0
