"""The environment's user-facing errors: one clear line each, shown as they are by the dock and Processing."""

from __future__ import annotations

from ...engine.errors import OVSSError


class SetupError(OVSSError):
    """The environment could not be set up; the message says why and what to do."""


class NoPythonError(SetupError):
    """No usable base Python interpreter (right version, with ``venv`` and ``ensurepip``) was found."""


class DiskSpaceError(SetupError):
    """Not enough free disk space for the environment."""


class PackageIndexError(SetupError):
    """The package index cannot be reached, does not offer a pinned package, or serves a damaged file."""


class UnhealthyEnvironmentError(SetupError):
    """An environment's Python cannot import the engine's packages or has other versions than the pins."""
