"""What the engine reads for a QGIS raster layer: its GDAL file, or an export through the QGIS data provider.

A layer backed by a GDAL file (the common case) is read by the engine directly, with the chosen area as a
pixel window. Any other layer (WMS/XYZ, virtual rasters, in-memory ``/vsimem`` data, database rasters) is
read through a clone of its data provider, block by block, at the layer's resolution (its native pixel
size, or the finest of its native resolutions for tiled web services) into a temporary GeoTIFF that the
run deletes afterwards. Layers that have neither a pixel size nor native resolutions, or an area that would
be too large at that resolution, are refused with a one-line :class:`RasterError`; never a crash.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from qgis.core import (
    Qgis,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsCoordinateTransformContext,
    QgsProject,
    QgsRasterBlockFeedback,
    QgsRasterDataProvider,
    QgsRasterFileWriter,
    QgsRasterLayer,
    QgsRasterPipe,
    QgsRectangle,
)

from ..engine.errors import CancelledError, RasterError
from ..engine.raster.tiles import Window
from .i18n import tr

MAX_EXPORT_PIXELS = 200_000_000  # ~ 14000 x 14000: a temporary copy beyond that is the user's to make
_IMAGE_TYPES = (Qgis.ARGB32, Qgis.ARGB32_Premultiplied)


@dataclass(frozen=True)
class SourcePlan:
    """How a run reads a layer.

    Either ``path`` (a file GDAL opens) with an optional pixel ``window``, or ``provider`` (a clone owned by
    the plan) with the ``extent`` (layer CRS) and ``size`` (columns, rows) to export. ``bands`` replaces the
    dock's band mapping when the export's band layout differs from the layer's (rendered RGBA images).
    """

    path: str | None = None
    window: Window | None = None
    provider: QgsRasterDataProvider | None = None
    extent: QgsRectangle | None = None
    size: tuple[int, int] | None = None
    crs: QgsCoordinateReferenceSystem | None = None
    bands: tuple[int, int, int] | None = None

    @property
    def needs_export(self) -> bool:
        """True when the run must first read the layer through its provider."""
        return self.path is None


def gdal_file(layer: QgsRasterLayer) -> str | None:
    """The file of a layer that the GDAL provider reads from a plain file, else None."""
    if layer.providerType() != "gdal":
        return None
    path = layer.dataProvider().dataSourceUri().split("|")[0]
    return path if os.path.isfile(path) else None


def extent_in_layer_crs(
    layer: QgsRasterLayer, extent: QgsRectangle, crs: QgsCoordinateReferenceSystem, project: QgsProject
) -> QgsRectangle:
    """``extent`` (in ``crs``) as a bounding box in the layer's CRS."""
    if not crs.isValid() or crs == layer.crs():
        return QgsRectangle(extent)
    transform = QgsCoordinateTransform(crs, layer.crs(), project.transformContext())
    return transform.transformBoundingBox(extent)


def pixel_window(layer: QgsRasterLayer, extent: QgsRectangle) -> Window:
    """The layer's pixels that ``extent`` (layer CRS) touches, clipped to the layer; RasterError if none."""
    full = layer.extent()
    res_x, res_y = layer.rasterUnitsPerPixelX(), layer.rasterUnitsPerPixelY()
    x0 = max(0, math.floor((extent.xMinimum() - full.xMinimum()) / res_x))
    x1 = min(layer.width(), math.ceil((extent.xMaximum() - full.xMinimum()) / res_x))
    y0 = max(0, math.floor((full.yMaximum() - extent.yMaximum()) / res_y))
    y1 = min(layer.height(), math.ceil((full.yMaximum() - extent.yMinimum()) / res_y))
    if x1 <= x0 or y1 <= y0:
        raise RasterError(tr("The chosen area does not overlap the layer \u201c{name}\u201d.").format(
            name=layer.name()))
    return Window(x0, y0, x1 - x0, y1 - y0)


def _provider_resolution(layer: QgsRasterLayer) -> tuple[float, float] | None:
    """The pixel size the provider delivers natively: its raster size, or its finest native resolution."""
    provider = layer.dataProvider()
    if provider.capabilities() & QgsRasterDataProvider.Size and provider.xSize() > 0 and provider.ySize() > 0:
        return layer.rasterUnitsPerPixelX(), layer.rasterUnitsPerPixelY()
    resolutions = [r for r in provider.nativeResolutions() if r > 0]
    if resolutions:
        finest = min(resolutions)
        return finest, finest
    return None


