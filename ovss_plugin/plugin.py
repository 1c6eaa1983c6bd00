"""The QGIS plugin object: a toolbar button and a Raster-menu entry that open the OVSS dock.

Nothing heavy is imported here; if the engine's packages are missing the dock explains what to install.
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsApplication, QgsProcessingProvider
from qgis.PyQt.QtCore import QCoreApplication, Qt
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction

from .dock import OVSSDock
from .i18n import install_translator, tr

ICON_PATH = Path(__file__).resolve().parent.parent / "resources" / "icon.svg"


class OVSSPlugin:
    """Owns the plugin's action and dock; ``unload`` removes everything ``initGui`` added."""

    def __init__(self, iface) -> None:  # noqa: ANN001 - QgisInterface
        self.iface = iface
        self.action: QAction | None = None
        self.dock: OVSSDock | None = None
        self.translator = install_translator()
        self.provider: QgsProcessingProvider | None = None

    def initProcessing(self) -> None:
        """Register the Processing provider ``ovss`` (QGIS calls this alone in ``qgis_process``)."""
        from .processing.provider import OVSSProvider

        if self.provider is None:
            self.provider = OVSSProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:
        """Create the action (toolbar and Raster menu) and the dock, hidden until asked for."""
        self.initProcessing()
        main_window = self.iface.mainWindow()
        self.action = QAction(QIcon(str(ICON_PATH)), tr("Open-vocabulary land cover"), main_window)
        self.action.setObjectName("ovss_open_dock")
        self.action.setCheckable(True)
        self.action.setToolTip(tr("Segment a raster into land-cover classes described in plain words"))
        self.action.toggled.connect(self._set_dock_visible)
        self.iface.addToolBarIcon(self.action)
        self.iface.addPluginToRasterMenu(tr("&OVSS Land Cover"), self.action)

        self.dock = OVSSDock(self.iface.mainWindow(), iface=self.iface)
        self.dock.setObjectName("ovss_dock")
        self.dock.visibilityChanged.connect(self.action.setChecked)
        self.iface.addDockWidget(Qt.RightDockWidgetArea, self.dock)
        self.dock.hide()

    def _set_dock_visible(self, visible: bool) -> None:
        if self.dock is not None:
            self.dock.setVisible(visible)

    def unload(self) -> None:
        """Remove the action, the menu entry and the dock; leave nothing behind."""
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
        if self.action is not None:
            self.iface.removePluginRasterMenu(tr("&OVSS Land Cover"), self.action)
            self.iface.removeToolBarIcon(self.action)
            self.action.toggled.disconnect(self._set_dock_visible)
            self.action.deleteLater()
            self.action = None
        if self.dock is not None:
            self.dock.shutdown()
            self.iface.removeDockWidget(self.dock)
            self.dock.close()
            self.dock.deleteLater()
            self.dock = None
        if self.translator is not None:
            QCoreApplication.removeTranslator(self.translator)
            self.translator = None
