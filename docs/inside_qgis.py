"""What the screenshot scripts share inside QGIS (``qgis --code``): run their part so that a failure is printed
and ends QGIS, never leaving a QGIS window waiting under Xvfb; start the demo run from the dock."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any


def run_inside_qgis(part: Callable[[], None]) -> None:
    """Call ``part``; on any exception print it and quit QGIS with exit status 1 (once its event loop runs:
    ``--code`` scripts run before it starts, when ``exit`` alone would be ignored)."""
    try:
        part()
    except Exception:  # whatever it is, QGIS must quit
        from qgis.PyQt.QtCore import QTimer
        from qgis.PyQt.QtWidgets import QApplication

        traceback.print_exc()
        QTimer.singleShot(0, lambda: QApplication.instance().exit(1))


def open_dock(width: int) -> Any:
    """Size QGIS's main window for the screenshots, open the plugin's dock at ``width`` pixels; returns it."""
    from qgis.PyQt.QtCore import Qt
    from qgis.utils import iface, plugins

    window = iface.mainWindow()
    window.resize(1500, 900)
    plugin = plugins["ovss"]
    plugin.action.setChecked(True)
    window.resizeDocks([plugin.dock], [width], Qt.Horizontal)
    return plugin.dock


def start_demo_run(dock: Any, demo: str, preset: str = "builtin:loveda-gen", method: str = "segearth-ov") -> Any:
    """Load the demo raster, point the dock at it with ``preset``'s labels and ``method`` (2 x 2 tiles of 512
    over the 1000 x 1000 demo) and press Run; returns the input layer."""
    from qgis.core import QgsProject, QgsRasterLayer
    from qgis.utils import iface

    layer = QgsRasterLayer(demo, "oem_koeln_50", "gdal")
    QgsProject.instance().addMapLayer(layer)
    iface.setActiveLayer(layer)
    dock.input_panel.layer_combo.setLayer(layer)
    index = dock.classes_panel.preset_combo.findData(preset)
    dock.classes_panel.preset_combo.setCurrentIndex(index)
    dock.classes_panel.preset_combo.activated.emit(index)
    dock.method_panel.method_combo.setCurrentIndex(dock.method_panel.method_combo.findData(method))
    dock.options_panel.tile_spin.setValue(512)
    dock.options_panel.overlap_spin.setValue(24)
    dock.refresh_device()
    if dock.start_run() is None:
        raise RuntimeError("the dock did not start the run (see its status line)")
    return layer
