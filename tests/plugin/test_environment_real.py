"""Slow: the REAL pinned requirements installed into a fresh environment from a package index on 127.0.0.1.

The index is a folder of wheels made with ``pip download -r requirements.txt`` (the only step that needs the
network; kept in ``$OVSS_WHEEL_CACHE``, default ``~/.cache/ovss-test-wheels``, so a second run is offline);
the test is skipped with the reason when that download fails. The environment must pass the health check,
run ``segearth-ov`` with random weights on a tile in its own Python (as the worker will), and a second
setup must do nothing. Also: the developer's ``.venv`` is accepted as an existing environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from local_index import LocalIndex, lay_out_index

from ovss.ovss_plugin.environment.constraints import CONSTRAINTS_PATH
from ovss.ovss_plugin.environment.installer import ensure_environment, validate_existing
from ovss.ovss_plugin.environment.interpreter import find_base_python
from ovss.ovss_plugin.environment.plan import HEALTH_MODULES, EnvironmentPlan

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
DOWNLOAD_TIMEOUT_S = 3600
SMOKE = """
import numpy as np
from engine.labels import load_preset
from engine.methods.base import create_method
method = create_method("segearth-ov", weights="random", precision="fp32", device="cpu",
                       params={"long_side": 96, "crop": 64, "stride": 32, "templates": "sdci_rs"})
method.prepare(load_preset("loveda-segearth").labels)
tile = np.random.default_rng(0).uniform(0, 255, (3, 64, 64)).astype(np.float32)
probabilities = method.predict(tile)
assert probabilities.shape[1:] == (64, 64) and np.isfinite(probabilities).all(), probabilities.shape
print("segearth-ov ran in the environment")
"""


@pytest.fixture(scope="module")
def wheel_cache() -> Path:
    cache = Path(os.environ.get("OVSS_WHEEL_CACHE", Path.home() / ".cache" / "ovss-test-wheels"))
    cache.mkdir(parents=True, exist_ok=True)
    env = {key: value for key, value in os.environ.items() if key != "PIP_FIND_LINKS"}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--only-binary=:all:",
             "-r", str(ROOT / "requirements.txt"), "-d", str(cache)],
            capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S, env=env, check=False)
    except subprocess.TimeoutExpired:
        pytest.skip(f"pip download of requirements.txt took over {DOWNLOAD_TIMEOUT_S} s")
    if done.returncode != 0:
        pytest.skip("pip download of requirements.txt failed: " + (done.stderr.strip().splitlines() or ["?"])[-1])
    return cache


@pytest.mark.timeout(DOWNLOAD_TIMEOUT_S + 1800)  # the first run downloads a few GB
def test_the_real_requirements_install_from_a_local_index(tmp_path, wheel_cache, pip_isolated):
    lay_out_index(tmp_path / "index", sorted(wheel_cache.glob("*.whl")))
    index = LocalIndex(tmp_path / "index")
    try:
        plan = EnvironmentPlan(target=tmp_path / "env", base_python=find_base_python(), torch_build="default",
                               index_url=index.url, constraints=CONSTRAINTS_PATH, modules=HEALTH_MODULES,
                               disk_bytes=int(8e9))
        result = ensure_environment(plan)
        assert result.changed and result.health.ok, result.health.summary()
        smoke = subprocess.run([str(result.python), "-c", SMOKE], cwd=ROOT, capture_output=True, text=True,
                               timeout=600, check=False)
        assert smoke.returncode == 0, smoke.stderr[-2000:]
        assert "segearth-ov ran in the environment" in smoke.stdout
        requests = len(index.requests)
        again = ensure_environment(plan)
        assert not again.changed and len(index.requests) == requests
    finally:
        index.close()


def test_the_developer_venv_is_a_valid_existing_environment():
    python = ROOT / ".venv" / "bin" / "python"
    if not python.exists():
        pytest.skip("no .venv in this checkout")
    assert validate_existing(python, CONSTRAINTS_PATH, HEALTH_MODULES).ok
