"""Headless Chromium screenshots of HTML run reports, and ``docs/screenshot-report.png``.

``find_browser`` and ``screenshot`` are used by the report test (a real browser draws the page);
``python tools/report_screenshot.py`` retakes the committed picture: the demo raster segmented by the test
suite's colour-distance method (a pipeline check: no model weights can be downloaded on the build machine),
with confidence, report and timings, as Chromium shows the report.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
OUTPUT = ROOT / "docs" / "screenshot-report.png"


def find_browser() -> str | None:
    """The first Chromium-like browser on PATH (Debian: ``apt-get install chromium``)."""
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def screenshot(page: Path, picture: Path, width: int = 1000, height: int = 1900) -> Path:
    """Draw ``page`` in headless Chromium and save the window as ``picture`` (PNG)."""
    browser = find_browser()
    if browser is None:
        raise RuntimeError("no Chromium found: apt-get install chromium")
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        f"--window-size={width},{height}", f"--screenshot={picture}", page.as_uri(),
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    return picture


def main() -> int:
    """Segment the demo raster with every product and screenshot its report into :data:`OUTPUT`."""
    sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "engine")]
    from raster_fixtures import TEST_METHOD  # registers the test method

    from engine.cli import main as engine_main

    work = Path(tempfile.mkdtemp(prefix="ovss-report-"))
    demo = ROOT / "engine" / "data" / "demo" / "oem_koeln_50.tif"
    code = engine_main([
        "segment", str(demo), str(work / "demo.tif"), "--method", TEST_METHOD,
        "--labels", "shadow #1b2631: shadow, asphalt; ground #c9a66b: soil, road; roofs #e74c3c: roofs",
        "--confidence", str(work / "confidence.tif"), "--report", str(work / "report.html"),
    ])
    if code:
        return code
    screenshot(work / "report.html", OUTPUT)
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
