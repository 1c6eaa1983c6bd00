"""The dock's previews: the current classes run on the visible map extent at screen resolution
(:func:`preview_source`, :func:`~.layer_source.plan_preview`) into a temporary GeoTIFF, shown as the temporary
layer "OVSS preview" that the next preview replaces.

:class:`PreviewLayers` keeps the last two: a new preview becomes "OVSS preview", the one before it becomes
"OVSS preview (previous)" (hidden), and the one before that is removed with its files. :meth:`PreviewLayers.toggle`
switches which of the two is visible. Each preview keeps its area rows, so the dock can show the change per
class against the previous preview (:func:`~.panels.area_table.with_changes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qgis.core import QgsProject, QgsRasterLayer

from ..engine.errors import InputError
from .i18n import tr
from .layer_source import SourcePlan, extent_in_layer_crs, plan_preview
from .panels.area_table import AreaRow
from .styling import style_classified_layer
from .task import RESULT_PROPERTY, RunOutcome, discard_outputs

PREVIEW_PROPERTY = "ovss/preview"  # custom layer property marking the preview layers


def preview_source(layer: QgsRasterLayer, canvas: Any) -> SourcePlan:
    """How a preview reads ``layer``: the canvas's visible extent at the canvas's pixel size."""
    if canvas is None:
        raise InputError(tr("A preview needs the QGIS map canvas."))
    settings = canvas.mapSettings()
    view = extent_in_layer_crs(layer, canvas.extent(), settings.destinationCrs(), QgsProject.instance())
    size = settings.outputSize()
    return plan_preview(layer, view, (size.width(), size.height()))


@dataclass(frozen=True)
class Preview:
    """One preview: its layer's id, the run's outcome (its files) and its area per class."""

    layer_id: str
    outcome: RunOutcome
    rows: tuple[AreaRow, ...]


class PreviewLayers:
    """The last two previews in the project: ``current`` (shown first) and ``previous`` (hidden)."""

    def __init__(self, project: QgsProject | None = None) -> None:
        self.project = project or QgsProject.instance()
        self.current: Preview | None = None
        self.previous: Preview | None = None

    def add(self, outcome: RunOutcome, rows: Sequence[AreaRow] = ()) -> QgsRasterLayer:
        """Show a finished preview as "OVSS preview"; the last one becomes "OVSS preview (previous)" (hidden),
        the one before is removed and its files deleted."""
        result = outcome.result
        if result is None:
            raise ValueError("only a finished preview has a layer")
        layer = QgsRasterLayer(str(result.output_path), tr("OVSS preview"), "gdal")
        if not layer.isValid():
            discard_outputs(result)
            raise InputError(tr("QGIS cannot open the preview {path}.").format(path=result.output_path))
        style_classified_layer(layer, outcome.request.labels.names, outcome.request.labels.colors)
        layer.setCustomProperty(RESULT_PROPERTY, outcome.request.method)
        layer.setCustomProperty(PREVIEW_PROPERTY, True)
        self._drop(self.previous)
        self.previous = self.current
        previous = self._layer(self.previous)
        if previous is not None:
            previous.setName(tr("OVSS preview (previous)"))
            self._set_visible(previous, False)
        self.project.addMapLayer(layer)
        self.current = Preview(layer.id(), outcome, tuple(rows))
        return layer

    def toggle(self) -> QgsRasterLayer | None:
        """Show the other of the two previews and hide the shown one; returns the one now shown (None: there
        are not two previews in the project)."""
        current, previous = self._layer(self.current), self._layer(self.previous)
        if current is None or previous is None:
            return None
        show_previous = self._visible(current)
        self._set_visible(current, not show_previous)
        self._set_visible(previous, show_previous)
        return previous if show_previous else current

    def can_toggle(self) -> bool:
        """True when both previews are still in the project."""
        return self._layer(self.current) is not None and self._layer(self.previous) is not None

    def _layer(self, preview: Preview | None) -> QgsRasterLayer | None:
        return None if preview is None else self.project.mapLayer(preview.layer_id)

    def _drop(self, preview: Preview | None) -> None:
        """Remove a preview's layer (if the user has not removed it already) and delete its files."""
        if preview is None:
            return
        if self._layer(preview) is not None:
            self.project.removeMapLayer(preview.layer_id)
        discard_outputs(preview.outcome.result)

    def _node(self, layer: QgsRasterLayer) -> Any:
        return self.project.layerTreeRoot().findLayer(layer.id())

    def _visible(self, layer: QgsRasterLayer) -> bool:
        node = self._node(layer)
        return node is not None and node.itemVisibilityChecked()

    def _set_visible(self, layer: QgsRasterLayer, visible: bool) -> None:
        node = self._node(layer)
        if node is not None:
            node.setItemVisibilityChecked(visible)
