"""Evaluation: confusion matrices and scores, both papers' protocols, dataset mask encodings, reports.

``metrics`` needs numpy only and is what other parts (the Processing algorithm) import; ``runner`` runs a
method over a folder of images and masks; ``report`` writes the table, JSON and PNG.
"""

from .metrics import (
    ConfusionMatrix,
    cohen_kappa,
    confusion_matrix,
    mean_accuracy,
    mean_iou,
    overall_accuracy,
    per_class_accuracy,
    per_class_iou,
)

__all__ = [
    "ConfusionMatrix",
    "cohen_kappa",
    "confusion_matrix",
    "mean_accuracy",
    "mean_iou",
    "overall_accuracy",
    "per_class_accuracy",
    "per_class_iou",
]
