"""Imports the built-in method modules so that they register themselves."""
from . import alignclip, sdci  # noqa: F401
