"""``ovss:segment`` with its advanced CLUSTER parameter: the same classes as a run in QGIS's process, progress,
cancel without output, and a malformed address refused before any run.

The workers of one ``LocalCluster`` (two processes on 127.0.0.1) import the plugin's engine as ``ovss.engine``
and the test method from ``processing_doubles``, as workers on a cluster would from the plugin's folder.
"""

from __future__ import annotations

import numpy as np
import processing
import pytest
from processing_doubles import (
    LABEL_TEXT,
    TEST_METHOD,
    RecordingFeedback,
    ovss_provider,  # noqa: F401 - the fixture used by every test below
    pattern,
    read_band,
    write_raster,
)
from qgis.core import QgsProcessingException

pytestmark = pytest.mark.usefixtures("ovss_provider")


@pytest.fixture(scope="module")
def address():
    from ovss.engine.distributed.cluster import local_cluster

    with local_cluster(2) as cluster:
        yield cluster.scheduler_address


def params(path, out, **extra):
    return {"INPUT": str(path), "METHOD": TEST_METHOD, "LABELS": LABEL_TEXT, "TILE": 16, "OVERLAP": 4,
            "OUTPUT": str(out), **extra}


def test_cluster_run_equals_the_run_in_qgis(tmp_path, address):
    path = write_raster(tmp_path / "scene.tif", pattern(50, 70))
    here = processing.run("ovss:segment", params(path, tmp_path / "here.tif"))
    feedback = RecordingFeedback()
    there = processing.run("ovss:segment", params(path, tmp_path / "there.tif", CLUSTER=address), feedback=feedback)
    classes = read_band(there["OUTPUT"])
    assert np.array_equal(classes, read_band(here["OUTPUT"])) and len(np.unique(classes)) == 3
    steps = [value for value in feedback.values if value > 0]
    assert steps == sorted(steps) and steps[-1] == 100.0 and len(steps) >= 5
    assert any(line.startswith("Dask dashboard:") for line in feedback.infos)


def test_cancel_leaves_no_output(tmp_path, address):
    path = write_raster(tmp_path / "scene.tif", pattern(50, 70))
    out = tmp_path / "cancelled.tif"
    with pytest.raises(QgsProcessingException, match="stopped after"):
        processing.run("ovss:segment", params(path, out, CLUSTER=address), feedback=RecordingFeedback(cancel_at=1.0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.tif"]


def test_malformed_cluster_is_refused_before_the_run(tmp_path):
    path = write_raster(tmp_path / "scene.tif", pattern(30, 40))
    with pytest.raises(QgsProcessingException, match="local:N needs a positive number of workers"):
        processing.run("ovss:segment", params(path, tmp_path / "out.tif", CLUSTER="local:many"))
