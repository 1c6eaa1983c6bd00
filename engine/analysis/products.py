"""The analysis products of a run, asked for together: statistics file, polygons, HTML report, PNG quick-look.

One place that the command line and Processing share: :meth:`Products.check` validates every option and path
before the run (so a mistake costs no model work), :meth:`Products.write` makes them from the run's committed
outputs. Each product is written atomically; a failure leaves the classified raster (already complete) and
the products written before it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError
from .areas import AreaTable, check_stats_path, check_threshold, raster_areas, write_stats
from .polygons import MinArea, check_vector_path, polygonize_raster
from .report import check_report_path, write_quicklook, write_report

if TYPE_CHECKING:
    from ..pipeline import SegmentResult


@dataclass(frozen=True)
class Products:
    """Which products to write (None: not written) and how."""

    vector: str | os.PathLike[str] | None = None
    min_area: MinArea | None = None
    simplify: float | None = None
    stats: str | os.PathLike[str] | None = None
    report: str | os.PathLike[str] | None = None
    quicklook: str | os.PathLike[str] | None = None
    uncertain_below: float | None = None
    written: dict[str, Path] = field(default_factory=dict, compare=False)

    def asked(self) -> bool:
        """Whether any product file is asked for."""
        return any(path is not None for path in (self.vector, self.stats, self.report, self.quicklook))

    def check(
        self, confidence: str | os.PathLike[str] | None, input_path: str | os.PathLike[str] | None = None
    ) -> None:
        """:class:`InputError` for a bad option or path (``confidence``: the run's confidence output; a product
        may not be a file of the raster ``input_path``)."""
        from ..raster.outputs import check_product_paths
        from ..raster.reader import open_raster

        check_threshold(self.uncertain_below)
        if self.uncertain_below is not None and confidence is None:
            raise InputError("the uncertain class needs the confidence output (--confidence)")
        if (self.min_area is not None or self.simplify is not None) and self.vector is None:
            raise InputError("a minimum area or simplification applies to the polygons: ask for them (--vector) too")
        if self.simplify is not None and self.simplify < 0:
            raise InputError(f"simplification tolerance must be >= 0, got {self.simplify}")
        if self.vector is not None:
            check_vector_path(self.vector)
        if self.stats is not None:
            check_stats_path(self.stats)
        if self.report is not None:
            check_report_path(self.report, ".html")
        if self.quicklook is not None:
            check_report_path(self.quicklook, ".png")
        if input_path is not None:
            check_product_paths((self.vector, self.stats, self.report, self.quicklook), open_raster(input_path))

    def write(
        self,
        result: SegmentResult,
        input_path: str | os.PathLike[str],
        *,
        timings: Mapping[str, str] | None = None,
        log: Callable[[str], None] | None = None,
        is_cancelled: Callable[[], bool] | None = None,
    ) -> AreaTable | None:
        """Write the asked products of a finished run; returns the area table they show (None: no areas).

        With ``uncertain_below`` the table (statistics file, report) counts the uncertain class.
        """
        from ..raster.writer import read_class_table

        areas = result.areas
        if self.uncertain_below is not None and result.confidence_path is not None:
            areas = raster_areas(
                result.output_path,
                result.class_names,
                confidence_path=result.confidence_path,
                uncertain_below=self.uncertain_below,
            )
        if self.stats is not None and areas is not None:
            self.written["stats"] = write_stats(areas, self.stats)
        if self.vector is not None:
            names, colors = read_class_table(result.output_path)
            polygons = polygonize_raster(
                result.output_path,
                self.vector,
                names,
                colors,
                confidence_path=result.confidence_path,
                uncertain_below=self.uncertain_below,
                min_area=self.min_area,
                simplify=self.simplify,
                is_cancelled=is_cancelled,
            )
            self.written["vector"] = polygons.path
            if log is not None:
                log(f"wrote {polygons.path}: {polygons.features} polygons")
        if self.report is not None:
            self.written["report"] = write_report(
                result.output_path,
                self.report,
                input_path=input_path,
                confidence_path=result.confidence_path,
                areas=areas,
                timings=timings,
            )
        if self.quicklook is not None:
            self.written["quicklook"] = write_quicklook(result.output_path, self.quicklook, input_path=input_path)
        if log is not None:
            for name in ("stats", "report", "quicklook"):
                if name in self.written:
                    log(f"wrote {self.written[name]}")
        return areas


def run_timings(result: SegmentResult) -> dict[str, str]:
    """The timing rows of a run's report."""
    return {
        "elapsed": f"{result.elapsed_s:.1f} s",
        "tiles": f"{result.tiles_total} ({result.tiles_skipped} without data, skipped)",
        "tiles per batch": str(result.batch),
    }
