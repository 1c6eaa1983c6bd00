"""The engine's exception hierarchy.

Every error a user can cause derives from :class:`OVSSError`; its message is one clear line that can be
shown as it is (command line, QGIS message bar, Processing feedback). Programming errors stay ordinary
Python exceptions.
"""


class OVSSError(Exception):
    """Base class of every user-facing engine error."""


class InputError(OVSSError, ValueError):
    """Bad user input: options, files, parameters."""


class LabelError(InputError):
    """The label text or a preset is invalid (empty class, duplicate name, too few classes)."""


class RasterError(InputError):
    """A raster cannot be read or written as asked (missing, not a raster, bands out of range)."""


class WeightsError(OVSSError):
    """A checkpoint cannot be found, fetched, verified or loaded."""


class MissingWeightsError(WeightsError):
    """No local copy of a checkpoint and no way to download it."""


class ChecksumError(WeightsError):
    """A checkpoint's sha256 does not match the registry."""


class DownloadError(WeightsError):
    """A download failed (network, HTTP status, truncated body)."""


class DependencyError(OVSSError):
    """A Python package the engine needs is not installed."""


class CancelledError(OVSSError):
    """The user cancelled a run; nothing was written."""


class WorkerError(OVSSError):
    """The inference worker process failed: crashed or killed, out of memory, hung, answered garbage or
    speaks another protocol version. The next run starts a fresh worker."""


class ClusterError(OVSSError):
    """A Dask cluster run failed for a reason of the cluster (workers lost again and again)."""
