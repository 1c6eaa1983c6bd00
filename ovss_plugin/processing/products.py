"""The analysis products as Processing parameters and outputs, shared by ``ovss:segment`` and
``ovss:polygonize``: polygons (GeoPackage, styled by class when QGIS loads them), minimum area,
simplification, the uncertain class, statistics file, HTML report; the areas per class as outputs and log
lines (:mod:`engine.analysis`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorDestination,
)

from ...engine.analysis.areas import AreaTable
from ...engine.analysis.polygons import MinArea
from ...engine.analysis.products import Products
from ...engine.errors import OVSSError
from ..i18n import tr
from .algorithms import advanced
from .postprocess import style_on_completion

VECTOR = "VECTOR"
MIN_AREA = "MIN_AREA"
SIMPLIFY = "SIMPLIFY"
UNCERTAIN_BELOW = "UNCERTAIN_BELOW"
STATS = "STATS"
REPORT = "REPORT"
AREAS = "AREAS"
VALID_AREA_M2 = "VALID_AREA_M2"
DESTINATIONS = (VECTOR, STATS, REPORT)


def add_polygon_parameters(algorithm: QgsProcessingAlgorithm, optional: bool) -> None:
    """Minimum area, simplification, uncertainty threshold and the GeoPackage (optional: not by default)."""
    algorithm.addParameter(
        advanced(
            QgsProcessingParameterString(
                MIN_AREA, tr("Polygons: minimum area (m2, or pixels as e.g. 20px)"), optional=True
            )
        )
    )
    algorithm.addParameter(
        advanced(
            QgsProcessingParameterNumber(
                SIMPLIFY,
                tr("Polygons: simplification tolerance (map units, 0 = none)"),
                QgsProcessingParameterNumber.Double,
                0.0,
                True,
                0.0,
            )
        )
    )
    algorithm.addParameter(
        advanced(
            QgsProcessingParameterNumber(
                UNCERTAIN_BELOW,
                tr("Uncertain class below this confidence (%, needs the confidence raster)"),
                QgsProcessingParameterNumber.Double,
                None,
                True,
                0.0,
                100.0,
            )
        )
    )
    algorithm.addParameter(
        QgsProcessingParameterVectorDestination(
            VECTOR, tr("Class polygons"), optional=optional, createByDefault=not optional
        )
    )


def add_product_parameters(algorithm: QgsProcessingAlgorithm) -> None:
    """Every product of ``ovss:segment`` (all optional, none written by default) and the area outputs."""
    add_polygon_parameters(algorithm, optional=True)
    algorithm.addParameter(
        QgsProcessingParameterFileDestination(
            STATS, tr("Areas per class"), "CSV (*.csv);;JSON (*.json)", optional=True, createByDefault=False
        )
    )
    algorithm.addParameter(
        QgsProcessingParameterFileDestination(
            REPORT, tr("Run report"), "HTML (*.html)", optional=True, createByDefault=False
        )
    )
    algorithm.addOutput(QgsProcessingOutputString(AREAS, tr("Areas per class (JSON)")))
    algorithm.addOutput(QgsProcessingOutputNumber(VALID_AREA_M2, tr("Valid area (m2)")))


def min_area(
    algorithm: QgsProcessingAlgorithm, parameters: Mapping[str, Any], context: QgsProcessingContext
) -> MinArea | None:
    """The MIN_AREA parameter parsed (None when empty)."""
    text = algorithm.parameterAsString(parameters, MIN_AREA, context).strip()
    return MinArea.parse(text) if text else None


def number(
    algorithm: QgsProcessingAlgorithm, parameters: Mapping[str, Any], name: str, context: QgsProcessingContext
) -> float | None:
    """An optional number parameter (None when not given; a simplification of 0 is none)."""
    if parameters.get(name) is None:
        return None
    value = algorithm.parameterAsDouble(parameters, name, context)
    return None if name == SIMPLIFY and value == 0 else value


def products_from(
    algorithm: QgsProcessingAlgorithm,
    parameters: Mapping[str, Any],
    context: QgsProcessingContext,
    confidence: str | None,
    input_path: str | None = None,
) -> Products:
    """The products asked for, checked against the run's confidence output and input raster
    (:class:`QgsProcessingException` with one line if wrong)."""
    def destination(name: str) -> str | None:
        if algorithm.parameterDefinition(name) is None:
            return None
        return algorithm.parameterAsFileOutput(parameters, name, context) or None

    try:
        products = Products(
            vector=algorithm.parameterAsOutputLayer(parameters, VECTOR, context) or None,
            min_area=min_area(algorithm, parameters, context),
            simplify=number(algorithm, parameters, SIMPLIFY, context),
            stats=destination(STATS),
            report=destination(REPORT),
            uncertain_below=number(algorithm, parameters, UNCERTAIN_BELOW, context),
        )
        products.check(confidence, input_path)
    except OVSSError as exc:
        raise QgsProcessingException(str(exc)) from exc
    return products


def area_outputs(areas: AreaTable | None, feedback: QgsProcessingFeedback) -> dict[str, Any]:
    """The areas as log lines and as the AREAS (JSON rows) and VALID_AREA_M2 outputs."""
    if areas is None:
        return {AREAS: "[]", VALID_AREA_M2: None}
    feedback.pushInfo(tr("Areas per class:"))
    for line in areas.lines():
        feedback.pushInfo(f"  {line}")
    rows = [row.__dict__ for row in areas.rows]
    return {AREAS: json.dumps(rows), VALID_AREA_M2: areas.valid_m2}


def product_outputs(products: Products, context: QgsProcessingContext) -> dict[str, Any]:
    """The written products as the algorithm's outputs; the polygons styled by class when QGIS loads them."""
    written = products.written
    if "vector" in written:
        style_on_completion(context, str(written["vector"]))
    return {
        VECTOR: str(written["vector"]) if "vector" in written else None,
        STATS: str(written["stats"]) if "stats" in written else None,
        REPORT: str(written["report"]) if "report" in written else None,
    }
