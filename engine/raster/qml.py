"""QGIS layer styles (``.qml``) for the outputs, written without QGIS: QML is XML, built with the stdlib.

QGIS applies ``<stem>.qml`` when it opens ``<stem>.tif``, so an output opened in QGIS without the plugin
shows the class legend (one entry per class, nodata transparent) or a fixed grey ramp over the value range
of a continuous output, instead of QGIS's guess from the data. The polygons of the classes
(:mod:`engine.analysis.polygons`) get the same colours and names as a categorized style of their
``class_value`` field.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
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
    return _text(root)


def _text(root: ET.Element) -> str:
    """The QML text of a style's root element."""
    ET.indent(root)
    return _DOCTYPE + ET.tostring(root, encoding="unicode") + "\n"


def _hex(color: Sequence[int]) -> str:
    """``#rrggbb`` of an RGB(A) colour."""
    return "#{:02x}{:02x}{:02x}".format(*color[:3])


def paletted_style(names: Sequence[str], colors: Sequence[tuple[int, int, int]]) -> str:
    """A paletted style of band 1: value k+1 shows class k's name and colour; 0 (nodata) has no entry."""
    renderer = ET.Element("rasterrenderer", type="paletted", band="1", opacity="1", alphaBand="-1")
    palette = ET.SubElement(renderer, "colorPalette")
    for value, (name, color) in enumerate(zip(names, colors, strict=True), start=1):
        ET.SubElement(
            palette,
            "paletteEntry",
            value=str(value),
            color=_hex(color),
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


def categorized_style(
    names: Mapping[int, str], colors: Sequence[tuple[int, int, int]], field: str = "class_value"
) -> str:
    """A vector style of polygons: one category per class value of ``field`` (value k+1 = ``colors[k]``),
    filled in the class colour with a thin darker outline; values past the colours (uncertain) are grey."""
    root = ET.Element("qgis", version=QGIS_VERSION, styleCategories="AllStyleCategories")
    renderer = ET.SubElement(
        root, "renderer-v2", type="categorizedSymbol", attr=field, symbollevels="0", enableorderby="0",
        forceraster="0",
    )
    categories = ET.SubElement(renderer, "categories")
    symbols = ET.SubElement(renderer, "symbols")
    for index, (value, name) in enumerate(sorted(names.items())):
        color = colors[value - 1] if 0 < value <= len(colors) else (128, 128, 128)
        ET.SubElement(categories, "category", value=str(value), label=name, symbol=str(index), render="true")
        symbol = ET.SubElement(
            symbols, "symbol", type="fill", name=str(index), alpha="1", clip_to_extent="1", force_rhr="0"
        )
        layer = ET.SubElement(symbol, "layer", **{"class": "SimpleFill", "pass": "0", "locked": "0", "enabled": "1"})
        outline = tuple(int(c * 0.6) for c in color[:3])
        for key, text in (
            ("color", "{},{},{},255".format(*color[:3])),
            ("outline_color", "{},{},{},255".format(*outline)),
            ("outline_style", "solid"),
            ("outline_width", "0.2"),
            ("outline_width_unit", "MM"),
            ("style", "solid"),
        ):
            ET.SubElement(layer, "prop", k=key, v=text)
    ET.SubElement(root, "blendMode").text = "0"
    return _text(root)


def read_paletted_style(path: str | os.PathLike[str]) -> dict[int, tuple[str, tuple[int, int, int]]]:
    """Value -> (label, colour) of the paletted style saved beside a raster (empty when there is none)."""
    qml = style_path(path)
    if not qml.is_file():
        return {}
    try:
        root = ET.parse(qml).getroot()
    except ET.ParseError:
        return {}
    entries = {}
    for entry in root.iter("paletteEntry"):
        color = entry.get("color", "#808080").lstrip("#")
        rgb = (int(color[0:2], 16), int(color[2:4], 16), int(color[4:6], 16))
        entries[int(float(entry.get("value", "0")))] = (entry.get("label") or entry.get("value", ""), rgb)
    return entries
