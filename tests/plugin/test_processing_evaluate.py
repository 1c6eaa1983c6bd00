"""``ovss:evaluate``: metrics against a pixel-loop reference, the table and HTML outputs, shared-grid windows
and clear errors for grids that would need resampling."""

from __future__ import annotations

import math

import numpy as np
import processing
import pytest
from processing_doubles import (
    CLASS_NAMES,
    GEOTRANSFORM,
    LABEL_TEXT,
    TEST_METHOD,
    ovss_provider,  # noqa: F401 - the fixture used by every test below
    pattern,
    read_band,
    write_raster,
)
from qgis.core import QgsProcessingException, QgsVectorLayer

CODES = {10: 0, 20: 1, 30: 2}  # reference value -> class index
MAPPING = "10:dark, 20:2; 30:Bright"

pytestmark = pytest.mark.usefixtures("ovss_provider")


@pytest.fixture
def classified(tmp_path):
    source = write_raster(tmp_path / "scene.tif", pattern(24, 32, seed=3))
    out = tmp_path / "classes.tif"
    processing.run(
        "ovss:segment",
        {
            "INPUT": str(source),
            "METHOD": TEST_METHOD,
            "LABELS": LABEL_TEXT,
            "TILE": 16,
            "OVERLAP": 4,
            "OUTPUT": str(out),
        },
    )
    return out


def reference_from(classes: np.ndarray, seed: int = 0) -> np.ndarray:
    """The classification recoded 10/20/30 with some pixels changed, some nodata (0), some unmapped (99)."""
    rng = np.random.default_rng(seed)
    codes = np.array([10, 20, 30], dtype=np.uint8)[classes.astype(int) - 1]
    noisy = rng.random(classes.shape) < 0.25
    codes[noisy] = rng.choice([10, 20, 30], size=int(noisy.sum()))
    codes[rng.random(classes.shape) < 0.05] = 0
    codes[rng.random(classes.shape) < 0.05] = 99
    return codes


def write_reference(path, codes, geotransform=GEOTRANSFORM):
    write_raster(path, codes[None], geotransform)
    from osgeo import gdal

    dataset = gdal.Open(str(path), gdal.GA_Update)
    dataset.GetRasterBand(1).SetNoDataValue(0)
    dataset = None
    return path


def loop_metrics(pred: np.ndarray, ref: np.ndarray) -> dict:
    """Confusion matrix and scores by plain loops over pixels and classes."""
    k = len(CLASS_NAMES)
    cm = [[0] * k for _ in range(k)]
    for p, r in zip(pred.ravel().tolist(), ref.ravel().tolist(), strict=True):
        if r in CODES and 1 <= p <= k:
            cm[CODES[r]][p - 1] += 1
    total = sum(map(sum, cm))
    oa = sum(cm[i][i] for i in range(k)) / total
    expected = sum(sum(cm[i]) * sum(cm[j][i] for j in range(k)) for i in range(k)) / total**2
    ious = []
    for i in range(k):
        union = sum(cm[i]) + sum(cm[j][i] for j in range(k)) - cm[i][i]
        ious.append(cm[i][i] / union if union else math.nan)
    present = [v for v in ious if not math.isnan(v)]
    return {
        "cm": cm,
        "oa": oa,
        "kappa": (oa - expected) / (1 - expected),
        "iou": ious,
        "miou": sum(present) / len(present),
        "total": total,
    }


