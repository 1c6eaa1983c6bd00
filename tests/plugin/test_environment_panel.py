"""The dock's environment panel: shown instead of a pip command when QGIS's Python lacks the engine's packages;
installs only with consent, from a package index on 127.0.0.1 (tiny wheels), in a QgsTask with progress and
cancel; opens the log, saves diagnostics, adopts an existing environment only when healthy."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin_doubles import wait_for
from qgis.core import QgsSettings
from qgis.PyQt.QtWidgets import QFileDialog

from ovss.engine.dependencies import REQUIREMENTS
from ovss.ovss_plugin import dock as dock_module
from ovss.ovss_plugin import environment_panel as panel_module
from ovss.ovss_plugin.engine_runtime import configured_python
from ovss.ovss_plugin.environment.installer import STATE_FILE
from ovss.ovss_plugin.environment.interpreter import find_base_python
from ovss.ovss_plugin.environment.plan import env_python
from ovss.ovss_plugin.environment_settings import INDEX_SETTING

pytestmark = pytest.mark.usefixtures("tiny_requirements")


@pytest.fixture
def env_dir(tmp_path, monkeypatch, tiny_index) -> Path:
    target = tmp_path / "data" / "env"
    monkeypatch.setenv("OVSS_ENV_DIR", str(target))
    QgsSettings().setValue(INDEX_SETTING, tiny_index.url)
    return target


@pytest.fixture
def panel(qgis_app, env_dir):
    widget = panel_module.EnvironmentPanel()
    yield widget
    widget.shutdown()
    widget.deleteLater()


def run_to_end(panel) -> None:
    wait_for(lambda: panel.task is None, timeout_s=120)


def test_the_dock_offers_the_environment_instead_of_a_pip_command(qgis_app, env_dir, monkeypatch):
    monkeypatch.setattr(dock_module, "missing_requirements", lambda: [REQUIREMENTS[1]])
    dock = dock_module.OVSSDock()
    try:
        assert not dock.ready and isinstance(dock.environment_panel, panel_module.EnvironmentPanel)
        status = dock.status_label.text()
        assert "torch" in status and "own Python environment" in status and "pip install" not in status
        assert str(env_dir) in dock.environment_panel.plan_label.text()
        dock.environment_panel.environment_ready.emit("/envs/ovss/bin/python")
        assert "ready (/envs/ovss/bin/python)" in dock.status_label.text()
    finally:
        dock.shutdown()
        dock.deleteLater()


def test_installs_only_with_consent_then_configures_the_engine_s_python(panel, env_dir, tiny_index):
    assert str(env_dir) in panel.plan_label.text() and "GB" in panel.plan_label.text()
    assert not panel.setup_button.isEnabled() and panel.start_setup() is None
    assert not env_dir.exists() and not tiny_index.requests
    ready: list[str] = []
    panel.environment_ready.connect(ready.append)
    panel.consent.setChecked(True)
    assert panel.setup_button.isEnabled()
    panel.setup_button.click()
    assert panel.cancel_button.isEnabled()
    run_to_end(panel)
    assert ready == [str(env_python(env_dir))] and configured_python() == env_python(env_dir)
    assert panel.progress_bar.value() == 100 and "Ready" in panel.progress_label.text()


def test_cancel_kills_pip_and_the_next_setup_finishes(panel, env_dir, tiny_index):
    tiny_index.slow_down("ovsstiny_b-1.0-py3-none-any.whl", 30.0)
    panel.consent.setChecked(True)
    panel.start_setup()
    wait_for(lambda: "ovsstiny-b" in panel.progress_label.text(), timeout_s=60)
    panel.cancel_button.click()
    run_to_end(panel)
    assert "resumes" in panel.progress_label.text()
    assert configured_python() is None and not (env_dir / STATE_FILE).exists()
    tiny_index.slow_down("ovsstiny_b-1.0-py3-none-any.whl", 0.0)
    panel.start_setup()
    run_to_end(panel)
    assert configured_python() == env_python(env_dir) and (env_dir / STATE_FILE).exists()


def test_open_log_and_diagnostics(panel, env_dir, tmp_path, monkeypatch):
    opened: list[str] = []
    monkeypatch.setattr(panel_module.QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True)
    assert not panel.open_log() and "No install log yet" in panel.progress_label.text()
    panel.consent.setChecked(True)
    panel.start_setup()
    run_to_end(panel)
    assert panel.open_log() and opened == [str(panel.plan.log_path)]
    report = tmp_path / "report.txt"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args: (str(report), ""))
    panel.diagnostics_button.click()
    text = report.read_text()
    for expected in ("QGIS: 3.", f"Environment folder: {env_dir}", "ovsstiny-a==1.0", "ovsstiny-b==1.0",
                     "Successfully installed", "GPU: ", "free)"):
        assert expected in text


def test_an_existing_environment_is_adopted_only_when_healthy(panel, env_dir, monkeypatch):
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args: (str(find_base_python()), ""))
    panel.existing_button.click()
    run_to_end(panel)
    assert "ovsstiny-a is not installed" in panel.progress_label.text() and configured_python() is None
    panel.consent.setChecked(True)
    panel.start_setup()
    run_to_end(panel)
    QgsSettings().setValue("ovss/environment/python", "")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args: (str(env_python(env_dir)), ""))
    panel.existing_button.click()
    run_to_end(panel)
    assert configured_python() == env_python(env_dir)
