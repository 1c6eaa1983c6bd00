"""Headless ``qgis_process run ovss:segment`` with the plugin installed through ``QGIS_PLUGINPATH`` and enabled
in a throw-away profile, ``OVSS_WEIGHTS=random`` (the commands of docs/USAGE.md).

The fast test also installs a helper plugin that exists only in the test's plugin folder: it registers
the per-pixel colour test method (``processing_doubles``) in the plugin's engine, so the output can be
checked pixel by pixel in seconds; the product carries no test hook. The slow test runs the real
``segearth-ov`` with random weights.
"""

from __future__ import annotations

import os
import subprocess
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from processing_doubles import (
    CLASS_NAMES,
    EPSG,
    LABEL_TEXT,
    TEST_METHOD,
    expected_classes,
    pattern,
    read_band,
    write_raster,
)

ROOT = Path(__file__).resolve().parents[2]
QGIS_PROCESS = Path("/usr/bin/qgis_process.bin")  # Debian's qgis_process wrapper is broken for 3.22
HELPER = "ovss_test_methods"
HELPER_INIT = '''"""Test-only plugin: registers the colour test method in the OVSS engine."""
import os
import sys


class _Helper:
    def initProcessing(self):
        from qgis.core import QgsApplication

        sys.path.insert(0, os.environ["OVSS_TEST_DOUBLES"])
        from processing_doubles import register_test_methods

        register_test_methods()
        provider = QgsApplication.processingRegistry().providerById("ovss")
        if provider is not None:  # loaded first: list the new method in its algorithms
            provider.refreshAlgorithms()

    def initGui(self):
        self.initProcessing()

    def unload(self):
        pass


def classFactory(iface):
    return _Helper()
'''
HELPER_METADATA = """[general]
name=OVSS test methods
qgisMinimumVersion=3.22
description=Registers test methods (tests only)
version=0.0.1
author=tests
email=tests@example.org
about=tests only
repository=https://example.org
hasProcessingProvider=yes
"""

pytestmark = pytest.mark.skipif(not QGIS_PROCESS.exists(), reason="qgis_process.bin not installed")


