"""Metrics against confusion matrices worked out by hand and against naive per-pixel loops."""

import math

import numpy as np
import pytest

from engine.errors import InputError
from engine.evaluate.metrics import (
    ConfusionMatrix,
    cohen_kappa,
    confusion_matrix,
    mean_accuracy,
    mean_iou,
    overall_accuracy,
    per_class_accuracy,
    per_class_iou,
)


def naive_matrix(pred, target, k, ignore=255):
    """One pixel at a time, no numpy tricks."""
    cm = [[0] * k for _ in range(k)]
    for p, t in zip(np.ravel(pred).tolist(), np.ravel(target).tolist(), strict=True):
        if t != ignore:
            cm[t][p] += 1
    return np.array(cm)


def test_hand_worked_matrix_and_scores():
    target = np.array([[0, 0, 1], [1, 2, 255]])
    pred = np.array([[0, 1, 1], [1, 0, 2]])
    cm = confusion_matrix(pred, target, 3)
    # rows = truth: class 0 -> predicted 0 once, 1 once; class 1 -> 1 twice; class 2 -> 0 once; 255 left out
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert cm.dtype == np.int64
    np.testing.assert_allclose(per_class_iou(cm), [1 / 3, 2 / 3, 0.0])
    np.testing.assert_allclose(per_class_accuracy(cm), [0.5, 1.0, 0.0])
    assert mean_iou(cm) == pytest.approx(1 / 3)
    assert mean_iou(cm, "gt") == pytest.approx(1 / 3)
    assert overall_accuracy(cm) == pytest.approx(3 / 5)
    assert mean_accuracy(cm) == pytest.approx(0.5)
    # p_o = 3/5, p_e = (2*2 + 2*3 + 1*0) / 25 = 0.4
    assert cohen_kappa(cm) == pytest.approx((0.6 - 0.4) / (1 - 0.4))


def test_class_predicted_but_absent_from_truth_separates_the_two_means():
    target = np.array([0, 0, 1, 1])
    pred = np.array([0, 2, 1, 1])
    cm = confusion_matrix(pred, target, 3)
    assert cm.tolist() == [[1, 0, 1], [0, 2, 0], [0, 0, 0]]
    iou = per_class_iou(cm)
    np.testing.assert_allclose(iou, [0.5, 1.0, 0.0])
    assert mean_iou(cm, "union") == pytest.approx(0.5)  # mmseg: class 2 counts with IoU 0
    assert mean_iou(cm, "gt") == pytest.approx(0.75)  # SDCI: only classes in the ground truth
    assert math.isnan(per_class_accuracy(cm)[2])
    assert mean_accuracy(cm) == pytest.approx(0.75)


def test_class_absent_everywhere_is_nan_and_left_out_of_both_means():
    cm = confusion_matrix(np.array([0, 1, 1]), np.array([0, 1, 0]), 4)
    iou = per_class_iou(cm)
    assert math.isnan(iou[2]) and math.isnan(iou[3])
    assert mean_iou(cm) == pytest.approx((0.5 + 0.5) / 2)
    assert mean_iou(cm, "gt") == pytest.approx(0.5)


def test_ignore_pixels_are_left_out_whatever_was_predicted_there():
    target = np.array([255, 255, 0, 1])
    pred = np.array([7, 99, 0, 0])  # out-of-range predictions on ignored pixels do not matter
    cm = confusion_matrix(pred, target, 2)
    assert cm.tolist() == [[1, 0], [1, 0]]
    assert confusion_matrix(np.array([1, 0]), np.array([5, 1]), 2, ignore_index=5).tolist() == [
        [0, 0],
        [1, 0],
    ]


def test_empty_prediction_of_a_class_and_an_all_ignored_image():
    cm = confusion_matrix(np.zeros(4, int), np.array([0, 1, 1, 0]), 2)
    np.testing.assert_allclose(per_class_iou(cm), [0.5, 0.0])  # class 1 never predicted: IoU 0
    assert mean_iou(cm) == pytest.approx(0.25)
    empty = confusion_matrix(np.zeros(3, int), np.full(3, 255), 2)
    assert empty.sum() == 0
    for score in (mean_iou(empty), overall_accuracy(empty), mean_accuracy(empty), cohen_kappa(empty)):
        assert math.isnan(score)


def test_matches_naive_loop_on_random_maps():
    rng = np.random.default_rng(3)
    target = rng.integers(0, 6, size=(37, 23))
    target[rng.random(target.shape) < 0.1] = 255
    pred = rng.integers(0, 6, size=target.shape)
    np.testing.assert_array_equal(confusion_matrix(pred, target, 6), naive_matrix(pred, target, 6))


def test_accumulator_sums_images_and_merges():
    rng = np.random.default_rng(4)
    pairs = [(rng.integers(0, 3, 50), rng.integers(0, 3, 50)) for _ in range(3)]
    first, second = ConfusionMatrix(3), ConfusionMatrix(3)
    for pred, target in pairs[:2]:
        first.update(pred, target)
    second.update(*pairs[2])
    merged = first.merge(second).matrix
    expected = sum(naive_matrix(p, t, 3) for p, t in pairs)
    np.testing.assert_array_equal(merged, expected)
    with pytest.raises(ValueError, match="cannot merge"):
        first.merge(ConfusionMatrix(4))


def test_kappa_against_its_definition_and_extremes():
    cm = np.array([[20, 5, 0], [10, 40, 5], [0, 3, 17]])
    n = cm.sum()
    po = sum(cm[i][i] for i in range(3)) / n
    pe = sum(cm[i].sum() * cm[:, i].sum() for i in range(3)) / n**2
    assert cohen_kappa(cm) == pytest.approx((po - pe) / (1 - pe))
    assert cohen_kappa(np.diag([3, 4, 5])) == pytest.approx(1.0)
    assert math.isnan(cohen_kappa(np.array([[5, 0], [0, 0]])))  # one class only: undefined


def test_user_errors_are_one_line_input_errors():
    with pytest.raises(InputError, match=r"ground truth has value 7 outside the class indices 0\.\.2"):
        confusion_matrix(np.zeros(2, int), np.array([0, 7]), 3)
    with pytest.raises(InputError, match="prediction has value 3"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)
    with pytest.raises(InputError, match="differs from ground-truth shape"):
        confusion_matrix(np.zeros((2, 2), int), np.zeros((2, 3), int), 3)
    with pytest.raises(InputError, match="must be integers"):
        confusion_matrix(np.zeros(2), np.zeros(2, int), 3)
    with pytest.raises(ValueError, match="present must be one of"):
        mean_iou(np.eye(2), "both")
