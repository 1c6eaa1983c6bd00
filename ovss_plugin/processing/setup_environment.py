"""``ovss:setup_environment``: create the plugin's Python environment and install the engine's packages into
it, headless (``qgis_process``, models, scripts), or adopt an existing environment.

The plan (folder, torch build, indexes, disk and time) is printed first; nothing is downloaded unless
CONSENT is true, and DRY_RUN only prints the plan. On success the environment's Python becomes the engine's
interpreter (``ovss/environment/python``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputString,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFile,
    QgsProcessingParameterString,
)

from ..engine_runtime import set_configured_python
from ..environment.installer import ensure_environment
from ..environment.plan import TORCH_BUILDS, describe_plan
from ..environment_settings import current_plan, use_existing_python
from ..i18n import tr
from .algorithms import OVSSAlgorithm, engine_errors, static_enum


class SetupEnvironmentAlgorithm(OVSSAlgorithm):
    """Set up (or repair, or adopt) the Python environment the engine runs in."""

    TARGET = "TARGET"
    INDEX_URL = "INDEX_URL"
    TORCH_BUILD = "TORCH_BUILD"
    CONSENT = "CONSENT"
    DRY_RUN = "DRY_RUN"
    EXISTING_PYTHON = "EXISTING_PYTHON"
    PYTHON = "PYTHON"
    PLAN = "PLAN"

    def name(self) -> str:
        """Stable id within the provider: ``ovss:setup_environment``."""
        return "setup_environment"

    def displayName(self) -> str:
        """Title in the toolbox."""
        return tr("Set up the Python environment")

    def shortHelpString(self) -> str:
        """The help panel."""
        return tr(
            "Creates the plugin's own Python environment (QGIS's Python is not changed) and installs the "
            "engine's pinned packages into it with pip: torch (the CUDA build when an NVIDIA GPU is seen, the "
            "CPU build otherwise, the default build on macOS), torchvision, open_clip, timm and others, a few "
            "GB. The plan is printed first; nothing is downloaded unless 'I agree' is ticked. Dry run only "
            "prints the plan. A second run finds the environment healthy and does nothing; a run after a "
            "failed or cancelled one repairs it. With 'Existing Python', that interpreter (conda, a venv) is "
            "checked and used instead. QGIS's proxy settings are passed to pip."
        )

    def initAlgorithm(self, config: Mapping[str, Any] | None = None) -> None:
        """Folder, index, torch build, consent, dry run, existing Python in; the Python and the plan out."""
        self.addParameter(QgsProcessingParameterFile(
            self.TARGET, tr("Environment folder (default: the user data folder)"),
            QgsProcessingParameterFile.Folder, optional=True))
        self.addParameter(QgsProcessingParameterString(
            self.INDEX_URL, tr("Package index URL (default: PyPI)"), optional=True))
        self.addParameter(static_enum(self.TORCH_BUILD, tr("torch build"), TORCH_BUILDS, "auto"))
        self.addParameter(QgsProcessingParameterBoolean(
            self.CONSENT, tr("I agree to download and install the packages"), defaultValue=False))
        self.addParameter(QgsProcessingParameterBoolean(
            self.DRY_RUN, tr("Dry run: only print the plan"), defaultValue=False))
        self.addParameter(QgsProcessingParameterFile(
            self.EXISTING_PYTHON, tr("Existing Python (use this environment instead)"), optional=True,
            fileFilter=tr("All files (*)")))  # interpreters have no extension outside Windows
        self.addOutput(QgsProcessingOutputString(self.PYTHON, tr("Python")))
        self.addOutput(QgsProcessingOutputString(self.PLAN, tr("Plan")))

    def processAlgorithm(
        self, parameters: Mapping[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        """Adopt the existing Python, or print the plan and (with consent) carry it out."""
        existing = self.parameterAsFile(parameters, self.EXISTING_PYTHON, context)
        if existing:
            with engine_errors():
                health = use_existing_python(Path(existing))
            feedback.pushInfo(health.summary())
            return {self.PYTHON: existing, self.PLAN: ""}
        with engine_errors():
            plan = current_plan(
                self.parameterAsFile(parameters, self.TARGET, context) or None,
                self.parameterAsEnumString(parameters, self.TORCH_BUILD, context) or "auto",
                self.parameterAsString(parameters, self.INDEX_URL, context).strip() or None,
            )
        text = describe_plan(plan)
        feedback.pushInfo(text)
        if self.parameterAsBoolean(parameters, self.DRY_RUN, context):
            return {self.PYTHON: "", self.PLAN: text}
        if not self.parameterAsBoolean(parameters, self.CONSENT, context):
            raise QgsProcessingException(tr("Nothing was installed: set CONSENT to true to agree to the plan "
                                            "above (or DRY_RUN to only see it)."))
        last = [""]

        def progress(fraction: float, message: str) -> None:
            feedback.setProgress(100.0 * fraction)
            if message != last[0]:
                last[0] = message
                feedback.pushInfo(message)

        with engine_errors():
            result = ensure_environment(plan, progress=progress, cancel=feedback.isCanceled)
        set_configured_python(result.python)
        feedback.pushInfo(result.health.summary())
        return {self.PYTHON: str(result.python), self.PLAN: text}
