"""Label sets, the label syntax and the dataset presets.

A :class:`LabelSet` is what a method segments into: an ordered tuple of :class:`LabelClass` (display name,
one or more text prompts whose embeddings are averaged into one class embedding, as SDCI's Set-of-Gen does,
and a colour), plus optionally which class is the dataset's background (SegEarth-OV thresholds
low-confidence pixels into it; SDCI never predicts it). The text syntax (dock, Processing, command line) is
described in :func:`parse_labels`; :meth:`LabelSet.to_text` writes it back so that parsing round-trips.

Presets are JSON data under ``engine/presets/`` (one file per preset, see ``docs/PRESETS.md``): a label set
plus the per-dataset parameters of each method. Users save their own presets in the same format.

This module is imported by the command line and the QGIS plugin at start-up: standard library only.
"""

from __future__ import annotations

import colorsys
import difflib
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import LabelError

RGB = tuple[int, int, int]

BACKGROUND_MARK = "(background)"
PRESET_FORMAT = 1
PRESET_KINDS = ("ori", "gen", "setgen", "segearth", "custom")
BUILTIN_PRESET_DIR = Path(__file__).resolve().with_name("presets")

# Kelly's colours of maximum contrast without white and black (black reads as nodata, white as empty).
# fmt: off
_KELLY = (
    "F3C300", "875692", "F38400", "A1CAF1", "BE0032", "C2B280", "848482", "008856", "E68FAC", "0067A5",
    "F99379", "604E97", "F6A600", "B3446C", "DCD300", "882D17", "8DB600", "654522", "E25822", "2B3D26",
)
# fmt: on
_GOLDEN_ANGLE = 0.381966  # fraction of the hue circle: consecutive hues stay far apart
_FORBIDDEN = (";", ",", ":", "#")
_COLOR_TOKEN = re.compile(r"(?:^|\s)#([0-9A-Fa-f]{6})$")
_PRESET_NAME = re.compile(r"^\w(?:[\w .-]{0,62}\w)?$")
_PRESET_KEYS = frozenset(
    {"format", "name", "dataset", "kind", "description", "sources", "classes", "background", "params"}
)


def default_color(index: int) -> RGB:
    """The default colour of class ``index``: Kelly's 20 contrast colours, then golden-angle hues.

    Deterministic, so a label text without colours always maps to the same legend.
    """
    if index < 0:
        raise ValueError(f"class index must be >= 0, got {index}")
    if index < len(_KELLY):
        code = _KELLY[index]
        return int(code[0:2], 16), int(code[2:4], 16), int(code[4:6], 16)
    step = index - len(_KELLY)
    hue = (step * _GOLDEN_ANGLE) % 1.0
    value = (0.95, 0.7)[step % 2]
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.75, value)
    return round(red * 255), round(green * 255), round(blue * 255)


def _normalise(text: str) -> str:
    """Trim and collapse every run of whitespace to one space."""
    return " ".join(text.split())


def _check_color(color: Any) -> RGB:
    """An RGB triple of ints in 0..255 (lists from JSON accepted); LabelError otherwise."""
    if (
        not isinstance(color, tuple | list)
        or len(color) != 3
        or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in color)
    ):
        raise LabelError(f"colour {color!r} is not three integers in 0..255")
    return int(color[0]), int(color[1]), int(color[2])


def _check_text(text: Any, what: str) -> None:
    """A name or prompt must survive the label syntax: trimmed, no separators, no attribute markers."""
    if not isinstance(text, str) or not text or text != _normalise(text):
        raise LabelError(f"{what} {text!r} must be non-empty text without extra spaces")
    if any(c in text for c in _FORBIDDEN) or text.lower().endswith(BACKGROUND_MARK):
        raise LabelError(f"{what} {text!r} must not contain ; , : # or end with {BACKGROUND_MARK}")


def color_to_hex(color: RGB) -> str:
    """``(255, 0, 0)`` -> ``"#ff0000"``."""
    return "#{:02x}{:02x}{:02x}".format(*color)


@dataclass(frozen=True)
class LabelClass:
    """One class: its display name, the prompts averaged into its text embedding, and its map colour."""

    name: str
    prompts: tuple[str, ...]
    color: RGB

    def __post_init__(self) -> None:
        """Check that the class can be written in the label syntax and read back unchanged."""
        _check_text(self.name, "class name")
        prompts = tuple(self.prompts) if isinstance(self.prompts, list | tuple) else None
        if not prompts:
            raise LabelError(f"class {self.name!r} has no prompts")
        for prompt in prompts:
            _check_text(prompt, f"class {self.name!r}: prompt")
        object.__setattr__(self, "prompts", prompts)
        object.__setattr__(self, "color", _check_color(self.color))


