"""The dock's "Python environment" panel, shown while QGIS's own Python lacks the engine's packages.

It explains the plan (folder, torch build, disk and time) and installs only after the user ticks the consent
box: :func:`~.environment.installer.ensure_environment` runs in an :class:`EnvironmentTask` with progress and
cancel, and its Python becomes the engine's interpreter. "Open log" opens the install log, "Diagnostics..."
saves the report for a bug, "Use existing environment..." adopts a user's own Python after a health check.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from qgis.core import QgsApplication, QgsTask
from qgis.PyQt import sip
from qgis.PyQt.QtCore import QUrl, pyqtSignal
from qgis.PyQt.QtGui import QDesktopServices
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..engine.errors import OVSSError
from .engine_runtime import set_configured_python
from .environment.diagnostics import collect_diagnostics, write_report
from .environment.installer import ProgressCallback, ensure_environment
from .environment.plan import EnvironmentPlan, describe_plan
from .environment_settings import current_plan, diagnostics_input, use_existing_python
from .i18n import tr

# a job gets the progress callback and the cancel flag and returns the Python it set up (or adopted)
SHUTDOWN_WAIT_MS = 30_000
Job = Callable[[ProgressCallback, Callable[[], bool]], Path]


class EnvironmentTask(QgsTask):
    """Runs a setup job in the background; ``completed(ok, python or error)`` arrives in the main thread."""

    progress_text = pyqtSignal(str)
    completed = pyqtSignal(bool, str)

    def __init__(self, title: str, job: Job) -> None:
        super().__init__(title, QgsTask.CanCancel)
        self.job = job
        self.result_text = ""

    def run(self) -> bool:
        """In the task's thread: the job, its error kept as one line."""
        try:
            self.result_text = str(self.job(self._report, self.isCanceled))
        except (OVSSError, OSError) as exc:  # OSError: e.g. a folder that cannot be written
            self.result_text = str(exc)
            return False
        return True

    def _report(self, fraction: float, message: str) -> None:
        self.setProgress(100.0 * fraction)
        self.progress_text.emit(message)

    def finished(self, ok: bool) -> None:
        """Main thread: hand the outcome to the panel."""
        self.completed.emit(ok, self.result_text or tr("Cancelled."))


