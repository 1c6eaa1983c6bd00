"""The inference worker: a separate process that runs the methods for QGIS (``python -m engine worker``).

:mod:`.protocol` frames the messages, :mod:`.server` runs in the worker's Python (with torch),
:mod:`.client` in QGIS's (standard library and numpy only).
"""
