"""The run report: a self-contained HTML page (checked as text and, when Chromium is installed, as the
picture a real browser draws) and the PNG quick-look."""

import base64
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread
from raster_fixtures import ColourMethod, labels, pattern, write_raster

from engine.analysis.report import write_quicklook, write_report
from engine.errors import InputError
from engine.pipeline import segment_raster

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from report_screenshot import find_browser, screenshot


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    src = write_raster(folder / "in.tif", pattern(120, 160))
    result = segment_raster(
        src, folder / "out.tif", ColourMethod(), labels(), tile=64, overlap=8, batch=1,
        confidence_path=folder / "conf.tif",
        metadata={"weights": "test", "params": {"k": 1}, "device": "CPU, 2 threads, fp32"},
    )
    return src, result


def report(run, path):
    src, result = run
    return write_report(
        result.output_path, path, input_path=src, confidence_path=result.confidence_path,
        timings={"elapsed": f"{result.elapsed_s:.2f} s"},
    )


def test_report_is_one_self_contained_page(run, tmp_path):
    page = report(run, tmp_path / "r.html").read_text()
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == 4  # input, result, bar chart, confidence histogram
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "href=" not in page and "http" not in page.replace("http://", "").replace("https://", "")
    _, result = run
    for row in result.areas.rows:
        assert f"<td>{row.name}</td><td>{row.pixels}</td><td>{row.hectares:.4f}</td>" in page
    assert "test-colours" in page and "k: 1" in page and "elapsed" in page
    assert "<th>device</th><td>CPU, 2 threads, fp32</td>" in page
    with pytest.raises(InputError, match=r"\.html"):
        write_report(result.output_path, tmp_path / "r.htm")


def colour_pixels(picture: np.ndarray, color) -> int:
    rgb = np.rint(picture[..., :3] * 255).astype(int)
    return int((np.abs(rgb - np.array(color)).max(axis=-1) <= 2).sum())


def test_quicklook_png_shows_the_classes_in_their_colours(run, tmp_path):
    src, result = run
    picture = imread(write_quicklook(result.output_path, tmp_path / "q.png", input_path=src))
    for color in labels().colors:
        assert colour_pixels(picture, color) > 100


@pytest.mark.skipif(find_browser() is None, reason="no Chromium installed (apt-get install chromium; see Makefile)")
def test_report_in_a_real_browser(run, tmp_path):
    picture = imread(screenshot(report(run, tmp_path / "r.html"), tmp_path / "shot.png"))
    assert picture.shape[0] > 1000 and picture.std() > 0.05  # a drawn page, not blank
    for color in labels().colors:  # legend swatches, quick-look and bars in every class colour
        assert colour_pixels(picture, color) > 200
