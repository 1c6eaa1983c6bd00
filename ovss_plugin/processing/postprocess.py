"""Styling Processing outputs once QGIS loads them: the classified raster gets the paletted class legend,
exactly as the dock's result does (:func:`ovss_plugin.styling.style_classified_layer`); the class polygons
their categorized style in the same colours (:func:`ovss_plugin.styling.style_class_polygons`)."""

from __future__ import annotations

from typing import ClassVar

from qgis.core import (
    QgsMapLayer,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingLayerPostProcessorInterface,
    QgsRasterLayer,
    QgsVectorLayer,
)

from ...engine.errors import OVSSError
from ..styling import style_class_polygons, style_classified_layer


class ClassifiedStylePostProcessor(QgsProcessingLayerPostProcessorInterface):
    """Applies the class palette and names stored in the output file to the loaded layer.

    Processing does not own Python post-processors, so each one is kept in :attr:`pending` until it has
    styled its layer (batch runs queue one per row).
    """

    pending: ClassVar[list[ClassifiedStylePostProcessor]] = []

    def postProcessLayer(
        self, layer: QgsMapLayer, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> None:
        """Style ``layer`` from its file's colour table and category names."""
        try:
            if isinstance(layer, QgsRasterLayer):
                style_classified_layer(layer)
            elif isinstance(layer, QgsVectorLayer):
                style_class_polygons(layer)
        except OVSSError as exc:
            feedback.pushWarning(str(exc))
        finally:
            if self in self.pending:
                self.pending.remove(self)


def style_on_completion(context: QgsProcessingContext, output: str) -> None:
    """Attach a :class:`ClassifiedStylePostProcessor` to ``output`` (classes raster or their polygons) if
    Processing will load it."""
    if not context.willLoadLayerOnCompletion(output):
        return
    processor = ClassifiedStylePostProcessor()
    ClassifiedStylePostProcessor.pending.append(processor)
    context.layerToLoadOnCompletionDetails(output).setPostProcessor(processor)
