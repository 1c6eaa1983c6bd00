"""The dock's settings, kept between QGIS sessions in ``QgsSettings``, and the plugin's user folders.

:class:`DockSettings` is plain data: one field per control of the dock. :func:`save_settings` writes each
field under ``ovss/dock/<field>``; :func:`load_settings` reads them back, falling back to the default of a
field whose stored value is missing or of the wrong type, so a damaged profile never stops the plugin.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from qgis.core import QgsApplication, QgsSettings

SETTINGS_GROUP = "ovss/dock"
CLASS_MAPPING_KEY = "ovss/evaluate/class_mapping"  # ovss:evaluate's last class mapping table, as JSON
DEFAULT_LABELS = (
    "building: buildings, roofs; road: road, street, parking lot; tree: trees; "
    "low vegetation: grass, lawn, low vegetation; water: water, river, lake; bare soil: bare soil, sand"
)
AREA_MODES = ("layer", "canvas", "custom")
OUTPUT_MODES = ("temporary", "file")


@dataclass(frozen=True)
class DockSettings:
    """What the dock remembers: the last labels, the method and its parameters, tiling, device, output."""

    labels_text: str = DEFAULT_LABELS
    preset: str = ""  # "builtin:<name>" or "user:<name>"
    method: str = ""
    method_params: str = "{}"  # JSON: {method: {parameter: value}} for values that differ from the defaults
    area: str = "layer"
    tile: int = 512
    overlap: int = 64
    batch: int = 0  # tiles per model call, 0: automatic (as many as fit the free memory)
    precision: str = "auto"
    device: str = "auto"
    output_mode: str = "temporary"
    output_path: str = ""
    confidence: bool = False
    polygons: bool = False  # also write the class polygons (GeoPackage)
    keep_models: bool = True
    weights_dir: str = ""

    def params_for(self, method: str) -> dict[str, Any]:
        """The stored parameter overrides of ``method`` (empty when none or unreadable)."""
        try:
            stored = json.loads(self.method_params)
        except json.JSONDecodeError:
            return {}
        values = stored.get(method, {}) if isinstance(stored, dict) else {}
        return dict(values) if isinstance(values, dict) else {}

    def with_params(self, method: str, params: dict[str, Any]) -> DockSettings:
        """A copy whose parameter overrides of ``method`` are ``params``."""
        try:
            stored = json.loads(self.method_params)
        except json.JSONDecodeError:
            stored = {}
        stored = stored if isinstance(stored, dict) else {}
        stored[method] = dict(params)
        return replace(self, method_params=json.dumps(stored, sort_keys=True))


def _coerce(value: Any, default: Any) -> Any:
    """``value`` as read from QgsSettings, converted to the type of ``default``; ``default`` if impossible."""
    if value is None:
        return default
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        return {"true": True, "1": True, "false": False, "0": False}.get(text, default)
    if isinstance(default, int):
        try:
            return int(value)
        except (TypeError, ValueError):
            return default
    return value if isinstance(value, str) else default


def load_settings(store: QgsSettings | None = None) -> DockSettings:
    """The dock settings saved in the user's profile (defaults for anything missing or invalid)."""
    store = store if store is not None else QgsSettings()
    defaults = DockSettings()
    values = {
        f.name: _coerce(store.value(f"{SETTINGS_GROUP}/{f.name}", None), getattr(defaults, f.name))
        for f in fields(DockSettings)
    }
    if values["area"] not in AREA_MODES:
        values["area"] = defaults.area
    if values["output_mode"] not in OUTPUT_MODES:
        values["output_mode"] = defaults.output_mode
    if values["batch"] < 0:
        values["batch"] = defaults.batch
    return DockSettings(**values)


def save_settings(settings: DockSettings, store: QgsSettings | None = None) -> None:
    """Write every field of ``settings`` to the user's profile."""
    store = store if store is not None else QgsSettings()
    for name, value in asdict(settings).items():
        store.setValue(f"{SETTINGS_GROUP}/{name}", value)


def plugin_data_dir() -> Path:
    """The plugin's folder inside the active QGIS profile (``<profile>/ovss``)."""
    return Path(QgsApplication.qgisSettingsDirPath()) / "ovss"


def user_presets_dir() -> Path:
    """Where the user's own label presets are saved (one JSON file per preset)."""
    return plugin_data_dir() / "presets"


def load_class_mapping(store: QgsSettings | None = None) -> list[str]:
    """The last class mapping table of ``ovss:evaluate`` (flat: value, class, value, class, ...); empty when
    none was saved or the stored value is unreadable."""
    store = store if store is not None else QgsSettings()
    try:
        values = json.loads(str(store.value(CLASS_MAPPING_KEY, "[]")))
    except json.JSONDecodeError:
        return []
    if not isinstance(values, list) or len(values) % 2:
        return []
    return [str(value) for value in values]


def save_class_mapping(values: list[str], store: QgsSettings | None = None) -> None:
    """Remember ``values`` as the class mapping table that ``ovss:evaluate`` offers next time."""
    store = store if store is not None else QgsSettings()
    store.setValue(CLASS_MAPPING_KEY, json.dumps([str(value) for value in values]))
