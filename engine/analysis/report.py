"""A run report: one self-contained HTML page (images inline as data URIs) and a PNG quick-look.

Everything is read back from the files a run wrote, so a report can be made for any classified output:
quick-looks of the input and the result at a few hundred pixels (GDAL decimated reads, which use the
overviews when the raster has them), the legend (the output's colour table and class names), the area table
(:mod:`.areas`, from the output's metadata or given) and a bar chart in the class colours, the histogram of
the confidence raster when there is one, and the run's method, labels, parameters, weights, device and engine
version (its ``OVSS_*`` metadata) with the caller's timings. Pictures are drawn with matplotlib (Agg).
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from .areas import AreaTable, ClassArea, raster_areas, read_areas

if TYPE_CHECKING:
    import numpy as np

QUICKLOOK_PIXELS = 400  # longest side of a quick-look
RUN_ITEMS = (  # metadata items shown in the report, in this order, with their captions
    ("OVSS_METHOD", "method"),
    ("OVSS_LABELS", "labels"),
    ("OVSS_PARAMS", "method parameters"),
    ("OVSS_SETTINGS", "run settings"),
    ("OVSS_WEIGHTS", "weights"),
    ("OVSS_WEIGHTS_SOURCE", "weights source"),
    ("OVSS_UPSAMPLER", "upsampler"),
    ("OVSS_DEVICE", "device"),
    ("OVSS_SEED", "seed"),
    ("OVSS_ENGINE_VERSION", "engine version"),
    ("OVSS_METHOD_WARNING", "method warning"),
    ("OVSS_WARNING", "warning"),
)


def check_report_path(path: str | os.PathLike[str], suffix: str) -> Path:
    """An absolute report path ending in ``suffix`` (``.html`` or ``.png``) in a writable folder."""
    from ..raster.writer import check_output_path

    target = check_output_path(path)
    if target.suffix.lower() != suffix:
        raise InputError(f"the report must be named {suffix}, got {target.name}")
    return target


def _size(width: int, height: int, longest: int) -> tuple[int, int]:
    """A size of at most ``longest`` pixels on its longest side, with the raster's aspect."""
    scale = min(1.0, longest / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def input_quicklook(
    path: str | os.PathLike[str], bands: Sequence[int] = (1, 2, 3), longest: int = QUICKLOOK_PIXELS
) -> np.ndarray:
    """RGB Byte ``(h, w, 3)`` of the input at most ``longest`` pixels wide or high, 2-98 % stretched per band."""
    import numpy as np

    from ..raster.reader import open_raster

    dataset = open_raster(path)
    width, height = _size(dataset.RasterXSize, dataset.RasterYSize, longest)
    chosen = [b if b <= dataset.RasterCount else 1 for b in bands]
    planes = []
    for number in chosen:
        band = dataset.GetRasterBand(number)
        data = band.ReadAsArray(buf_xsize=width, buf_ysize=height).astype(np.float64)
        nodata = band.GetNoDataValue()
        valid = data != nodata if nodata is not None else np.ones(data.shape, bool)
        low, high = np.percentile(data[valid], (2, 98)) if valid.any() else (0.0, 1.0)
        planes.append(np.clip((data - low) / max(high - low, 1e-9) * 255, 0, 255))
    return np.dstack(planes).astype(np.uint8)


def class_quicklook(path: str | os.PathLike[str], longest: int = QUICKLOOK_PIXELS) -> np.ndarray:
    """RGBA Byte ``(h, w, 4)`` of a classified raster in its colour table (nodata transparent)."""
    import numpy as np

    from ..raster.reader import open_raster
    from ..raster.writer import read_class_table

    _, colors = read_class_table(path)
    dataset = open_raster(path)
    width, height = _size(dataset.RasterXSize, dataset.RasterYSize, longest)
    classes = dataset.GetRasterBand(1).ReadAsArray(buf_xsize=width, buf_ysize=height)
    palette = np.zeros((256, 4), dtype=np.uint8)
    for value, color in enumerate(colors, start=1):
        palette[value] = (*color, 255)
    return palette[classes]


def confidence_histogram(path: str | os.PathLike[str]) -> list[int]:
    """Pixels per confidence 1..100 % of the whole raster (GDAL's exact histogram; 0 = nodata left out)."""
    from ..raster.reader import open_raster

    dataset = open_raster(path)  # kept open while its band is used
    counts = dataset.GetRasterBand(1).GetHistogram(0.5, 100.5, buckets=100, include_out_of_range=0, approx_ok=0)
    return [int(c) for c in counts]


def _png(figure: Any) -> bytes:
    """A matplotlib figure as PNG bytes."""
    stream = io.BytesIO()
    figure.savefig(stream, format="png", dpi=100, bbox_inches="tight")
    return stream.getvalue()


def _figure(width: float, height: float) -> Any:
    """A matplotlib figure drawn by Agg without pyplot: no display, no global state, safe off the main
    thread (QGIS's tasks) whatever backend QGIS's matplotlib uses."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def image_png(rgb: np.ndarray) -> bytes:
    """PNG bytes of an RGB(A) Byte array."""
    import matplotlib.image

    stream = io.BytesIO()
    matplotlib.image.imsave(stream, rgb, format="png")
    return stream.getvalue()


def bar_chart_png(rows: Sequence[ClassArea], colors: Mapping[int, tuple[int, int, int]]) -> bytes:
    """A horizontal bar chart of the classes' share of the valid area, each bar in its class colour."""
    figure = _figure(6, 0.4 * len(rows) + 1)
    axes = figure.add_subplot()
    axes.barh(
        [row.name for row in rows][::-1],
        [row.percent for row in rows][::-1],
        color=[tuple(c / 255 for c in colors.get(row.value, (128, 128, 128))) for row in rows][::-1],
        edgecolor="black",
        linewidth=0.5,
    )
    axes.set_xlabel("% of the valid area")
    return _png(figure)


def histogram_png(counts: Sequence[int]) -> bytes:
    """The confidence histogram (pixels per percent)."""
    figure = _figure(6, 2.5)
    axes = figure.add_subplot()
    axes.bar(range(1, len(counts) + 1), counts, width=1.0, color="0.35")
    axes.set_xlabel("confidence (%)")
    axes.set_ylabel("pixels")
    return _png(figure)


def write_quicklook(
    output_path: str | os.PathLike[str],
    png_path: str | os.PathLike[str],
    *,
    input_path: str | os.PathLike[str] | None = None,
    bands: Sequence[int] = (1, 2, 3),
) -> Path:
    """A PNG of the result (beside the input when given) with the legend; written atomically."""
    from matplotlib.patches import Patch

    from ..raster.writer import read_class_table

    target = check_report_path(png_path, ".png")
    names, colors = read_class_table(output_path)
    panels = ([input_quicklook(input_path, bands)] if input_path is not None else []) + [class_quicklook(output_path)]
    figure = _figure(5 * len(panels) + 2, 5)
    for index, panel in enumerate(panels):
        axes = figure.add_subplot(1, len(panels), index + 1)
        axes.imshow(panel, interpolation="nearest")
        axes.set_axis_off()
        axes.set_title("input" if index < len(panels) - 1 else "result")
    figure.legend(
        handles=[
            Patch(facecolor=tuple(c / 255 for c in color), edgecolor="black", label=name)
            for name, color in zip(names, colors, strict=True)
        ],
        loc="center right",
    )
    return _write_atomic(target, _png(figure))


def _write_atomic(target: Path, data: bytes) -> Path:
    """Write ``data`` to a temporary beside ``target`` and rename it into place."""
    from ..raster.temporaries import create_temporary

    temporary = create_temporary(target, target.suffix)
    try:
        temporary.write_bytes(data)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target


def _data_uri(png: bytes) -> str:
    """A PNG as a data URI."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _pretty(value: str) -> str:
    """A metadata value for reading: JSON objects as ``key: value`` pairs."""
    try:
        data = json.loads(value)
    except ValueError:
        return value
    if isinstance(data, dict):
        return ", ".join(f"{k}: {v}" for k, v in data.items()) or "-"
    return value


def write_report(
    output_path: str | os.PathLike[str],
    report_path: str | os.PathLike[str],
    *,
    input_path: str | os.PathLike[str] | None = None,
    confidence_path: str | os.PathLike[str] | None = None,
    areas: AreaTable | None = None,
    timings: Mapping[str, str] | None = None,
    bands: Sequence[int] | None = None,
) -> Path:
    """Write the HTML report of the classified raster ``output_path`` (see the module docstring).

    ``areas``: the table to show (default: the one in the output's metadata, else computed from the raster);
    ``timings``: caption -> text rows (elapsed time, tiles, ...); ``bands``: the input's bands shown as R, G,
    B (default: the run's, from its settings). Written atomically.
    """
    from osgeo import gdal

    from ..raster.reader import open_raster
    from ..raster.writer import read_class_table

    target = check_report_path(report_path, ".html")
    names, colors = read_class_table(output_path)
    metadata = open_raster(output_path).GetMetadata() or {}
    if areas is None:
        stored = read_areas(metadata)
        rows = tuple(stored) if stored else raster_areas(output_path, names).rows
    else:
        rows = areas.rows
    palette = {value: color for value, color in enumerate(colors, start=1)}
    esc = html.escape
    pictures = []
    if input_path is not None:
        if bands is None:
            bands = json.loads(metadata.get("OVSS_SETTINGS", "{}")).get("bands") or (1, 2, 3)
        pictures.append(("input", image_png(input_quicklook(input_path, bands))))
    pictures.append(("result", image_png(class_quicklook(output_path))))
    figures = "".join(
        f'<figure><img alt="{esc(caption)}" src="{_data_uri(png)}"><figcaption>{esc(caption)}</figcaption></figure>'
        for caption, png in pictures
    )
    legend = "".join(
        f'<li><span class="swatch" style="background: rgb{tuple(color)}"></span>{esc(name)}</li>'
        for name, color in zip(names, colors, strict=True)
    )
    table = "".join(
        f"<tr><td>{row.value}</td><td>{esc(row.name)}</td><td>{row.pixels}</td>"
        f"<td>{'' if row.hectares is None else f'{row.hectares:.4f}'}</td><td>{row.percent:.2f}</td></tr>"
        for row in rows
    )
    confidence = ""
    if confidence_path is not None:
        histogram = _data_uri(histogram_png(confidence_histogram(confidence_path)))
        confidence = f'<h2>Confidence</h2><img alt="confidence histogram" src="{histogram}">'
    run_rows = [(caption, _pretty(metadata[key])) for key, caption in RUN_ITEMS if key in metadata]
    run_rows += list((timings or {}).items())
    run = "".join(f"<tr><th>{esc(k)}</th><td>{esc(str(v))}</td></tr>" for k, v in run_rows)
    dataset = open_raster(output_path)
    title = f"Land cover of {Path(input_path).name if input_path else Path(output_path).name}"
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
figure {{ display: inline-block; margin: 0 1em 1em 0; }}
figure img {{ max-width: {QUICKLOOK_PIXELS}px; border: 1px solid #999; image-rendering: pixelated; }}
ul.legend {{ list-style: none; padding: 0; }}
ul.legend li {{ margin: 0.2em 0; }}
.swatch {{ display: inline-block; width: 1.4em; height: 1em; margin-right: 0.5em; border: 1px solid #333;
  vertical-align: middle; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #bbb; padding: 0.2em 0.6em; text-align: left; }}
</style></head><body>
<h1>{esc(title)}</h1>
<p>{esc(str(output_path))}: {dataset.RasterXSize} x {dataset.RasterYSize} pixels, {len(names)} classes
(GDAL {esc(gdal.__version__)}).</p>
{figures}
<h2>Legend</h2><ul class="legend">{legend}</ul>
<h2>Areas</h2>
<table><tr><th>value</th><th>class</th><th>pixels</th><th>hectares</th><th>% of valid area</th></tr>{table}</table>
<img alt="area per class" src="{_data_uri(bar_chart_png(rows, palette))}">
{confidence}
<h2>Run</h2><table>{run}</table>
</body></html>
"""
    return _write_atomic(target, page.encode("utf-8"))