@pytest.fixture
def profile(tmp_path) -> dict[str, str]:
    """Plugin folder (``ovss`` -> the repository, plus the helper) and a fresh profile with both enabled."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "ovss").symlink_to(ROOT, target_is_directory=True)
    helper = plugins / HELPER
    helper.mkdir()
    (helper / "__init__.py").write_text(HELPER_INIT)
    (helper / "metadata.txt").write_text(HELPER_METADATA)
    site_packages = sysconfig.get_paths()["purelib"]  # this interpreter's (the virtual environment's)
    env = {
        **os.environ,
        "QGIS_PLUGINPATH": str(plugins),
        "QGIS_CUSTOM_CONFIG_PATH": str(tmp_path / "profile"),
        "PYTHONPATH": os.pathsep.join([site_packages, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "QT_QPA_PLATFORM": "offscreen",
        "OVSS_WEIGHTS": "random",
        "OVSS_TEST_DOUBLES": str(Path(__file__).resolve().parent),
    }
    for name in ("ovss", HELPER):
        done = qgis_process(env, "plugins", "enable", name)
        assert done.returncode == 0, done.stdout + done.stderr
    return env


def qgis_process(env: dict[str, str], *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(QGIS_PROCESS), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_list_shows_the_provider(profile):
    done = qgis_process(profile, "list")
    assert done.returncode == 0, done.stderr
    for line in ("ovss:segment", "ovss:evaluate", "ovss:download_weights", "ovss:setup_environment"):
        assert line in done.stdout


def test_setup_environment_dry_run_headless_prints_the_plan_and_writes_nothing(profile, tmp_path):
    target = tmp_path / "env"
    done = qgis_process(profile, "run", "ovss:setup_environment", "--", f"TARGET={target}", "TORCH_BUILD=cpu",
                        "DRY_RUN=true")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Folder: {target}" in done.stdout and "CPU build of torch" in done.stdout
    assert not target.exists()


def test_run_segment_headless(profile, tmp_path):
    from osgeo import gdal, osr

    from ovss.engine.raster.writer import read_class_table

    image = pattern(24, 30, seed=5)
    source = write_raster(tmp_path / "scene.tif", image)
    out = tmp_path / "classes.tif"
    done = qgis_process(
        profile,
        "run",
        "ovss:segment",
        "--",
        f"INPUT={source}",
        f"METHOD={TEST_METHOD}",
        f"LABELS={LABEL_TEXT}",
        "TILE=16",
        "OVERLAP=4",
        f"OUTPUT={out}",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "RANDOM WEIGHTS" in done.stdout + done.stderr
    dataset = gdal.Open(str(out))
    assert osr.SpatialReference(wkt=dataset.GetProjection()).GetAuthorityCode(None) == str(EPSG)
    assert dataset.GetGeoTransform() == gdal.Open(str(source)).GetGeoTransform()
    np.testing.assert_array_equal(dataset.GetRasterBand(1).ReadAsArray(), expected_classes(image))
    assert read_class_table(out)[0] == list(CLASS_NAMES)


def test_validation_error_is_reported_headless(profile, tmp_path):
    source = write_raster(tmp_path / "scene.tif", pattern(16, 16))
    done = qgis_process(
        profile,
        "run",
        "ovss:segment",
        "--",
        f"INPUT={source}",
        f"METHOD={TEST_METHOD}",
        "LABELS=building",
        f"OUTPUT={tmp_path / 'never.tif'}",
    )
    assert done.returncode != 0
    assert "at least two classes" in done.stdout + done.stderr
    assert not (tmp_path / "never.tif").exists()


def test_method_by_option_number_and_missing_folder_reported_once(profile, tmp_path):
    """``qgis_process help`` numbers the options; the number is accepted as the name is. A missing output
    folder is one error line, before any model is built."""
    image = pattern(24, 30, seed=2)
    source = write_raster(tmp_path / "scene.tif", image)
    helped = qgis_process(profile, "help", "ovss:segment")
    number = next(
        line.split(":")[0].strip(" -\t") for line in helped.stdout.splitlines() if line.endswith(f": {TEST_METHOD}")
    )
    out = tmp_path / "classes.tif"
    common = ("run", "ovss:segment", "--", f"INPUT={source}", f"METHOD={number}", f"LABELS={LABEL_TEXT}")
    common = (*common, "TILE=16", "OVERLAP=4")
    done = qgis_process(profile, *common, "METHOD_PARAMS=swap=true", f"OUTPUT={out}")
    assert done.returncode == 0, done.stdout + done.stderr
    np.testing.assert_array_equal(read_band(out), expected_classes(image, swap=True))

    missing = tmp_path / "missing" / "classes.tif"
    done = qgis_process(profile, *common, f"OUTPUT={missing}")
    assert done.returncode != 0
    assert (done.stdout + done.stderr).count("output folder does not exist") == 1, done.stdout + done.stderr
    assert "Classes:" not in done.stdout


@pytest.mark.slow
def test_run_segearth_ov_with_random_weights(profile, tmp_path):
    from osgeo import gdal

    source = write_raster(tmp_path / "scene.tif", pattern(40, 48))
    out = tmp_path / "segearth.tif"
    done = qgis_process(
        profile,
        "run",
        "ovss:segment",
        "--",
        f"INPUT={source}",
        "METHOD=segearth-ov",
        "LABELS=building: roofs; road; tree: trees",
        "TILE=224",
        "OVERLAP=0",
        f"OUTPUT={out}",
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    values = gdal.Open(str(out)).GetRasterBand(1).ReadAsArray()
    assert values.shape == (40, 48) and set(np.unique(values)) <= {1, 2, 3}
