"""``python -m engine evaluate``: score a method on labelled images under either paper's protocol.

Every input (labels, dataset, protocol, folders, pairs, sizes, output paths) is checked before the method is
built. The run prints a per-class table (IoU, accuracy, pixels) and mIoU / aAcc / mAcc / kappa; ``--json``
writes every number with the full configuration, ``--png`` the IoU bars and the normalised confusion matrix.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import InputError
from .common import add_method_arguments, build_method, labels_and_params, method_options, parse_bands


def register(subparsers: Any) -> None:
    """Add the ``evaluate`` sub-command."""
    parser = subparsers.add_parser(
        "evaluate",
        help="score a method on labelled images (per-class IoU, mIoU, accuracy)",
        description="Run a method over every image of --images, compare with the mask of the same name in "
        "--masks and report per-class IoU, mIoU, overall and mean accuracy over the whole dataset.",
    )
    parser.add_argument("--images", required=True, metavar="DIR", help="folder of images")
    parser.add_argument("--masks", required=True, metavar="DIR", help="folder of masks (same file stems)")
    add_method_arguments(parser, labels_help="classes in the masks' class order")
    parser.add_argument(
        "--protocol",
        required=True,
        choices=("sdci", "segearth"),
        help="sdci: background not evaluated; segearth: background evaluated (mmsegmentation IoUMetric)",
    )
    parser.add_argument(
        "--dataset", metavar="NAME", help="decode masks as this dataset stores them (e.g. potsdam, loveda)"
    )
    parser.add_argument(
        "--ignore-index", type=int, default=None, metavar="N", help="mask value to ignore (default 255)"
    )
    parser.add_argument(
        "--reduce-zero-label",
        action="store_true",
        help="mmsegmentation's reduce_zero_label: mask value 0 ignored, value v is class v-1",
    )
    parser.add_argument("--bands", metavar="B[,G,B]", help="image bands feeding R,G,B; default 1,2,3")
    parser.add_argument(
        "--tile",
        type=int,
        metavar="N",
        help="cut images into N-pixel tiles (default: each image is one tile)",
    )
    parser.add_argument("--overlap", type=int, default=0, metavar="N", help="tile overlap with --tile")
    parser.add_argument("--limit", type=int, metavar="N", help="evaluate the first N images (by name) only")
    parser.add_argument("--json", metavar="PATH", help="write every number and the configuration as JSON")
    parser.add_argument("--png", metavar="PATH", help="write IoU bars and the confusion matrix as PNG")
    parser.set_defaults(func=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    """Handle ``evaluate``: validate everything, build the method, run, print and write the reports."""
    from ..evaluate.datasets import load_dataset, plain_encoding
    from ..evaluate.protocols import ClassSpace, get_protocol
    from ..evaluate.report import Scores, format_table, report_dict, write_json, write_png
    from ..evaluate.runner import encoding_chooser, evaluate_pairs, find_pairs
    from ..models import weights_choice
    from ..progress import TerminalProgressBar
    from ..raster.tiles import validate_tiling
    from ..raster.writer import check_output_path

    weights = weights_choice(args.weights)
    protocol = get_protocol(args.protocol)
    labels, params = labels_and_params(args)
    background = labels.background
    dataset = plain = ignore_index = None
    if args.dataset is not None:
        dataset = load_dataset(args.dataset)
        if args.reduce_zero_label or args.ignore_index is not None:
            raise InputError(
                f"--dataset {dataset.name} fixes the mask encoding; drop --reduce-zero-label / --ignore-index"
            )
        expected = dataset.labels
        if len(labels) != len(expected):
            raise InputError(
                f"{dataset.name} masks have {len(expected)} classes ({', '.join(expected.names)}); "
                f"the labels give {len(labels)}"
            )
        if background is not None and background != expected.background:
            raise InputError(
                f"the labels mark class {background + 1} as background; {dataset.name}'s background "
                f"is {'none' if expected.background is None else expected.background + 1}"
            )
        background = expected.background
    else:
        ignore_index = 255 if args.ignore_index is None else args.ignore_index
        plain = plain_encoding(len(labels), ignore_index, args.reduce_zero_label)
    if args.tile is not None:
        validate_tiling(args.tile, args.overlap)
    bands = parse_bands(args.bands) if args.bands else None
    pairs = find_pairs(args.images, args.masks, dataset.mask_suffix if dataset else "", args.limit)
    choose = encoding_chooser(dataset, plain)
    for pair in pairs:
        choose(pair)
    outputs = {
        name: check_output_path(path) for name, path in (("json", args.json), ("png", args.png)) if path
    }
    space = ClassSpace.of(len(labels), background, protocol)
    names = tuple(labels.names[i] for i in space.evaluated)
    method = build_method(args, weights, params)
    method.prepare(labels)
    bar = TerminalProgressBar(sys.stderr)
    try:
        result = evaluate_pairs(
            pairs, method, space, choose, bands=bands, tile=args.tile, overlap=args.overlap, progress=bar
        )
    finally:
        bar.close()
    scores = Scores.of(result.matrix, names, protocol.mean_over)
    title = f"{args.method} on {len(pairs)} images, protocol {protocol.name}"
    if weights == "random":
        title += " (RANDOM WEIGHTS: numbers are meaningless)"
    print(format_table(scores, title))
    config = {
        "method": args.method,
        **method_options(args, weights, params),
        "preset": args.preset,
        "labels": labels.to_dict(),
        "labels_text": labels.to_text(),
        "protocol": {
            "name": protocol.name,
            "title": protocol.title,
            "source": protocol.source,
            "evaluate_background": protocol.evaluate_background,
            "mean_over": protocol.mean_over,
        },
        "background": background,
        "evaluated_classes": list(space.evaluated),
        "dataset": dataset.name if dataset else None,
        "encodings": sorted({choose(pair).description for pair in pairs}),
        "ignore_index": ignore_index,
        "reduce_zero_label": dataset.reduce_zero_label if dataset else args.reduce_zero_label,
        "images": str(args.images),
        "masks": str(args.masks),
        "limit": args.limit,
        "tile": args.tile,
        "overlap": args.overlap,
        "bands": list(bands) if bands else None,
    }
    run = {
        "images": result.images,
        "image_stems": list(result.image_stems),
        "ignored_pixels": result.ignored_pixels,
        "evaluated_pixels": int(result.matrix.sum()),
        "elapsed_s": round(result.elapsed_s, 3),
    }
    if weights == "random":
        run["warning"] = "random weights: a pipeline check, NOT a real evaluation"
    if "json" in outputs:
        print(f"wrote {write_json(report_dict(scores, config, run), outputs['json'])}")
    if "png" in outputs:
        print(f"wrote {write_png(scores, outputs['png'], title)}")
    return 0
