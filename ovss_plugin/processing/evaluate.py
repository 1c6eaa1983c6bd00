"""``ovss:evaluate``: accuracy of a classified raster against a reference land-cover raster.

Both rasters are read block by block over the part of the grid they share; a reference in another CRS (GDAL/PROJ
equivalence, so the same CRS written differently is the same) or on another pixel grid is warped onto the
classified grid on the fly, nearest neighbour (:mod:`engine.evaluate.grids`). Reference values are mapped to classes
by a mapping text, pixels without a class on either side are ignored, and the engine's metrics
(:mod:`engine.evaluate.metrics`) give the confusion matrix, overall accuracy, Cohen's kappa, per-class IoU
and mIoU, written as a table without geometry and an HTML report.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qgis.core import (
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterMatrix,
    QgsProcessingParameterRasterLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QVariant

from ...engine.errors import InputError, RasterError
from ...engine.evaluate.grids import reference_on_grid
from ...engine.evaluate.report import Scores
from ..i18n import tr
from ..settings import load_class_mapping, save_class_mapping
from .algorithms import OVSSAlgorithm, check_destinations, engine_errors

if TYPE_CHECKING:
    import numpy as np

    from ...engine.evaluate.grids import Grid

IGNORE = 255
BLOCK_ROWS = 256
_ENTRY = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*:\s*(.+?)\s*$")


def parse_class_mapping(text: str, class_names: Sequence[str]) -> dict[float, int]:
    """``"1:1, 2:building; 3:3"`` -> ``{reference value: class index}`` (0-based).

    Entries are separated by ``,``, ``;`` or new lines; the right side is a class's pixel value in the
    classified raster (1..K) or its name (ignoring case). Several reference values may share a class.
    Empty text maps value k+1 to class k, the classified raster's own coding.
    """
    if not text.strip():
        return {float(index + 1): index for index in range(len(class_names))}
    by_name = {name.casefold(): index for index, name in enumerate(class_names)}
    mapping: dict[float, int] = {}
    for entry in filter(str.strip, re.split(r"[,;\n]", text)):
        match = _ENTRY.match(entry)
        if match is None:
            raise InputError(f"class mapping entry {entry.strip()!r} is not 'reference value:class'")
        value, target = float(match.group(1)), match.group(2)
        if target.isdigit():
            index = int(target) - 1
            if not 0 <= index < len(class_names):
                raise InputError(
                    f"class mapping entry {entry.strip()!r}: class value {target} is not 1..{len(class_names)}"
                )
        elif target.casefold() in by_name:
            index = by_name[target.casefold()]
        else:
            raise InputError(
                f"class mapping entry {entry.strip()!r}: no class named {target!r} (classes: {', '.join(class_names)})"
            )
        if value in mapping:
            raise InputError(f"class mapping gives reference value {match.group(1)} twice")
        mapping[value] = index
    return mapping


def mapping_rows(value: Any) -> list[str]:
    """A MAPPING value as the flat table (value, class, value, class, ...): a table as given (a list), or the
    text syntax (``"1:1, 2:building"``, as ``qgis_process`` and older models give it) split into rows."""
    if value is None:
        return []
    if isinstance(value, str):
        entries = [entry.strip() for entry in re.split(r"[,;\n]", value) if entry.strip()]
        return [part.strip() for entry in entries for part in entry.partition(":")[::2]]
    rows = [str(cell).strip() for cell in value]
    if len(rows) % 2:
        raise InputError("class mapping table: every row needs a reference value and a class")
    return rows


def mapping_text(rows: Sequence[str]) -> str:
    """The flat table as the text :func:`parse_class_mapping` reads (rows without a reference value skipped)."""
    pairs = zip(rows[::2], rows[1::2], strict=True)
    return ", ".join(f"{value}:{target}" for value, target in pairs if value)


def map_values(values: np.ndarray, mapping: Mapping[float, int], ignore: int = IGNORE) -> np.ndarray:
    """Each value's class index from ``mapping``, ``ignore`` for values the mapping does not name."""
    import numpy as np

    keys = np.array(sorted(mapping), dtype=np.float64)
    targets = np.array([mapping[key] for key in sorted(mapping)], dtype=np.int64)
    flat = values.astype(np.float64).ravel()
    position = np.clip(np.searchsorted(keys, flat), 0, len(keys) - 1)
    found = keys[position] == flat
    return np.where(found, targets[position], ignore).reshape(values.shape)


