"""``python tests/engine/slow_segment.py ARGS``: the real ``segment`` command with a test method that takes
a while per tile, so a test can signal the process while it writes (see ``test_temporaries.py``)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parent)]

from raster_fixtures import ColourMethod  # noqa: E402

from engine.cli import main  # noqa: E402
from engine.methods.base import register_method  # noqa: E402

SLOW_METHOD = "slow-colours"
SECONDS_PER_TILE = 0.2


@register_method(SLOW_METHOD, "per-pixel colour distance, slowly (test double)")
class SlowColourMethod(ColourMethod):
    """The colour test double, sleeping before every tile."""

    name = SLOW_METHOD

    def predict(self, tile):
        time.sleep(SECONDS_PER_TILE)
        return super().predict(tile)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
