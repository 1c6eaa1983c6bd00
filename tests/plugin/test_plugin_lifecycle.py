"""The plugin loads in QGIS, unloads cleanly, and still loads when torch is missing."""

from __future__ import annotations

import importlib
import sys

import pytest
from qgis.PyQt import sip
from qgis.PyQt.QtCore import QCoreApplication, QEvent
from qgis.PyQt.QtWidgets import QDockWidget, QLabel


def flush_deletes() -> None:
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)
    QCoreApplication.processEvents()


def test_class_factory_init_and_unload_leave_nothing(recording_iface, qgis_iface):
    import ovss

    quitting = QCoreApplication.instance().receivers(QCoreApplication.instance().aboutToQuit)
    plugin = ovss.classFactory(recording_iface)
    plugin.initGui()
    assert QCoreApplication.instance().receivers(QCoreApplication.instance().aboutToQuit) == quitting + 1
    assert len(recording_iface.toolbar_actions) == 1
    assert [name for name, _ in recording_iface.raster_menu] == ["&OVSS Land Cover"]
    assert len(recording_iface.docks) == 1
    dock = recording_iface.docks[0]
    action = recording_iface.toolbar_actions[0]

    action.setChecked(True)
    assert dock.isVisibleTo(qgis_iface.mainWindow()) or not dock.isHidden()

    plugin.unload()
    flush_deletes()
    assert recording_iface.toolbar_actions == []
    assert recording_iface.raster_menu == []
    assert recording_iface.docks == []
    assert QCoreApplication.instance().receivers(QCoreApplication.instance().aboutToQuit) == quitting
    assert sip.isdeleted(dock)
    assert sip.isdeleted(action)
    docks = qgis_iface.mainWindow().findChildren(QDockWidget)
    assert [w for w in docks if w.objectName() == "ovss_dock"] == []


def test_reload_twice(recording_iface):
    import ovss

    for _ in range(2):
        plugin = ovss.classFactory(recording_iface)
        plugin.initGui()
        plugin.unload()
        flush_deletes()
    assert recording_iface.toolbar_actions == [] and recording_iface.docks == []


@pytest.fixture
def torch_missing(monkeypatch):
    """Make ``torch`` (and packages that need it) unimportable, as in a QGIS without them."""
    for name in list(sys.modules):
        if name.split(".")[0] in {"torch", "torchvision", "open_clip", "timm"}:
            monkeypatch.delitem(sys.modules, name)
    for name in ("torch", "torchvision", "open_clip", "timm"):
        monkeypatch.setitem(sys.modules, name, None)


def test_plugin_loads_without_torch_and_offers_its_own_environment(torch_missing, recording_iface):
    import ovss
    import ovss.ovss_plugin.dock as dock_module
    import ovss.ovss_plugin.plugin as plugin_module

    importlib.reload(dock_module)
    importlib.reload(plugin_module)
    with pytest.raises(ImportError):
        import torch  # noqa: F401

    plugin = ovss.classFactory(recording_iface)
    plugin.initGui()
    dock = recording_iface.docks[0]
    text = dock.findChild(QLabel, "ovss_status").text()
    assert "torch" in text and "open_clip_torch" in text and "timm" in text
    assert "own Python environment" in text and "pip install" not in text
    plan = dock.findChild(QLabel, "ovss_environment_plan").text()
    assert "Folder:" in plan and "GB of disk" in plan
    assert sys.modules["torch"] is None  # the plugin did not import torch behind our back
    plugin.unload()
    flush_deletes()


def test_ready_message_when_everything_is_installed(recording_iface):
    import ovss

    plugin = ovss.classFactory(recording_iface)
    plugin.initGui()
    assert recording_iface.docks[0].findChild(QLabel, "ovss_status").text() == "Ready."
    plugin.unload()
    flush_deletes()


def ovss_providers() -> list:
    from qgis.core import QgsApplication

    return [p for p in QgsApplication.processingRegistry().providers() if p.id() == "ovss"]


def test_processing_provider_follows_load_unload_reload(recording_iface):
    import ovss

    assert ovss_providers() == []
    for _ in range(2):
        plugin = ovss.classFactory(recording_iface)
        plugin.initGui()
        providers = ovss_providers()
        assert len(providers) == 1
        assert {a.id() for a in providers[0].algorithms()} >= {"ovss:segment", "ovss:evaluate", "ovss:download_weights"}
        plugin.unload()
        flush_deletes()
        assert ovss_providers() == []


def test_init_processing_alone_registers_the_provider_once():
    """What qgis_process does: no interface, no GUI, only initProcessing."""
    import ovss

    plugin = ovss.classFactory(None)
    plugin.initProcessing()
    plugin.initProcessing()
    assert len(ovss_providers()) == 1
    plugin.unload()
    assert ovss_providers() == []
