"""Reports of an evaluation: a terminal table, a JSON file with every number and the full configuration,
and a PNG with the per-class IoU bars and the row-normalised confusion matrix (matplotlib, imported lazily,
drawn on an Agg canvas without pyplot so that no global backend is switched inside QGIS)."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .metrics import (
    cohen_kappa,
    mean_accuracy,
    mean_iou,
    overall_accuracy,
    per_class_accuracy,
    per_class_iou,
)

REPORT_FORMAT = 1
_MEAN_OVER = {"gt": "the ground truth", "union": "ground truth or prediction"}


@dataclass(frozen=True)
class Scores:
    """Every score of one confusion matrix; ``miou`` is the protocol's mean (``mean_over``)."""

    names: tuple[str, ...]
    matrix: np.ndarray
    iou: np.ndarray
    accuracy: np.ndarray
    mean_over: str
    miou: float
    miou_union: float
    miou_gt: float
    overall_accuracy: float
    mean_accuracy: float
    kappa: float

    @classmethod
    def of(cls, matrix: np.ndarray, names: tuple[str, ...], mean_over: str) -> Scores:
        """Compute the scores of ``matrix`` whose classes are ``names``."""
        return cls(
            names=names,
            matrix=matrix,
            iou=per_class_iou(matrix),
            accuracy=per_class_accuracy(matrix),
            mean_over=mean_over,
            miou=mean_iou(matrix, mean_over),
            miou_union=mean_iou(matrix, "union"),
            miou_gt=mean_iou(matrix, "gt"),
            overall_accuracy=overall_accuracy(matrix),
            mean_accuracy=mean_accuracy(matrix),
            kappa=cohen_kappa(matrix),
        )


def _number(value: float) -> float | None:
    """JSON has no NaN: undefined scores are ``null``."""
    return None if math.isnan(value) else float(value)


def _percent(value: float) -> str:
    """``41.23`` for 0.4123, ``-`` for NaN."""
    return "-" if math.isnan(value) else f"{100.0 * value:.2f}"


def format_table(scores: Scores, title: str = "") -> str:
    """The per-class table and the summary line, in percent (``-``: undefined, class absent)."""
    width = max(12, *(len(name) for name in scores.names))
    gt_pixels = scores.matrix.sum(axis=1)
    pred_pixels = scores.matrix.sum(axis=0)
    lines = [title] if title else []
    lines.append(f"{'class':<{width}}  {'IoU':>7}  {'Acc':>7}  {'GT pixels':>12}  {'predicted':>12}")
    for k, name in enumerate(scores.names):
        lines.append(
            f"{name:<{width}}  {_percent(scores.iou[k]):>7}  {_percent(scores.accuracy[k]):>7}  "
            f"{int(gt_pixels[k]):>12}  {int(pred_pixels[k]):>12}"
        )
    lines.append(
        f"mIoU {_percent(scores.miou)}  aAcc {_percent(scores.overall_accuracy)}  "
        f"mAcc {_percent(scores.mean_accuracy)}  kappa {_percent(scores.kappa)}  "
        f"(mIoU over the classes in {_MEAN_OVER[scores.mean_over]})"
    )
    return "\n".join(lines)


def report_dict(scores: Scores, config: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """The JSON report: configuration, run facts, every score (fractions, not percent) and the matrix."""
    gt_pixels = scores.matrix.sum(axis=1)
    pred_pixels = scores.matrix.sum(axis=0)
    return {
        "format": REPORT_FORMAT,
        "engine_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config,
        "run": run,
        "metrics": {
            "mIoU": _number(scores.miou),
            "mIoU_mean_over": scores.mean_over,
            "mIoU_union": _number(scores.miou_union),
            "mIoU_gt": _number(scores.miou_gt),
            "aAcc": _number(scores.overall_accuracy),
            "mAcc": _number(scores.mean_accuracy),
            "kappa": _number(scores.kappa),
        },
        "classes": [
            {
                "name": name,
                "iou": _number(scores.iou[k]),
                "accuracy": _number(scores.accuracy[k]),
                "gt_pixels": int(gt_pixels[k]),
                "predicted_pixels": int(pred_pixels[k]),
            }
            for k, name in enumerate(scores.names)
        ],
        "confusion_matrix": scores.matrix.astype(np.int64).tolist(),
    }


def write_json(report: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write the report (UTF-8, indented, strict JSON) and return the path."""
    target = Path(path)
    target.write_text(
        json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8"
    )
    return target


def write_png(scores: Scores, path: str | os.PathLike[str], title: str = "") -> Path:
    """Per-class IoU bars (mIoU as a line) beside the confusion matrix normalised by ground-truth rows."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(scores.names)
    rows = scores.matrix.sum(axis=1, keepdims=True).astype(np.float64)
    normalised = np.divide(scores.matrix, rows, out=np.zeros(scores.matrix.shape), where=rows > 0)
    side = max(4.0, 0.45 * n + 2.0)
    figure = Figure(figsize=(2 * side + 1.5, side + 1.0), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    bars, heat = figure.subplots(1, 2)
    iou = np.nan_to_num(scores.iou * 100.0)
    bars.barh(range(n), iou, color="#4c72b0")
    bars.set_yticks(range(n), scores.names)
    bars.invert_yaxis()
    bars.set_xlim(0, 100)
    bars.set_xlabel("IoU (%)")
    if not math.isnan(scores.miou):
        bars.axvline(scores.miou * 100.0, color="#c44e52", linestyle="--", label=f"mIoU {scores.miou:.2%}")
        bars.legend(loc="lower right")
    image = heat.imshow(normalised, vmin=0.0, vmax=1.0, cmap="viridis")
    heat.set_xticks(range(n), scores.names, rotation=60, ha="right")
    heat.set_yticks(range(n), scores.names)
    heat.set_xlabel("predicted")
    heat.set_ylabel("ground truth")
    heat.set_title("confusion matrix (rows normalised)")
    if n <= 16:
        for (i, j), value in np.ndenumerate(normalised):
            heat.text(
                j,
                i,
                f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if value < 0.5 else "black",
            )
    figure.colorbar(image, ax=heat, shrink=0.8)
    if title:
        figure.suptitle(title)
    target = Path(path)
    figure.savefig(target, format="png")
    return target
