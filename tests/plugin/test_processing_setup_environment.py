"""``ovss:setup_environment`` headless: the plan without consent or as a dry run, a real install from a package
index on 127.0.0.1 (tiny wheels) that configures the engine's Python, a second run that does nothing, and an
existing environment adopted only when healthy."""

from __future__ import annotations

import processing
import pytest
from processing_doubles import ovss_provider  # noqa: F401 - the fixture used by every test below
from qgis.core import QgsProcessingException, QgsProcessingFeedback, QgsSettings

from ovss.ovss_plugin.engine_runtime import PYTHON_SETTING, configured_python
from ovss.ovss_plugin.environment.plan import env_python

pytestmark = pytest.mark.usefixtures("ovss_provider")


def run(parameters: dict, feedback: QgsProcessingFeedback | None = None) -> dict:
    return processing.run("ovss:setup_environment", parameters, feedback=feedback or QgsProcessingFeedback())


@pytest.mark.usefixtures("tiny_requirements")
def test_without_consent_nothing_is_downloaded(tmp_path, tiny_index):
    target = tmp_path / "env"
    with pytest.raises(QgsProcessingException, match="CONSENT"):
        run({"TARGET": str(target), "INDEX_URL": tiny_index.url})
    dry = run({"TARGET": str(target), "INDEX_URL": tiny_index.url, "DRY_RUN": True, "TORCH_BUILD": "cpu"})
    assert str(target) in dry["PLAN"] and f"the torch build that {tiny_index.url} offers" in dry["PLAN"]
    assert not target.exists() and not tiny_index.requests and configured_python() is None


@pytest.mark.usefixtures("tiny_requirements")
def test_installs_configures_the_python_and_a_second_run_does_nothing(tmp_path, tiny_index):
    target = tmp_path / "env"
    feedback = QgsProcessingFeedback()
    progress: list[float] = []
    feedback.progressChanged.connect(progress.append)
    result = run({"TARGET": str(target), "INDEX_URL": tiny_index.url, "CONSENT": True}, feedback)
    assert result["PYTHON"] == str(env_python(target))
    assert configured_python() == env_python(target)
    assert progress[-1] == 100.0 and len(progress) > 3
    assert "ovsstiny-b" in feedback.textLog()
    requests = len(tiny_index.requests)
    again = QgsProcessingFeedback()
    run({"TARGET": str(target), "INDEX_URL": tiny_index.url, "CONSENT": True}, again)
    assert len(tiny_index.requests) == requests and "nothing to do" in again.textLog()


@pytest.mark.usefixtures("tiny_requirements")
def test_an_existing_environment_is_used_only_when_healthy(tmp_path, tiny_index):
    from ovss.ovss_plugin.environment.interpreter import find_base_python

    with pytest.raises(QgsProcessingException, match="ovsstiny-a is not installed"):
        run({"EXISTING_PYTHON": str(find_base_python())})
    assert configured_python() is None
    target = tmp_path / "env"
    run({"TARGET": str(target), "INDEX_URL": tiny_index.url, "CONSENT": True})
    QgsSettings().setValue(PYTHON_SETTING, "")
    result = run({"EXISTING_PYTHON": str(env_python(target))})
    assert result["PYTHON"] == str(env_python(target)) == str(configured_python())
