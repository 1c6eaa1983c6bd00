"""Styling of classified rasters: a paletted renderer whose legend reads as the classes.

Used by the dock's result layer and by the Processing post-processor, so both look the same. Value 0 is
nodata and gets no palette entry, so it stays transparent.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from qgis.core import QgsPalettedRasterRenderer, QgsRasterLayer
from qgis.PyQt.QtGui import QColor

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
    save_qml: bool = True,
) -> Path | None:
    """Apply the class palette to ``layer`` (read from the file when not given) and save it as ``.qml``.

    Returns the path of the saved style, or None when the layer is not a file or ``save_qml`` is false.
    """
    source = Path(layer.source())
    if names is None or colors is None:
        names, colors = read_class_table(source)
    layer.setRenderer(paletted_renderer(layer, names, colors))
    layer.triggerRepaint()
    if not save_qml or not source.is_file():
        return None
    qml_path = source.with_suffix(".qml")
    _message, ok = layer.saveNamedStyle(str(qml_path))
    return qml_path if ok else None