def _open_grid(path: str) -> tuple[Any, Grid]:
    """An open GDAL dataset and its grid."""
    from ...engine.evaluate.grids import Grid
    from ...engine.raster.reader import describe_raster, open_raster

    dataset = open_raster(path)
    info = describe_raster(dataset)
    return dataset, Grid(info.width, info.height, info.geotransform, info.projection)


def _class_names(path: str, mapping_text: str) -> list[str]:
    """The classified raster's class names, or ``class v`` up to the largest value the mapping names."""
    from ...engine.raster.writer import read_class_table

    try:
        return read_class_table(path)[0]
    except RasterError:
        values = [int(m.group(2)) for m in map(_ENTRY.match, re.split(r"[,;\n]", mapping_text)) if m]
        if not values or not all(v > 0 for v in values):
            raise InputError(
                "the classified raster has no class names: give a class mapping with class values, e.g. 1:1, 2:2"
            ) from None
        return [f"class {value}" for value in range(1, max(values) + 1)]


def assess(
    classified_path: str,
    reference_path: str,
    mapping_text: str,
    feedback: QgsProcessingFeedback | None = None,
) -> Scores:
    """Accumulate the confusion matrix block by block over the shared grid and compute the metrics."""
    import numpy as np

    from ...engine.errors import CancelledError
    from ...engine.evaluate import metrics

    names = _class_names(classified_path, mapping_text)
    mapping = parse_class_mapping(mapping_text, names)
    classified, grid_c = _open_grid(classified_path)
    reference, grid_r = _open_grid(reference_path)
    matched = reference_on_grid(grid_c, reference, grid_r)
    if feedback is not None:
        feedback.pushInfo(matched.note)
    window_c, window_r = matched.window, matched.reference_window
    band_c, band_r = classified.GetRasterBand(1), matched.dataset.GetRasterBand(1)
    alpha = matched.dataset.GetRasterBand(matched.alpha_band) if matched.alpha_band else None
    nodata = band_r.GetNoDataValue()
    prediction_lut = np.full(256, IGNORE, dtype=np.int64)
    prediction_lut[1 : len(names) + 1] = np.arange(len(names))
    accumulator = metrics.ConfusionMatrix(len(names))
    for row in range(0, window_c.height, BLOCK_ROWS):
        if feedback is not None and feedback.isCanceled():
            raise CancelledError("accuracy assessment cancelled")
        rows = min(BLOCK_ROWS, window_c.height - row)
        pred = band_c.ReadAsArray(window_c.x, window_c.y + row, window_c.width, rows)
        ref = band_r.ReadAsArray(window_r.x, window_r.y + row, window_r.width, rows)
        if pred is None or ref is None:
            raise RasterError(f"cannot read rows {row}..{row + rows} of the rasters")
        target = map_values(ref, mapping)
        if nodata is not None:
            target[ref == nodata] = IGNORE
        if alpha is not None:
            target[alpha.ReadAsArray(window_r.x, window_r.y + row, window_r.width, rows) == 0] = IGNORE
        predicted = prediction_lut[np.clip(pred.astype(np.int64), 0, 255)]
        target[predicted == IGNORE] = IGNORE
        accumulator.update(predicted, target)
        if feedback is not None:
            feedback.setProgress(100.0 * (row + rows) / window_c.height)
    # mIoU over the classes in the reference or the prediction, as mmsegmentation's IoUMetric
    return Scores.of(accumulator.matrix, tuple(names), "union")


