"""``ovss:segment`` in batch mode (the batch dialog's run loop, each output loaded and styled by the
post-processor) and as the single step of a graphical model."""

from __future__ import annotations

import numpy as np
import processing
import pytest
from processing.core.ProcessingConfig import ProcessingConfig
from processing.gui.Postprocessing import handleAlgorithmResults
from processing.tools import dataobjects
from processing_doubles import (
    CLASS_NAMES,
    LABEL_TEXT,
    REFERENCE,
    TEST_METHOD,
    expected_classes,
    ovss_provider,  # noqa: F401 - the fixture used by every test below
    pattern,
    read_band,
    write_raster,
)
from qgis.core import (
    QgsApplication,
    QgsPalettedRasterRenderer,
    QgsProcessingFeedback,
    QgsProcessingModelAlgorithm,
    QgsProcessingModelChildAlgorithm,
    QgsProcessingModelChildParameterSource,
    QgsProcessingModelOutput,
    QgsProcessingModelParameter,
    QgsProcessingOutputLayerDefinition,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProject,
    QgsRasterLayer,
)

pytestmark = pytest.mark.usefixtures("ovss_provider")


def assert_styled(layer: QgsRasterLayer) -> None:
    renderer = layer.renderer()
    assert isinstance(renderer, QgsPalettedRasterRenderer)
    classes = renderer.classes()
    assert [c.value for c in classes] == [1, 2, 3]
    assert [c.label for c in classes] == list(CLASS_NAMES)


def test_batch_of_three_rasters_each_styled(tmp_path):
    """What BatchAlgorithmDialog.runAlgorithm does per row: its parameter dict (output as a layer definition
    with the project to load into), a fresh context, run, then handleAlgorithmResults."""
    ProcessingConfig.initialize()
    project = QgsProject.instance()
    alg = QgsApplication.processingRegistry().createAlgorithmById("ovss:segment")
    feedback = QgsProcessingFeedback()
    images = [pattern(20 + 4 * i, 24, seed=i) for i in range(3)]
    rows = []
    for index, image in enumerate(images):
        source = write_raster(tmp_path / f"scene{index}.tif", image)
        rows.append(
            {
                "INPUT": str(source),
                "METHOD": TEST_METHOD,
                "LABELS": LABEL_TEXT,
                "PRESET": None,
                "TILE": 16,
                "OVERLAP": 4,
                "DEVICE": "auto",
                "PRECISION": "auto",
                "METHOD_PARAMS": "swap=true" if index == 1 else "",
                "OUTPUT": QgsProcessingOutputLayerDefinition(str(tmp_path / f"classes{index}.tif"), project),
            }
        )
    for row in rows:
        parameters = alg.preprocessParameters(row)
        context = dataobjects.createContext(feedback)
        results, ok = alg.run(parameters, context, feedback)
        assert ok, results
        handleAlgorithmResults(alg, context, feedback, False, parameters)
    try:
        for index, image in enumerate(images):
            path = str(tmp_path / f"classes{index}.tif")
            layers = [layer for layer in project.mapLayers().values() if layer.source() == path]
            assert len(layers) == 1
            assert_styled(layers[0])
            assert (tmp_path / f"classes{index}.qml").is_file()
            np.testing.assert_array_equal(read_band(path), expected_classes(image, swap=index == 1))
    finally:
        project.removeAllMapLayers()


def one_step_model() -> QgsProcessingModelAlgorithm:
    """A model with a raster input feeding ovss:segment, whose output is the model's output."""
    model = QgsProcessingModelAlgorithm("segment scenes", "tests")
    model.addModelParameter(QgsProcessingParameterRasterLayer("scene", "Scene"), QgsProcessingModelParameter("scene"))
    child = QgsProcessingModelChildAlgorithm("ovss:segment")
    child.setChildId("segment")
    child.addParameterSources("INPUT", [QgsProcessingModelChildParameterSource.fromModelParameter("scene")])
    for name, value in (
        ("METHOD", TEST_METHOD),
        ("LABELS", LABEL_TEXT),
        ("TILE", 16),
        ("OVERLAP", 4),
        ("DEVICE", "auto"),
        ("PRECISION", "auto"),
        ("METHOD_PARAMS", '{"swap": true}'),
    ):
        child.addParameterSources(name, [QgsProcessingModelChildParameterSource.fromStaticValue(value)])
    output = QgsProcessingModelOutput("classes", "classes")
    output.setChildOutputName("OUTPUT")
    output.setChildId("segment")
    child.setModelOutputs({"classes": output})
    model.addChildAlgorithm(child)
    model.updateDestinationParameters()
    return model


def test_one_step_model_runs(tmp_path):
    model = one_step_model()
    valid, issues = model.validate()
    assert valid, issues
    assert isinstance(model.parameterDefinition("segment:classes"), QgsProcessingParameterRasterDestination)
    image = np.stack([np.full((12, 20), int(v), dtype=np.uint8) for v in REFERENCE[2]])
    image[:, :, :10] = REFERENCE[0].astype(np.uint8)[:, None, None]
    source = write_raster(tmp_path / "scene.tif", image)
    out = tmp_path / "model.tif"
    result = processing.run(model, {"scene": str(source), "segment:classes": str(out)})
    assert result["segment:classes"] == str(out)
    expected = np.full((12, 20), 1, dtype=np.uint8)  # swapped: dark is class 3, bright class 1
    expected[:, :10] = 3
    np.testing.assert_array_equal(read_band(out), expected)
