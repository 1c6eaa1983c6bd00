"""Imports the built-in method modules so that they register themselves."""
