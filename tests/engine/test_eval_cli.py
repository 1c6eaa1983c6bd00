"""``python -m engine evaluate`` end to end on the real samples of ../shared/data.

The method is a test double registered here (nearest label colour, per pixel): the numbers mean nothing,
but the pipeline, the protocols and the reports are the real ones and are checked against numbers computed
independently in the tests.
"""

import json
import shutil

import numpy as np
import pytest
from osgeo import gdal

from engine.cli import main
from engine.evaluate.datasets import load_dataset
from engine.labels import load_preset
from engine.methods.base import available_methods, register_method

DOUBLE = "test-colour-distance"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@register_method(DOUBLE, "test double: softmax of minus the distance to each class colour")
class ColourDistance:
    """Deterministic per-pixel method: probabilities fall with the RGB distance to each label colour."""

    name = DOUBLE
    min_tile = 1

    def __init__(self, **options):
        self.options = options
        self.colors = None

    def prepare(self, labels):
        self.colors = np.array(labels.colors, dtype=np.float32)

    def predict(self, tile):
        distance = np.linalg.norm(tile[None] - self.colors[:, :, None, None], axis=1)
        logits = -distance / 40.0
        logits -= logits.max(axis=0)
        weights = np.exp(logits)
        return (weights / weights.sum(axis=0)).astype(np.float32)


def read(path):
    return gdal.Open(str(path)).ReadAsArray()


