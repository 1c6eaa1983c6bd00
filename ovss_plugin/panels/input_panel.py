"""The input panel: the raster layer, the bands feeding R, G and B, and the area to segment."""

from __future__ import annotations

from typing import Any

from qgis.core import QgsMapLayerProxyModel, QgsMultiBandColorRenderer, QgsProject, QgsRasterLayer, QgsRectangle
from qgis.gui import QgsExtentWidget, QgsMapLayerComboBox, QgsRasterBandComboBox
from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QLabel, QWidget

from ...engine.errors import InputError
from ..i18n import tr
from ..layer_source import extent_in_layer_crs
from .common import NARROW_COMBO_CHARS, narrow_form, shrinkable


def default_bands(layer: QgsRasterLayer | None) -> tuple[int, int, int]:
    """The bands feeding R, G, B: the layer's RGB renderer bands, else 1, 2, 3, else band 1 three times."""
    if layer is None:
        return 1, 2, 3
    renderer = layer.renderer()
    if isinstance(renderer, QgsMultiBandColorRenderer):
        bands = (renderer.redBand(), renderer.greenBand(), renderer.blueBand())
        if all(band > 0 for band in bands):
            return bands
    return (1, 2, 3) if layer.bandCount() >= 3 else (1, 1, 1)


class InputPanel(QGroupBox):
    """Layer, bands and area; ``changed`` when the layer changes (the dock validates again)."""

    changed = pyqtSignal()

    def __init__(self, parent: QWidget | None = None, canvas: Any = None) -> None:
        super().__init__(tr("Input"), parent)
        self.canvas = canvas
        form = narrow_form(self)
        self.layer_combo = QgsMapLayerComboBox(self)
        self.layer_combo.setObjectName("ovss_layer")
        self.layer_combo.setFilters(QgsMapLayerProxyModel.RasterLayer)
        self.layer_combo.layerChanged.connect(self._layer_changed)
        form.addRow(tr("Raster"), shrinkable(self.layer_combo))
        bands = QHBoxLayout()
        self.band_combos = []
        for colour in ("r", "g", "b"):
            combo = QgsRasterBandComboBox(self)
            combo.setObjectName(f"ovss_band_{colour}")
            combo.bandChanged.connect(lambda _band: self._show_band_mapping())
            self.band_combos.append(shrinkable(combo, NARROW_COMBO_CHARS))
            bands.addWidget(combo)
        form.addRow(QLabel(tr("Bands R, G, B"), self))  # the three lists get the whole width below
        form.addRow(bands)
        self.band_mapping_label = QLabel(self)
        self.band_mapping_label.setObjectName("ovss_band_mapping")
        self.band_mapping_label.setWordWrap(True)
        form.addRow(self.band_mapping_label)
        self.area_combo = QComboBox(self)
        self.area_combo.setObjectName("ovss_area")
        for label, mode in ((tr("Whole layer"), "layer"), (tr("Current map extent"), "canvas"),
                            (tr("Drawn or chosen extent"), "custom")):
            self.area_combo.addItem(label, mode)
        self.area_combo.currentIndexChanged.connect(self._area_changed)
        form.addRow(tr("Area"), shrinkable(self.area_combo))
        self.extent_widget = QgsExtentWidget(self)
        self.extent_widget.setObjectName("ovss_extent")
        if canvas is not None:
            self.extent_widget.setMapCanvas(canvas)
        form.addRow(self.extent_widget)
        self.extent_widget.setVisible(False)
        self._layer_changed(self.layer_combo.currentLayer())

    def layer(self) -> QgsRasterLayer | None:
        """The chosen raster layer, or None."""
        layer = self.layer_combo.currentLayer()
        return layer if isinstance(layer, QgsRasterLayer) else None

    def bands(self) -> tuple[int, int, int]:
        """The chosen bands feeding R, G, B."""
        return tuple(combo.currentBand() for combo in self.band_combos)

    def area_extent(self, layer: QgsRasterLayer) -> QgsRectangle | None:
        """The chosen area in the layer's CRS (None: the whole layer)."""
        mode = self.area_combo.currentData()
        project = QgsProject.instance()
        if mode == "canvas" and self.canvas is not None:
            return extent_in_layer_crs(layer, self.canvas.extent(), self.canvas.mapSettings().destinationCrs(),
                                       project)
        if mode == "custom":
            extent = self.extent_widget.outputExtent()
            if extent.isEmpty():
                raise InputError(tr("Draw or choose an extent first."))
            return extent_in_layer_crs(layer, extent, self.extent_widget.outputCrs(), project)
        return None

    def _layer_changed(self, layer: Any) -> None:
        layer = layer if isinstance(layer, QgsRasterLayer) else None
        for combo, band in zip(self.band_combos, default_bands(layer), strict=True):
            combo.setLayer(layer)
            combo.setBand(band)
        self._show_band_mapping()
        self.changed.emit()

    def _show_band_mapping(self) -> None:
        """Say which bands feed R, G and B, and when the layer has fewer than three bands, that it has."""
        layer = self.layer()
        if layer is None:
            self.band_mapping_label.setText("")
            return
        red, green, blue = self.bands()
        if layer.bandCount() < 3 and red == green == blue:
            text = tr("The layer has {count} band(s): band {band} is used as red, green and blue.").format(
                count=layer.bandCount(), band=red)
        else:
            text = tr("Uses band {red} as red, band {green} as green, band {blue} as blue.").format(
                red=red, green=green, blue=blue)
        self.band_mapping_label.setText(text)

    def _area_changed(self, _index: int) -> None:
        custom = self.area_combo.currentData() == "custom"
        self.extent_widget.setVisible(custom)
        layer = self.layer_combo.currentLayer()
        if custom and layer is not None and self.extent_widget.outputExtent().isEmpty():
            self.extent_widget.setOutputExtentFromLayer(layer)
