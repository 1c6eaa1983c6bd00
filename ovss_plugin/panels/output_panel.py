"""The output panel: a temporary layer or a GeoTIFF file, the optional confidence raster and the optional class
polygons (a GeoPackage beside the classes); it decides a run's output paths, refusing one that is a file of the
input and asking before replacing a file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import QgsProject
from qgis.gui import QgsFileWidget
from qgis.PyQt.QtWidgets import QButtonGroup, QCheckBox, QGroupBox, QRadioButton, QWidget

from ...engine.analysis.products import Products
from ...engine.errors import InputError
from ...engine.raster.outputs import check_run_outputs
from ...engine.raster.reader import open_raster
from ..i18n import tr
from ..task import confidence_path_for, temporary_output_path
from .common import narrow_form
from .dialogs import Dialogs


class OutputPanel(QGroupBox):
    """Where the classes (and the confidence) are written."""

    def __init__(self, dialogs: Dialogs, parent: QWidget | None = None) -> None:
        super().__init__(tr("Output"), parent)
        self.dialogs = dialogs
        form = narrow_form(self)
        self.output_temporary = QRadioButton(tr("Temporary layer"), self)
        self.output_temporary.setObjectName("ovss_output_temporary")
        self.output_file = QRadioButton(tr("GeoTIFF file"), self)
        self.output_file.setObjectName("ovss_output_file")
        group = QButtonGroup(self)
        group.addButton(self.output_temporary)
        group.addButton(self.output_file)
        self.output_temporary.setChecked(True)
        form.addRow(self.output_temporary)
        form.addRow(self.output_file)
        self.output_path_widget = QgsFileWidget(self)
        self.output_path_widget.setObjectName("ovss_output_path")
        self.output_path_widget.setStorageMode(QgsFileWidget.SaveFile)
        self.output_path_widget.setFilter(tr("GeoTIFF (*.tif *.tiff)"))
        self.output_path_widget.setConfirmOverwrite(True)
        form.addRow(self.output_path_widget)
        self.output_file.toggled.connect(self.output_path_widget.setEnabled)
        self.output_path_widget.setEnabled(False)
        self.confidence_check = QCheckBox(tr("Also write a confidence raster"), self)
        self.confidence_check.setObjectName("ovss_confidence")
        form.addRow(self.confidence_check)
        self.polygons_check = QCheckBox(tr("Also write polygons (.gpkg)"), self)
        self.polygons_check.setObjectName("ovss_polygons")
        self.polygons_check.setToolTip(tr("One polygon per connected area of a class, with its class name and area "
                                          "in m\u00b2, styled like the classes; written beside them as .gpkg"))
        form.addRow(self.polygons_check)

    def output_paths(
        self, request_name: str, method: str, when: Any, input_path: str | None = None
    ) -> tuple[Path, Path | None, Path | None] | None:
        """The output, confidence and polygon paths of a run (the last two None when not asked for); None when the
        user declines to replace a file.

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
        vector = output.with_suffix(".gpkg") if self.polygons_check.isChecked() else None
        check_run_outputs([output, confidence], open_raster(input_path) if input_path else None)
        if vector is not None:
            Products(vector=vector).check(confidence, input_path)
        existing = [p for p in (output, confidence, vector) if p is not None and p.exists()]
        if existing:
            names = ", ".join(str(p) for p in existing)
            if not self.dialogs.confirm(tr("Replace {files}? Layers showing them are removed from the project.")
                                        .format(files=names)):
                return None
            project = QgsProject.instance()
            for layer in list(project.mapLayers().values()):
                if Path(layer.source().split("|")[0]) in existing:
                    project.removeMapLayer(layer.id())
        return output, confidence, vector
