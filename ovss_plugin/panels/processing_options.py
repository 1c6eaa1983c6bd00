"""The processing options, collapsed by default: tiling, batch size, precision, device, the weights folder
and whether models stay loaded between runs."""

from __future__ import annotations

from qgis.gui import QgsCollapsibleGroupBox, QgsFileWidget
from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import QCheckBox, QComboBox, QPushButton, QSpinBox, QWidget

from ..i18n import tr
from .common import narrow_form, shrinkable

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


class ProcessingOptions(QgsCollapsibleGroupBox):
    """How a run is computed. ``device_changed``: device or precision changed (the dock shows the device);
    ``free_models``: the models should be freed (the button, or keeping them was switched off)."""

    device_changed = pyqtSignal()
    free_models = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(tr("Processing"), parent)
        self.setObjectName("ovss_processing")
        self.setCollapsed(True)
        form = narrow_form(self)
        self.tile_spin = QSpinBox(self)
        self.tile_spin.setObjectName("ovss_tile")
        self.tile_spin.setRange(16, 8192)
        self.tile_spin.setSuffix(" px")
        self.tile_spin.setToolTip(tr("The raster is segmented in square tiles of this size."))
        form.addRow(tr("Tile size"), self.tile_spin)
        self.overlap_spin = QSpinBox(self)
        self.overlap_spin.setObjectName("ovss_overlap")
        self.overlap_spin.setRange(0, 4096)
        self.overlap_spin.setSuffix(" px")
        self.overlap_spin.setToolTip(tr("Neighbouring tiles overlap by this much, so no seams show."))
        form.addRow(tr("Tile overlap"), self.overlap_spin)
        self.batch_spin = QSpinBox(self)
        self.batch_spin.setObjectName("ovss_batch")
        self.batch_spin.setRange(0, 1024)
        self.batch_spin.setSpecialValueText(tr("automatic"))
        self.batch_spin.setToolTip(
            tr("Tiles per model call: larger batches keep a GPU busy; automatic takes as many as fit the free "
               "memory. The result does not change.")
        )
        form.addRow(tr("Batch size (tiles)"), self.batch_spin)
        self.precision_combo = shrinkable(QComboBox(self))
        self.precision_combo.setObjectName("ovss_precision")
        self.precision_combo.addItems(PRECISIONS)
        form.addRow(tr("Precision"), self.precision_combo)
        self.device_combo = shrinkable(QComboBox(self))
        self.device_combo.setObjectName("ovss_device_choice")
        self.device_combo.addItems(DEVICES)
        form.addRow(tr("Device"), self.device_combo)
        for combo in (self.precision_combo, self.device_combo):
            combo.currentIndexChanged.connect(lambda _index: self.device_changed.emit())
        self.weights_dir_widget = QgsFileWidget(self)
        self.weights_dir_widget.setObjectName("ovss_weights_dir")
        self.weights_dir_widget.setStorageMode(QgsFileWidget.GetDirectory)
        form.addRow(tr("Weights folder"), self.weights_dir_widget)
        self.keep_models_check = QCheckBox(tr("Keep models loaded between runs"), self)
        self.keep_models_check.setObjectName("ovss_keep_models")
        self.keep_models_check.toggled.connect(lambda keep: keep or self.free_models.emit())
        form.addRow(self.keep_models_check)
        free = QPushButton(tr("Free models"), self)
        free.setObjectName("ovss_free_models")
        free.clicked.connect(self.free_models)
        form.addRow(free)
