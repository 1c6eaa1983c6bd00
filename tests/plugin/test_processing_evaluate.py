"""``ovss:evaluate``: metrics against a pixel-loop reference, the table and HTML outputs, shared-grid windows
references in the same CRS written differently (compared pixel for pixel) or in another CRS or on another
pixel grid (reprojected on the fly, nearest neighbour), and clear errors."""

from __future__ import annotations

import math

import numpy as np
import processing
import pytest
from processing_doubles import (
    CLASS_NAMES,
    EPSG,
    GEOTRANSFORM,
    LABEL_TEXT,
    TEST_METHOD,
    ovss_provider,  # noqa: F401 - the fixture used by every test below
    pattern,
    read_band,
    write_raster,
)
from qgis.core import QgsProcessingException, QgsProcessingFeedback, QgsVectorLayer

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


# NAD83(HARN) / North Carolina (EPSG:3358) as an unnamed LCC with TOWGS84, as some land-cover products write it
NC_UNNAMED = (
    "+proj=lcc +lat_0=33.75 +lon_0=-79 +lat_1=36.1666666666667 +lat_2=34.3333333333333 +x_0=609601.22 +y_0=0 "
    "+ellps=GRS80 +towgs84=0,0,0,0,0,0,0 +units=m +no_defs"
)
NC_GRID = (560000.0, 28.5, 0.0, 210000.0, 0.0, -28.5)


def with_crs(path, data, geotransform, crs: str, nodata: float | None = None):
    """A GeoTIFF of ``data`` (bands, h, w) in ``crs`` (anything osr's SetFromUserInput reads)."""
    from osgeo import gdal, osr

    write_raster(path, data, geotransform, epsg=None)
    srs = osr.SpatialReference()
    srs.SetFromUserInput(crs)
    dataset = gdal.Open(str(path), gdal.GA_Update)
    dataset.SetProjection(srs.ExportToWkt())
    if nodata is not None:
        dataset.GetRasterBand(1).SetNoDataValue(nodata)
    dataset = None
    return path


def evaluate(classified, reference, mapping="10:1, 20:2, 30:3"):
    messages = []
    feedback = QgsProcessingFeedback()
    feedback.pushInfo = messages.append
    result = processing.run(
        "ovss:evaluate",
        {"CLASSIFIED": str(classified), "REFERENCE": str(reference), "MAPPING": mapping, "OUTPUT": "memory:"},
        feedback=feedback,
    )
    return result, "\n".join(messages)


def test_same_crs_written_differently_is_compared_pixel_for_pixel(tmp_path):
    from osgeo import osr

    pred = np.random.default_rng(4).integers(1, 4, size=(20, 30)).astype(np.uint8)
    ref = reference_from(pred, seed=4)
    classified = with_crs(tmp_path / "classes.tif", pred[None], NC_GRID, "EPSG:3358")
    reference = with_crs(tmp_path / "landcover.tif", ref[None], NC_GRID, NC_UNNAMED, nodata=0)
    spelled = [osr.SpatialReference(wkt=gdal_wkt(path)) for path in (classified, reference)]
    assert not spelled[0].IsSame(spelled[1])  # what the plain comparison refused
    result, log = evaluate(classified, reference)
    want = loop_metrics(pred, ref)
    assert result["OVERALL_ACCURACY"] == pytest.approx(want["oa"])
    assert result["KAPPA"] == pytest.approx(want["kappa"])
    assert "on the classified grid" in log and "reprojected" not in log


def gdal_wkt(path) -> str:
    from osgeo import gdal

    return gdal.Open(str(path)).GetProjection()


