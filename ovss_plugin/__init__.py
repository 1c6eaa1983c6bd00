"""Everything that touches QGIS or Qt: plugin, dock, task, styling, settings, Processing provider."""