def test_metrics_table_and_report_match_a_pixel_loop(classified, tmp_path):
    pred = read_band(classified)
    ref = reference_from(pred)
    reference = write_reference(tmp_path / "reference.tif", ref)
    report = tmp_path / "report.html"
    result = processing.run(
        "ovss:evaluate",
        {
            "CLASSIFIED": str(classified),
            "REFERENCE": str(reference),
            "MAPPING": MAPPING,
            "OUTPUT": "memory:",
            "REPORT": str(report),
        },
    )
    want = loop_metrics(pred, ref)
    assert result["OVERALL_ACCURACY"] == pytest.approx(want["oa"])
    assert result["KAPPA"] == pytest.approx(want["kappa"])
    assert result["MIOU"] == pytest.approx(want["miou"])

    table = result["OUTPUT"]
    if not isinstance(table, QgsVectorLayer):
        from qgis.core import QgsProcessingContext, QgsProcessingUtils

        table = QgsProcessingUtils.mapLayerFromString(table, QgsProcessingContext())
    features = list(table.getFeatures())
    assert table.wkbType() == 100  # QgsWkbTypes.NoGeometry
    assert [f["class_name"] for f in features] == [*CLASS_NAMES, "all classes"]
    for index, feature in enumerate(features[:-1]):
        assert feature["class_value"] == index + 1
        assert feature["iou"] == pytest.approx(want["iou"][index])
        assert [feature[f"n_{j + 1}"] for j in range(3)] == want["cm"][index]
        assert feature["reference_pixels"] == sum(want["cm"][index])
    summary = features[-1]
    assert summary["overall_accuracy"] == pytest.approx(want["oa"])
    assert summary["kappa"] == pytest.approx(want["kappa"])
    assert summary["iou"] == pytest.approx(want["miou"])
    assert summary["reference_pixels"] == want["total"]

    text = report.read_text(encoding="utf-8")
    assert f"{want['oa']:.4f}" in text and f"{want['kappa']:.4f}" in text and f"{want['miou']:.4f}" in text
    assert all(name in text for name in CLASS_NAMES)


def test_reference_on_a_shifted_aligned_grid_is_compared_where_both_are(classified, tmp_path):
    pred = read_band(classified)
    big = reference_from(np.pad(pred, ((0, 10), (0, 10)), constant_values=1), seed=1)
    x0, dx, _, y0, _, dy = GEOTRANSFORM
    shifted = (x0 + 5 * dx, dx, 0.0, y0 + 3 * dy, 0.0, dy)  # reference pixel (0, 0) = classified (5, 3)
    reference = write_reference(tmp_path / "shifted.tif", big, shifted)
    result = processing.run(
        "ovss:evaluate",
        {"CLASSIFIED": str(classified), "REFERENCE": str(reference), "MAPPING": MAPPING, "OUTPUT": "memory:"},
    )
    want = loop_metrics(pred[3:, 5:], big[: pred.shape[0] - 3, : pred.shape[1] - 5])
    assert result["OVERALL_ACCURACY"] == pytest.approx(want["oa"])
    assert result["KAPPA"] == pytest.approx(want["kappa"])


@pytest.mark.parametrize(
    ("geotransform", "mapping", "message"),
    [
        ((350000.0, 1.0, 0.0, 5650000.0, 0.0, -1.0), MAPPING, "different pixel sizes"),
        ((350000.25, 0.5, 0.0, 5650000.0, 0.0, -0.5), MAPPING, "not aligned"),
        ((360000.0, 0.5, 0.0, 5650000.0, 0.0, -0.5), MAPPING, "do not overlap"),
        (GEOTRANSFORM, "10-dark", "is not 'reference value:class'"),
        (GEOTRANSFORM, "10:water", "no class named 'water'"),
        (GEOTRANSFORM, "10:4", "class value 4 is not 1..3"),
    ],
)
def test_errors_are_clear(classified, tmp_path, geotransform, mapping, message):
    reference = write_reference(tmp_path / "bad.tif", np.full((24, 32), 10, dtype=np.uint8), geotransform)
    with pytest.raises(QgsProcessingException, match=message):
        processing.run(
            "ovss:evaluate",
            {"CLASSIFIED": str(classified), "REFERENCE": str(reference), "MAPPING": mapping, "OUTPUT": "memory:"},
        )


def test_map_values_matches_a_dict_lookup():
    from ovss.ovss_plugin.processing.evaluate import map_values, parse_class_mapping

    mapping = parse_class_mapping("3:1, 7:2, 7.5:3, 200:1", ("a", "b", "c"))
    assert mapping == {3.0: 0, 7.0: 1, 7.5: 2, 200.0: 0}
    values = np.array([[3, 7, 8, 200], [0, 255, 7.5, 3]], dtype=np.float32)
    expected = [[mapping.get(float(v), 255) for v in row] for row in values.tolist()]
    np.testing.assert_array_equal(map_values(values, mapping), expected)
    assert parse_class_mapping("", ("a", "b")) == {1.0: 0, 2.0: 1}
