"""The dock's panels, one small widget class each: input, classes, method (with its parameters and the
processing options), output, run (progress, areas, report) and the missing-weights help. They hold the
controls and their own logic; :class:`~ovss_plugin.dock.OVSSDock` only wires them together and runs tasks."""