@dataclass(frozen=True)
class LabelSet:
    """An ordered set of at least two classes with unique names (compared ignoring case).

    ``background`` is the index of the dataset's background / clutter / "other" class, or ``None``.
    Class ``k`` is pixel value ``k + 1`` in the output raster.
    """

    classes: tuple[LabelClass, ...]
    background: int | None = None

    def __post_init__(self) -> None:
        """Validate the class count, name uniqueness and the background index."""
        classes = tuple(self.classes)
        if not all(isinstance(c, LabelClass) for c in classes):
            raise TypeError("LabelSet.classes must hold LabelClass objects")
        if len(classes) < 2:
            raise LabelError(f"at least two classes are needed, got {len(classes)}")
        seen: dict[str, int] = {}
        for index, label_class in enumerate(classes):
            key = label_class.name.casefold()
            if key in seen:
                raise LabelError(
                    f"duplicate class name {label_class.name!r} (classes {seen[key] + 1} and {index + 1}; "
                    "names are compared ignoring case)"
                )
            seen[key] = index
        background = self.background
        if background is not None and (
            isinstance(background, bool)
            or not isinstance(background, int)
            or not 0 <= background < len(classes)
        ):
            raise LabelError(f"background index {background!r} is not a class index 0..{len(classes) - 1}")
        object.__setattr__(self, "classes", classes)

    def __len__(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def __iter__(self) -> Iterator[LabelClass]:
        """The classes in order."""
        return iter(self.classes)

    def __getitem__(self, index: int) -> LabelClass:
        """Class ``index``."""
        return self.classes[index]

    @property
    def names(self) -> tuple[str, ...]:
        """Display names in class order (legend labels, raster category names)."""
        return tuple(c.name for c in self.classes)

    @property
    def colors(self) -> tuple[RGB, ...]:
        """Colours in class order."""
        return tuple(c.color for c in self.classes)

    @property
    def foreground_indices(self) -> tuple[int, ...]:
        """Indices of every class except the background (what SDCI predicts and evaluates)."""
        return tuple(i for i in range(len(self.classes)) if i != self.background)

    def with_colors(self, colors: Sequence[RGB]) -> LabelSet:
        """The same classes with new colours, one per class in order."""
        if len(colors) != len(self.classes):
            raise LabelError(f"{len(colors)} colours given for {len(self.classes)} classes")
        return LabelSet(
            tuple(
                LabelClass(c.name, c.prompts, color) for c, color in zip(self.classes, colors, strict=True)
            ),
            self.background,
        )

    def to_text(self, separator: str = "; ") -> str:
        """The label syntax for this set; :func:`parse_labels` reads it back to an equal set.

        A class is written as ``prompt, prompt`` when its name is its first prompt, otherwise as
        ``name: prompt, prompt``; a colour other than the default palette's and the background mark follow
        the name (``name #rrggbb (background): ...``), or a single prompt (``prompt #rrggbb``).
        """
        if separator not in ("; ", ";", "\n"):
            raise ValueError("separator must be '; ', ';' or a newline")
        entries = []
        for index, label_class in enumerate(self.classes):
            attributes = ""
            if label_class.color != default_color(index):
                attributes += f" {color_to_hex(label_class.color)}"
            if index == self.background:
                attributes += f" {BACKGROUND_MARK}"
            prompts = ", ".join(label_class.prompts)
            bare = label_class.name == label_class.prompts[0]
            if bare and (not attributes or len(label_class.prompts) == 1):
                entries.append(f"{prompts}{attributes}")
            else:
                entries.append(f"{label_class.name}{attributes}: {prompts}")
        return separator.join(entries)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"classes": [{"name", "prompts", "color"}], "background": int | None}``."""
        return {
            "classes": [
                {"name": c.name, "prompts": list(c.prompts), "color": list(c.color)} for c in self.classes
            ],
            "background": self.background,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LabelSet:
        """Inverse of :meth:`to_dict`, validating every field (LabelError on bad data)."""
        classes = data.get("classes")
        if not isinstance(classes, list):
            raise LabelError("'classes' must be a list of {name, prompts, color} objects")
        parsed = []
        for number, item in enumerate(classes, start=1):
            if not isinstance(item, dict) or set(item) != {"name", "prompts", "color"}:
                raise LabelError(f"class {number} must be an object with exactly 'name', 'prompts', 'color'")
            if not isinstance(item["prompts"], list):
                raise LabelError(f"class {number}: 'prompts' must be a list of strings")
            parsed.append(LabelClass(item["name"], tuple(item["prompts"]), item["color"]))
        return cls(tuple(parsed), data.get("background"))


def _split_attributes(head: str, where: str) -> tuple[str, RGB | None, bool]:
    """Split ``name [#rrggbb] [(background)]`` into its parts."""
    background = head.lower().endswith(BACKGROUND_MARK)
    if background:
        head = head[: -len(BACKGROUND_MARK)].rstrip()
    color = None
    match = _COLOR_TOKEN.search(head)
    if match:
        code = match.group(1)
        color = (int(code[0:2], 16), int(code[2:4], 16), int(code[4:6], 16))
        head = head[: match.start()].rstrip()
    if "#" in head:
        raise LabelError(f"{where}: colour in {head!r} is not of the form #RRGGBB")
    return head, color, background


def _parse_class(entry: str, where: str, index: int) -> tuple[LabelClass, bool]:
    """One class entry ``[name [#rrggbb] [(background)]:] prompt, prompt, ...``."""
    head, colon, body = entry.partition(":")
    if not colon:
        head, body = "", entry
    if ":" in body:
        raise LabelError(f"{where}: more than one ':' (only one 'Name:' prefix per class)")
    name, color, background = _split_attributes(_normalise(head), where)
    pieces = [_normalise(p) for p in body.split(",")]
    if len(pieces) > 1 and not pieces[-1]:
        pieces.pop()  # a trailing comma is tolerated
    if not any(pieces):
        raise LabelError(f"{where}: class {name or entry.strip()!r} has no prompts")
    if not all(pieces):
        raise LabelError(f"{where}: empty prompt in {entry.strip()!r} (two commas in a row or a leading one)")
    if not colon:
        pieces[-1], color, background = _split_attributes(pieces[-1], where)
        if not pieces[-1]:
            raise LabelError(f"{where}: class has a colour or background mark but no prompt")
    try:
        label_class = LabelClass(name or pieces[0], tuple(pieces), color or default_color(index))
    except LabelError as exc:
        raise LabelError(f"{where}: {exc}") from None
    return label_class, background


def parse_labels(text: str) -> LabelSet:
    """Parse the label syntax of the design document into a :class:`LabelSet`.

    Classes are separated by ``;`` or new lines; within a class, prompts are separated by ``,``; an
    optional ``Name:`` prefix gives the display name (default: the first prompt). Whitespace is trimmed and
    collapsed; a trailing ``;`` or ``,`` and blank lines are tolerated. Extensions (``docs/PRESETS.md``):
    ``#RRGGBB`` after the name sets the colour, ``(background)`` after it marks the background class
    (both may also end a class that has no ``Name:`` prefix). Errors name the line and class number.
    """
    if not isinstance(text, str) or not text.strip():
        raise LabelError("label text is empty: give at least two classes separated by ';' or new lines")
    classes: list[LabelClass] = []
    background: int | None = None
    for line_number, line in enumerate(text.splitlines(), start=1):
        entries = line.split(";")
        for position, entry in enumerate(entries):
            where = f"label text, line {line_number}, class {len(classes) + 1}"
            if not entry.strip():
                if position == len(entries) - 1 and (position > 0 or not line.strip()):
                    continue  # trailing separator or blank line
                raise LabelError(f"{where}: empty class (two separators in a row or a leading ';')")
            label_class, is_background = _parse_class(entry, where, len(classes))
            if is_background:
                if background is not None:
                    raise LabelError(f"{where}: a second background class (class {background + 1} is one)")
                background = len(classes)
            classes.append(label_class)
    try:
        return LabelSet(tuple(classes), background)
    except LabelError as exc:
        raise LabelError(f"label text: {exc}") from None


@dataclass(frozen=True)
class Preset:
    """A named label set with the per-dataset parameters of each method (``{method: {param: value}}``)."""

    name: str
    dataset: str
    kind: str
    description: str
    labels: LabelSet
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    sources: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The preset file's JSON object."""
        return {
            "format": PRESET_FORMAT,
            "name": self.name,
            "dataset": self.dataset,
            "kind": self.kind,
            "description": self.description,
            "sources": list(self.sources),
            **self.labels.to_dict(),
            "params": {method: dict(values) for method, values in self.params.items()},
        }


def preset_to_json(preset: Preset) -> str:
    """The preset file's text: one class, source or method per line, so that files diff and edit well."""
    fields = []
    for key, value in preset.to_dict().items():
        if isinstance(value, list) and value:
            items = [f"    {json.dumps(item, ensure_ascii=False)}" for item in value]
            text = "[\n" + ",\n".join(items) + "\n  ]"
        elif isinstance(value, dict) and value:
            items = [f"    {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in value.items()]
            text = "{\n" + ",\n".join(items) + "\n  }"
        else:
            text = json.dumps(value, ensure_ascii=False)
        fields.append(f"  {json.dumps(key)}: {text}")
    return "{\n" + ",\n".join(fields) + "\n}\n"


def _is_scalar(value: Any) -> bool:
    """A JSON scalar a method config can take."""
    return value is None or isinstance(value, bool | int | float | str)


def preset_from_dict(data: Any, origin: str = "preset") -> Preset:
    """Validate a preset JSON object and build the :class:`Preset` (LabelError naming ``origin``)."""
    try:
        if not isinstance(data, dict):
            raise LabelError("the file must hold one JSON object")
        unknown = sorted(set(data) - _PRESET_KEYS)
        missing = sorted(_PRESET_KEYS - set(data))
        if unknown or missing:
            raise LabelError(f"unknown keys {unknown}, missing keys {missing}")
        if data["format"] != PRESET_FORMAT:
            raise LabelError(f"format {data['format']!r} is not supported (expected {PRESET_FORMAT})")
        name = data["name"]
        if not isinstance(name, str) or not _PRESET_NAME.match(name):
            raise LabelError(f"name {name!r} must be 1-64 letters, digits, spaces, '.', '_' or '-'")
        if data["kind"] not in PRESET_KINDS:
            raise LabelError(f"kind {data['kind']!r} is not one of {', '.join(PRESET_KINDS)}")
        for key in ("dataset", "description"):
            if not isinstance(data[key], str):
                raise LabelError(f"{key!r} must be a string")
        sources = data["sources"]
        if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
            raise LabelError("'sources' must be a list of strings")
        params = data["params"]
        if not isinstance(params, dict) or not all(
            isinstance(values, dict) and all(isinstance(k, str) and _is_scalar(v) for k, v in values.items())
            for values in params.values()
        ):
            raise LabelError("'params' must map method names to {parameter: number, string or bool}")
        labels = LabelSet.from_dict(data)
    except LabelError as exc:
        raise LabelError(f"{origin}: {exc}") from None
    return Preset(
        name=name,
        dataset=data["dataset"],
        kind=data["kind"],
        description=data["description"],
        labels=labels,
        params={method: dict(values) for method, values in params.items()},
        sources=tuple(sources),
    )


def read_preset_file(path: str | Path) -> Preset:
    """Read and validate one preset JSON file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LabelError(f"preset file {path}: cannot be read ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise LabelError(f"preset file {path}: invalid JSON at line {exc.lineno} ({exc.msg})") from None
    return preset_from_dict(data, f"preset file {path}")


def list_presets(user_folder: str | Path | None = None) -> list[str]:
    """Names of the built-in presets, sorted, then those saved in ``user_folder``."""
    names = sorted(path.stem for path in BUILTIN_PRESET_DIR.glob("*.json"))
    if user_folder is not None:
        names += sorted(p.name for p in load_presets_from(user_folder))
    return names


def load_preset(name: str, user_folder: str | Path | None = None) -> Preset:
    """The built-in preset ``name`` (or one saved in ``user_folder``); LabelError with close matches."""
    builtin = BUILTIN_PRESET_DIR / f"{name}.json"
    if _PRESET_NAME.match(name) and builtin.is_file():
        return read_preset_file(builtin)
    if user_folder is not None:
        for preset in load_presets_from(user_folder):
            if preset.name == name:
                return preset
    known = list_presets(user_folder)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}?" if close else "'python -m engine presets list' shows them all"
    raise LabelError(f"unknown preset {name!r}; {hint}")


def preset_params(preset: Preset, method: str) -> dict[str, Any]:
    """The preset's parameters for ``method`` (a copy; empty when the preset sets none)."""
    return dict(preset.params.get(method, {}))


def load_presets_from(folder: str | Path) -> list[Preset]:
    """Every preset ``*.json`` in ``folder`` (none if it does not exist), validated, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    presets = [read_preset_file(path) for path in sorted(folder.glob("*.json"))]
    seen: set[str] = set()
    for preset in presets:
        if preset.name in seen:
            raise LabelError(f"preset folder {folder}: two files hold the preset {preset.name!r}")
        seen.add(preset.name)
    return sorted(presets, key=lambda p: p.name)


def save_user_preset(preset: Preset, folder: str | Path) -> Path:
    """Write ``preset`` to ``folder/<name>.json`` atomically (created if needed) and return the path.

    The JSON is validated by reading it back first; built-in names cannot be shadowed.
    """
    text = preset_to_json(preset)
    preset_from_dict(json.loads(text), f"preset {preset.name!r}")
    if (BUILTIN_PRESET_DIR / f"{preset.name}.json").is_file():
        raise LabelError(f"preset name {preset.name!r} is a built-in preset; choose another name")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{preset.name}.json"
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{preset.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
