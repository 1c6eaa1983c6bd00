"""Confusion matrices and the segmentation scores computed from them.

The confusion matrix ``cm`` is ``(K, K)`` int64 with **rows = ground truth, columns = prediction**,
accumulated over a whole dataset before any score is computed (both papers' protocols do so; averaging
per-image scores would weigh small images like large ones). Scores use the usual definitions (SDCI Eq. 19
for the IoU):

- ``IoU_k = TP_k / (TP_k + FP_k + FN_k)`` = ``cm[k, k] / (row_k + col_k - cm[k, k])``; NaN where the class is
  neither in the ground truth nor predicted (0 / 0).
- ``Acc_k = TP_k / row_k`` (recall); NaN where the class is absent from the ground truth.
- overall accuracy = trace / total, mean accuracy = nanmean of ``Acc_k``, Cohen's kappa from the same matrix.

**Two means of the IoU** (the one difference between the two official evaluations, checked in their code):

- mmsegmentation's ``IoUMetric`` (SegEarth-OV, AlignCLIP): ``nanmean`` of the per-class IoU, i.e. over the
  classes present in the ground truth **or** the prediction: a class predicted but absent from the ground
  truth counts with IoU 0 (``present="union"``, the default).
- SDCI's ``util/miou.py`` (``ShowSegmentResult.calculate``): ``nanmean(iu[hist.sum(axis=1) > 0])``, i.e. over
  the classes present in the **ground truth** only; a class that is only predicted lowers no mean
  (``present="gt"``).

Pixel accuracy and mean accuracy are the same in both (``aAcc``/``pAcc``; ``mAcc`` nanmean over ground-truth
classes). Only numpy is needed.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

MEAN_MODES = ("union", "gt")


def _check_labels(values: np.ndarray, num_classes: int, what: str) -> None:
    """Every value must be a class index 0..K-1; one-line InputError naming the first offending value."""
    if values.size and (values.min() < 0 or values.max() >= num_classes):
        bad = values[(values < 0) | (values >= num_classes)][0]
        raise InputError(f"{what} has value {int(bad)} outside the class indices 0..{num_classes - 1}")


def confusion_matrix(
    pred: np.ndarray, target: np.ndarray, num_classes: int, ignore_index: int | None = 255
) -> np.ndarray:
    """The ``(K, K)`` int64 confusion matrix of one prediction (rows = ground truth ``target``).

    Pixels whose target is ``ignore_index`` are left out whatever was predicted there. Every other target
    value and every prediction at a counted pixel must be a class index ``0..K-1`` (InputError otherwise:
    a silently dropped value would change the scores). Vectorised: one ``np.bincount`` of ``K * t + p``.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be positive, got {num_classes}")
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.shape != target.shape:
        raise InputError(f"prediction shape {pred.shape} differs from ground-truth shape {target.shape}")
    if not (np.issubdtype(pred.dtype, np.integer) and np.issubdtype(target.dtype, np.integer)):
        raise InputError(f"class maps must be integers, got {pred.dtype} and {target.dtype}")
    target = target.ravel().astype(np.int64)
    pred = pred.ravel().astype(np.int64)
    if ignore_index is not None:
        keep = target != ignore_index
        target, pred = target[keep], pred[keep]
    _check_labels(target, num_classes, "ground truth")
    _check_labels(pred, num_classes, "prediction")
    counts = np.bincount(num_classes * target + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


class ConfusionMatrix:
    """A confusion matrix accumulated image by image (rows = ground truth, columns = prediction)."""

    def __init__(self, num_classes: int, ignore_index: int | None = 255) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, pred: np.ndarray, target: np.ndarray) -> None:
        """Add one image's prediction and ground truth (see :func:`confusion_matrix`)."""
        self.matrix += confusion_matrix(pred, target, self.num_classes, self.ignore_index)

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Add another accumulator's counts to this one (e.g. from a parallel worker); returns ``self``."""
        if other.num_classes != self.num_classes:
            raise ValueError(f"cannot merge {other.num_classes} classes into {self.num_classes}")
        self.matrix += other.matrix
        return self


def _as_matrix(cm: np.ndarray) -> np.ndarray:
    """``cm`` as a float64 square matrix (ValueError otherwise)."""
    cm = np.asarray(cm, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"a confusion matrix is square, got shape {cm.shape}")
    return cm


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Element-wise ratio with NaN where the denominator is 0."""
    out = np.full(numerator.shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _nanmean(values: np.ndarray) -> float:
    """Mean of the finite entries; NaN (no warning) when there is none."""
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float("nan")


def per_class_iou(cm: np.ndarray) -> np.ndarray:
    """IoU per class, ``TP / (TP + FP + FN)`` (SDCI Eq. 19); NaN where a class is neither true nor found."""
    cm = _as_matrix(cm)
    tp = np.diag(cm)
    return _ratio(tp, cm.sum(axis=1) + cm.sum(axis=0) - tp)


def per_class_accuracy(cm: np.ndarray) -> np.ndarray:
    """Accuracy (recall) per class, ``TP / ground-truth pixels``; NaN where absent from the ground truth."""
    cm = _as_matrix(cm)
    return _ratio(np.diag(cm), cm.sum(axis=1))


def mean_iou(cm: np.ndarray, present: str = "union") -> float:
    """Mean IoU over the classes present in ground truth or prediction (``"union"``, mmsegmentation) or in
    the ground truth only (``"gt"``, SDCI's ``util/miou.py``); see the module docstring. NaN if none is."""
    if present not in MEAN_MODES:
        raise ValueError(f"present must be one of {MEAN_MODES}, got {present!r}")
    iou = per_class_iou(cm)
    if present == "gt":
        iou = iou[_as_matrix(cm).sum(axis=1) > 0]
    return _nanmean(iou)


def overall_accuracy(cm: np.ndarray) -> float:
    """Share of counted pixels predicted right (mmseg ``aAcc``, SDCI ``pAcc``); NaN for an empty matrix."""
    cm = _as_matrix(cm)
    total = cm.sum()
    return float(np.trace(cm) / total) if total > 0 else float("nan")


def mean_accuracy(cm: np.ndarray) -> float:
    """Mean of the per-class accuracies over the classes present in the ground truth (``mAcc``)."""
    return _nanmean(per_class_accuracy(cm))


def cohen_kappa(cm: np.ndarray) -> float:
    """Cohen's kappa ``(p_o - p_e) / (1 - p_e)`` with ``p_e = sum_k row_k col_k / N^2``.

    NaN for an empty matrix and where ``p_e = 1`` (truth and prediction both a single class: undefined).
    """
    cm = _as_matrix(cm)
    total = cm.sum()
    if total <= 0:
        return float("nan")
    observed = np.trace(cm) / total
    expected = float(cm.sum(axis=1) @ cm.sum(axis=0)) / (total * total)
    return float((observed - expected) / (1.0 - expected)) if expected < 1.0 else float("nan")
