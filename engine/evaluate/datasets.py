"""Dataset descriptions (``engine/datasets/*.json``) and decoding masks into class indices.

A description says, as data, how a dataset's masks are written on disk and how that maps onto the classes of
its label presets (``engine/presets``; the class order of every preset of a dataset is the dataset's label
order, so the class list itself lives only in the presets):

- ``presets``: the label presets of the dataset by kind (``ori``, ``gen``, ``setgen``, ``segearth``);
- ``encodings``: ``index`` (single-band masks of integer codes) and/or ``rgb`` (colour-coded masks), each a
  list with, for every class in preset order, the code(s) that mean it, plus the codes to ignore. Any other
  code in a mask is an error: a mask in an unexpected encoding fails loudly instead of scoring garbage;
- ``reduce_zero_label``: whether mmsegmentation's dataset config (SegEarth-OV) reduces the zero label. The
  index encoding already includes it (code 0 ignored, code ``k + 1`` = class ``k``); the flag documents it
  and a test checks the two agree;
- ``mask_suffix``: what a mask's file stem adds to its image's stem (iSAID: ``_instance_color_RGB``).

Without a description, masks are plain class indices (:func:`plain_encoding`), optionally with
mmsegmentation's ``reduce_zero_label`` and a chosen ignore value. Decoded masks hold label-set indices and
:data:`IGNORE` for pixels that are not evaluated.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..labels import LabelSet, load_preset
from .protocols import IGNORE

if TYPE_CHECKING:
    import numpy as np

DATASET_DIR = Path(__file__).resolve().parent.parent / "datasets"
ENCODING_KINDS = ("index", "rgb")
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
_DATASET_KEYS = frozenset(
    {"name", "title", "presets", "mask_suffix", "reduce_zero_label", "encodings", "preparation", "sources"}
)


@dataclass(frozen=True)
class MaskEncoding:
    """How masks of one kind encode the classes: per class the codes meaning it, and the codes ignored.

    Codes are integers; for ``rgb`` a colour ``(r, g, b)`` is the integer ``r << 16 | g << 8 | b``.
    """

    kind: str
    description: str
    classes: tuple[tuple[int, ...], ...]
    ignore: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        """Each code means one thing only."""
        if self.kind not in ENCODING_KINDS:
            raise ValueError(f"encoding kind must be one of {ENCODING_KINDS}, got {self.kind!r}")
        codes = [code for group in self.classes for code in group] + list(self.ignore)
        if len(codes) != len(set(codes)):
            raise ValueError(f"{self.kind} encoding maps a code to two meanings")

    @property
    def num_classes(self) -> int:
        """Number of classes the encoding defines."""
        return len(self.classes)

    def code_table(self) -> dict[int, int]:
        """Code -> label-set class index, or :data:`IGNORE`."""
        table = {code: index for index, group in enumerate(self.classes) for code in group}
        table.update(dict.fromkeys(self.ignore, IGNORE))
        return table


def plain_encoding(
    num_classes: int, ignore_index: int = 255, reduce_zero_label: bool = False
) -> MaskEncoding:
    """Single-band masks holding class indices ``0..K-1`` and ``ignore_index`` (mmsegmentation's convention).

    With ``reduce_zero_label`` (mmsegmentation's ``LoadAnnotations``) code 0 is ignored and code ``v`` becomes
    ``v - 1`` (255 stays ignored) before ``ignore_index`` applies to the reduced value.
    """
    if not 1 <= num_classes < IGNORE:
        raise InputError(f"at most {IGNORE - 1} classes can be evaluated, got {num_classes}")
    if not 0 <= ignore_index <= 255:
        raise InputError(f"--ignore-index must be in 0..255, got {ignore_index}")
    classes: list[tuple[int, ...]] = [() for _ in range(num_classes)]
    ignore = []
    for code in range(256):
        reduced = (255 if code in (0, 255) else code - 1) if reduce_zero_label else code
        if reduced == ignore_index or (reduce_zero_label and reduced == 255):
            ignore.append(code)
        elif reduced < num_classes:
            classes[reduced] = (code,)
    how = ", reduce_zero_label" if reduce_zero_label else ""
    return MaskEncoding(
        "index",
        f"class indices 0..{num_classes - 1}{how}, ignore {ignore_index}",
        tuple(classes),
        tuple(ignore),
    )


def rgb_code(color: tuple[int, int, int] | list[int]) -> int:
    """``(r, g, b)`` -> ``r << 16 | g << 8 | b``."""
    red, green, blue = color
    return (int(red) << 16) | (int(green) << 8) | int(blue)


def decode_mask(mask: np.ndarray, encoding: MaskEncoding, where: str) -> np.ndarray:
    """Class indices uint8 (:data:`IGNORE` for ignored pixels) from a mask read from disk.

    ``mask`` holds codes (any shape, usually ``(h, w)``) for an index encoding and is ``(bands, h, w)``
    (bands 1-3 used) for an rgb one; the result has the shape of one band.
    A code the encoding does not define is an InputError naming ``where`` and the code.
    """
    import numpy as np

    if encoding.kind == "rgb":
        if mask.ndim != 3 or mask.shape[0] < 3:
            raise InputError(
                f"{where}: expected a colour (RGB) mask, got {mask.ndim}-D data of shape {mask.shape}"
            )
        rgb = mask[:3].astype(np.int64)
        codes = (rgb[0] << 16) | (rgb[1] << 8) | rgb[2]
    else:
        if not np.issubdtype(mask.dtype, np.integer):
            raise InputError(f"{where}: mask values must be integers, got {mask.dtype}")
        codes = mask.astype(np.int64)
    table = encoding.code_table()
    keys = np.array(sorted(table), dtype=np.int64)
    values = np.array([table[k] for k in keys.tolist()], dtype=np.uint8)
    position = np.clip(np.searchsorted(keys, codes), 0, len(keys) - 1)
    known = keys[position] == codes
    if not known.all():
        bad = int(codes[~known][0])
        text = f"#{bad:06x}" if encoding.kind == "rgb" else str(bad)
        raise InputError(
            f"{where}: value {text} is not defined by the mask encoding ({encoding.description})"
        )
    return values[position]


@dataclass(frozen=True)
class DatasetInfo:
    """One dataset description (see the module docstring)."""

    name: str
    title: str
    presets: dict[str, str]
    mask_suffix: str
    reduce_zero_label: bool | None
    encodings: dict[str, MaskEncoding]
    preparation: dict[str, str]
    sources: tuple[str, ...]

    @property
    def labels(self) -> LabelSet:
        """The dataset's classes (names, order, background) as its first preset defines them."""
        return load_preset(next(iter(self.presets.values()))).labels

    def encoding_for(self, band_count: int, where: str) -> MaskEncoding:
        """The encoding for a mask with ``band_count`` bands: one -> index codes, three or more -> rgb."""
        kind = "index" if band_count == 1 else "rgb" if band_count >= 3 else None
        if kind is None or kind not in self.encodings:
            have = " or ".join(
                "single-band class codes" if k == "index" else "RGB colours" for k in self.encodings
            )
            raise InputError(f"{where}: {band_count}-band mask, but {self.name} masks are {have}")
        return self.encodings[kind]


def _parse_code(value: Any, kind: str, origin: str) -> int:
    """A code from JSON: an int 0..65535 (index) or ``"#rrggbb"`` (rgb)."""
    if kind == "rgb" and isinstance(value, str) and _HEX.match(value):
        return int(value[1:], 16)
    if kind == "index" and isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 65535:
        return value
    raise InputError(f"{origin}: {value!r} is not a valid {kind} code")


def _parse_encoding(kind: str, data: Any, origin: str) -> MaskEncoding:
    """One ``encodings`` entry of a description file."""
    if not isinstance(data, dict) or set(data) != {"description", "classes", "ignore"}:
        raise InputError(f"{origin}: encoding {kind!r} must have exactly description, classes, ignore")
    classes = tuple(
        tuple(_parse_code(c, kind, origin) for c in (item if isinstance(item, list) else [item]))
        for item in data["classes"]
    )
    ignore = tuple(_parse_code(c, kind, origin) for c in data["ignore"])
    try:
        return MaskEncoding(kind, str(data["description"]), classes, ignore)
    except ValueError as exc:
        raise InputError(f"{origin}: {exc}") from None


def read_dataset_file(path: Path) -> DatasetInfo:
    """Read and validate one description file (InputError naming the file)."""
    origin = f"dataset description {path.name}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{origin}: cannot be read ({exc})") from None
    if not isinstance(data, dict) or set(data) != _DATASET_KEYS:
        raise InputError(f"{origin}: keys must be exactly {', '.join(sorted(_DATASET_KEYS))}")
    encodings = data["encodings"]
    if not isinstance(encodings, dict) or not encodings or not set(encodings) <= set(ENCODING_KINDS):
        raise InputError(f"{origin}: 'encodings' must map 'index' and/or 'rgb' to encodings")
    return DatasetInfo(
        name=data["name"],
        title=data["title"],
        presets=dict(data["presets"]),
        mask_suffix=data["mask_suffix"],
        reduce_zero_label=data["reduce_zero_label"],
        encodings={kind: _parse_encoding(kind, value, origin) for kind, value in encodings.items()},
        preparation=dict(data["preparation"]),
        sources=tuple(data["sources"]),
    )


def list_datasets() -> list[str]:
    """Names of the described datasets, sorted."""
    return sorted(path.stem for path in DATASET_DIR.glob("*.json"))


@functools.cache
def load_dataset(name: str) -> DatasetInfo:
    """The description of dataset ``name``; InputError with close matches for an unknown name."""
    path = DATASET_DIR / f"{name}.json"
    if not re.fullmatch(r"[a-z0-9]+", name) or not path.is_file():
        close = difflib.get_close_matches(name, list_datasets(), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(list_datasets())}"
        raise InputError(f"unknown dataset {name!r}; {hint}")
    return read_dataset_file(path)
