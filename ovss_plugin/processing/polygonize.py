"""``ovss:polygonize``: the class polygons of an existing classified raster (any Byte class raster; names and
colours from its ``.aux.xml`` or QGIS style when it has them), with minimum area, simplification and the
uncertain class, written as a GeoPackage styled by class (:mod:`engine.analysis.polygons`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingParameterRasterLayer,
)

from ...engine.errors import OVSSError
from ..i18n import tr
from .algorithms import OVSSAlgorithm, check_destinations, engine_errors
from .postprocess import style_on_completion
from .products import SIMPLIFY, UNCERTAIN_BELOW, VECTOR, add_polygon_parameters, min_area, number


class PolygonizeAlgorithm(OVSSAlgorithm):
    """Polygons of the classes of a classified raster."""

    INPUT = "INPUT"
    CONFIDENCE = "CONFIDENCE"

    def name(self) -> str:
        """Stable id within the provider: ``ovss:polygonize``."""
        return "polygonize"

    def displayName(self) -> str:
        """Title in the toolbox."""
        return tr("Polygonize classified raster")

    def shortHelpString(self) -> str:
        """The help panel."""
        return tr(
            "Turns a classified raster (value = class, 0 = nodata) into a GeoPackage of polygons, one per "
            "connected region of a class, with the class value, class name, area (m2, on the ellipsoid for "
            "a geographic CRS) and, with a confidence raster, the mean confidence. Class names and colours "
            "come from the raster's colour table and category names or its QGIS style.<br>"
            "<b>Minimum area</b>: regions smaller than this (m2, or pixels written as e.g. 20px) are merged "
            "into their largest neighbour first.<br>"
            "<b>Simplification</b>: tolerance in map units; shared boundaries are simplified once, so "
            "neighbouring polygons keep no gaps or overlaps.<br>"
            "<b>Uncertain class</b>: pixels whose confidence (%) is below the threshold form the class "
            "'uncertain' (value 255)."
        )

    def initAlgorithm(self, config: Mapping[str, Any] | None = None) -> None:
        """Input raster, optional confidence raster, then the polygon options and output."""
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, tr("Classified raster")))
        self.addParameter(
            QgsProcessingParameterRasterLayer(self.CONFIDENCE, tr("Confidence raster (%)"), optional=True)
        )
        add_polygon_parameters(self, optional=False)

    def _paths(self, parameters: Mapping[str, Any], context: QgsProcessingContext) -> tuple[str, str | None]:
        """The file of the input raster and of the confidence raster (None when not given)."""
        layers = [self.parameterAsRasterLayer(parameters, name, context) for name in (self.INPUT, self.CONFIDENCE)]
        if layers[0] is None:
            raise QgsProcessingException(tr("Classified raster: no raster layer given"))
        return layers[0].source(), layers[1].source() if layers[1] is not None else None

    def checkParameterValues(self, parameters: Mapping[str, Any], context: QgsProcessingContext) -> tuple[bool, str]:
        """Report a wrong option or output folder as one line before any work."""
        try:
            check_destinations(self, parameters, (VECTOR,))
            _, confidence = self._paths(parameters, context)
            min_area(self, parameters, context)
            if number(self, parameters, UNCERTAIN_BELOW, context) is not None and confidence is None:
                raise QgsProcessingException(tr("The uncertain class needs the confidence raster"))
        except (OVSSError, QgsProcessingException) as exc:
            return False, str(exc)
        return super().checkParameterValues(parameters, context)

    def processAlgorithm(
        self, parameters: Mapping[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        """Polygonize with Processing's cancel; the GeoPackage is styled by class when QGIS loads it."""
        from ...engine.analysis.polygons import polygonize_raster, raster_classes

        raster, confidence = self._paths(parameters, context)
        output = self.parameterAsOutputLayer(parameters, VECTOR, context)
        with engine_errors():
            names, colors = raster_classes(raster)
            result = polygonize_raster(
                raster,
                output,
                names,
                colors,
                confidence_path=confidence,
                uncertain_below=number(self, parameters, UNCERTAIN_BELOW, context),
                min_area=min_area(self, parameters, context),
                simplify=number(self, parameters, SIMPLIFY, context),
                is_cancelled=feedback.isCanceled,
            )
        feedback.pushInfo(tr("Wrote {path}: {count} polygons").format(path=result.path, count=result.features))
        style_on_completion(context, str(result.path))
        return {VECTOR: str(result.path)}



