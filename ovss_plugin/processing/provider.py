"""The Processing provider ``ovss``: segmentation, accuracy assessment and weight downloads."""

from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from ..i18n import tr
from .algorithms import ICON_PATH
from .download_weights import DownloadWeightsAlgorithm
from .evaluate import EvaluateAlgorithm
from .polygonize import PolygonizeAlgorithm
from .segment import SegmentAlgorithm
from .setup_environment import SetupEnvironmentAlgorithm


class OVSSProvider(QgsProcessingProvider):
    """Provider id ``ovss``: ``ovss:segment``, ``ovss:evaluate``, ``ovss:download_weights``,
    ``ovss:polygonize``, ``ovss:setup_environment``."""

    def id(self) -> str:
        """The stable prefix of the algorithm ids."""
        return "ovss"

    def name(self) -> str:
        """Name in the toolbox."""
        return tr("OVSS Land Cover")

    def longName(self) -> str:
        """Name with a hint of what it does."""
        return tr("OVSS open-vocabulary land cover")

    def icon(self) -> QIcon:
        """The plugin's icon."""
        return QIcon(str(ICON_PATH))

    def svgIconPath(self) -> str:
        """The icon's file, for the model designer."""
        return str(ICON_PATH)

    def supportedOutputRasterLayerExtensions(self) -> list[str]:
        """The engine writes GeoTIFF only."""
        return ["tif", "tiff"]

    def loadAlgorithms(self) -> None:
        """Add one instance of each algorithm."""
        for algorithm in (SegmentAlgorithm(), EvaluateAlgorithm(), DownloadWeightsAlgorithm(), PolygonizeAlgorithm(),
                          SetupEnvironmentAlgorithm()):
            self.addAlgorithm(algorithm)
