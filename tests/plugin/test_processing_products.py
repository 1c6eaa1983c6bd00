"""The analysis products in Processing: ``ovss:segment``'s polygons, statistics, report and area outputs,
``ovss:polygonize`` for existing class rasters, and the class style of the polygons in QGIS."""

from __future__ import annotations

import csv
import json

import numpy as np
import processing
import pytest
from processing_doubles import (
    CLASS_NAMES,
    LABEL_TEXT,
    TEST_METHOD,
    ovss_provider,  # noqa: F401 - the fixture used by every test below
    pattern,
    write_raster,
)
from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsFillSymbol,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsRasterLayer,
    QgsSingleBandGrayRenderer,
    QgsSingleSymbolRenderer,
    QgsVectorLayer,
)

pytestmark = pytest.mark.usefixtures("ovss_provider")


class Log(QgsProcessingFeedback):
    def __init__(self):
        super().__init__()
        self.lines = []

    def pushInfo(self, info):
        self.lines.append(info)
        super().pushInfo(info)


def segment(tmp_path, **extra):
    src = write_raster(tmp_path / "scene.tif", pattern(30, 40))
    parameters = {
        "INPUT": str(src), "METHOD": TEST_METHOD, "LABELS": LABEL_TEXT, "TILE": 16, "OVERLAP": 4,
        "OUTPUT": str(tmp_path / "classes.tif"), **extra,
    }
    log = Log()
    return processing.run("ovss:segment", parameters, feedback=log), log


def categories(layer: QgsVectorLayer) -> list[tuple[str, str, tuple[int, int, int]]]:
    renderer = layer.renderer()
    assert isinstance(renderer, QgsCategorizedSymbolRenderer) and renderer.classAttribute() == "class_value"
    return [(str(c.value()), c.label(), c.symbol().color().getRgb()[:3]) for c in renderer.categories()]


def test_segment_writes_polygons_stats_and_report(tmp_path):
    result, log = segment(
        tmp_path, CONFIDENCE=str(tmp_path / "conf.tif"), VECTOR=str(tmp_path / "classes.gpkg"),
        STATS=str(tmp_path / "areas.csv"), REPORT=str(tmp_path / "report.html"), UNCERTAIN_BELOW=50,
    )
    rows = list(csv.DictReader((tmp_path / "areas.csv").open()))
    assert [r["name"] for r in rows] == [*CLASS_NAMES, "uncertain"]
    assert [row["pixels"] for row in json.loads(result["AREAS"])] == [int(r["pixels"]) for r in rows]
    assert result["VALID_AREA_M2"] == pytest.approx(30 * 40 * 0.25)
    assert "Areas per class:" in log.lines and any(line.strip().startswith("dark: ") for line in log.lines)
    assert result["VECTOR"] == str(tmp_path / "classes.gpkg") and result["REPORT"] == str(tmp_path / "report.html")
    layer = QgsVectorLayer(result["VECTOR"], "polygons", "ogr")
    assert layer.isValid() and layer.featureCount() > 0
    assert sum(f["area_m2"] for f in layer.getFeatures()) == pytest.approx(300.0)
    assert [label for _, label, _ in categories(layer)] == [*CLASS_NAMES, "uncertain"]  # the GeoPackage's style
    grey = QgsRasterLayer(str(tmp_path / "conf.tif"), "confidence", "gdal").renderer()  # low confidence dark
    assert isinstance(grey, QgsSingleBandGrayRenderer) and grey.gradient() == QgsSingleBandGrayRenderer.BlackToWhite
    assert grey.contrastEnhancement().minimumValue() == 1.0


def test_no_products_unless_asked(tmp_path):
    result, _ = segment(tmp_path)
    assert result["VECTOR"] is None and result["STATS"] is None and result["REPORT"] is None
    assert not list(tmp_path.glob("*.gpkg")) and json.loads(result["AREAS"])[0]["name"] == "dark"


def test_bad_products_stop_before_the_run(tmp_path):
    with pytest.raises(QgsProcessingException, match="confidence"):
        segment(tmp_path, UNCERTAIN_BELOW=50)
    with pytest.raises(QgsProcessingException, match="m2 or pixels"):
        segment(tmp_path, VECTOR=str(tmp_path / "v.gpkg"), MIN_AREA="lots")
    assert not (tmp_path / "classes.tif").exists()


def test_polygonize_an_existing_class_raster(tmp_path):
    segment(tmp_path)
    result = processing.run(
        "ovss:polygonize",
        {
            "INPUT": str(tmp_path / "classes.tif"),
            "MIN_AREA": "4px",
            "SIMPLIFY": 0.5,
            "VECTOR": str(tmp_path / "p.gpkg"),
        },
    )
    layer = QgsVectorLayer(result["VECTOR"], "p", "ogr")
    assert {f["class_name"] for f in layer.getFeatures()} <= set(CLASS_NAMES)
    assert min(f["area_m2"] for f in layer.getFeatures()) > 0
    temporary = processing.run(
        "ovss:polygonize", {"INPUT": str(tmp_path / "classes.tif"), "VECTOR": "TEMPORARY_OUTPUT"}
    )
    assert temporary["VECTOR"].endswith(".gpkg") and QgsVectorLayer(temporary["VECTOR"], "t", "ogr").featureCount() > 0


def test_polygonize_takes_names_from_a_qml_style(tmp_path):
    from ovss.engine.raster.qml import paletted_style

    classes = np.ones((10, 12), dtype=np.uint8)
    classes[:, 6:] = 2
    src = write_raster(tmp_path / "plain.tif", classes[None])
    (tmp_path / "plain.qml").write_text(paletted_style(["meadow", "forest"], [(10, 200, 10), (0, 90, 0)]))
    result = processing.run("ovss:polygonize", {"INPUT": str(src), "VECTOR": str(tmp_path / "p.gpkg")})
    layer = QgsVectorLayer(result["VECTOR"], "p", "ogr")
    assert sorted(f["class_name"] for f in layer.getFeatures()) == ["forest", "meadow"]
    assert categories(layer) == [("1", "meadow", (10, 200, 10)), ("2", "forest", (0, 90, 0))]


def test_loaded_polygons_are_styled_by_class(tmp_path):
    """Processing's post-processor restyles the loaded polygons by class, whatever renderer they had."""
    from ovss.ovss_plugin.processing.postprocess import ClassifiedStylePostProcessor

    src = write_raster(tmp_path / "plain.tif", np.ones((1, 8, 8), dtype=np.uint8))
    result = processing.run("ovss:polygonize", {"INPUT": str(src), "VECTOR": str(tmp_path / "p.gpkg")})
    layer = QgsVectorLayer(result["VECTOR"], "p", "ogr")
    layer.setRenderer(QgsSingleSymbolRenderer(QgsFillSymbol()))
    ClassifiedStylePostProcessor().postProcessLayer(layer, QgsProcessingContext(), QgsProcessingFeedback())
    assert categories(layer)[0][:2] == ("1", "class 1")
