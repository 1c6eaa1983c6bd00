"""Test doubles and data for the dock and task tests: a tiny deterministic method and small GeoTIFFs.

The method classifies each pixel by its distance to the class colours (softmax of the negative distances),
so a test can compute the expected classes independently with a plain numpy argmin. It is registered in
the registry of the package the plugin uses (``ovss.engine.methods``), only for the test that asks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

TINY = "tiny-colour"
BROKEN = "tiny-broken"
NEEDS_WEIGHTS = "tiny-needs-weights"
EPSG = 32632
ORIGIN = (356000.0, 5645000.0)
PIXEL = 0.5


@dataclass(frozen=True)
class TinyConfig:
    """Parameters with defaults, as a real method's config dataclass has."""

    sharpness: float = 0.05
    levels: int = 3
    normalise: bool = True


class ColourDistanceMethod:
    """Probabilities from the distance of each pixel to each class colour; ``hook`` runs before each tile."""

    name = TINY
    min_tile = 8

    def __init__(self, config: TinyConfig, hook: Callable[[], None] | None = None) -> None:
        self.config = config
        self.hook = hook
        self.colours = np.zeros((0, 3), np.float32)
        self.prepared: list[tuple[str, ...]] = []

    def prepare(self, labels) -> None:
        self.colours = np.array(labels.colors, np.float32)
        self.prepared.append(labels.names)

    def predict(self, tile: np.ndarray) -> np.ndarray:
        if self.hook is not None:
            self.hook()
        distance = np.linalg.norm(tile[None] - self.colours[:, :, None, None], axis=1)
        logits = -self.config.sharpness * distance
        logits -= logits.max(axis=0, keepdims=True)
        weights = np.exp(logits)
        return (weights / weights.sum(axis=0, keepdims=True)).astype(np.float32)


class Registered:
    """What the ``tiny_methods`` fixture gives a test: build counts and a per-tile hook to set."""

    def __init__(self) -> None:
        self.builds = 0
        self.hook: Callable[[], None] | None = None
        self.instances: list[ColourDistanceMethod] = []


def register_doubles(monkeypatch: pytest.MonkeyPatch) -> Registered:
    """Register the doubles in a private copy of the plugin package's method registry (undone after the test)."""
    from ovss.engine.errors import MissingWeightsError
    from ovss.engine.methods import base

    base.available_methods()  # load the built-in methods into the real registry first
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))
    state = Registered()

    @base.register_method(TINY, "Nearest class colour (test double)", config_class=TinyConfig)
    def build_tiny(**kwargs) -> ColourDistanceMethod:
        state.builds += 1
        method = ColourDistanceMethod(TinyConfig(**kwargs["params"]), lambda: state.hook and state.hook())
        state.instances.append(method)
        return method

    @base.register_method(BROKEN, "Fails in predict (test double)")
    def build_broken(**_kwargs) -> ColourDistanceMethod:
        method = ColourDistanceMethod(TinyConfig())
        method.predict = lambda tile: (_ for _ in ()).throw(RuntimeError("boom in predict"))
        return method

    @base.register_method(
        NEEDS_WEIGHTS, "Needs a checkpoint (test double)", checkpoints=("simfeatup-jbu-stack-clip-b16",)
    )
    def build_needs_weights(**kwargs) -> ColourDistanceMethod:
        raise MissingWeightsError(
            f"checkpoint clip_jbu_stack_cocostuff.ckpt not found in {kwargs['weights_dir']}; download it"
        )

    return state


def make_geotiff(path: Path, width: int = 96, height: int = 80, bands: int = 3, seed: int = 0) -> np.ndarray:
    """A Byte GeoTIFF in UTM 32N with random colours in blocks; returns the (bands, H, W) array written."""
    from osgeo import gdal, osr

    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(bands, (height + 15) // 16, (width + 15) // 16))
    data = np.repeat(np.repeat(blocks, 16, axis=1), 16, axis=2)[:, :height, :width].astype(np.uint8)
    dataset = gdal.GetDriverByName("GTiff").Create(str(path), width, height, bands, gdal.GDT_Byte)
    dataset.SetGeoTransform((ORIGIN[0], PIXEL, 0.0, ORIGIN[1], 0.0, -PIXEL))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(EPSG)
    dataset.SetProjection(srs.ExportToWkt())
    for index in range(bands):
        dataset.GetRasterBand(index + 1).WriteArray(data[index])
    dataset.FlushCache()
    dataset = None
    return data


def nearest_colour_classes(rgb: np.ndarray, colours) -> np.ndarray:
    """The expected output: 1 + index of the nearest class colour, pixel by pixel (plain loops over classes)."""
    best = np.full(rgb.shape[1:], np.inf)
    classes = np.zeros(rgb.shape[1:], np.uint8)
    for index, colour in enumerate(colours):
        distance = np.sqrt(sum((rgb[c].astype(float) - colour[c]) ** 2 for c in range(3)))
        closer = distance < best
        best[closer] = distance[closer]
        classes[closer] = index + 1
    return classes


def wait_for(condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    """Process Qt events until ``condition()`` holds (the task manager delivers results through events)."""
    import time

    from qgis.PyQt.QtCore import QCoreApplication

    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the task")
        QCoreApplication.processEvents()
        time.sleep(0.01)


@contextlib.contextmanager
def fresh_dock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, iface) -> Iterator:
    """A dock on clean settings, its user presets under ``tmp_path`` (register the doubles first where the test
    needs them); shut down, its settings and the project's layers removed afterwards."""
    from qgis.core import QgsProject, QgsSettings

    import ovss.ovss_plugin.panels.classes_panel as classes_module
    from ovss.ovss_plugin.dock import OVSSDock

    QgsSettings().remove("ovss/dock")
    monkeypatch.setattr(classes_module, "user_presets_dir", lambda: tmp_path / "presets")
    widget = OVSSDock(None, iface=iface)
    try:
        yield widget
    finally:
        widget.shutdown()
        widget.deleteLater()
        QgsSettings().remove("ovss/dock")
        QgsProject.instance().removeAllMapLayers()
