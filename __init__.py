"""QGIS entry point of the OVSS plugin.

Only ``classFactory`` lives here and it imports the plugin class lazily: no heavy import happens when QGIS
scans its plugins, and a missing torch never prevents QGIS from starting.
"""


def classFactory(iface):  # noqa: ANN001, ANN201 - QGIS's entry-point signature
    """Return the plugin instance QGIS asks for."""
    from .ovss_plugin.plugin import OVSSPlugin

    return OVSSPlugin(iface)
