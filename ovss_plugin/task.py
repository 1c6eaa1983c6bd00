"""The background run: a cancellable ``QgsTask`` around the engine's ``segment_raster``, and the result layer.

The task never touches widgets and never raises into QGIS: :meth:`SegmentTask.run` (a worker thread)
imports the engine's heavy packages the first time (:mod:`.heavy_imports`; not when the models run in a
worker process, see :mod:`.engine_runtime`), reads the layer (exporting it through its data provider when it
is not a GDAL file), takes the method (built when needed, here or in the worker) from the
:class:`ModelCache`, runs the pipeline with a progress callback and ``is_cancelled=self.isCanceled``, and
keeps a :class:`RunOutcome`. :meth:`SegmentTask.finished` (the main thread) logs errors with their details
and emits ``completed(outcome)``; the receiver adds the layer with :func:`add_result_layer`. A finished
task's C++ object is deleted, so everything a caller needs is in the outcome, a plain Python object.

A cancel the run honoured (nothing written, or what was written removed) ends the task as complete, with
"(cancelled)" added to its description and ``outcome.cancelled`` set: QGIS 3.22 has no cancelled state and
announces every task that ends terminated as "Task failed". Only real failures end terminated.
"""

from __future__ import annotations

import functools
import re
import shutil
import tempfile
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from qgis.core import (
    Qgis,
    QgsMessageLog,
    QgsProject,
    QgsRasterBlockFeedback,
    QgsRasterLayer,
    QgsTask,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import pyqtSignal

from ..engine.analysis.products import Products
from ..engine.errors import CancelledError, MissingWeightsError, OVSSError, RasterError
from ..engine.labels import LabelSet
from ..engine.methods.base import method_info
from ..engine.methods.cache import MethodKey, ModelCache
from ..engine.pipeline import SegmentResult, segment_raster
from ..engine.progress import Progress
from . import engine_runtime
from .heavy_imports import import_engine_packages
from .i18n import tr
from .layer_source import SourcePlan, export_to_geotiff
from .styling import style_class_polygons, style_classified_layer

LOG_TAG = "OVSS"
RESULT_PROPERTY = "ovss/result"  # custom layer property marking a layer this plugin added


@dataclass(frozen=True)
class RunRequest:
    """Everything one run needs, decided in the dock (main thread) before the task starts."""

    layer_name: str
    source: SourcePlan
    output_path: Path
    labels: LabelSet
    method: str
    params: Mapping[str, Any] = field(default_factory=dict)
    confidence_path: Path | None = None
    vector_path: Path | None = None  # the class polygons (GeoPackage), written after the classes
    weights: str = "default"
    weights_dir: str | None = None
    device: str = "auto"
    precision: str = "auto"
    seed: int = 0
    bands: tuple[int, ...] | None = None
    tile: int = 512
    overlap: int = 64
    batch: int = 0
    keep_models: bool = True
    started: datetime = field(default_factory=datetime.now)

    @property
    def method_key(self) -> MethodKey:
        """The cache key of the method this run needs."""
        return MethodKey.of(
            self.method,
            weights=self.weights,
            weights_dir=self.weights_dir,
            device=self.device,
            precision=self.precision,
            seed=self.seed,
            params=self.params,
        )

    @property
    def result_name(self) -> str:
        """The result layer's name: ``<input> - <method> - <HH:MM:SS>``."""
        return f"{self.layer_name} - {self.method} - {self.started:%H:%M:%S}"


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended: the engine's result, or a one-line error (``missing_weights`` for that case)."""

    request: RunRequest
    result: SegmentResult | None = None
    error: str | None = None
    details: str | None = None
    missing_weights: bool = False
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        """True when the output was written."""
        return self.result is not None


@functools.cache
def session_temp_dir() -> Path:
    """A folder for temporary results that lives as long as the QGIS session (QGIS's temporary layers)."""
    return Path(tempfile.mkdtemp(prefix="ovss-results-"))


def temporary_output_path(layer_name: str, method: str, when: datetime) -> Path:
    """A new, unused GeoTIFF path in the session's temporary folder."""
    stem = re.sub(r"[^\w.-]+", "_", f"{layer_name}_{method}_{when:%H%M%S}").strip("_") or "ovss"
    folder = session_temp_dir()
    candidate = folder / f"{stem}.tif"
    number = 2
    while candidate.exists():
        candidate = folder / f"{stem}_{number}.tif"
        number += 1
    return candidate


def discard_outputs(result: SegmentResult) -> None:
    """Delete the rasters a run wrote and their sidecars: a run cancelled after its last tile leaves nothing."""
    for path in (result.output_path, result.confidence_path, result.probabilities_path):
        if path is not None:
            for written in (path, Path(f"{path}.aux.xml"), path.with_suffix(".qml")):
                written.unlink(missing_ok=True)


def confidence_path_for(output_path: Path) -> Path:
    """The confidence raster written beside ``output_path``."""
    return output_path.with_name(f"{output_path.stem}_confidence.tif")


class SegmentTask(QgsTask):
    """Segments one layer in the background; ``completed(RunOutcome)`` is emitted in the main thread."""

    tiles_progress = pyqtSignal(int, int, float)  # tiles done, tiles total, seconds left (-1: not known yet)
    completed = pyqtSignal(object)

    def __init__(self, request: RunRequest, cache: ModelCache) -> None:
        super().__init__(tr("Land cover: {name}").format(name=request.layer_name), QgsTask.CanCancel)
        self.request = request
        self.cache = cache
        self.outcome: RunOutcome | None = None
        self.warnings: list[str] = []
        self._feedback: QgsRasterBlockFeedback | None = None

    def cancel(self) -> None:
        """Stop between tiles (or stop reading the layer through its provider)."""
        if self._feedback is not None:
            self._feedback.cancel()
        super().cancel()

    def run(self) -> bool:
        """The whole run, in the task's thread; errors are kept in :attr:`outcome`, never raised."""
        request = self.request
        export_dir: Path | None = None
        try:
            if engine_runtime.uses_qgis_python():
                import_engine_packages()  # seconds the first time: here, never in the main thread
            source = request.source
            path = source.path
            if source.needs_export:
                export_dir = Path(tempfile.mkdtemp(prefix="ovss-source-"))
                self._feedback = QgsRasterBlockFeedback()
                path = str(export_to_geotiff(source, export_dir / "source.tif", self._feedback))
            self._validate(path)
            method = self.cache.get(request.method_key, self._build_method, keep=request.keep_models)
            result = segment_raster(
                path,
                request.output_path,
                method,
                request.labels,
                bands=source.bands or request.bands,
                tile=request.tile,
                overlap=request.overlap,
                batch=request.batch,
                window=source.window,
                confidence_path=request.confidence_path,
                metadata={
                    "weights": request.weights,
                    "seed": request.seed,
                    "params": dict(request.params),
                    "input_layer": request.layer_name,
                },
                progress=self._report,
                is_cancelled=self.isCanceled,
                cache=engine_runtime.run_feature_cache(),
                warn=self.warnings.append,
            )
            if request.vector_path is not None:
                try:  # the polygons belong to the run: without them, no output is left
                    Products(vector=request.vector_path).write(result, path, is_cancelled=self.isCanceled)
                except BaseException:
                    discard_outputs(result)
                    raise
        except CancelledError:
            self.outcome = RunOutcome(request, cancelled=True)
            return True  # see the module docstring: a cancel the run honoured is no failure
        except MissingWeightsError as exc:
            self.outcome = RunOutcome(request, error=str(exc), missing_weights=True)
            return False
        except OVSSError as exc:
            self.outcome = RunOutcome(request, error=str(exc))
            return False
        except Exception as exc:
            self.outcome = RunOutcome(request, error=f"{type(exc).__name__}: {exc}", details=traceback.format_exc())
            return False
        finally:
            if export_dir is not None:
                shutil.rmtree(export_dir, ignore_errors=True)
        if self.isCanceled():  # cancelled during the last tile: the output was committed before it was seen
            discard_outputs(result)
            if request.vector_path is not None:
                request.vector_path.unlink(missing_ok=True)
            self.outcome = RunOutcome(request, cancelled=True)
            return True
        self.outcome = RunOutcome(request, result=result)
        return True

    def _validate(self, path: str) -> None:
        """The engine's checks of every input, the outputs' disk space and the run's memory, before any model
        is built (one-line :class:`OVSSError`)."""
        request, source = self.request, self.request.source
        engine_runtime.validate_planned_run(
            path,
            request.output_path,
            bands=source.bands or request.bands,
            tile=request.tile,
            overlap=request.overlap,
            min_tile=method_info(request.method).min_tile,
            window=source.window,
            extra_outputs=(None, request.confidence_path),
            labels=request.labels,
            method=request.method,
            params=request.params,
            device=request.device,
            batch=request.batch,
        )

    def _build_method(self) -> Any:
        """The run's method: in QGIS's process or, with a configured Python, a proxy on the worker."""
        request = self.request
        return engine_runtime.create_method(
            request.method,
            weights=request.weights,
            weights_dir=request.weights_dir,
            device=request.device,
            precision=request.precision,
            seed=request.seed,
            params=request.params,
        )

    def _report(self, progress: Progress) -> None:
        self.setProgress(100.0 * progress.fraction)
        remaining = -1.0 if progress.remaining_s is None else progress.remaining_s
        self.tiles_progress.emit(progress.tiles_done, progress.tiles_total, remaining)

    def finished(self, ok: bool) -> None:
        """Main thread: log what went wrong and hand the outcome on."""
        outcome = self.outcome or RunOutcome(self.request, cancelled=True)
        self.outcome = outcome
        if outcome.cancelled:
            self.setDescription(tr("{description} (cancelled)").format(description=self.description()))
        for warning in self.warnings:
            QgsMessageLog.logMessage(warning, LOG_TAG, Qgis.Warning)
        if outcome.error:
            QgsMessageLog.logMessage(outcome.details or outcome.error, LOG_TAG, Qgis.Critical)
        self.completed.emit(outcome)


def unique_layer_name(name: str, project: QgsProject) -> str:
    """``name``, or ``name (2)``, ``name (3)``... when the project already has a layer called so."""
    taken = {layer.name() for layer in project.mapLayers().values()}
    candidate, number = name, 2
    while candidate in taken:
        candidate = f"{name} ({number})"
        number += 1
    return candidate


def add_result_layer(outcome: RunOutcome, project: QgsProject | None = None) -> QgsRasterLayer:
    """Add a finished run's classes (styled, legend = class names) and confidence layers.

    Nothing already in the project is removed or restyled; a name already taken gets a number.
    """
    if outcome.result is None:
        raise ValueError("only a finished run has a result layer")
    project = project or QgsProject.instance()
    request, result = outcome.request, outcome.result
    name = unique_layer_name(request.result_name, project)
    layer = QgsRasterLayer(str(result.output_path), name, "gdal")
    if not layer.isValid():
        raise RasterError(tr("QGIS cannot open the result {path}.").format(path=result.output_path))
    style_classified_layer(layer, request.labels.names, request.labels.colors)
    layer.setCustomProperty(RESULT_PROPERTY, request.method)
    if result.confidence_path is not None:
        confidence = QgsRasterLayer(str(result.confidence_path), tr("{name} - confidence").format(name=name), "gdal")
        confidence.setCustomProperty(RESULT_PROPERTY, request.method)
        if confidence.isValid():
            project.addMapLayer(confidence)
    if request.vector_path is not None and request.vector_path.is_file():
        polygons = QgsVectorLayer(str(request.vector_path), tr("{name} - polygons").format(name=name), "ogr")
        if polygons.isValid():
            style_class_polygons(polygons)
            polygons.setCustomProperty(RESULT_PROPERTY, request.method)
            project.addMapLayer(polygons)
    project.addMapLayer(layer)
    return layer
