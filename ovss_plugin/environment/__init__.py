"""The plugin-managed Python environment: plan, create, install, check and diagnose it (no Qt, no QGIS).

QGIS's own Python is often not writable and must keep the numpy its GDAL was built against, so the engine's
pinned requirements go into a separate virtual environment made from a real interpreter of QGIS's Python
version (:mod:`.interpreter`), following a plan the user agrees to first (:mod:`.plan`), installed with pip
as a subprocess (:mod:`.installer`) and accepted only after a health check run in that environment
(:mod:`.health`). :mod:`.diagnostics` writes the report a user attaches to a bug. The QGIS side (dock panel,
Processing algorithm, settings) only calls into these modules.
"""