def _ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, None when undefined."""
    return numerator / denominator if denominator else None


def _number(value: float | None) -> float | None:
    """NaN (a class absent from both rasters) as None, so tables show NULL."""
    return None if value is None or math.isnan(value) else float(value)


def table_rows(result: Scores) -> list[dict[str, Any]]:
    """One row per class, then an "all classes" row: IoU = mIoU, producer's accuracy = mean accuracy,
    overall accuracy and kappa; the ``n_<value>`` columns are the confusion matrix (predicted class)."""
    matrix = result.matrix
    rows = []
    for index, name in enumerate(result.names):
        row: dict[str, Any] = {
            "class_value": index + 1,
            "class_name": name,
            "iou": _number(float(result.iou[index])),
            "producer_accuracy": _number(float(result.accuracy[index])),
            "user_accuracy": _ratio(float(matrix[index, index]), float(matrix[:, index].sum())),
            "reference_pixels": int(matrix[index].sum()),
            "predicted_pixels": int(matrix[:, index].sum()),
            "overall_accuracy": None,
            "kappa": None,
        }
        row.update({f"n_{k + 1}": int(matrix[index, k]) for k in range(len(result.names))})
        rows.append(row)
    total = int(matrix.sum())
    summary: dict[str, Any] = {
        "class_value": None,
        "class_name": "all classes",
        "iou": _number(result.miou),
        "producer_accuracy": _number(result.mean_accuracy),
        "user_accuracy": None,
        "reference_pixels": total,
        "predicted_pixels": total,
        "overall_accuracy": _number(result.overall_accuracy),
        "kappa": _number(result.kappa),
    }
    summary.update({f"n_{k + 1}": int(matrix[:, k].sum()) for k in range(len(result.names))})
    return [*rows, summary]


def _fields(class_count: int) -> QgsFields:
    """The table's columns (see :func:`table_rows`)."""
    fields = QgsFields()
    for name, kind in (
        ("class_value", QVariant.Int),
        ("class_name", QVariant.String),
        ("iou", QVariant.Double),
        ("producer_accuracy", QVariant.Double),
        ("user_accuracy", QVariant.Double),
        ("reference_pixels", QVariant.LongLong),
        ("predicted_pixels", QVariant.LongLong),
        ("overall_accuracy", QVariant.Double),
        ("kappa", QVariant.Double),
    ):
        fields.append(QgsField(name, kind))
    for value in range(1, class_count + 1):
        fields.append(QgsField(f"n_{value}", QVariant.LongLong))
    return fields


