"""Plugin test fixtures: a QGIS interface that records what a plugin adds and removes."""

from __future__ import annotations

import pytest
from local_index import (  # noqa: F401 - the environment tests' fixtures
    forwarding_proxy,
    pip_isolated,
    tiny_constraints,
    tiny_index,
    tiny_requirements,
)


class RecordingIface:
    """Wraps pytest-qgis's interface and records actions, menu entries and docks added and removed."""

    def __init__(self, iface) -> None:
        self._iface = iface
        self.toolbar_actions: list = []
        self.raster_menu: list[tuple[str, object]] = []
        self.docks: list = []

    def __getattr__(self, name: str):
        return getattr(self._iface, name)

    def addToolBarIcon(self, action) -> None:
        self.toolbar_actions.append(action)

    def removeToolBarIcon(self, action) -> None:
        self.toolbar_actions.remove(action)

    def addPluginToRasterMenu(self, name: str, action) -> None:
        self.raster_menu.append((name, action))

    def removePluginRasterMenu(self, name: str, action) -> None:
        self.raster_menu.remove((name, action))

    def addDockWidget(self, area, dock) -> None:
        self.docks.append(dock)
        self._iface.addDockWidget(area, dock)

    def removeDockWidget(self, dock) -> None:
        self.docks.remove(dock)
        self._iface.removeDockWidget(dock)


@pytest.fixture
def recording_iface(qgis_iface) -> RecordingIface:
    return RecordingIface(qgis_iface)
