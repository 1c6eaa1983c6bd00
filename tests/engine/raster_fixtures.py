"""Shared helpers of the raster, pipeline and segment tests: tiny rasters and a test-double method.

The test double classifies each pixel by its distance to one reference colour per class (a pure per-pixel
function), so the expected output of any raster can be computed independently with numpy, and any seam or
offset introduced by tiling or stitching shows up as a difference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from osgeo import gdal, osr

from engine.labels import parse_labels
from engine.methods.base import register_method

TEST_METHOD = "test-colours"
# reference colours of the three test classes (RGB, 0..255): dark, mid, bright
REFERENCE = np.array([[20.0, 20.0, 20.0], [128.0, 128.0, 128.0], [235.0, 235.0, 235.0]], dtype=np.float32)
LABEL_TEXT = "dark #102030: shadow, asphalt; mid: grey; bright: roofs, snow"
GEOTRANSFORM = (350000.0, 0.5, 0.0, 5650000.0, 0.0, -0.5)
TEMPERATURE = 400.0


def utm32_wkt() -> str:
    """WKT of EPSG:32632 (WGS 84 / UTM 32N)."""
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    return srs.ExportToWkt()


def labels():
    """The test label set (three classes)."""
    return parse_labels(LABEL_TEXT)


def colour_probabilities(rgb: np.ndarray) -> np.ndarray:
    """Softmax over classes of minus the squared distance to each reference colour, per pixel."""
    return distance_probabilities(rgb, REFERENCE)


def distance_probabilities(rgb: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Softmax over classes of minus the squared distance of each pixel to each colour of ``reference (K, 3)``."""
    dist = ((rgb[None, :, :, :] - reference[:, :, None, None]) ** 2).sum(axis=1)
    logits = -dist / TEMPERATURE
    logits -= logits.max(axis=0, keepdims=True)
    exp = np.exp(logits)
    return (exp / exp.sum(axis=0, keepdims=True)).astype(np.float32)


class ColourMethod:
    """Test double of the Method contract; records every tile shape it is given."""

    name = TEST_METHOD
    min_tile = 8

    def __init__(self, **_: object) -> None:
        self.calls: list[tuple[int, ...]] = []
        self.prepared = None

    def prepare(self, labels) -> None:
        self.prepared = labels

    def predict(self, tile: np.ndarray) -> np.ndarray:
        assert tile.dtype == np.float32 and tile.shape[0] == 3
        assert tile.min() >= 0.0 and tile.max() <= 255.0
        self.calls.append(tile.shape)
        return colour_probabilities(tile)


register_method(TEST_METHOD, "per-pixel colour distance (test double)")(ColourMethod)


def expected_classes(rgb: np.ndarray) -> np.ndarray:
    """Class values (k + 1) the test double gives a whole image."""
    return (np.argmax(colour_probabilities(rgb.astype(np.float32)), axis=0) + 1).astype(np.uint8)


def pattern(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A blocky RGB Byte image of the three reference colours with some noise: ``(3, h, w)``, never 0."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 3, size=(height // 7 + 1, width // 7 + 1))
    classes = np.kron(blocks, np.ones((7, 7), dtype=int))[:height, :width]
    image = REFERENCE[classes].transpose(2, 0, 1) + rng.normal(0, 8, size=(3, height, width))
    return np.clip(np.rint(image), 1, 255).astype(np.uint8)


def write_raster(
    path: Path,
    data: np.ndarray,
    *,
    driver: str = "GTiff",
    nodata: float | None = None,
    geotransform: tuple[float, ...] | None = GEOTRANSFORM,
    projection: str | None = "utm32",
    alpha: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    options: tuple[str, ...] = (),
) -> Path:
    """Write ``data`` ``(bands, h, w)`` (its numpy dtype picks the GDAL type) as a raster; returns ``path``.

    ``alpha`` adds an alpha band, ``mask`` an internal per-dataset mask (both: 0 = invalid).
    """
    from osgeo import gdal_array

    bands, height, width = data.shape
    gdal_type = gdal_array.NumericTypeCodeToGDALTypeCode(data.dtype)
    count = bands + (alpha is not None)
    mem = gdal.GetDriverByName("MEM").Create("", width, height, count, gdal_type)
    for i in range(bands):
        mem.GetRasterBand(i + 1).WriteArray(data[i])
        if nodata is not None:
            mem.GetRasterBand(i + 1).SetNoDataValue(nodata)
    if alpha is not None:
        band = mem.GetRasterBand(count)
        band.WriteArray(alpha.astype(data.dtype))
        band.SetColorInterpretation(gdal.GCI_AlphaBand)
    if geotransform is not None:
        mem.SetGeoTransform(geotransform)
    if projection:
        mem.SetProjection(utm32_wkt() if projection == "utm32" else projection)
    if mask is not None:
        mem.CreateMaskBand(gdal.GMF_PER_DATASET)
        mem.GetRasterBand(1).GetMaskBand().WriteArray((mask > 0).astype(np.uint8) * 255)
    out = gdal.GetDriverByName(driver).CreateCopy(str(path), mem, options=list(options))
    assert out is not None, gdal.GetLastErrorMsg()
    out = None
    return path