def html_report(result: Scores, classified: str, reference: str) -> str:
    """A self-contained HTML page: inputs, summary metrics, per-class table and confusion matrix."""

    def cell(value: Any) -> str:
        if value is None:
            return "<td>&ndash;</td>"
        if isinstance(value, float):
            return f"<td>{value:.4f}</td>"
        return f"<td>{html.escape(str(value))}</td>"

    rows = table_rows(result)
    names = [html.escape(name) for name in result.names]
    per_class = "".join(
        "<tr>"
        + "".join(
            cell(row[key])
            for key in (
                "class_value",
                "class_name",
                "iou",
                "producer_accuracy",
                "user_accuracy",
                "reference_pixels",
                "predicted_pixels",
            )
        )
        + "</tr>"
        for row in rows[:-1]
    )
    matrix = "".join(
        f"<tr><th>{name}</th>" + "".join(f"<td>{int(n)}</td>" for n in result.matrix[index]) + "</tr>"
        for index, name in enumerate(names)
    )
    summary = rows[-1]
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{tr("Accuracy assessment")}</title>
<style>body{{font-family:sans-serif}} table{{border-collapse:collapse;margin-bottom:1em}}
td,th{{border:1px solid #999;padding:2px 6px;text-align:right}}</style></head><body>
<h1>{tr("Accuracy assessment")}</h1>
<p>{tr("Classified raster")}: {html.escape(classified)}<br>{tr("Reference raster")}: {html.escape(reference)}<br>
{tr("Evaluated pixels")}: {summary["reference_pixels"]}</p>
<table><tr><th>{tr("Overall accuracy")}</th>{cell(summary["overall_accuracy"])}</tr>
<tr><th>{tr("Kappa")}</th>{cell(summary["kappa"])}</tr>
<tr><th>mIoU</th>{cell(summary["iou"])}</tr>
<tr><th>{tr("Mean accuracy")}</th>{cell(summary["producer_accuracy"])}</tr></table>
<h2>{tr("Per class")}</h2>
<table><tr><th>{tr("Value")}</th><th>{tr("Class")}</th><th>IoU</th><th>{tr("Producer's accuracy")}</th>
<th>{tr("User's accuracy")}</th><th>{tr("Reference pixels")}</th><th>{tr("Predicted pixels")}</th></tr>
{per_class}</table>
<h2>{tr("Confusion matrix (rows: reference, columns: classified)")}</h2>
<table><tr><th></th>{"".join(f"<th>{name}</th>" for name in names)}</tr>
{matrix}</table>
</body></html>
"""


class EvaluateAlgorithm(OVSSAlgorithm):
    """Confusion matrix, overall accuracy, kappa, per-class IoU and mIoU of a classification."""

    CLASSIFIED = "CLASSIFIED"
    REFERENCE = "REFERENCE"
    MAPPING = "MAPPING"
    OUTPUT = "OUTPUT"
    REPORT = "REPORT"
    OVERALL_ACCURACY = "OVERALL_ACCURACY"
    KAPPA = "KAPPA"
    MIOU = "MIOU"

    def name(self) -> str:
        """Stable id within the provider: ``ovss:evaluate``."""
        return "evaluate"

    def displayName(self) -> str:
        """Title in the toolbox."""
        return tr("Assess classification accuracy")

    def shortHelpString(self) -> str:
        """The help panel."""
        return tr(
            "Compares a classified raster (value k+1 = class k, 0 = nodata) with a reference land-cover "
            "raster; only the area both cover is compared. A reference in another CRS or on another pixel "
            "grid is reprojected on the fly onto the classified grid (nearest neighbour; the log says so); "
            "the same CRS written differently (names, TOWGS84) counts as the same.<br>"
            "<b>Class mapping</b>: a table, one row per reference value with its class (the class's "
            "value 1..K or its name), e.g. 1 &rarr; 1, 2 &rarr; building; several reference values may map "
            "to one class; reference values not listed, reference nodata and unclassified pixels are "
            "ignored. Empty: reference value k+1 is class k. The table starts with the last mapping used; "
            "qgis_process also takes the text form <tt>MAPPING=\"1:1, 2:2, 3:building\"</tt>.<br>"
            "Gives the confusion matrix, overall accuracy, Cohen's kappa, per-class IoU and mIoU as a "
            "table (one row per class and an 'all classes' row) and an HTML report."
        )

    def initAlgorithm(self, config: Mapping[str, Any] | None = None) -> None:
        """Two rasters and the mapping in; a table, an HTML report and the summary numbers out."""
        self.addParameter(QgsProcessingParameterRasterLayer(self.CLASSIFIED, tr("Classified raster")))
        self.addParameter(QgsProcessingParameterRasterLayer(self.REFERENCE, tr("Reference raster")))
        self.addParameter(
            QgsProcessingParameterMatrix(
                self.MAPPING,
                tr("Class mapping"),
                headers=[tr("Reference value"), tr("Class (value or name)")],
                defaultValue=load_class_mapping() or None,
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterFeatureSink(self.OUTPUT, tr("Accuracy table"), QgsProcessing.TypeVector)
        )
        self.addParameter(
            QgsProcessingParameterFileDestination(
                self.REPORT, tr("HTML report"), tr("HTML files (*.html)"), optional=True
            )
        )
        self.addOutput(QgsProcessingOutputNumber(self.OVERALL_ACCURACY, tr("Overall accuracy")))
        self.addOutput(QgsProcessingOutputNumber(self.KAPPA, tr("Kappa")))
        self.addOutput(QgsProcessingOutputNumber(self.MIOU, tr("mIoU")))

    def processAlgorithm(
        self, parameters: Mapping[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        """Assess, then write the table and the report."""
        classified = self.parameterAsRasterLayer(parameters, self.CLASSIFIED, context)
        reference = self.parameterAsRasterLayer(parameters, self.REFERENCE, context)
        if classified is None or reference is None:
            raise QgsProcessingException(tr("Both the classified and the reference raster are needed"))
        value = parameters.get(self.MAPPING)
        rows = mapping_rows(self.parameterDefinition(self.MAPPING).defaultValue() if value is None else value)
        mapping = mapping_text(rows)
        feedback.pushInfo(tr("Class mapping (reference value:class): {}").format(mapping or tr("value k+1 = class k")))
        with engine_errors():
            check_destinations(self, parameters, (self.REPORT,))
            result = assess(classified.source(), reference.source(), mapping, feedback)
        if rows:
            save_class_mapping(rows)
        rows = table_rows(result)
        fields = _fields(len(result.names))
        sink, sink_id = self.parameterAsSink(parameters, self.OUTPUT, context, fields, QgsWkbTypes.NoGeometry)
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        for row in rows:
            feature = QgsFeature(fields)
            feature.setAttributes([row[fields.at(i).name()] for i in range(fields.count())])
            sink.addFeature(feature, QgsFeatureSink.FastInsert)
        outputs: dict[str, Any] = {
            self.OUTPUT: sink_id,
            self.OVERALL_ACCURACY: rows[-1]["overall_accuracy"],
            self.KAPPA: rows[-1]["kappa"],
            self.MIOU: rows[-1]["iou"],
        }
        report = self.parameterAsFileOutput(parameters, self.REPORT, context)
        if report:
            Path(report).write_text(html_report(result, classified.source(), reference.source()), encoding="utf-8")
            outputs[self.REPORT] = report
        feedback.pushInfo(
            tr("Overall accuracy {:.4f}, kappa {:.4f}, mIoU {:.4f}").format(
                result.overall_accuracy, result.kappa, result.miou
            )
        )
        return outputs
