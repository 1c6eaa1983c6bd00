"""Styling of classified rasters: a paletted renderer whose legend reads as the classes.

Used by the dock's result layer and by the Processing post-processor, so both look the same. Value 0 is
nodata and gets no palette entry, so it stays transparent. The same style is saved beside every output as
``<stem>.qml`` by the engine (:mod:`engine.raster.qml`), so QGIS shows it without the plugin too; the class
polygons get the categorized style of the same colours and names that the engine stores in their GeoPackage.
"""

from __future__ import annotations

from collections.abc import Sequence

from qgis.core import QgsPalettedRasterRenderer, QgsRasterLayer, QgsVectorLayer
from qgis.PyQt.QtGui import QColor

from ..engine.errors import RasterError
from ..engine.raster.writer import read_class_table


def paletted_renderer(
    layer: QgsRasterLayer, names: Sequence[str], colors: Sequence[tuple[int, int, int]]
) -> QgsPalettedRasterRenderer:
    """A renderer with one entry per class: pixel value k+1 shows class k's colour and name."""
    classes = [
        QgsPalettedRasterRenderer.Class(index + 1, QColor(*color), name)
        for index, (name, color) in enumerate(zip(names, colors, strict=True))
    ]
    return QgsPalettedRasterRenderer(layer.dataProvider(), 1, classes)


def style_classified_layer(
    layer: QgsRasterLayer,
    names: Sequence[str] | None = None,
    colors: Sequence[tuple[int, int, int]] | None = None,
) -> None:
    """Apply the class palette to ``layer`` (read from the file when not given)."""
    if names is None or colors is None:
        names, colors = read_class_table(layer.source())
    layer.setRenderer(paletted_renderer(layer, names, colors))
    layer.triggerRepaint()


def style_class_polygons(layer: QgsVectorLayer) -> None:
    """Apply the categorized class style the engine stored in the GeoPackage (its default style)."""
    message, ok = layer.loadDefaultStyle()
    if not ok:
        raise RasterError(f"cannot style the polygons of {layer.source()}: {message}")
    layer.triggerRepaint()
