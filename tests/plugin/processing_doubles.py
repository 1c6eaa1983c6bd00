"""Test doubles and data of the Processing tests: a per-pixel colour method registered in ``ovss.engine``
(the package the plugin code uses), tiny georeferenced rasters, and a provider fixture.

The method gives each pixel the softmax of minus its squared distance to one reference colour per class,
so the expected class of every pixel is simply its nearest reference colour, computed here with numpy.
``QGIS_PLUGINPATH`` tests import this module from a helper plugin so that ``qgis_process`` sees the same
method (see ``tests/plugin/test_qgis_process.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from qgis.core import QgsProcessingFeedback

if TYPE_CHECKING:
    from qgis.core import QgsProcessingProvider

TEST_METHOD = "test-colours"
REFERENCE = np.array([[20.0, 20.0, 20.0], [128.0, 128.0, 128.0], [235.0, 235.0, 235.0]], dtype=np.float32)
LABEL_TEXT = "dark: shadow, asphalt; mid: grey; bright: roofs, snow"
CLASS_NAMES = ("dark", "mid", "bright")
GEOTRANSFORM = (350000.0, 0.5, 0.0, 5650000.0, 0.0, -0.5)
EPSG = 32632


@dataclass(frozen=True)
class ColourConfig:
    """The test method's parameters: the softmax temperature and whether to swap dark and bright."""

    temperature: float = 400.0
    swap: bool = False


class ColourMethod:
    """Per-pixel nearest-colour classifier honouring the Method contract."""

    name = TEST_METHOD
    min_tile = 8

    def __init__(self, *, params: dict | None = None, **_: object) -> None:
        self.config = ColourConfig(**(params or {}))
        self.n_classes = len(REFERENCE)

    def prepare(self, labels: object) -> None:
        """Classes past the third get probability 0 (a preset's label set, say)."""
        self.n_classes = len(labels)

    def predict(self, tile: np.ndarray) -> np.ndarray:
        """``(3, H, W)`` class probabilities."""
        reference = REFERENCE[::-1] if self.config.swap else REFERENCE
        dist = ((tile[None] - reference[:, :, None, None]) ** 2).sum(axis=1)
        logits = -dist / self.config.temperature
        logits -= logits.max(axis=0, keepdims=True)
        exp = np.exp(logits)
        probabilities = exp / exp.sum(axis=0, keepdims=True)
        padding = np.zeros((self.n_classes - len(REFERENCE), *tile.shape[1:]))
        return np.concatenate([probabilities, padding]).astype(np.float32)


def register_test_methods(checkpoints: tuple[str, ...] = ()) -> None:
    """Register :class:`ColourMethod` in the plugin's engine (``ovss.engine``)."""
    from ovss.engine.methods.base import register_method

    register_method(TEST_METHOD, "per-pixel colour distance (test double)", checkpoints, ColourConfig)(ColourMethod)


def expected_classes(rgb: np.ndarray, swap: bool = False) -> np.ndarray:
    """Class values (k + 1) of the nearest reference colour, per pixel."""
    reference = REFERENCE[::-1] if swap else REFERENCE
    dist = ((rgb[None].astype(np.float64) - reference[:, :, None, None]) ** 2).sum(axis=1)
    return (np.argmin(dist, axis=0) + 1).astype(np.uint8)


def pattern(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A blocky RGB Byte image of the three reference colours plus noise, ``(3, h, w)``."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 3, size=(height // 5 + 1, width // 5 + 1))
    classes = np.kron(blocks, np.ones((5, 5), dtype=int))[:height, :width]
    image = REFERENCE[classes].transpose(2, 0, 1) + rng.normal(0, 8, size=(3, height, width))
    return np.clip(np.rint(image), 1, 255).astype(np.uint8)


def write_raster(
    path: Path, data: np.ndarray, geotransform: tuple[float, ...] = GEOTRANSFORM, epsg: int | None = EPSG
) -> Path:
    """Write ``(bands, h, w)`` as a GeoTIFF (GDAL type from the dtype); returns ``path``."""
    from osgeo import gdal, gdal_array, osr

    bands, height, width = data.shape
    kind = gdal_array.NumericTypeCodeToGDALTypeCode(data.dtype)
    dataset = gdal.GetDriverByName("GTiff").Create(str(path), width, height, bands, kind)
    for index in range(bands):
        dataset.GetRasterBand(index + 1).WriteArray(data[index])
    dataset.SetGeoTransform(geotransform)
    if epsg is not None:
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(epsg)
        dataset.SetProjection(srs.ExportToWkt())
    dataset.FlushCache()
    dataset = None
    return path


def read_band(path: str | Path) -> np.ndarray:
    """Band 1 of a raster as an array."""
    from osgeo import gdal

    dataset = gdal.Open(str(path))
    return dataset.GetRasterBand(1).ReadAsArray()


@pytest.fixture
def ovss_provider(qgis_app, monkeypatch: pytest.MonkeyPatch) -> Iterator[QgsProcessingProvider]:
    """Processing initialised, the test method registered (in a copy of the registry) and the provider added."""
    from processing.core.Processing import Processing
    from qgis.core import QgsApplication

    from ovss.engine.methods import base
    from ovss.ovss_plugin.processing.provider import OVSSProvider

    base.available_methods()  # the built-in methods into the real registry first (they register once)
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))
    if TEST_METHOD not in base._REGISTRY:  # a test may have registered it with checkpoints
        register_test_methods()
    Processing.initialize()
    registry = QgsApplication.processingRegistry()
    provider = OVSSProvider()
    assert registry.addProvider(provider)
    yield provider
    registry.removeProvider(provider)


class RecordingFeedback(QgsProcessingFeedback):
    """Records progress and info lines, and cancels itself once ``cancel_at`` percent is reached."""

    def __init__(self, cancel_at: float | None = None) -> None:
        super().__init__()
        self.values: list[float] = []
        self.infos: list[str] = []
        self.cancel_at = cancel_at
        self.progressChanged.connect(self._record)

    def _record(self, value: float) -> None:
        self.values.append(value)
        if self.cancel_at is not None and value >= self.cancel_at:
            self.cancel()

    def pushInfo(self, info: str) -> None:
        """Keep the line, then log it as usual."""
        self.infos.append(info)
        super().pushInfo(info)
