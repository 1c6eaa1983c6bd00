"""The QGIS Processing provider ``ovss`` and its algorithms (toolbox, batch, models, ``qgis_process``)."""
