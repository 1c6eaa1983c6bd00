"""What the screenshot scripts share inside QGIS (``qgis --code``): run their part so that a failure is printed
and ends QGIS, never leaving a QGIS window waiting under Xvfb."""

from __future__ import annotations

import traceback
from collections.abc import Callable


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
