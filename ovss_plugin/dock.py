"""The OVSS dock widget: input layer and bands, area, classes and presets, method and its parameters,
device, output, Run/Cancel with progress, and help for missing packages or weights.

It checks the engine's Python packages first: when some are missing it shows the
:class:`~.environment_panel.EnvironmentPanel` (set up the plugin's own Python environment) instead of the
controls. The dock only collects choices and shows
results: the work runs in a :class:`~.task.SegmentTask`, which never touches widgets.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsMapLayerProxyModel,
    QgsMessageLog,
    QgsMultiBandColorRenderer,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
)
from qgis.gui import (
    QgsCollapsibleGroupBox,
    QgsExtentWidget,
    QgsFileWidget,
    QgsMapLayerComboBox,
    QgsRasterBandComboBox,
)
from qgis.PyQt import sip
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..engine.dependencies import missing_requirements
from ..engine.errors import InputError, LabelError, OVSSError
from ..engine.labels import (
    Preset,
    list_presets,
    load_preset,
    load_presets_from,
    parse_labels,
    preset_params,
    preset_to_json,
    read_preset_file,
    save_user_preset,
)
from ..engine.methods.cache import ModelCache
from ..engine.models import weights_choice
from ..engine.progress import format_duration
from ..engine.raster.outputs import check_run_outputs
from ..engine.raster.reader import open_raster
from . import engine_runtime
from .classes_table import ClassesTable
from .environment_panel import EnvironmentPanel
from .heavy_imports import EngineWarmupTask, engine_packages_loaded
from .i18n import tr
from .layer_source import extent_in_layer_crs, plan_source
from .settings import DEFAULT_LABELS, DockSettings, load_settings, save_settings, user_presets_dir
from .task import (
    RESULT_PROPERTY,
    RunOutcome,
    RunRequest,
    SegmentTask,
    add_result_layer,
    confidence_path_for,
    discard_outputs,
    temporary_output_path,
)
from .weights_download import DownloadItem, WeightsDownloadTask, consent_text

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
USER_PRESET, BUILTIN_PRESET = "user", "builtin"
BUTTON_COLUMNS = 3  # button rows wrap after that many, so the dock fits a narrow dock area
MIN_COMBO_CHARS = 6  # lists may shrink to this many characters
SHUTDOWN_WAIT_MS = 30_000  # a run stops between tiles; wait that long for the current tile


def missing_packages_message() -> str | None:
    """A message naming the missing packages and pointing to the environment panel; None when all are there
    (or when the models run in a worker process of a configured Python)."""
    missing = missing_requirements()
    if not missing or engine_runtime.configured_python() is not None:
        return None
    names = ", ".join(req.pip_name for req in missing)
    return tr("QGIS's Python lacks packages this plugin needs: {names}. The plugin can install them into its "
              "own Python environment (below); QGIS's Python stays unchanged.").format(names=names)


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


def _param_widget(default: Any) -> QWidget:
    """An editor for one config field, chosen by the type of its default."""
    if isinstance(default, bool):
        return QCheckBox()
    if isinstance(default, int):
        widget = QSpinBox()
        widget.setRange(-1_000_000_000, 1_000_000_000)
        return widget
    if isinstance(default, float):
        widget = QDoubleSpinBox()
        widget.setDecimals(4)
        widget.setRange(-1e6, 1e6)
        widget.setSingleStep(0.01)
        return widget
    return QLineEdit()


def _set_param(widget: QWidget, value: Any) -> None:
    if isinstance(widget, QCheckBox):
        widget.setChecked(bool(value))
    elif isinstance(widget, QSpinBox | QDoubleSpinBox):
        widget.setValue(value)
    else:
        widget.setText(value if isinstance(value, str) else json.dumps(value))


def _get_param(widget: QWidget, default: Any) -> Any:
    if isinstance(widget, QCheckBox):
        return widget.isChecked()
    if isinstance(widget, QSpinBox | QDoubleSpinBox):
        return widget.value()
    text = widget.text()
    if isinstance(default, str) or (default is None and not text.strip()):
        return text if isinstance(default, str) else None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise InputError(tr("Parameter value {text!r} is not valid JSON.").format(text=text)) from None
    return tuple(value) if isinstance(default, tuple) and isinstance(value, list) else value


class OVSSDock(QDockWidget):
    """Dock with the segmentation controls, or the installation help when packages are missing."""

    def __init__(self, parent: QWidget | None = None, iface: Any = None) -> None:
        super().__init__(tr("Open-vocabulary land cover"), parent)
        self.iface = iface
        self.cache = ModelCache()
        self.task: SegmentTask | None = None
        self.download_task: WeightsDownloadTask | None = None
        self.warmup_task: EngineWarmupTask | None = None
        self._engine_problem = ""
        self.last_outcome: RunOutcome | None = None
        self.ready = False
        self._param_widgets: dict[str, tuple[QWidget, Any]] = {}
        self._device_shown = False
        self._shut_down = False
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)  # contents shrink to the dock's width
        body = QWidget(scroll)
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
            self._build_controls(body)
            self.ready = True
        else:
            self.environment_panel = EnvironmentPanel(body)
            self.environment_panel.environment_ready.connect(self._environment_ready)
            self.body_layout.addWidget(self.environment_panel)
        self.body_layout.addStretch(1)
        for combo in body.findChildren(QComboBox):
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(MIN_COMBO_CHARS)
        scroll.setWidget(body)
        self.setWidget(scroll)
        self.refresh_status()
        if self.ready:
            self.apply_settings(load_settings())
            if self.iface is not None:
                self.iface.currentLayerChanged.connect(self._follow_active_layer)

    # construction ------------------------------------------------------------------------------------

    def _build_controls(self, body: QWidget) -> None:
        layout = self.body_layout
        layout.addWidget(self._build_input(body))
        layout.addWidget(self._build_classes(body))
        layout.addWidget(self._build_method(body))
        layout.addWidget(self._build_output(body))
        layout.addWidget(self._build_weights_help(body))
        layout.addLayout(self._build_run(body))

    def _build_input(self, body: QWidget) -> QGroupBox:
        box = QGroupBox(tr("Input"), body)
        form = QFormLayout(box)
        self.layer_combo = QgsMapLayerComboBox(box)
        self.layer_combo.setObjectName("ovss_layer")
        self.layer_combo.setFilters(QgsMapLayerProxyModel.RasterLayer)
        self.layer_combo.layerChanged.connect(self._layer_changed)
        form.addRow(tr("Raster"), self.layer_combo)
        bands = QHBoxLayout()
        self.band_combos = []
        for colour in ("r", "g", "b"):
            combo = QgsRasterBandComboBox(box)
            combo.setObjectName(f"ovss_band_{colour}")
            combo.bandChanged.connect(lambda _band: self._show_band_mapping())
            self.band_combos.append(combo)
            bands.addWidget(combo)
        form.addRow(tr("Bands R, G, B"), bands)
        self.band_mapping_label = QLabel(box)
        self.band_mapping_label.setObjectName("ovss_band_mapping")
        self.band_mapping_label.setWordWrap(True)
        form.addRow(self.band_mapping_label)
        self.area_combo = QComboBox(box)
        self.area_combo.setObjectName("ovss_area")
        for label, mode in ((tr("Whole layer"), "layer"), (tr("Current map extent"), "canvas"),
                            (tr("Drawn or chosen extent"), "custom")):
            self.area_combo.addItem(label, mode)
        self.area_combo.currentIndexChanged.connect(self._area_changed)
        form.addRow(tr("Area"), self.area_combo)
        self.extent_widget = QgsExtentWidget(box)
        self.extent_widget.setObjectName("ovss_extent")
        if self.iface is not None:
            self.extent_widget.setMapCanvas(self.iface.mapCanvas())
        form.addRow(self.extent_widget)
        self.extent_widget.setVisible(False)
        self._layer_changed(self.layer_combo.currentLayer())
        return box

    def _build_classes(self, body: QWidget) -> QGroupBox:
        box = QGroupBox(tr("Classes"), body)
        column = QVBoxLayout(box)
        self.preset_combo = QComboBox(box)
        self.preset_combo.setObjectName("ovss_preset")
        self.preset_combo.activated.connect(self._preset_chosen)
        column.addWidget(self.preset_combo)
        presets = QGridLayout()
        for index, (name, text, slot) in enumerate((
            ("save", tr("Save"), self.save_preset),
            ("rename", tr("Rename"), self.rename_preset),
            ("delete", tr("Delete"), self.delete_preset),
            ("import", tr("Import"), self.import_preset),
            ("export", tr("Export"), self.export_preset),
        )):
            button = QPushButton(text, box)
            button.setObjectName(f"ovss_preset_{name}")
            button.clicked.connect(slot)
            presets.addWidget(button, *divmod(index, BUTTON_COLUMNS))
        column.addLayout(presets)
        self.table = ClassesTable(box)
        self.table.changed.connect(self.validate)
        column.addWidget(self.table)
        buttons = QGridLayout()
        for index, (name, text, slot) in enumerate((
            ("add", tr("Add"), self.table.add_class),
            ("remove", tr("Remove"), self.table.remove_selected),
            ("up", tr("Up"), lambda: self.table.move_selected(-1)),
            ("down", tr("Down"), lambda: self.table.move_selected(1)),
            ("paste", tr("Paste as text\u2026"), self.paste_labels),
        )):
            button = QPushButton(text, box)
            button.setObjectName(f"ovss_class_{name}")
            button.clicked.connect(slot)
            buttons.addWidget(button, *divmod(index, BUTTON_COLUMNS))
        column.addLayout(buttons)
        self.validation_label = QLabel(box)
        self.validation_label.setObjectName("ovss_validation")
        self.validation_label.setWordWrap(True)
        self.validation_label.setStyleSheet("color: #b00020;")
        column.addWidget(self.validation_label)
        self.refresh_presets()
        return box

    def _build_method(self, body: QWidget) -> QGroupBox:
        from ..engine.methods.base import available_methods

        box = QGroupBox(tr("Method"), body)
        column = QVBoxLayout(box)
        self.method_combo = QComboBox(box)
        self.method_combo.setObjectName("ovss_method")
        for name in available_methods():
            self.method_combo.addItem(name, name)
        self.method_combo.currentIndexChanged.connect(self._method_changed)
        column.addWidget(self.method_combo)
        self.method_description = QLabel(box)
        self.method_description.setObjectName("ovss_method_description")
        self.method_description.setWordWrap(True)
        column.addWidget(self.method_description)
        self.device_label = QLabel(box)
        self.device_label.setObjectName("ovss_device")
        self.device_label.setWordWrap(True)
        column.addWidget(self.device_label)

        advanced = QgsCollapsibleGroupBox(tr("Advanced"), box)
        advanced.setObjectName("ovss_advanced")
        advanced.setCollapsed(True)
        form = QFormLayout(advanced)
        self.params_form = QFormLayout()
        form.addRow(self.params_form)
        self.reset_params_button = QPushButton(tr("Reset parameters to the paper's defaults"), advanced)
        self.reset_params_button.setObjectName("ovss_reset_params")
        self.reset_params_button.clicked.connect(self.reset_params)
        form.addRow(self.reset_params_button)
        self.tile_spin = QSpinBox(advanced)
        self.tile_spin.setObjectName("ovss_tile")
        self.tile_spin.setRange(16, 8192)
        form.addRow(tr("Tile size (pixels)"), self.tile_spin)
        self.overlap_spin = QSpinBox(advanced)
        self.overlap_spin.setObjectName("ovss_overlap")
        self.overlap_spin.setRange(0, 4096)
        form.addRow(tr("Tile overlap (pixels)"), self.overlap_spin)
        self.batch_spin = QSpinBox(advanced)
        self.batch_spin.setObjectName("ovss_batch")
        self.batch_spin.setRange(0, 1024)
        self.batch_spin.setSpecialValueText(tr("automatic"))
        self.batch_spin.setToolTip(
            tr("Tiles per model call: larger batches keep a GPU busy; automatic takes as many as fit the free "
               "memory. The result does not change.")
        )
        form.addRow(tr("Batch size (tiles)"), self.batch_spin)
        self.precision_combo = QComboBox(advanced)
        self.precision_combo.setObjectName("ovss_precision")
        self.precision_combo.addItems(PRECISIONS)
        form.addRow(tr("Precision"), self.precision_combo)
        self.device_combo = QComboBox(advanced)
        self.device_combo.setObjectName("ovss_device_choice")
        self.device_combo.addItems(DEVICES)
        form.addRow(tr("Device"), self.device_combo)
        for combo in (self.precision_combo, self.device_combo):
            combo.currentIndexChanged.connect(lambda _index: self.refresh_device())
        self.weights_dir_widget = QgsFileWidget(advanced)
        self.weights_dir_widget.setObjectName("ovss_weights_dir")
        self.weights_dir_widget.setStorageMode(QgsFileWidget.GetDirectory)
        form.addRow(tr("Weights folder"), self.weights_dir_widget)
        models = QVBoxLayout()
        self.keep_models_check = QCheckBox(tr("Keep models loaded between runs"), advanced)
        self.keep_models_check.setObjectName("ovss_keep_models")
        self.keep_models_check.toggled.connect(lambda keep: keep or self.free_models())
        models.addWidget(self.keep_models_check)
        free = QPushButton(tr("Free models"), advanced)
        free.setObjectName("ovss_free_models")
        free.clicked.connect(self.free_models)
        models.addWidget(free)
        form.addRow(models)
        column.addWidget(advanced)
        return box

    def _build_output(self, body: QWidget) -> QGroupBox:
        box = QGroupBox(tr("Output"), body)
        form = QFormLayout(box)
        self.output_temporary = QRadioButton(tr("Temporary layer"), box)
        self.output_temporary.setObjectName("ovss_output_temporary")
        self.output_file = QRadioButton(tr("GeoTIFF file"), box)
        self.output_file.setObjectName("ovss_output_file")
        group = QButtonGroup(box)
        group.addButton(self.output_temporary)
        group.addButton(self.output_file)
        self.output_temporary.setChecked(True)
        form.addRow(self.output_temporary)
        self.output_path_widget = QgsFileWidget(box)
        self.output_path_widget.setObjectName("ovss_output_path")
        self.output_path_widget.setStorageMode(QgsFileWidget.SaveFile)
        self.output_path_widget.setFilter(tr("GeoTIFF (*.tif *.tiff)"))
        self.output_path_widget.setConfirmOverwrite(True)
        form.addRow(self.output_file, self.output_path_widget)
        self.output_file.toggled.connect(self.output_path_widget.setEnabled)
        self.output_path_widget.setEnabled(False)
        self.confidence_check = QCheckBox(tr("Also write a confidence raster"), box)
        self.confidence_check.setObjectName("ovss_confidence")
        form.addRow(self.confidence_check)
        return box

    def _build_weights_help(self, body: QWidget) -> QWidget:
        self.weights_help = QGroupBox(tr("Model weights missing"), body)
        self.weights_help.setObjectName("ovss_weights_help")
        column = QVBoxLayout(self.weights_help)
        self.weights_message = QLabel(self.weights_help)
        self.weights_message.setObjectName("ovss_weights_message")
        self.weights_message.setWordWrap(True)
        self.weights_message.setTextInteractionFlags(Qt.TextSelectableByMouse)
        column.addWidget(self.weights_message)
        row = QVBoxLayout()
        download = QPushButton(tr("Download\u2026"), self.weights_help)
        download.setObjectName("ovss_download_weights")
        download.clicked.connect(self.offer_download)
        row.addWidget(download)
        choose = QPushButton(tr("Choose weights folder\u2026"), self.weights_help)
        choose.setObjectName("ovss_choose_weights_dir")
        choose.clicked.connect(self.choose_weights_dir)
        row.addWidget(choose)
        column.addLayout(row)
        self.weights_help.setVisible(False)
        return self.weights_help

    def _build_run(self, body: QWidget) -> QVBoxLayout:
        column = QVBoxLayout()
        row = QHBoxLayout()
        self.run_button = QPushButton(tr("Run"), body)
        self.run_button.setObjectName("ovss_run")
        self.run_button.clicked.connect(self.start_run)
        row.addWidget(self.run_button)
        self.cancel_button = QPushButton(tr("Cancel"), body)
        self.cancel_button.setObjectName("ovss_cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_run)
        row.addWidget(self.cancel_button)
        column.addLayout(row)
        self.progress_bar = QProgressBar(body)
        self.progress_bar.setObjectName("ovss_progress")
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setValue(0)
        column.addWidget(self.progress_bar)
        self.progress_label = QLabel(body)
        self.progress_label.setObjectName("ovss_progress_text")
        column.addWidget(self.progress_label)
        return column

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
        if engine_runtime.run_mode() == engine_runtime.WORKER:  # torch is in the worker's Python, not here
            self.device_label.setText(engine_runtime.worker_status())
            return
        if self._engine_problem:
            self.device_label.setText(tr("Device: {problem}").format(problem=self._engine_problem))
            return
        if not engine_packages_loaded():
            self.device_label.setText(tr("Runs on: finding the device\u2026"))
            self._warm_up()
            return
        from ..engine.device import resolve_runtime

        try:
            text = tr("Runs on: {device}").format(device=resolve_runtime(
                self.device_combo.currentText(), self.precision_combo.currentText()).describe())
        except InputError as exc:
            text = tr("Device: {problem}").format(problem=exc)
        self.device_label.setText(text)

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

    # input -------------------------------------------------------------------------------------------

    def _follow_active_layer(self, layer: Any) -> None:
        """Use the layer the user selects as input (not the results this plugin adds)."""
        if isinstance(layer, QgsRasterLayer) and self.task is None and not layer.customProperty(RESULT_PROPERTY):
            self.layer_combo.setLayer(layer)

    def _layer_changed(self, layer: Any) -> None:
        layer = layer if isinstance(layer, QgsRasterLayer) else None
        for combo, band in zip(self.band_combos, default_bands(layer), strict=True):
            combo.setLayer(layer)
            combo.setBand(band)
        self._show_band_mapping()
        self.validate()

    def _show_band_mapping(self) -> None:
        """Say which bands feed R, G and B, and when the layer has fewer than three bands, that it has."""
        layer = self.layer_combo.currentLayer()
        if not isinstance(layer, QgsRasterLayer):
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
        self.extent_widget.setVisible(self.area_combo.currentData() == "custom")
        if self.area_combo.currentData() == "custom":
            layer = self.layer_combo.currentLayer()
            if layer is not None and self.extent_widget.outputExtent().isEmpty():
                self.extent_widget.setOutputExtentFromLayer(layer)

    def bands(self) -> tuple[int, int, int]:
        """The chosen bands feeding R, G, B."""
        return tuple(combo.currentBand() for combo in self.band_combos)

    def area_extent(self, layer: QgsRasterLayer) -> QgsRectangle | None:
        """The chosen area in the layer's CRS (None: the whole layer)."""
        mode = self.area_combo.currentData()
        project = QgsProject.instance()
        if mode == "canvas" and self.iface is not None:
            canvas = self.iface.mapCanvas()
            return extent_in_layer_crs(layer, canvas.extent(), canvas.mapSettings().destinationCrs(), project)
        if mode == "custom":
            extent = self.extent_widget.outputExtent()
            if extent.isEmpty():
                raise InputError(tr("Draw or choose an extent first."))
            return extent_in_layer_crs(layer, extent, self.extent_widget.outputCrs(), project)
        return None

    # classes and presets -----------------------------------------------------------------------------

    def validate(self) -> bool:
        """Check the classes and the input; explain what is wrong and enable Run only when all is right."""
        if not self.ready:
            return False
        problem = None
        try:
            self.table.labels()
        except LabelError as exc:
            problem = str(exc)
        if problem is None and self.layer_combo.currentLayer() is None:
            problem = tr("Choose a raster layer.")
        if problem is None and self.method_combo.count() == 0:
            problem = tr("No segmentation method is registered.")
        self.validation_label.setText(problem or "")
        self.run_button.setEnabled(problem is None and self.task is None)
        return problem is None

    def refresh_presets(self, select: str | None = None) -> None:
        """Fill the preset list: built-in presets, then the user's own (``select``: ``kind:name`` to choose)."""
        self.preset_combo.clear()
        self.preset_combo.addItem(tr("\u2014 choose a preset \u2014"), None)
        for name in list_presets():
            self.preset_combo.addItem(name, f"{BUILTIN_PRESET}:{name}")
        try:
            mine = load_presets_from(user_presets_dir())
        except LabelError as exc:
            self._notify(str(exc), Qgis.Warning)
            mine = []
        for preset in mine:
            self.preset_combo.addItem(tr("{name} (mine)").format(name=preset.name), f"{USER_PRESET}:{preset.name}")
        index = self.preset_combo.findData(select) if select else 0
        self.preset_combo.setCurrentIndex(max(index, 0))

    def current_preset(self) -> Preset | None:
        """The preset chosen in the list, or None."""
        data = self.preset_combo.currentData()
        if not data:
            return None
        kind, _, name = data.partition(":")
        return load_preset(name, user_presets_dir() if kind == USER_PRESET else None)

    def _preset_chosen(self, _index: int) -> None:
        try:
            preset = self.current_preset()
        except LabelError as exc:
            self._notify(str(exc), Qgis.Warning)
            return
        if preset is not None:
            self.table.set_labels(preset.labels)
            self.reset_params()

    def paste_labels(self) -> None:
        """Replace the classes with ones typed or pasted in the label syntax.

        Empty text empties the table (validation then says why Run is off); text that does not parse leaves the
        table as it was and says what is wrong in the message bar, so the dock always shows the table's state.
        """
        current = ""
        try:
            current = self.table.labels().to_text("\n")
        except LabelError:
            current = ""
        text = self._ask_text(tr("Classes as text"), tr("One class per line or separated by ';', prompts by ',', "
                                                        "an optional 'Name:' prefix:"), current, multiline=True)
        if text is None:
            return
        if not text.strip():
            self.table.set_rows([])
            return
        try:
            self.table.set_labels(parse_labels(text))
        except LabelError as exc:
            self._notify(str(exc), Qgis.Warning)

    def _user_preset_name(self) -> str | None:
        kind, _, name = (self.preset_combo.currentData() or "").partition(":")
        if kind != USER_PRESET:
            self._notify(tr("Choose one of your own presets first."), Qgis.Info)
            return None
        return name

    def save_preset(self) -> None:
        """Save the classes and the method's parameters as a user preset."""
        try:
            labels = self.table.labels()
            params = self.method_params()
        except (LabelError, InputError) as exc:
            self._notify(str(exc), Qgis.Warning)
            return
        name = self._ask_text(tr("Save preset"), tr("Preset name:"), "")
        if not name:
            return
        method = self.method_combo.currentData()
        preset = Preset(name.strip(), "custom", "custom", tr("Saved from the OVSS dock"), labels,
                        {method: params} if method and params else {})
        try:
            save_user_preset(preset, user_presets_dir())
        except LabelError as exc:
            self._notify(str(exc), Qgis.Warning)
            return
        self.refresh_presets(f"{USER_PRESET}:{preset.name}")

    def rename_preset(self) -> None:
        """Give the chosen user preset a new name."""
        old = self._user_preset_name()
        if old is None:
            return
        new = self._ask_text(tr("Rename preset"), tr("New name:"), old)
        if not new or new.strip() == old:
            return
        folder = user_presets_dir()
        try:
            preset = load_preset(old, folder)
            save_user_preset(dataclasses.replace(preset, name=new.strip()), folder)
        except LabelError as exc:
            self._notify(str(exc), Qgis.Warning)
            return
        (folder / f"{old}.json").unlink(missing_ok=True)
        self.refresh_presets(f"{USER_PRESET}:{new.strip()}")

    def delete_preset(self) -> None:
        """Delete the chosen user preset after asking."""
        name = self._user_preset_name()
        if name is None or not self._confirm(tr("Delete the preset \u201c{name}\u201d?").format(name=name)):
            return
        (user_presets_dir() / f"{name}.json").unlink(missing_ok=True)
        self.refresh_presets()

    def import_preset(self) -> None:
        """Copy a preset JSON file into the user's presets."""
        path = self._ask_open_path(tr("Import preset"), tr("Presets (*.json)"))
        if not path:
            return
        try:
            preset = read_preset_file(path)
            save_user_preset(preset, user_presets_dir())
        except LabelError as exc:
            self._notify(str(exc), Qgis.Warning)
            return
        self.refresh_presets(f"{USER_PRESET}:{preset.name}")

    def export_preset(self) -> None:
        """Write the chosen preset (or the classes in the table) to a JSON file."""
        try:
            preset = self.current_preset() or Preset("my-classes", "custom", "custom", "", self.table.labels())
        except LabelError as exc:
            self._notify(str(exc), Qgis.Warning)
            return
        path = self._ask_save_path(tr("Export preset"), tr("Presets (*.json)"), f"{preset.name}.json")
        if not path:
            return
        Path(path).write_text(preset_to_json(preset), encoding="utf-8")

    # method and parameters ---------------------------------------------------------------------------

    def _method_changed(self, _index: int) -> None:
        from ..engine.methods.base import method_info

        name = self.method_combo.currentData()
        while self.params_form.rowCount():
            self.params_form.removeRow(0)
        self._param_widgets = {}
        if not name:
            self.method_description.setText("")
            return
        info = method_info(name)
        self.method_description.setText(info.description)
        config = info.config_class
        if config is not None and dataclasses.is_dataclass(config):
            for item in dataclasses.fields(config):
                default = item.default
                if default is dataclasses.MISSING and item.default_factory is not dataclasses.MISSING:
                    default = item.default_factory()
                if default is dataclasses.MISSING:
                    continue
                widget = _param_widget(default)
                widget.setObjectName(f"ovss_param_{item.name}")
                self.params_form.addRow(item.name.replace("_", " "), widget)
                self._param_widgets[item.name] = (widget, default)
        self.reset_params()
        self.validate()

    def preset_defaults(self) -> dict[str, Any]:
        """The parameter values the chosen preset sets for the current method."""
        try:
            preset = self.current_preset()
        except LabelError:
            return {}
        method = self.method_combo.currentData()
        return preset_params(preset, method) if preset is not None and method else {}

    def reset_params(self) -> None:
        """Set every parameter to the paper's default (or the chosen preset's value for this dataset)."""
        values = {name: default for name, (_widget, default) in self._param_widgets.items()}
        values.update({k: v for k, v in self.preset_defaults().items() if k in values})
        self.set_method_params(values)

    def set_method_params(self, values: dict[str, Any]) -> None:
        """Show ``values`` in the parameter editors (unknown names are ignored)."""
        for name, value in values.items():
            if name in self._param_widgets:
                _set_param(self._param_widgets[name][0], value)

    def method_params(self) -> dict[str, Any]:
        """The parameters that differ from the method's defaults."""
        params = {}
        for name, (widget, default) in self._param_widgets.items():
            value = _get_param(widget, default)
            if value != default:
                params[name] = value
        return params

    def free_models(self) -> None:
        """Drop the loaded models (memory back to the system), here and in the worker."""
        self.cache.clear()
        engine_runtime.free_models()

    # settings ----------------------------------------------------------------------------------------

    def current_settings(self) -> DockSettings:
        """The dock's state as settings."""
        try:
            labels_text = self.table.labels().to_text()
        except LabelError:
            labels_text = load_settings().labels_text
        method = self.method_combo.currentData() or ""
        settings = DockSettings(
            labels_text=labels_text,
            preset=self.preset_combo.currentData() or "",
            method=method,
            area=self.area_combo.currentData(),
            tile=self.tile_spin.value(),
            overlap=self.overlap_spin.value(),
            batch=self.batch_spin.value(),
            precision=self.precision_combo.currentText(),
            device=self.device_combo.currentText(),
            output_mode="file" if self.output_file.isChecked() else "temporary",
            output_path=self.output_path_widget.filePath(),
            confidence=self.confidence_check.isChecked(),
            keep_models=self.keep_models_check.isChecked(),
            weights_dir=self.weights_dir_widget.filePath(),
        )
        try:
            params = self.method_params()
        except InputError:
            params = {}
        return settings.with_params(method, params) if method else settings

    def apply_settings(self, settings: DockSettings) -> None:
        """Show ``settings`` in the controls."""
        try:
            self.table.set_labels(parse_labels(settings.labels_text))
        except LabelError:
            self.table.set_labels(parse_labels(DEFAULT_LABELS))
        self.preset_combo.setCurrentIndex(max(self.preset_combo.findData(settings.preset), 0))
        self.area_combo.setCurrentIndex(max(self.area_combo.findData(settings.area), 0))
        self.tile_spin.setValue(settings.tile)
        self.overlap_spin.setValue(settings.overlap)
        self.batch_spin.setValue(settings.batch)
        self.precision_combo.setCurrentText(settings.precision)
        self.device_combo.setCurrentText(settings.device)
        (self.output_file if settings.output_mode == "file" else self.output_temporary).setChecked(True)
        self.output_path_widget.setFilePath(settings.output_path)
        self.confidence_check.setChecked(settings.confidence)
        self.keep_models_check.setChecked(settings.keep_models)
        self.weights_dir_widget.setFilePath(settings.weights_dir)
        index = self.method_combo.findData(settings.method)
        if index >= 0:
            self.method_combo.setCurrentIndex(index)
        self._method_changed(self.method_combo.currentIndex())
        if settings.method and settings.method == self.method_combo.currentData():
            self.set_method_params(settings.params_for(settings.method))
        self.validate()

    # run ---------------------------------------------------------------------------------------------

    def output_paths(
        self, request_name: str, method: str, when: Any, input_path: str | None = None
    ) -> tuple[Path, Path | None] | None:
        """The output (and confidence) paths of a run; None when the user declines to replace a file.

        :class:`OVSSError` when an output would replace a file of the input (``input_path``) or of the other
        output: checked before the user is asked to replace anything and layers are removed.
        """
        if self.output_file.isChecked():
            text = self.output_path_widget.filePath().strip()
            if not text:
                raise InputError(tr("Choose the output GeoTIFF file, or a temporary layer."))
            output = Path(text)
            if output.suffix.lower() not in (".tif", ".tiff"):
                output = output.with_suffix(".tif")
        else:
            output = temporary_output_path(request_name, method, when)
        confidence = confidence_path_for(output) if self.confidence_check.isChecked() else None
        check_run_outputs([output, confidence], open_raster(input_path) if input_path else None)
        existing = [p for p in (output, confidence) if p is not None and p.exists()]
        if existing:
            names = ", ".join(str(p) for p in existing)
            if not self._confirm(tr("Replace {files}? Layers showing them are removed from the project.")
                                 .format(files=names)):
                return None
            project = QgsProject.instance()
            for layer in list(project.mapLayers().values()):
                if Path(layer.source().split("|")[0]) in existing:
                    project.removeMapLayer(layer.id())
        return output, confidence

    def build_request(self) -> RunRequest | None:
        """The run the dock describes now; None when the user declined to replace a file.

        Raises :class:`OVSSError` (one line) for anything that is not right.
        """
        labels = self.table.labels()
        layer = self.layer_combo.currentLayer()
        if not isinstance(layer, QgsRasterLayer):
            raise InputError(tr("Choose a raster layer."))
        method = self.method_combo.currentData()
        if not method:
            raise InputError(tr("No segmentation method is registered."))
        source = plan_source(layer, self.area_extent(layer))
        request = RunRequest(
            layer_name=layer.name(),
            source=source,
            output_path=Path(),
            labels=labels,
            method=method,
            params=self.method_params(),
            weights=weights_choice(None),
            weights_dir=self.weights_dir_widget.filePath() or None,
            device=self.device_combo.currentText(),
            precision=self.precision_combo.currentText(),
            bands=self.bands(),
            tile=self.tile_spin.value(),
            overlap=self.overlap_spin.value(),
            batch=self.batch_spin.value(),
            keep_models=self.keep_models_check.isChecked(),
        )
        paths = self.output_paths(layer.name(), method, request.started, source.path)
        if paths is None:
            return None
        return dataclasses.replace(request, output_path=paths[0], confidence_path=paths[1])

    def start_run(self) -> SegmentTask | None:
        """Start the background task for the current choices; returns it (None when nothing was started)."""
        if self.task is not None or not self.validate():
            return None
        try:
            request = self.build_request()
        except OVSSError as exc:
            self._notify(str(exc), Qgis.Warning)
            return None
        if request is None:
            return None
        save_settings(self.current_settings())
        self.weights_help.setVisible(False)
        task = SegmentTask(request, self.cache)
        self._connect_task(task, True)
        self.task = task
        self.progress_bar.setValue(0)
        self.progress_label.setText(tr("Starting\u2026"))
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        QgsApplication.taskManager().addTask(task)
        return task

    def cancel_run(self) -> None:
        """Ask the running task to stop after the current tile."""
        if self.task is not None:
            self.progress_label.setText(tr("Cancelling\u2026"))
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
        self.progress_bar.setValue(round(value))

    def _show_tiles(self, done: int, total: int, remaining: float) -> None:
        self.progress_label.setText(tr("{done} of {total} tiles, {left} left").format(
            done=done, total=total, left=format_duration(None if remaining < 0 else remaining)))

    def _completed(self, outcome: RunOutcome) -> None:
        self.task = None
        self.last_outcome = outcome
        self.cancel_button.setEnabled(False)
        self.validate()
        if outcome.cancelled:
            self.progress_bar.setValue(0)
            self.progress_label.setText(tr("Cancelled; nothing was written."))
            return
        if outcome.missing_weights:
            self.show_missing_weights(outcome.error or "")
            return
        if outcome.error:
            self.progress_label.setText(tr("Failed."))
            self._notify(outcome.error, Qgis.Critical)
            return
        try:
            layer = add_result_layer(outcome)
        except OVSSError as exc:
            self._notify(str(exc), Qgis.Critical)
            return
        result = outcome.result
        self.progress_label.setText(tr("Done: {tiles} tiles in {time}.").format(
            tiles=result.tiles_total, time=format_duration(result.elapsed_s)))
        message = tr("Added \u201c{name}\u201d.").format(name=layer.name())
        if outcome.request.weights == "random":
            message += " " + tr("Random weights: not a real segmentation.")
        self._notify(message, Qgis.Warning if outcome.request.weights == "random" else Qgis.Success)

    # weights -----------------------------------------------------------------------------------------

    def show_missing_weights(self, message: str) -> None:
        """Say which checkpoint is missing and offer to download it or to choose the weights folder."""
        self.progress_label.setText(tr("Model weights missing."))
        self.weights_message.setText(message)
        self.weights_help.setVisible(True)
        self._notify(message, Qgis.Warning)

    def download_items(self) -> list[DownloadItem]:
        """The current method's checkpoints that are not on disk, with where they would be saved."""
        from ..engine.methods.base import method_info
        from ..engine.weights.registry import get_checkpoint
        from ..engine.weights.store import default_cache_dir, find_local

        method = self.method_combo.currentData()
        if not method:
            return []
        weights_dir = self.weights_dir_widget.filePath() or None
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
            self._notify(tr("Every checkpoint of this method is already on disk."), Qgis.Info)
            return None
        if self.download_task is not None or not self._confirm(consent_text(items)):
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
        self._notify(message, Qgis.Success if ok else Qgis.Warning)

    def choose_weights_dir(self) -> None:
        """Pick the folder that holds the checkpoints."""
        folder = QFileDialog.getExistingDirectory(self, tr("Weights folder"), self.weights_dir_widget.filePath())
        if folder:
            self.weights_dir_widget.setFilePath(folder)
            self.weights_help.setVisible(False)

    # dialogs and messages (tests replace these) ------------------------------------------------------

    def _ask_text(self, title: str, label: str, text: str, multiline: bool = False) -> str | None:
        if multiline:
            value, ok = QInputDialog.getMultiLineText(self, title, label, text)
        else:
            value, ok = QInputDialog.getText(self, title, label, QLineEdit.Normal, text)
        return value if ok else None

    def _ask_open_path(self, title: str, file_filter: str) -> str | None:
        path, _ = QFileDialog.getOpenFileName(self, title, "", file_filter)
        return path or None

    def _ask_save_path(self, title: str, file_filter: str, name: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self, title, name, file_filter)
        return path or None

    def _confirm(self, question: str) -> bool:
        answer = QMessageBox.question(self, tr("Open-vocabulary land cover"), question)
        return answer == QMessageBox.Yes

    def _notify(self, message: str, level: Qgis.MessageLevel) -> None:
        """One line in the message bar (when there is an interface) and in the QGIS log."""
        QgsMessageLog.logMessage(message, "OVSS", level)
        if self.iface is not None:
            self.iface.messageBar().pushMessage(tr("Land cover"), message, level, 8)

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