def plan_source(layer: QgsRasterLayer, extent: QgsRectangle | None = None) -> SourcePlan:
    """How to read ``layer`` over ``extent`` (layer CRS; None: the whole layer); RasterError if it cannot be."""
    if layer is None or not layer.isValid():
        raise RasterError(tr("The input layer is not valid (its data source cannot be opened)."))
    path = gdal_file(layer)
    if path is not None:
        return SourcePlan(path=path, window=pixel_window(layer, extent) if extent is not None else None)
    resolution = _provider_resolution(layer)
    if resolution is None:
        raise RasterError(
            tr("The layer \u201c{name}\u201d ({provider}) has no pixel size to read it at; save it as a "
               "GeoTIFF first (Export > Save As).").format(name=layer.name(), provider=layer.providerType())
        )
    area = layer.extent() if extent is None else extent.intersect(layer.extent())
    columns = round(area.width() / resolution[0])
    rows = round(area.height() / resolution[1])
    if columns < 1 or rows < 1:
        raise RasterError(tr("The chosen area does not overlap the layer \u201c{name}\u201d.").format(
            name=layer.name()))
    if columns * rows > MAX_EXPORT_PIXELS:
        raise RasterError(
            tr("The area is {columns} x {rows} pixels at the layer's resolution, too large to read through "
               "QGIS; choose a smaller area (map extent or a drawn extent).").format(columns=columns, rows=rows)
        )
    return _export_plan(layer, area, (columns, rows))


def _export_plan(layer: QgsRasterLayer, area: QgsRectangle, size: tuple[int, int]) -> SourcePlan:
    """Read ``area`` (layer CRS) of ``layer`` through a clone of its provider at ``size`` (columns, rows)."""
    provider = layer.dataProvider()
    image = provider.dataType(1) in _IMAGE_TYPES
    return SourcePlan(
        provider=provider.clone(),
        extent=QgsRectangle(area),
        size=size,
        crs=QgsCoordinateReferenceSystem(layer.crs()),
        bands=(1, 2, 3) if image else None,
    )


def plan_preview(layer: QgsRasterLayer, view: QgsRectangle, view_size: tuple[int, int]) -> SourcePlan:
    """How to read ``layer`` where the map view ``view`` (layer CRS, ``view_size`` screen pixels) shows it: at
    the screen's pixel size, so a preview reads about as many pixels as the canvas shows, but never finer than
    the layer (zoomed in beyond its pixels: the layer's own pixels in the view)."""
    if layer is None or not layer.isValid():
        raise RasterError(tr("The input layer is not valid (its data source cannot be opened)."))
    area = view.intersect(layer.extent())
    if area.isEmpty() or view.width() <= 0 or view.height() <= 0:
        raise RasterError(tr("The map extent does not overlap the layer \u201c{name}\u201d.").format(
            name=layer.name()))
    columns = max(1, round(view_size[0] * area.width() / view.width()))
    rows = max(1, round(view_size[1] * area.height() / view.height()))
    path = gdal_file(layer)
    if path is not None:
        window = pixel_window(layer, area)
        if columns * rows >= window.width * window.height:
            return SourcePlan(path=path, window=window)
    else:
        resolution = _provider_resolution(layer)  # none (a service without a pixel size): the screen's
        if resolution is not None:
            columns = max(1, min(columns, round(area.width() / resolution[0])))
            rows = max(1, min(rows, round(area.height() / resolution[1])))
    return _export_plan(layer, area, (columns, rows))


def export_to_geotiff(
    plan: SourcePlan, path: str | os.PathLike[str], feedback: QgsRasterBlockFeedback | None = None
) -> Path:
    """Read ``plan``'s provider in blocks into the GeoTIFF ``path`` (RGBA for rendered images).

    Runs in the task's thread on its own clone of the provider. Raises :class:`CancelledError` when
    ``feedback`` is cancelled and :class:`RasterError` when the provider fails; a partial file is removed.
    """
    if plan.provider is None or plan.extent is None or plan.size is None:
        raise ValueError("plan_source() chose to read this layer from its file; there is nothing to export")
    target = Path(path)
    pipe = QgsRasterPipe()
    if not pipe.set(plan.provider.clone()):
        raise RasterError(tr("The layer's data provider cannot be read block by block."))
    writer = QgsRasterFileWriter(str(target))
    writer.setOutputFormat("GTiff")
    writer.setCreateOptions(["TILED=YES"])
    error = writer.writeRaster(
        pipe, plan.size[0], plan.size[1], plan.extent, plan.crs or QgsCoordinateReferenceSystem(),
        QgsCoordinateTransformContext(), feedback,
    )
    if error != QgsRasterFileWriter.NoError or not target.is_file():
        target.unlink(missing_ok=True)
        if error == QgsRasterFileWriter.WriteCanceled or (feedback is not None and feedback.isCanceled()):
            raise CancelledError(tr("Stopped while reading the layer; no output written."))
        raise RasterError(tr("Reading the layer through QGIS failed (error {code}).").format(code=int(error)))
    return target
