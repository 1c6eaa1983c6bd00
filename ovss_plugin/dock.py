"""The OVSS dock widget: it stacks the panels (input, classes, method, output, run; :mod:`.panels`), wires
them together, and runs what they describe in a :class:`~.task.SegmentTask`, which never touches widgets.

It checks the engine's Python packages first: when some are missing it shows the
:class:`~.environment_panel.EnvironmentPanel` (set up the plugin's own Python environment) instead of the panels.
After a run it shows the area per class and offers "Save report" (:mod:`.run_products`: the run's area table and
HTML report; :meth:`OVSSDock.set_area_rows` and :meth:`OVSSDock.set_report_writer` replace them). "Preview"
runs the same request on the visible map extent at screen resolution into a temporary layer (:mod:`.preview`);
after a preview the area table shows the change per class against the previous preview.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from qgis.core import Qgis, QgsApplication, QgsRasterLayer
from qgis.PyQt import sip
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QDockWidget, QLabel, QScrollArea, QVBoxLayout, QWidget

from ..engine.dependencies import missing_requirements
from ..engine.errors import InputError, LabelError, OVSSError
from ..engine.methods.cache import ModelCache
from ..engine.models import weights_choice
from ..engine.progress import format_duration
from . import engine_runtime
from .environment_panel import EnvironmentPanel
from .heavy_imports import EngineWarmupTask, engine_packages_loaded
from .i18n import tr
from .layer_source import plan_source
from .panels.area_table import AreaRow, with_changes
from .panels.classes_panel import ClassesPanel
from .panels.dialogs import Dialogs
from .panels.input_panel import InputPanel
from .panels.method_panel import MethodPanel
from .panels.output_panel import OutputPanel
from .panels.processing_options import ProcessingOptions
from .panels.run_panel import RunPanel
from .panels.settings_binding import read_settings, show_settings
from .panels.weights_help import WeightsHelp
from .preview import PreviewLayers, preview_source
from .run_products import area_rows, write_run_report
from .settings import DockSettings, load_settings, save_settings
from .task import (
    RESULT_PROPERTY,
    RunOutcome,
    RunRequest,
    SegmentTask,
    add_result_layer,
    discard_outputs,
    temporary_output_path,
)
from .weights_download import DownloadItem, WeightsDownloadTask, consent_text

SHUTDOWN_WAIT_MS = 30_000  # a run stops between tiles; wait that long for the current tile
AreaRows = Callable[[RunOutcome], Sequence[AreaRow]]  # a finished run's area per class
ReportWriter = Callable[[RunOutcome, Path], None]  # writes a finished run's report to the path


def missing_packages_message() -> str | None:
    """A message naming the missing packages and pointing to the environment panel; None when all are there
    (or when the models run in a worker process of a configured Python)."""
    missing = missing_requirements()
    if not missing or engine_runtime.configured_python() is not None:
        return None
    names = ", ".join(req.pip_name for req in missing)
    return tr("QGIS's Python lacks packages this plugin needs: {names}. The plugin can install them into its "
              "own Python environment (below); QGIS's Python stays unchanged.").format(names=names)


class OVSSDock(QDockWidget):
    """Dock with the segmentation panels, or the installation help when packages are missing."""

    def __init__(self, parent: QWidget | None = None, iface: Any = None) -> None:
        super().__init__(tr("Open-vocabulary land cover"), parent)
        self.iface = iface
        self.dialogs = Dialogs(self, iface)
        self.cache = ModelCache()
        self.task: SegmentTask | None = None
        self.task_is_preview = False
        self.previews = PreviewLayers()
        self.download_task: WeightsDownloadTask | None = None
        self.warmup_task: EngineWarmupTask | None = None
        self._engine_problem = ""
        self.last_outcome: RunOutcome | None = None
        self.ready = False
        self._device_shown = False
        self._shut_down = False
        self._area_rows: AreaRows | None = area_rows
        self._report_writer: ReportWriter | None = write_run_report
        self.scroll = QScrollArea(self)
        self.scroll.setObjectName("ovss_scroll")
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)  # never needed: the panels fit 400 px
        body = QWidget(self.scroll)
        self.body_layout = QVBoxLayout(body)
        self.status_label = QLabel(body)
        self.status_label.setObjectName("ovss_status")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.body_layout.addWidget(self.status_label)
        self.random_warning = QLabel(tr("OVSS_WEIGHTS=random is set: the models use RANDOM weights. Results "
                                        "are a pipeline check, not a real segmentation."), body)
        self.random_warning.setObjectName("ovss_random_warning")
        self.random_warning.setWordWrap(True)
        self.random_warning.setStyleSheet("background: #fff3cd; color: #7a4b00; border: 1px solid #e0a800; "
                                          "padding: 4px; font-weight: bold;")
        self.body_layout.addWidget(self.random_warning)
        self.environment_panel: EnvironmentPanel | None = None
        if missing_packages_message() is None:
            self._build_panels(body)
            self.ready = True
        else:
            self.environment_panel = EnvironmentPanel(body)
            self.environment_panel.environment_ready.connect(self._environment_ready)
            self.body_layout.addWidget(self.environment_panel)
        self.body_layout.addStretch(1)
        self.scroll.setWidget(body)
        self.setWidget(self.scroll)
        self.refresh_status()
        if self.ready:
            self.apply_settings(load_settings())
            if self.iface is not None:
                self.iface.currentLayerChanged.connect(self._follow_active_layer)

    def _build_panels(self, body: QWidget) -> None:
        """Create the panels and connect them to each other and to the dock."""
        canvas = self.iface.mapCanvas() if self.iface is not None else None
        self.input_panel = InputPanel(body, canvas)
        self.classes_panel = ClassesPanel(self.dialogs, lambda: (self.method_panel.method(), self.method_params()),
                                          body)
        self.method_panel = MethodPanel(self.classes_panel.preset_defaults, body)
        self.options_panel = ProcessingOptions(body)
        self.output_panel = OutputPanel(self.dialogs, body)
        self.weights_help = WeightsHelp(body)
        self.run_panel = RunPanel(body)
        for panel in (self.input_panel, self.classes_panel, self.method_panel, self.options_panel,
                      self.output_panel, self.weights_help, self.run_panel):
            self.body_layout.addWidget(panel)
        self.input_panel.changed.connect(self.validate)
        self.classes_panel.changed.connect(self.validate)
        self.classes_panel.preset_chosen.connect(self.method_panel.reset_params)
        self.method_panel.changed.connect(self.validate)
        self.options_panel.device_changed.connect(self.refresh_device)
        self.options_panel.free_models.connect(self.free_models)
        self.weights_help.download.connect(self.offer_download)
        self.weights_help.choose_folder.connect(self.choose_weights_dir)
        self.run_panel.run_button.clicked.connect(self.start_run)
        self.run_panel.preview_button.clicked.connect(self.start_preview)
        self.run_panel.toggle_button.clicked.connect(self.toggle_preview)
        self.run_panel.cancel_button.clicked.connect(self.cancel_run)
        self.run_panel.report_button.clicked.connect(self.save_report)

    # status, device ----------------------------------------------------------------------------------

    def refresh_status(self) -> None:
        """Show what is missing, or that the engine is ready; show the random-weights warning while it is set."""
        message = missing_packages_message()
        self.status_label.setText(message or tr("Ready."))
        self.random_warning.setVisible(weights_choice(None) == "random")

    def _environment_ready(self, python: str) -> None:
        """The plugin's environment was set up (or adopted): say how to start using it."""
        self.status_label.setText(tr("The Python environment is ready ({python}). Restart QGIS (or reload the "
                                     "plugin) to use it.").format(python=python))

    def refresh_device(self) -> None:
        """Show the device and precision a run would use now.

        That needs torch: until the engine's packages are loaded, they load in an :class:`EngineWarmupTask`
        and the label says so, so the window never waits for them.
        """
        if not self.ready:
            return
        label = self.method_panel.device_label
        if engine_runtime.run_mode() == engine_runtime.WORKER:  # torch is in the worker's Python, not here
            label.setText(engine_runtime.worker_status())
            return
        if self._engine_problem:
            label.setText(tr("Device: {problem}").format(problem=self._engine_problem))
            return
        if not engine_packages_loaded():
            label.setText(tr("Runs on: finding the device\u2026"))
            self._warm_up()
            return
        from ..engine.device import resolve_runtime

        options = self.options_panel
        try:
            text = tr("Runs on: {device}").format(device=resolve_runtime(
                options.device_combo.currentText(), options.precision_combo.currentText()).describe())
        except InputError as exc:
            text = tr("Device: {problem}").format(problem=exc)
        label.setText(text)

    def _warm_up(self) -> None:
        """Load the engine's packages in the background (once), then show the device."""
        if self.warmup_task is not None:
            return
        task = EngineWarmupTask()
        task.done.connect(self._engine_loaded)
        self.warmup_task = task
        QgsApplication.taskManager().addTask(task)

    def _engine_loaded(self, problem: str) -> None:
        self.warmup_task = None
        self._engine_problem = problem
        self.refresh_device()

    def showEvent(self, event: Any) -> None:
        """The first time the dock is shown, find out which device runs the models."""
        super().showEvent(event)
        self.refresh_status()
        if self.ready and not self._device_shown:
            self._device_shown = True
            self.refresh_device()

    def _follow_active_layer(self, layer: Any) -> None:
        """Use the layer the user selects as input (not the results this plugin adds)."""
        if isinstance(layer, QgsRasterLayer) and self.task is None and not layer.customProperty(RESULT_PROPERTY):
            self.input_panel.layer_combo.setLayer(layer)

    def validate(self) -> bool:
        """Check the classes and the input; explain what is wrong and enable Run only when all is right."""
        if not self.ready:
            return False
        problem = None
        try:
            self.classes_panel.table.labels()
        except LabelError as exc:
            problem = str(exc)
        if problem is None and self.input_panel.layer_combo.currentLayer() is None:
            problem = tr("Choose a raster layer.")
        if problem is None and self.method_panel.method() is None:
            problem = tr("No segmentation method is registered.")
        self.classes_panel.show_problem(problem)
        self.run_panel.run_button.setEnabled(problem is None and self.task is None)
        self.run_panel.preview_button.setEnabled(problem is None and self.task is None and self.iface is not None)
        return problem is None

    def method_params(self) -> dict[str, Any]:
        """The current method's parameters that differ from its defaults."""
        return self.method_panel.method_params()

    def free_models(self) -> None:
        """Drop the loaded models (memory back to the system), here and in the worker."""
        self.cache.clear()
        engine_runtime.free_models()

    # settings ----------------------------------------------------------------------------------------

    def current_settings(self) -> DockSettings:
        """The dock's state as settings (:func:`.panels.settings_binding.read_settings`)."""
        return read_settings(self)

    def apply_settings(self, settings: DockSettings) -> None:
        """Show ``settings`` in the panels (:func:`.panels.settings_binding.show_settings`)."""
        show_settings(self, settings)

    # run ---------------------------------------------------------------------------------------------

    def build_request(self) -> RunRequest | None:
        """The run the dock describes now; None when the user declined to replace a file.

        Raises :class:`OVSSError` (one line) for anything that is not right.
        """
        request = self._request(lambda layer: plan_source(layer, self.input_panel.area_extent(layer)))
        paths = self.output_panel.output_paths(request.layer_name, request.method, request.started,
                                               request.source.path)
        if paths is None:
            return None
        return dataclasses.replace(request, output_path=paths[0], confidence_path=paths[1], vector_path=paths[2])

    def build_preview_request(self) -> RunRequest:
        """The run the dock describes, on the visible map extent at screen resolution, into a temporary file
        (no confidence raster). Raises :class:`OVSSError` (one line) for anything that is not right."""
        canvas = self.iface.mapCanvas() if self.iface is not None else None
        request = self._request(lambda layer: preview_source(layer, canvas))
        path = temporary_output_path(f"{request.layer_name}_preview", request.method, request.started)
        return dataclasses.replace(request, output_path=path)

    def _request(self, plan: Callable[[QgsRasterLayer], Any]) -> RunRequest:
        """The run the dock describes, reading the input as ``plan(layer)`` says, without its output paths."""
        labels = self.classes_panel.table.labels()
        layer = self.input_panel.layer()
        if layer is None:
            raise InputError(tr("Choose a raster layer."))
        method = self.method_panel.method()
        if not method:
            raise InputError(tr("No segmentation method is registered."))
        source = plan(layer)
        options = self.options_panel
        return RunRequest(
            layer_name=layer.name(),
            source=source,
            output_path=Path(),
            labels=labels,
            method=method,
            params=self.method_params(),
            weights=weights_choice(None),
            weights_dir=options.weights_dir_widget.filePath() or None,
            device=options.device_combo.currentText(),
            precision=options.precision_combo.currentText(),
            bands=self.input_panel.bands(),
            tile=options.tile_spin.value(),
            overlap=options.overlap_spin.value(),
            batch=options.batch_spin.value(),
            keep_models=options.keep_models_check.isChecked(),
        )

    def start_run(self) -> SegmentTask | None:
        """Start the background task for the current choices; returns it (None when nothing was started)."""
        return self._start(self.build_request, preview=False)

    def start_preview(self) -> SegmentTask | None:
        """Start a preview of the current choices on the visible map extent (None when nothing was started)."""
        return self._start(self.build_preview_request, preview=True)

    def toggle_preview(self) -> QgsRasterLayer | None:
        """Show the other of the last two previews; returns the one now shown."""
        return self.previews.toggle()

    def _start(self, build: Callable[[], RunRequest | None], preview: bool) -> SegmentTask | None:
        if self.task is not None or not self.validate():
            return None
        try:
            request = build()
        except OVSSError as exc:
            self.dialogs.notify(str(exc), Qgis.Warning)
            return None
        if request is None:
            return None
        save_settings(self.current_settings())
        self.weights_help.setVisible(False)
        task = SegmentTask(request, self.cache)
        self._connect_task(task, True)
        self.task = task
        self.task_is_preview = preview
        self.last_outcome = None
        self.run_panel.started()
        self._show_report_button()
        QgsApplication.taskManager().addTask(task)
        return task

    def cancel_run(self) -> None:
        """Ask the running task to stop after the current tile."""
        if self.task is not None:
            self.run_panel.progress_label.setText(tr("Cancelling\u2026"))
            self.task.cancel()

    def _connect_task(self, task: SegmentTask, connect: bool) -> None:
        """Connect the task's progress and outcome to the dock, or disconnect them (the dock is going away)."""
        for signal, slot in ((task.progressChanged, self._show_progress), (task.tiles_progress, self._show_tiles),
                             (task.completed, self._completed)):
            if connect:
                signal.connect(slot)
            else:
                signal.disconnect(slot)

    def _show_progress(self, value: float) -> None:
        self.run_panel.progress_bar.setValue(round(value))

    def _show_tiles(self, done: int, total: int, remaining: float) -> None:
        self.run_panel.progress_label.setText(tr("{done} of {total} tiles, {left} left").format(
            done=done, total=total, left=format_duration(None if remaining < 0 else remaining)))

    def _completed(self, outcome: RunOutcome) -> None:
        self.task = None
        self.last_outcome = outcome
        self.validate()
        self.run_panel.toggle_button.setEnabled(self.previews.can_toggle())
        if outcome.cancelled:
            self.run_panel.stopped(tr("Cancelled; nothing was written."), 0)
            return
        if outcome.missing_weights:
            self.run_panel.stopped(tr("Model weights missing."))
            self.show_missing_weights(outcome.error or "")
            return
        if outcome.error:
            self.run_panel.stopped(tr("Failed."))
            self.dialogs.notify(outcome.error, Qgis.Critical)
            return
        rows: Sequence[AreaRow] = ()
        if self._area_rows is not None:
            try:
                rows = self._area_rows(outcome)
            except OVSSError as exc:
                self.dialogs.notify(str(exc), Qgis.Warning)
        previous = self.previews.current
        try:
            layer = self.previews.add(outcome, rows) if self.task_is_preview else add_result_layer(outcome)
        except OVSSError as exc:
            self.run_panel.stopped(tr("Failed."))
            self.dialogs.notify(str(exc), Qgis.Critical)
            return
        result = outcome.result
        self.run_panel.stopped(tr("Done: {tiles} tiles in {time}.").format(
            tiles=result.tiles_total, time=format_duration(result.elapsed_s)))
        self.run_panel.toggle_button.setEnabled(self.previews.can_toggle())
        compare = self.task_is_preview and previous is not None and bool(rows)
        self.run_panel.show_areas(with_changes(rows, previous.rows) if compare else rows, compare)
        self._show_report_button()
        message = tr("Added \u201c{name}\u201d.").format(name=layer.name())
        if outcome.request.weights == "random":
            message += " " + tr("Random weights: not a real segmentation.")
        self.dialogs.notify(message, Qgis.Warning if outcome.request.weights == "random" else Qgis.Success)

    # areas and report --------------------------------------------------------------------------------

    def set_area_rows(self, area_rows: AreaRows | None) -> None:
        """After each successful run, show the area per class that ``area_rows(outcome)`` gives (None: none)."""
        self._area_rows = area_rows

    def set_report_writer(self, writer: ReportWriter | None) -> None:
        """"Save report" calls ``writer(outcome, path)`` for the last successful run (None: the button is off)."""
        self._report_writer = writer
        self._show_report_button()

    def _show_report_button(self) -> None:
        outcome = self.last_outcome
        self.run_panel.report_button.setEnabled(
            self._report_writer is not None and outcome is not None and outcome.ok and self.task is None)

    def save_report(self) -> Path | None:
        """Ask where, then write the last run's report there; returns the path (None when nothing was written)."""
        outcome = self.last_outcome
        if self._report_writer is None or outcome is None or not outcome.ok:
            return None
        name = f"{outcome.result.output_path.stem}-report.html"
        text = self.dialogs.ask_save_path(tr("Save report"), tr("HTML report (*.html)"), name)
        if not text:
            return None
        path = Path(text) if Path(text).suffix.lower() in (".html", ".htm") else Path(text).with_suffix(".html")
        try:
            self._report_writer(outcome, path)
        except OVSSError as exc:
            self.dialogs.notify(str(exc), Qgis.Warning)
            return None
        self.dialogs.notify(tr("Report saved to {path}.").format(path=path), Qgis.Success)
        return path

    # weights -----------------------------------------------------------------------------------------

    def show_missing_weights(self, message: str) -> None:
        """Say which checkpoint is missing and offer to download it or to choose the weights folder."""
        self.run_panel.progress_label.setText(tr("Model weights missing."))
        self.weights_help.show_message(message)
        self.dialogs.notify(message, Qgis.Warning)

    def download_items(self) -> list[DownloadItem]:
        """The current method's checkpoints that are not on disk, with where they would be saved."""
        from ..engine.methods.base import method_info
        from ..engine.weights.registry import get_checkpoint
        from ..engine.weights.store import default_cache_dir, find_local

        method = self.method_panel.method()
        if not method:
            return []
        weights_dir = self.options_panel.weights_dir_widget.filePath() or None
        folder = Path(weights_dir) if weights_dir else default_cache_dir()
        items = []
        for name in method_info(method).checkpoints:
            ckpt = get_checkpoint(name)
            if find_local(ckpt, weights_dir) is None:
                items.append(DownloadItem(ckpt, ckpt.url, folder / ckpt.filename))
        return items

    def offer_download(self) -> WeightsDownloadTask | None:
        """Ask for consent, then download the missing checkpoints in a cancellable task."""
        items = self.download_items()
        if not items:
            self.dialogs.notify(tr("Every checkpoint of this method is already on disk."), Qgis.Info)
            return None
        if self.download_task is not None or not self.dialogs.confirm(consent_text(items)):
            return None
        task = WeightsDownloadTask(items)
        task.completed.connect(self._download_done)
        self.download_task = task
        QgsApplication.taskManager().addTask(task)
        return task

    def _download_done(self, ok: bool, message: str) -> None:
        self.download_task = None
        if ok:
            self.weights_help.setVisible(False)
        self.dialogs.notify(message, Qgis.Success if ok else Qgis.Warning)

    def choose_weights_dir(self) -> None:
        """Pick the folder that holds the checkpoints."""
        widget = self.options_panel.weights_dir_widget
        folder = self.dialogs.ask_folder(tr("Weights folder"), widget.filePath())
        if folder:
            widget.setFilePath(folder)
            self.weights_help.setVisible(False)

    # teardown ----------------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Before the plugin unloads: stop tasks, free models, disconnect from QGIS, keep the settings."""
        if self.environment_panel is not None:
            self.environment_panel.shutdown()
        if not self.ready or self._shut_down:
            return
        self._shut_down = True
        if self.iface is not None:
            self.iface.currentLayerChanged.disconnect(self._follow_active_layer)
        if self.task is not None and not sip.isdeleted(self.task):
            self._connect_task(self.task, False)
        if self.download_task is not None and not sip.isdeleted(self.download_task):
            self.download_task.completed.disconnect(self._download_done)
        if self.warmup_task is not None and not sip.isdeleted(self.warmup_task):
            self.warmup_task.done.disconnect(self._engine_loaded)
        for task in (self.task, self.download_task, self.warmup_task):
            if task is not None and not sip.isdeleted(task):
                task.cancel()
                task.waitForFinished(SHUTDOWN_WAIT_MS)
        outcome = None if self.task is None or sip.isdeleted(self.task) else self.task.outcome
        if outcome is not None and outcome.ok:  # finished just before the cancel; its layer will never be added
            discard_outputs(outcome.result)
        self.task = self.download_task = self.warmup_task = None
        save_settings(self.current_settings())
        self.cache.clear()
