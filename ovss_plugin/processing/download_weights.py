"""``ovss:download_weights``: fetch the checkpoints a method needs into a weights folder, with progress,
cancellation, resumable downloads and sha256 checks (:func:`engine.weights.store.resolve_checkpoint`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingOutputFolder,
    QgsProcessingOutputString,
    QgsProcessingParameterFile,
)

from ...engine.methods.base import available_methods, method_info
from ...engine.weights.store import default_cache_dir, user_weights_dir
from ..i18n import tr
from .algorithms import OVSSAlgorithm, engine_errors, static_enum


def default_weights_folder() -> str:
    """The user weights folder (``$OVSS_WEIGHTS_DIR``), else the download cache the engine searches."""
    return str(user_weights_dir() or default_cache_dir())


class DownloadWeightsAlgorithm(OVSSAlgorithm):
    """Download every checkpoint a method needs (files already there are kept)."""

    METHOD = "METHOD"
    FOLDER = "FOLDER"
    OUTPUT_FOLDER = "OUTPUT_FOLDER"
    FILES = "FILES"

    def name(self) -> str:
        """Stable id within the provider: ``ovss:download_weights``."""
        return "download_weights"

    def displayName(self) -> str:
        """Title in the toolbox."""
        return tr("Download model weights")

    def shortHelpString(self) -> str:
        """The help panel."""
        return tr(
            "Downloads the checkpoints the chosen method needs into the weights folder (default: the "
            "folder the plugin searches). Interrupted downloads resume; files are checked against their "
            "published sha256 where there is one. Files already in the folder are not downloaded again."
        )

    def initAlgorithm(self, config: Mapping[str, Any] | None = None) -> None:
        """Method and folder in; the folder and the files out."""
        methods = available_methods()
        self.addParameter(static_enum(self.METHOD, tr("Method"), methods, methods[0] if methods else None))
        self.addParameter(
            QgsProcessingParameterFile(
                self.FOLDER,
                tr("Weights folder"),
                QgsProcessingParameterFile.Folder,
                defaultValue=default_weights_folder(),
            )
        )
        self.addOutput(QgsProcessingOutputFolder(self.OUTPUT_FOLDER, tr("Weights folder")))
        self.addOutput(QgsProcessingOutputString(self.FILES, tr("Checkpoint files")))

    def processAlgorithm(
        self, parameters: Mapping[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        """Resolve each checkpoint in the folder, downloading the missing ones."""
        from ...engine.weights.store import resolve_checkpoint

        method = self.parameterAsString(parameters, self.METHOD, context)
        folder = self.parameterAsFile(parameters, self.FOLDER, context) or default_weights_folder()
        with engine_errors():
            names = method_info(method).checkpoints
        files = []
        for index, name in enumerate(names):
            feedback.pushInfo(tr("Checkpoint {} ({} of {})").format(name, index + 1, len(names)))

            def progress(done: int, total: int | None, index: int = index) -> None:
                share = done / total if total else 0.0
                feedback.setProgress(100.0 * (index + share) / len(names))

            with engine_errors():
                path = resolve_checkpoint(
                    name,
                    weights_dir=folder,
                    cache_dir=folder,
                    progress=progress,
                    cancel=feedback.isCanceled,
                )
            feedback.pushInfo(tr("{} is at {}").format(name, path))
            files.append(str(path))
        if not names:
            feedback.pushInfo(tr("Method {} needs no checkpoint").format(method))
        feedback.setProgress(100.0)
        return {self.OUTPUT_FOLDER: folder, self.FILES: ";".join(files)}
