"""``ovss:segment``: the engine's ``segment_raster`` as a Processing algorithm (toolbox, batch, models,
``qgis_process``), with every user input checked in :meth:`checkParameterValues` before a model is built."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingParameterBand,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsRasterLayer,
)

from ...engine.analysis.products import run_timings
from ...engine.device import DEVICE_CHOICES, PRECISION_CHOICES
from ...engine.errors import OVSSError, RasterError
from ...engine.labels import LabelSet, list_presets, load_preset, parse_labels, preset_params
from ...engine.methods.base import available_methods, method_info
from ...engine.methods.params import (
    changed_params,
    check_params,
    default_params,
    format_params,
    parse_params_text,
)
from ...engine.models import RANDOM_WEIGHTS_WARNING, weights_choice
from ...engine.raster.tiles import Window
from .. import engine_runtime
from ..heavy_imports import import_engine_packages
from ..i18n import tr
from .algorithms import (
    OVSSAlgorithm,
    advanced,
    check_destinations,
    engine_errors,
    static_enum,
    with_enum_names,
)
from .postprocess import style_on_completion
from .products import DESTINATIONS, add_product_parameters, area_outputs, product_outputs, products_from

if TYPE_CHECKING:
    from ...engine.pipeline import SegmentResult

BAND_PARAMETERS = ("BAND_RED", "BAND_GREEN", "BAND_BLUE")
_EPSILON = 1e-6  # of a pixel: an extent edge this close to a pixel edge is on it


def extent_to_window(
    bounds: tuple[float, float, float, float], geotransform: tuple[float, ...], width: int, height: int
) -> Window:
    """The pixel window of a north-up raster covering a map extent ``(xmin, ymin, xmax, ymax)``, clipped to
    the raster.

    Every pixel the extent touches is included (edges closer than a millionth of a pixel count as on the
    edge); :class:`RasterError` when the raster is rotated or the extent misses it.
    """
    xmin, ymin, xmax, ymax = bounds
    x0, dx, rx, y0, ry, dy = geotransform
    if rx or ry:
        raise RasterError("EXTENT needs a north-up raster; this one has a rotated geotransform")
    columns = sorted(((xmin - x0) / dx, (xmax - x0) / dx))
    rows = sorted(((ymax - y0) / dy, (ymin - y0) / dy))
    col0 = max(0, math.floor(columns[0] + _EPSILON))
    col1 = min(width, math.ceil(columns[1] - _EPSILON))
    row0 = max(0, math.floor(rows[0] + _EPSILON))
    row1 = min(height, math.ceil(rows[1] - _EPSILON))
    if col1 <= col0 or row1 <= row0:
        raise RasterError("the EXTENT does not overlap the input raster")
    return Window(col0, row0, col1 - col0, row1 - row0)


@dataclass(frozen=True)
class SegmentRequest:
    """The checked inputs of one run."""

    input_path: str
    method: str
    labels: LabelSet
    params: dict[str, Any]
    bands: tuple[int, ...] | None
    window: Window | None
    tile: int
    overlap: int
    device: str
    precision: str
    weights_dir: str | None
    batch: int = 0
    cluster: str = ""  # a Dask scheduler address or local:N; empty: this process


class SegmentAlgorithm(OVSSAlgorithm):
    """Segment a raster into the classes named by a label text or a preset."""

    INPUT = "INPUT"
    METHOD = "METHOD"
    LABELS = "LABELS"
    PRESET = "PRESET"
    EXTENT = "EXTENT"
    TILE = "TILE"
    OVERLAP = "OVERLAP"
    BATCH = "BATCH"
    DEVICE = "DEVICE"
    PRECISION = "PRECISION"
    WEIGHTS_DIR = "WEIGHTS_DIR"
    METHOD_PARAMS = "METHOD_PARAMS"
    CLUSTER = "CLUSTER"
    OUTPUT = "OUTPUT"
    CONFIDENCE = "CONFIDENCE"

    def name(self) -> str:
        """Stable id within the provider: ``ovss:segment``."""
        return "segment"

    def displayName(self) -> str:
        """Title in the toolbox."""
        return tr("Segment raster with open-vocabulary labels")

    def shortHelpString(self) -> str:
        """The help panel: what it does and the label syntax with an example."""
        return tr(
            "Classifies a raster into land-cover classes described in plain words, with a training-free "
            "open-vocabulary method (SDCI, AlignCLIP, SegEarth-OV).<br><br>"
            "<b>Labels</b>: classes are separated by ';' or new lines; a class may have several prompts "
            "separated by ',' (their text embeddings are averaged); an optional 'Name:' prefix gives the "
            "display name (default: the first prompt); '#rrggbb' after the name sets its colour and "
            "'(background)' marks the background class. Example:<br>"
            "<tt>impervious surfaces: ground, road, streets; building: buildings, man-made buildings; "
            "low vegetation; tree: trees; car: vehicles</tt><br>"
            "Give either Labels or a Preset (a dataset's classes with the papers' per-dataset "
            "parameters). Method, Preset, Device and Precision take the option's name or its number "
            "(0 = the first).<br><br>"
            "<b>Bands</b>: leave empty for bands 1, 2, 3 (or band 1 of a single-band raster); set only "
            "the red band to repeat one band; set all three for another mapping (e.g. 4, 3, 2).<br>"
            "<b>Extent</b>: segment only this part of the raster.<br>"
            "<b>Output</b>: a Byte GeoTIFF, value k+1 = class k, 0 = nodata, with colour table and class "
            "names. The optional confidence raster holds the top class probability in percent.<br>"
            "<b>Class polygons, areas, report</b> (optional): a GeoPackage of the class polygons (minimum "
            "area in m2 or e.g. 20px, simplification in map units, both advanced), the areas per class as CSV "
            "or JSON and a self-contained HTML report; the areas are also outputs and in the log.<br>"
            "<b>Batch size</b> (advanced): tiles per model call; 0 chooses as many as fit the free memory. "
            "It changes the speed, not the result.<br>"
            "<b>Method parameters</b> (advanced): overrides of the chosen method's parameters, as "
            "<tt>key=value</tt> lines (or ';'-separated) or a JSON object, e.g. <tt>alpha=0.3</tt>; they "
            "replace the papers' defaults and a preset's per-dataset values. Defaults:<br>{defaults}<br>"
            "With the environment variable OVSS_WEIGHTS=random the models get random weights: a "
            "pipeline check, not a real segmentation."
        ).format(defaults="<br>".join(_defaults_help(name) for name in available_methods()))

    def initAlgorithm(self, config: Mapping[str, Any] | None = None) -> None:
        """Declare the parameters; method parameters are advanced, named ``<METHOD>_<FIELD>``."""
        methods = available_methods()
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, tr("Input raster")))
        self.addParameter(static_enum(self.METHOD, tr("Method"), methods, methods[0] if methods else None))
        self.addParameter(QgsProcessingParameterString(self.LABELS, tr("Labels"), multiLine=True, optional=True))
        self.addParameter(static_enum(self.PRESET, tr("Preset"), list_presets(), None, optional=True))
        for name, description in zip(
            BAND_PARAMETERS, (tr("Band for red"), tr("Band for green"), tr("Band for blue")), strict=True
        ):
            self.addParameter(QgsProcessingParameterBand(name, description, None, self.INPUT, optional=True))
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, tr("Extent"), optional=True))
        tile = QgsProcessingParameterNumber(
            self.TILE, tr("Tile size (pixels)"), QgsProcessingParameterNumber.Integer, 512, False, 8
        )
        self.addParameter(tile)
        overlap = QgsProcessingParameterNumber(
            self.OVERLAP, tr("Tile overlap (pixels)"), QgsProcessingParameterNumber.Integer, 64, False, 0
        )
        self.addParameter(overlap)
        batch = QgsProcessingParameterNumber(
            self.BATCH,
            tr("Batch size (tiles per model call, 0 = automatic)"),
            QgsProcessingParameterNumber.Integer,
            0,
            True,  # optional: models and scripts written before the parameter existed keep working
            0,
        )
        self.addParameter(advanced(batch))
        self.addParameter(static_enum(self.DEVICE, tr("Device"), DEVICE_CHOICES, "auto"))
        self.addParameter(static_enum(self.PRECISION, tr("Precision"), PRECISION_CHOICES, "auto"))
        self.addParameter(
            advanced(
                QgsProcessingParameterFile(
                    self.WEIGHTS_DIR,
                    tr("Weights folder"),
                    QgsProcessingParameterFile.Folder,
                    optional=True,
                )
            )
        )
        self.addParameter(
            advanced(
                QgsProcessingParameterString(
                    self.METHOD_PARAMS,
                    tr("Method parameters (key=value lines or JSON; defaults in the help)"),
                    multiLine=True,
                    optional=True,
                )
            )
        )
        self.addParameter(
            advanced(
                QgsProcessingParameterString(
                    self.CLUSTER,
                    tr("Dask cluster (scheduler address tcp://host:8786 or local:N; empty: this computer)"),
                    optional=True,
                )
            )
        )
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, tr("Classified raster")))
        self.addParameter(
            QgsProcessingParameterRasterDestination(
                self.CONFIDENCE, tr("Confidence raster (%)"), optional=True, createByDefault=False
            )
        )
        add_product_parameters(self)

    def checkParameterValues(self, parameters: Mapping[str, Any], context: QgsProcessingContext) -> tuple[bool, str]:
        """Report any wrong input (labels, preset, method and its parameters, bands, tiling, extent, output
        folders) as one clear line, before any model is built."""
        try:
            check_destinations(self, parameters, (self.OUTPUT, self.CONFIDENCE, *DESTINATIONS))
            request = self.request(parameters, context)
            confidence = self.parameterAsOutputLayer(parameters, self.CONFIDENCE, context) or None
            products_from(self, parameters, context, confidence, request.input_path)
        except (OVSSError, QgsProcessingException) as exc:
            return False, str(exc)
        return super().checkParameterValues(with_enum_names(self, parameters), context)

    def request(self, parameters: Mapping[str, Any], context: QgsProcessingContext) -> SegmentRequest:
        """The run's inputs from the parameters, checked without loading any model."""
        from ...engine.distributed.cluster import parse_cluster
        from ...engine.memory import check_batch
        from ...engine.raster.outputs import check_run_outputs
        from ...engine.raster.reader import describe_raster, open_raster, resolve_bands
        from ...engine.raster.tiles import validate_tiling

        parameters = with_enum_names(self, parameters)
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None:
            raise QgsProcessingException(_no_layer_reason(parameters.get(self.INPUT)))
        if layer.providerType() != "gdal":
            raise QgsProcessingException(tr("Input raster: only file rasters (GDAL) can be segmented"))
        method = self.parameterAsString(parameters, self.METHOD, context)
        info = method_info(method)
        labels, params = self._labels(parameters, context, method)
        tile = self.parameterAsInt(parameters, self.TILE, context)
        overlap = self.parameterAsInt(parameters, self.OVERLAP, context)
        validate_tiling(tile, overlap, info.min_tile)
        batch = self.parameterAsInt(parameters, self.BATCH, context)
        check_batch(batch)
        dataset = open_raster(layer.source())
        raster = describe_raster(dataset)
        bands = self._bands(parameters, context)
        resolve_bands(bands, raster)
        outputs = [self.parameterAsOutputLayer(parameters, name, context) for name in (self.OUTPUT, self.CONFIDENCE)]
        check_run_outputs([output or None for output in outputs], dataset)
        weights_dir = self.parameterAsFile(parameters, self.WEIGHTS_DIR, context)
        cluster = (self.parameterAsString(parameters, self.CLUSTER, context) or "").strip()
        if cluster:
            parse_cluster(cluster)
        return SegmentRequest(
            input_path=layer.source(),
            method=method,
            labels=labels,
            params=params,
            bands=bands,
            window=self._window(parameters, context, layer, raster.geotransform),
            tile=tile,
            overlap=overlap,
            device=self.parameterAsString(parameters, self.DEVICE, context) or "auto",
            precision=self.parameterAsString(parameters, self.PRECISION, context) or "auto",
            weights_dir=weights_dir or None,
            batch=batch,
            cluster=cluster,
        )

    def _labels(
        self, parameters: Mapping[str, Any], context: QgsProcessingContext, method: str
    ) -> tuple[LabelSet, dict[str, Any]]:
        """The label set and the checked method parameters: the preset's values, then the user's overrides."""
        text = self.parameterAsString(parameters, self.LABELS, context).strip()
        preset_name = self.parameterAsString(parameters, self.PRESET, context).strip()
        if text and preset_name:
            raise QgsProcessingException(tr("Give either Labels or a Preset, not both"))
        if not text and not preset_name:
            raise QgsProcessingException(
                tr("Give Labels (e.g. 'building: buildings, roofs; road; tree: trees') or choose a Preset")
            )
        if text:
            labels, params = parse_labels(text), {}
        else:
            preset = load_preset(preset_name)
            labels, params = preset.labels, preset_params(preset, method)
        params.update(parse_params_text(self.parameterAsString(parameters, self.METHOD_PARAMS, context)))
        return labels, check_params(method, params)

    def _bands(self, parameters: Mapping[str, Any], context: QgsProcessingContext) -> tuple[int, ...] | None:
        """None (the default mapping), one band (repeated) or three bands; anything else is an error."""
        chosen = [self.parameterAsInt(parameters, name, context) for name in BAND_PARAMETERS]
        given = tuple(band for band in chosen if band > 0)
        if not given:
            return None
        if len(given) == 3 or (len(given) == 1 and chosen[0] > 0):
            return given
        raise QgsProcessingException(
            tr("Bands: set all three (red, green, blue), only the red band (repeated), or none")
        )

    def _window(
        self,
        parameters: Mapping[str, Any],
        context: QgsProcessingContext,
        layer: QgsRasterLayer,
        geotransform: tuple[float, ...],
    ) -> Window | None:
        """The EXTENT (in any CRS) as a pixel window of the input, or None for the whole raster."""
        if parameters.get(self.EXTENT) is None:
            return None
        extent = self.parameterAsExtent(parameters, self.EXTENT, context, layer.crs())
        if extent.isNull() or extent.isEmpty():
            return None
        return extent_to_window(
            (extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum()),
            geotransform,
            layer.width(),
            layer.height(),
        )

    def prepareAlgorithm(
        self, parameters: Mapping[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> bool:
        """Load torch and friends here, in the main thread, never first inside a worker thread (nothing to load
        when the models run in a worker process)."""
        if engine_runtime.uses_qgis_python():
            import_engine_packages()
        return True

    def processAlgorithm(
        self, parameters: Mapping[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        """Build the method, run the pipeline with Processing's progress and cancel, style the output."""
        from ...engine.pipeline import segment_raster

        with engine_errors():
            request = self.request(parameters, context)
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        confidence = self.parameterAsOutputLayer(parameters, self.CONFIDENCE, context) or None
        weights = weights_choice(None)
        if weights == "random":
            feedback.pushWarning(RANDOM_WEIGHTS_WARNING)
        feedback.pushInfo(tr("Classes: {}").format(", ".join(request.labels.names)))
        feedback.pushInfo(
            tr("Method parameters changed from the defaults: {}").format(
                format_params(changed_params(request.method, request.params))
            )
        )
        products = products_from(self, parameters, context, confidence, request.input_path)
        with engine_errors():
            engine_runtime.validate_planned_run(  # the outputs' disk space and the run's memory, before any model
                request.input_path,
                output,
                bands=request.bands,
                tile=request.tile,
                overlap=request.overlap,
                min_tile=method_info(request.method).min_tile,
                window=request.window,
                extra_outputs=(None, confidence),
                labels=request.labels,
                method=None if request.cluster else request.method,  # a cluster's workers check their own
                params=request.params,
                device=request.device,
                batch=request.batch,
            )
            options = {
                "bands": request.bands,
                "tile": request.tile,
                "overlap": request.overlap,
                "window": request.window,
                "confidence_path": confidence,
                "batch": request.batch,
                "metadata": {"weights": weights, "params": request.params},
                "progress": lambda progress: feedback.setProgress(100.0 * progress.fraction),
                "is_cancelled": feedback.isCanceled,
                "warn": feedback.pushWarning,
            }
            build = {
                "weights": weights,
                "weights_dir": request.weights_dir,
                "device": request.device,
                "precision": request.precision,
                "params": request.params,
            }
            if request.cluster:
                result = self._run_on_cluster(request, output, build, options, feedback)
            else:
                method = engine_runtime.create_method(request.method, **build)  # in a worker when configured
                result = segment_raster(request.input_path, output, method, request.labels, **options)
        feedback.pushInfo(
            tr("Wrote {path}: {width} x {height} pixels, {tiles} tiles in {seconds:.1f} s").format(
                path=result.output_path,
                width=result.width,
                height=result.height,
                tiles=result.tiles_total,
                seconds=result.elapsed_s,
            )
        )
        with engine_errors():
            areas = products.write(
                result, request.input_path, timings=run_timings(result), log=feedback.pushInfo,
                is_cancelled=feedback.isCanceled,
            )
        style_on_completion(context, output)
        return {
            self.OUTPUT: output,
            self.CONFIDENCE: confidence,
            **area_outputs(areas, feedback),
            **product_outputs(products, context),
        }

    @staticmethod
    def _run_on_cluster(
        request: SegmentRequest,
        output: str,
        build: dict[str, Any],
        options: dict[str, Any],
        feedback: QgsProcessingFeedback,
    ) -> SegmentResult:
        """The run on the Dask cluster ``request.cluster`` with the options of a run here; the workers build the
        method with the ``build`` options (never QGIS)."""
        from ...engine.distributed import MethodSpec, segment_on_cluster

        return segment_on_cluster(
            request.input_path,
            output,
            MethodSpec.of(request.method, **build),
            request.labels,
            cluster=request.cluster,
            log=feedback.pushInfo,
            **options,
        )


def _defaults_help(method: str) -> str:
    """``<b>sdci-v2</b>: alpha=0.5, ...`` for the help text (``no parameters`` for a method without any)."""
    defaults = default_params(method)
    return f"<b>{method}</b>: {format_params(defaults) if defaults else tr('no parameters')}"


def _no_layer_reason(value: Any) -> str:
    """Why the INPUT value gave no raster layer: GDAL's reason for a file (with a guess at what the file is),
    else that no raster was given."""
    from ...engine.raster.reader import open_raster

    path = value if isinstance(value, str) else ""
    if path.strip():
        try:
            open_raster(path)
        except OVSSError as exc:
            return tr("Input raster: {}").format(exc)
        return tr("Input raster: QGIS cannot load {} as a raster layer").format(path)
    return tr("Input raster: no raster layer given")
