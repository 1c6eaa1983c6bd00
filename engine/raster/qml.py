"""QGIS layer styles (``.qml``) for the outputs, written without QGIS: QML is XML, built with the stdlib.

QGIS applies ``<stem>.qml`` when it opens ``<stem>.tif``, so an output opened in QGIS without the plugin
shows the class legend (one entry per class, nodata transparent) or a fixed grey ramp over the value range
of a continuous output, instead of QGIS's guess from the data.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

QGIS_VERSION = "3.22.0"  # the oldest QGIS the plugin supports reads these styles
_DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"


def style_path(path: str | os.PathLike[str]) -> Path:
    """Where QGIS looks for a raster's default style: the same name with ``.qml``."""
    return Path(path).with_suffix(".qml")


def _document(renderer: ET.Element) -> str:
    """A complete QML document whose raster pipe holds ``renderer``."""
    root = ET.Element("qgis", version=QGIS_VERSION, styleCategories="AllStyleCategories")
    pipe = ET.SubElement(root, "pipe")
    pipe.append(renderer)
    ET.SubElement(pipe, "brightnesscontrast", brightness="0", contrast="0", gamma="1")
    ET.SubElement(pipe, "huesaturation", saturation="0", grayscaleMode="0", colorizeOn="0")
    ET.SubElement(pipe, "rasterresampler", maxOversampling="2")
    ET.SubElement(root, "blendMode").text = "0"
    ET.indent(root)
    return _DOCTYPE + ET.tostring(root, encoding="unicode") + "\n"


def paletted_style(names: Sequence[str], colors: Sequence[tuple[int, int, int]]) -> str:
    """A paletted style of band 1: value k+1 shows class k's name and colour; 0 (nodata) has no entry."""
    renderer = ET.Element("rasterrenderer", type="paletted", band="1", opacity="1", alphaBand="-1")
    palette = ET.SubElement(renderer, "colorPalette")
    for value, (name, color) in enumerate(zip(names, colors, strict=True), start=1):
        ET.SubElement(
            palette,
            "paletteEntry",
            value=str(value),
            color="#{:02x}{:02x}{:02x}".format(*color[:3]),
            alpha="255",
            label=name,
        )
    return _document(renderer)


def grey_style(band: int, minimum: float, maximum: float) -> str:
    """A single-band grey style of ``band`` stretched from ``minimum`` (black) to ``maximum`` (white)."""
    renderer = ET.Element(
        "rasterrenderer", type="singlebandgray", grayBand=str(band), gradient="BlackToWhite", opacity="1",
        alphaBand="-1",
    )
    enhancement = ET.SubElement(renderer, "contrastEnhancement")
    ET.SubElement(enhancement, "minValue").text = repr(float(minimum))
    ET.SubElement(enhancement, "maxValue").text = repr(float(maximum))
    ET.SubElement(enhancement, "algorithm").text = "StretchToMinimumMaximum"
    return _document(renderer)