def test_reference_in_another_crs_is_reprojected_nearest_neighbour(classified, tmp_path):
    from osgeo import osr

    pred = read_band(classified)
    utm, geographic = osr.SpatialReference(), osr.SpatialReference()
    utm.ImportFromEPSG(EPSG)
    geographic.ImportFromEPSG(4326)
    for srs in (utm, geographic):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    to_lonlat = osr.CoordinateTransformation(utm, geographic)
    x0, dx, _, y0, _, dy = GEOTRANSFORM
    lon0, lat0 = to_lonlat.TransformPoint(x0 - 2.0, y0 + 2.0)[:2]  # a little beyond the classified raster
    step = 1.7e-6  # degrees: about 0.12 x 0.19 m, finer than the 0.5 m classified pixels, on another grid
    codes = reference_from(np.random.default_rng(9).integers(1, 4, size=(120, 170)).astype(np.uint8), seed=9)
    reference = with_crs(tmp_path / "lonlat.tif", codes[None], (lon0, step, 0.0, lat0, 0.0, -step), "EPSG:4326", 0)
    expected = np.zeros_like(pred)  # the reference pixel under each classified pixel's centre
    for row in range(pred.shape[0]):
        for col in range(pred.shape[1]):
            lon, lat = to_lonlat.TransformPoint(x0 + (col + 0.5) * dx, y0 + (row + 0.5) * dy)[:2]
            expected[row, col] = codes[int((lat0 - lat) // step), int((lon - lon0) // step)]
    result, log = evaluate(classified, reference, MAPPING)
    want = loop_metrics(pred, expected)
    assert result["OVERALL_ACCURACY"] == pytest.approx(want["oa"])
    assert result["KAPPA"] == pytest.approx(want["kappa"])
    assert "another CRS: reprojected on the fly" in log


def test_reference_on_a_coarser_grid_is_resampled_onto_the_classified_grid(classified, tmp_path):
    pred = read_band(classified)
    x0, _, _, y0, _, _ = GEOTRANSFORM
    codes = reference_from(np.random.default_rng(2).integers(1, 4, size=(13, 17)).astype(np.uint8), seed=2)
    reference = write_reference(tmp_path / "coarse.tif", codes, (x0 - 0.3, 1.0, 0.0, y0 + 0.2, 0.0, -1.0))
    rows = ((np.arange(pred.shape[0]) + 0.5) * 0.5 + 0.2).astype(int)  # reference row under each centre
    cols = ((np.arange(pred.shape[1]) + 0.5) * 0.5 + 0.3).astype(int)
    result, log = evaluate(classified, reference, MAPPING)
    want = loop_metrics(pred, codes[rows][:, cols])
    assert result["OVERALL_ACCURACY"] == pytest.approx(want["oa"])
    assert "another pixel grid" in log


@pytest.fixture
def no_remembered_mapping():
    """The profile's remembered mapping removed before and after the test."""
    from qgis.core import QgsSettings

    from ovss.ovss_plugin.settings import CLASS_MAPPING_KEY

    QgsSettings().remove(CLASS_MAPPING_KEY)
    yield
    QgsSettings().remove(CLASS_MAPPING_KEY)


@pytest.mark.usefixtures("no_remembered_mapping")
def test_mapping_is_a_table_and_the_last_one_is_offered_again(classified, tmp_path):
    from qgis.core import QgsApplication, QgsProcessingParameterMatrix

    pred = read_band(classified)
    ref = reference_from(pred, seed=6)
    reference = write_reference(tmp_path / "reference.tif", ref)
    fresh = QgsApplication.processingRegistry().createAlgorithmById("ovss:evaluate")
    definition = fresh.parameterDefinition("MAPPING")
    assert isinstance(definition, QgsProcessingParameterMatrix) and definition.defaultValue() is None
    table = ["10", "dark", "20", "2", "30", "Bright"]  # rows: reference value, class (name or value)
    result, log = evaluate(classified, reference, table)
    want = loop_metrics(pred, ref)
    assert result["OVERALL_ACCURACY"] == pytest.approx(want["oa"]) and "10:dark, 20:2, 30:Bright" in log

    again = QgsApplication.processingRegistry().createAlgorithmById("ovss:evaluate")
    assert again.parameterDefinition("MAPPING").defaultValue() == table
    result = processing.run(
        "ovss:evaluate", {"CLASSIFIED": str(classified), "REFERENCE": str(reference), "OUTPUT": "memory:"}
    )
    assert result["KAPPA"] == pytest.approx(want["kappa"])  # the remembered table, not value k+1 = class k
