"""Imported in the worker (``OVSS_WORKER_IMPORTS=worker_doubles``): the Processing tests' colour method in the
worker's ``engine``, and a method whose process dies in ``predict`` (a crash, as ``kill -9`` or the
out-of-memory killer would end it)."""

from __future__ import annotations

import os
import signal

from processing_doubles import TEST_METHOD, ColourConfig, ColourMethod

from engine.methods.base import register_method

CRASH_METHOD = "test-crash"

register_method(TEST_METHOD, "per-pixel colour distance (test double)", (), ColourConfig)(ColourMethod)


@register_method(CRASH_METHOD, "kills its own process in predict (test double)", (), ColourConfig)
class CrashingMethod(ColourMethod):
    name = CRASH_METHOD

    def predict(self, tile):
        os.kill(os.getpid(), signal.SIGKILL)
