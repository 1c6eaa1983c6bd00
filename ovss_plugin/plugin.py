"""The QGIS plugin object: a toolbar button and a Raster-menu entry that open the OVSS dock.

Nothing heavy is imported here; if the engine's packages are missing the dock explains what to install.

QGIS 3.22 crashes on quit when the application is ended without closing the project first (``QApplication.exit``,
as scripts and ``qgis --code`` do): ``~QgisApp`` deletes the layer-styling dock, then deleting the project
removes the layers in the order of their ids, and when removing the current layer makes another one current,
QGIS hands that layer to the deleted styling dock. A run makes its result the current layer beside the input
(and a confidence layer), so after a run this happens whenever the ids fall that way. The plugin clears the
current layer when the application is about to quit, so that nothing becomes current during the teardown.
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsApplication, QgsProcessingProvider
from qgis.PyQt.QtCore import QCoreApplication, Qt
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction

from . import engine_runtime
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
        QCoreApplication.instance().aboutToQuit.connect(self._before_quit)

    def _before_quit(self) -> None:
        """No current layer while QGIS tears down (see the module docstring)."""
        view = self.iface.layerTreeView()
        if view is not None:
            view.setCurrentLayer(None)

    def _set_dock_visible(self, visible: bool) -> None:
        if self.dock is not None:
            self.dock.setVisible(visible)

    def unload(self) -> None:
        """Remove the action, the menu entry and the dock; leave nothing behind."""
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
        if self.action is not None:
            QCoreApplication.instance().aboutToQuit.disconnect(self._before_quit)
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
        engine_runtime.stop_worker()
        if self.translator is not None:
            QCoreApplication.removeTranslator(self.translator)
            self.translator = None