def evaluate(capsys, *args):
    code = main(["evaluate", "--method", DOUBLE, *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def independent_matrix(image_dir, mask_dir, labels, evaluated, decode):
    """The test double's argmax over ``evaluated`` vs the decoded masks, counted with np.add.at."""
    method = ColourDistance()
    method.prepare(labels)
    k = len(evaluated)
    cm = np.zeros((k, k), dtype=np.int64)
    for image_path in sorted(image_dir.iterdir()):
        probabilities = method.predict(read(image_path).astype(np.float32))
        pred = np.argmax(probabilities[list(evaluated)], axis=0)
        truth = decode(read(mask_dir / image_path.name))
        to_eval = {c: i for i, c in enumerate(evaluated)}
        keep = np.isin(truth, evaluated)
        rows = np.array([to_eval[c] for c in truth[keep].tolist()], dtype=np.int64)
        np.add.at(cm, (rows, pred[keep]), 1)
    return cm


def test_potsdam_segearth_protocol_report_is_complete_and_right(shared_data, tmp_path, capsys):
    folder = shared_data / "potsdam"
    report, png = tmp_path / "r.json", tmp_path / "r.png"
    code, out, err = evaluate(
        capsys,
        "--images",
        folder / "img",
        "--masks",
        folder / "ann",
        "--preset",
        "potsdam-ori",
        "--protocol",
        "segearth",
        "--dataset",
        "potsdam",
        "--json",
        report,
        "--png",
        png,
    )
    assert code == 0, err
    data = json.loads(report.read_text())
    assert set(data) == {
        "format",
        "engine_version",
        "created",
        "config",
        "run",
        "metrics",
        "classes",
        "confusion_matrix",
    }
    assert data["config"]["protocol"]["name"] == "segearth"
    assert data["config"]["dataset"] == "potsdam"
    assert data["config"]["labels"] == load_preset("potsdam-ori").labels.to_dict()
    assert data["config"]["params"] == {}  # the preset sets no parameters for the test double
    labels = load_preset("potsdam-ori").labels
    expected = independent_matrix(
        folder / "img",
        folder / "ann",
        labels,
        tuple(range(6)),
        lambda raw: np.where(raw == 0, 255, raw.astype(int) - 1),
    )
    cm = np.array(data["confusion_matrix"])
    np.testing.assert_array_equal(cm, expected)
    raw = read(folder / "ann" / "2_10_0_0_512_512.png")
    assert [c["gt_pixels"] for c in data["classes"]] == np.bincount(raw.ravel(), minlength=7)[1:].tolist()
    assert data["run"]["ignored_pixels"] == int(np.count_nonzero(raw == 0))
    iou = np.diag(expected) / (expected.sum(0) + expected.sum(1) - np.diag(expected))
    assert data["metrics"]["mIoU"] == pytest.approx(np.nanmean(iou))
    assert data["metrics"]["aAcc"] == pytest.approx(np.trace(expected) / expected.sum())
    assert [c["name"] for c in data["classes"]] == list(labels.names)
    assert "impervious surfaces" in out and "mIoU" in out
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    assert gdal.Open(str(png)).RasterXSize > 100


def test_loveda_sdci_protocol_drops_background_and_means_over_truth(shared_data, tmp_path, capsys):
    folder = shared_data / "loveda"
    report = tmp_path / "r.json"
    code, _, err = evaluate(
        capsys,
        "--images",
        folder / "img",
        "--masks",
        folder / "ann",
        "--preset",
        "loveda-ori",
        "--protocol",
        "sdci",
        "--dataset",
        "loveda",
        "--json",
        report,
    )
    assert code == 0, err
    data = json.loads(report.read_text())
    labels = load_preset("loveda-ori").labels
    assert [c["name"] for c in data["classes"]] == list(labels.names[1:])  # no "background"
    expected = independent_matrix(
        folder / "img", folder / "ann", labels, tuple(range(1, 7)), lambda raw: raw.astype(int) - 1
    )
    np.testing.assert_array_equal(np.array(data["confusion_matrix"]), expected)
    raws = [read(p) for p in sorted((folder / "ann").glob("*.png"))]
    gt = sum(np.bincount(r.ravel(), minlength=8) for r in raws)
    assert [c["gt_pixels"] for c in data["classes"]] == gt[2:].tolist()
    assert data["run"]["ignored_pixels"] == int(gt[0] + gt[1])  # no-data and background
    iou = np.diag(expected) / (expected.sum(0) + expected.sum(1) - np.diag(expected))
    in_truth = expected.sum(axis=1) > 0
    assert not in_truth.all()  # barren is absent from the samples: the SDCI mean leaves it out
    assert data["metrics"]["mIoU"] == pytest.approx(np.nanmean(iou[in_truth]))
    assert data["metrics"]["mIoU_gt"] == data["metrics"]["mIoU"]


def test_plain_masks_with_reduce_zero_label_equal_the_dataset_encoding(shared_data, tmp_path, capsys):
    folder = shared_data / "vaihingen"
    common = (
        "--images",
        folder / "img",
        "--masks",
        folder / "ann",
        "--preset",
        "vaihingen-ori",
        "--protocol",
        "segearth",
    )
    assert evaluate(capsys, *common, "--dataset", "vaihingen", "--json", tmp_path / "a.json")[0] == 0
    assert evaluate(capsys, *common, "--reduce-zero-label", "--json", tmp_path / "b.json")[0] == 0
    a, b = (json.loads((tmp_path / n).read_text()) for n in ("a.json", "b.json"))
    assert a["confusion_matrix"] == b["confusion_matrix"]
    assert b["config"]["reduce_zero_label"] is True and b["config"]["ignore_index"] == 255


def test_tiling_a_larger_image_gives_the_per_pixel_methods_same_matrix(shared_data, tmp_path, capsys):
    folder = shared_data / "potsdam"
    common = (
        "--images",
        folder / "img",
        "--masks",
        folder / "ann",
        "--preset",
        "potsdam-ori",
        "--protocol",
        "segearth",
        "--dataset",
        "potsdam",
    )
    assert evaluate(capsys, *common, "--json", tmp_path / "whole.json")[0] == 0
    assert (
        evaluate(capsys, *common, "--tile", "200", "--overlap", "32", "--json", tmp_path / "tiled.json")[0]
        == 0
    )
    whole, tiled = (json.loads((tmp_path / n).read_text()) for n in ("whole.json", "tiled.json"))
    difference = np.abs(np.array(whole["confusion_matrix"]) - np.array(tiled["confusion_matrix"])).sum()
    assert difference <= 4  # blending identical per-pixel probabilities changes nothing but float ties
    assert tiled["config"]["tile"] == 200


def test_limit_labels_text_and_params_reach_the_report(shared_data, tmp_path, capsys):
    folder = shared_data / "loveda"
    labels = "; ".join(
        f"{n} (background)" if i == 0 else n for i, n in enumerate(load_dataset("loveda").labels.names)
    )
    code, _, err = evaluate(
        capsys,
        "--images",
        folder / "img",
        "--masks",
        folder / "ann",
        "--labels",
        labels,
        "--protocol",
        "segearth",
        "--dataset",
        "loveda",
        "--limit",
        "1",
        "--param",
        "prob_thd=0.25",
        "--json",
        tmp_path / "r.json",
    )
    assert code == 0, err
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["run"]["images"] == 1 and data["run"]["image_stems"] == ["0"]
    assert data["config"]["params"] == {"prob_thd": 0.25}
    assert sum(c["gt_pixels"] for c in data["classes"]) == int(
        np.count_nonzero(read(folder / "ann" / "0.png"))
    )


def copy_pair(shared_data, tmp_path, images=("0",), masks=("0",)):
    image_dir, mask_dir = tmp_path / "img", tmp_path / "ann"
    image_dir.mkdir()
    mask_dir.mkdir()
    for stem in images:
        shutil.copy(shared_data / "loveda" / "img" / f"{stem}.png", image_dir)
    for stem in masks:
        shutil.copy(shared_data / "loveda" / "ann" / f"{stem}.png", mask_dir)
    return image_dir, mask_dir


@pytest.mark.parametrize(
    "case",
    [
        (("0", "1"), ("0",), "1 image(s) without a mask in"),
        (("0",), ("0", "2"), "1 mask(s) without an image in"),
        ((), ("0",), "holds no images"),
    ],
)
def test_unmatched_and_empty_folders_are_clear_errors(shared_data, tmp_path, capsys, case):
    images, masks, message = case
    image_dir, mask_dir = copy_pair(shared_data, tmp_path, images, masks)
    code, _, err = evaluate(
        capsys,
        "--images",
        image_dir,
        "--masks",
        mask_dir,
        "--preset",
        "loveda-ori",
        "--protocol",
        "sdci",
        "--dataset",
        "loveda",
    )
    assert code == 2
    assert message in err and err.count("\n") == 1


def test_size_mismatch_colour_masks_and_wrong_class_count_are_clear_errors(shared_data, tmp_path, capsys):
    image_dir, mask_dir = copy_pair(shared_data, tmp_path)
    gdal.Translate(  # the returned dataset is dropped at once, which closes the file
        str(tmp_path / "s.png"), str(mask_dir / "0.png"), format="PNG", width=100, height=100
    )
    shutil.move(tmp_path / "s.png", mask_dir / "0.png")
    args = ("--images", image_dir, "--masks", mask_dir, "--protocol", "segearth")
    code, _, err = evaluate(capsys, *args, "--preset", "loveda-ori", "--dataset", "loveda")
    assert code == 2 and "0.png is 1024 x 1024 pixels but its mask 0.png is 100 x 100" in err
    shutil.copy(shared_data / "loveda" / "img" / "0.png", mask_dir / "0.png")  # a 3-band "mask"
    code, _, err = evaluate(capsys, *args, "--preset", "loveda-ori")
    assert code == 2 and "colour masks need --dataset NAME" in err
    code, _, err = evaluate(capsys, *args, "--preset", "potsdam-ori", "--dataset", "loveda")
    assert code == 2 and "loveda masks have 7 classes" in err
    code, _, err = evaluate(
        capsys, *args, "--preset", "loveda-ori", "--dataset", "loveda", "--reduce-zero-label"
    )
    assert code == 2 and "fixes the mask encoding" in err


@pytest.mark.slow
def test_random_weights_with_a_real_method(shared_data, tmp_path, capsys):
    real = [
        m
        for m in ("segearth-ov", "alignclip-d", "alignclip-s", "sdci-v2", "sdci-v1")
        if m in available_methods()
    ]
    if not real:
        pytest.skip("no real method is registered yet")
    folder = shared_data / "potsdam"
    code = main(
        [
            "evaluate",
            "--images",
            str(folder / "img"),
            "--masks",
            str(folder / "ann"),
            "--method",
            real[0],
            "--preset",
            "potsdam-segearth",
            "--protocol",
            "segearth",
            "--dataset",
            "potsdam",
            "--weights",
            "random",
            "--json",
            str(tmp_path / "r.json"),
            "--png",
            str(tmp_path / "r.png"),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "RANDOM WEIGHTS" in captured.err
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["config"]["weights"] == "random" and "warning" in data["run"]
    assert np.array(data["confusion_matrix"]).sum() == data["run"]["evaluated_pixels"] > 0
    assert (tmp_path / "r.png").read_bytes()[:8] == PNG_SIGNATURE
