"""What the dock shows and saves after a run, from the engine's analysis products: the area table of the run
(``SegmentResult.areas``, the same numbers as the output's ``OVSS_AREAS`` metadata) in the class colours, and
the run's HTML report (:func:`engine.analysis.report.write_report`). The dock is given these two functions
(:meth:`~.dock.OVSSDock.set_area_rows`, :meth:`~.dock.OVSSDock.set_report_writer`)."""

from __future__ import annotations

from pathlib import Path

from ..engine.analysis.areas import read_areas
from ..engine.analysis.products import run_timings
from ..engine.analysis.report import write_report
from ..engine.errors import OVSSError
from ..engine.raster.reader import open_raster
from ..engine.raster.writer import read_class_table
from .panels.area_table import AreaRow
from .task import RunOutcome


def area_rows(outcome: RunOutcome) -> list[AreaRow]:
    """The area per class of a finished run, each row in its class's colour (empty for a failed run)."""
    result = outcome.result
    if result is None:
        return []
    _names, colours = read_class_table(result.output_path)
    rows = result.areas.rows if result.areas is not None else read_areas(
        open_raster(result.output_path).GetMetadata() or {})
    palette = dict(enumerate(colours, start=1))
    return [
        AreaRow(row.value, row.name, palette.get(row.value, (128, 128, 128)), row.pixels, row.hectares, row.percent)
        for row in rows
    ]


def write_run_report(outcome: RunOutcome, path: Path) -> None:
    """Write the HTML report of a finished run to ``path`` (the input beside the result when the run read a
    file; the run's confidence raster, areas and timings)."""
    result = outcome.result
    if result is None:
        raise OVSSError("the run has no result to report on")
    source = outcome.request.source.path
    write_report(
        result.output_path,
        path,
        input_path=source if source and Path(source).is_file() else None,
        confidence_path=result.confidence_path,
        areas=result.areas,
        timings=run_timings(result),
        bands=outcome.request.bands,
    )