class EnvironmentPanel(QGroupBox):
    """Plan, consent, set up with progress and cancel, log, diagnostics, existing environment."""

    environment_ready = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(tr("Python environment"), parent)
        self.setObjectName("ovss_environment_panel")
        self.task: EnvironmentTask | None = None
        self.plan: EnvironmentPlan | None = None
        layout = QVBoxLayout(self)
        self.plan_label = QLabel(self)
        self.plan_label.setObjectName("ovss_environment_plan")
        self.plan_label.setWordWrap(True)
        layout.addWidget(self.plan_label)
        self.consent = QCheckBox(tr("I agree to download and install these packages"), self)
        self.consent.setObjectName("ovss_environment_consent")
        layout.addWidget(self.consent)
        self.setup_button = self._button(tr("Set up the environment"), "ovss_environment_setup", self.start_setup)
        self.cancel_button = self._button(tr("Cancel"), "ovss_environment_cancel", self.cancel)
        layout.addLayout(self._row(self.setup_button, self.cancel_button))
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setObjectName("ovss_environment_progress")
        self.progress_bar.setRange(0, 100)
        layout.addWidget(self.progress_bar)
        self.progress_label = QLabel(self)
        self.progress_label.setObjectName("ovss_environment_message")
        self.progress_label.setWordWrap(True)
        layout.addWidget(self.progress_label)
        self.log_button = self._button(tr("Open log"), "ovss_environment_log", self.open_log)
        self.diagnostics_button = self._button(tr("Diagnostics\u2026"), "ovss_environment_diagnostics",
                                               self.save_diagnostics)
        self.existing_button = self._button(tr("Use existing environment\u2026"), "ovss_environment_existing",
                                            self.choose_existing)
        layout.addLayout(self._row(self.log_button, self.diagnostics_button))
        layout.addWidget(self.existing_button)
        self.consent.toggled.connect(self._update_buttons)
        self.refresh_plan()

    def _button(self, text: str, name: str, slot: Callable[[], object]) -> QPushButton:
        button = QPushButton(text, self)
        button.setObjectName(name)
        button.clicked.connect(slot)
        return button

    def _row(self, *widgets: QWidget) -> QHBoxLayout:
        row = QHBoxLayout()
        for widget in widgets:
            row.addWidget(widget)
        return row

    def refresh_plan(self) -> None:
        """Work out the plan for this QGIS now and show it (or why there is none)."""
        try:
            self.plan = current_plan()
            self.plan_label.setText(describe_plan(self.plan))
        except OVSSError as exc:
            self.plan = None
            self.plan_label.setText(str(exc))
        self._update_buttons()

    def _update_buttons(self) -> None:
        running = self.task is not None
        self.setup_button.setEnabled(self.plan is not None and self.consent.isChecked() and not running)
        self.cancel_button.setEnabled(running)
        self.existing_button.setEnabled(not running)

    def _start(self, title: str, job: Job) -> EnvironmentTask:
        task = EnvironmentTask(title, job)
        task.progressChanged.connect(lambda value: self.progress_bar.setValue(round(value)))
        task.progress_text.connect(self.progress_label.setText)
        task.completed.connect(self._done)
        self.task = task
        self._update_buttons()
        QgsApplication.taskManager().addTask(task)
        return task

    def start_setup(self) -> EnvironmentTask | None:
        """Install following the plan (only with consent)."""
        if self.plan is None or not self.consent.isChecked() or self.task is not None:
            return None
        plan = self.plan

        def job(progress: ProgressCallback, cancel: Callable[[], bool]) -> Path:
            return ensure_environment(plan, progress=progress, cancel=cancel).python

        self.progress_label.setText(tr("Starting\u2026"))
        return self._start(tr("Land cover: setting up the Python environment"), job)

    def adopt(self, python: Path) -> EnvironmentTask:
        """Check ``python`` in the background and use it when healthy."""

        def job(progress: ProgressCallback, _cancel: Callable[[], bool]) -> Path:
            progress(0.0, tr("Checking {python}").format(python=python))
            use_existing_python(python)
            return python

        return self._start(tr("Land cover: checking a Python environment"), job)

    def cancel(self) -> None:
        """Stop the running setup (pip is killed; the next run resumes)."""
        if self.task is not None:
            self.task.cancel()

    def _done(self, ok: bool, text: str) -> None:
        self.task = None
        self._update_buttons()
        if ok:
            set_configured_python(Path(text))
            self.progress_bar.setValue(100)
            self.progress_label.setText(tr("Ready: the engine runs with {python}.").format(python=text))
            self.environment_ready.emit(text)
        else:
            self.progress_label.setText(text)

    def open_log(self) -> bool:
        """Open the install log in the system's viewer; False (and a message) when there is none yet."""
        log = self.plan.log_path if self.plan is not None else diagnostics_input().log_path
        if not log.is_file():
            self.progress_label.setText(tr("No install log yet ({path}).").format(path=log))
            return False
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(log)))

    def save_diagnostics(self) -> Path | None:
        """Ask where to save the diagnostics report and write it there."""
        name, _ = QFileDialog.getSaveFileName(self, tr("Save diagnostics"), str(Path.home() / "ovss-diagnostics.txt"),
                                              tr("Text files (*.txt)"))
        if not name:
            return None
        path = write_report(Path(name), collect_diagnostics(diagnostics_input()))
        self.progress_label.setText(tr("Diagnostics saved to {path}.").format(path=path))
        return path

    def choose_existing(self) -> EnvironmentTask | None:
        """Ask for an existing environment's Python and adopt it when healthy."""
        name, _ = QFileDialog.getOpenFileName(self, tr("Python of an existing environment"))
        return self.adopt(Path(name)) if name else None

    def shutdown(self) -> None:
        """The dock is closing: cancel a running task (pip is killed) and wait for it."""
        task, self.task = self.task, None
        if task is not None and not sip.isdeleted(task):
            task.completed.disconnect(self._done)
            task.cancel()
            task.waitForFinished(SHUTDOWN_WAIT_MS)
