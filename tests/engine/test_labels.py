"""The label syntax, LabelClass / LabelSet and their text and JSON round trips."""

import dataclasses
import random
import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import LabelError
from engine.labels import LabelClass, LabelSet, default_color, parse_labels

DESIGN_EXAMPLE = (
    "impervious surfaces: ground, road, streets; building: buildings, man-made buildings; low vegetation; "
    "tree: trees; car: vehicles"
)
ROOT = Path(__file__).resolve().parents[2]


def rgb(code: str) -> tuple[int, int, int]:
    return tuple(int(code[i : i + 2], 16) for i in (0, 2, 4))


# ---------------------------------------------------------------- syntax


def test_design_example():
    labels = parse_labels(DESIGN_EXAMPLE)
    assert labels.names == ("impervious surfaces", "building", "low vegetation", "tree", "car")
    assert [c.prompts for c in labels] == [
        ("ground", "road", "streets"),
        ("buildings", "man-made buildings"),
        ("low vegetation",),
        ("trees",),
        ("vehicles",),
    ]
    assert labels.colors == tuple(default_color(i) for i in range(5))
    assert labels.background is None


def test_newlines_whitespace_and_trailing_separators():
    text = "\r\n  Water :  river ,  lake,\n\n  low   vegetation\t;  trees ;\r\n\n"
    labels = parse_labels(text)
    assert labels.names == ("Water", "low vegetation", "trees")
    assert labels[0].prompts == ("river", "lake")
    assert labels[1].prompts == ("low vegetation",)


def test_semicolon_then_newline_is_one_separator():
    assert parse_labels("a;\nb;\nc;").names == ("a", "b", "c")


def test_name_defaults_to_first_prompt():
    labels = parse_labels("road, streets; water")
    assert labels[0].name == "road"
    assert labels[0].prompts == ("road", "streets")


def test_colour_and_background_syntax():
    text = "building #FF0000: buildings, houses; trees #00ff00; other (background); #0000ff: sea"
    labels = parse_labels(text)
    assert labels.colors[:2] == ((255, 0, 0), (0, 255, 0))
    assert labels.colors[2] == default_color(2)
    assert labels[3].name == "sea" and labels.colors[3] == (0, 0, 255)
    assert labels.background == 2
    assert labels[2].prompts == ("other",)
    named = parse_labels("clutter #ff0000 (Background): clutter, background; car")
    assert named.background == 0 and named[0].color == (255, 0, 0)
    assert named[0].prompts == ("clutter", "background")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"label text is empty"),
        ("   \n ; ", r"line 2, class 1: empty class"),
        ("a;;b", r"line 1, class 2: empty class"),
        ("a; ;b", r"line 1, class 2: empty class"),
        (";a;b", r"line 1, class 1: empty class"),
        ("a;b\n;c", r"line 2, class 3: empty class"),
        ("name:; b", r"line 1, class 1: class 'name' has no prompts"),
        ("a; name: , ; b", r"line 1, class 2: class 'name' has no prompts"),
        ("a,,b; c", r"line 1, class 1: empty prompt in 'a,,b'"),
        ("x; ,a; b", r"line 1, class 2: empty prompt"),
        ("a", r"at least two classes are needed, got 1"),
        ("a;", r"at least two classes are needed, got 1"),
        ("Building; tree\nbuilding: houses", r"duplicate class name 'building' \(classes 1 and 3; .*case"),
        ("a: b: c; d", r"line 1, class 1: more than one ':'"),
        ("a #12345: x; b", r"line 1, class 1: colour in 'a #12345' is not of the form #RRGGBB"),
        ("a; b #ggg000", r"class 2: colour in 'b #ggg000'"),
        ("a (background); b (background)", r"class 2: a second background class \(class 1 is one\)"),
        ("a; #ff0000 (background)", r"class 2: class has a colour or background mark but no prompt"),
    ],
)
def test_syntax_errors(text, message):
    with pytest.raises(LabelError, match=message) as info:
        parse_labels(text)
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------- dataclasses


def test_label_class_validation():
    assert LabelClass("a", ["x", "y"], [1, 2, 3]) == LabelClass("a", ("x", "y"), (1, 2, 3))
    for bad_name in ("", " a", "a  b", "a;b", "a:b", "a,b", "a#b", "a (background)", 3):
        with pytest.raises(LabelError, match="class name"):
            LabelClass(bad_name, ("x",), (0, 0, 0))
    with pytest.raises(LabelError, match="has no prompts"):
        LabelClass("a", (), (0, 0, 0))
    for bad_prompt in ("", "x,y", "x:y", "x;y", "x\ny", " x", "x #ff0000"):
        with pytest.raises(LabelError, match="prompt"):
            LabelClass("a", ("ok", bad_prompt), (0, 0, 0))
    for bad_color in ((0, 0), (0, 0, 256), (-1, 0, 0), (0.5, 0, 0), (True, 0, 0), "red"):
        with pytest.raises(LabelError, match="colour"):
            LabelClass("a", ("x",), bad_color)


def test_label_set_validation_and_accessors():
    classes = [LabelClass(n, (n,), default_color(i)) for i, n in enumerate(["a", "b", "c"])]
    labels = LabelSet(classes, background=2)
    assert isinstance(labels.classes, tuple)
    assert len(labels) == 3
    assert list(labels) == classes
    assert labels[1] is classes[1]
    assert labels.names == ("a", "b", "c")
    assert labels.foreground_indices == (0, 1)
    assert LabelSet(classes).foreground_indices == (0, 1, 2)
    with pytest.raises(LabelError, match="at least two classes"):
        LabelSet(classes[:1])
    with pytest.raises(LabelError, match="duplicate class name 'A'"):
        LabelSet([*classes, LabelClass("A", ("x",), (0, 0, 0))])
    for bad in (3, -1, True, "0"):
        with pytest.raises(LabelError, match="background index"):
            LabelSet(classes, bad)
    with pytest.raises(dataclasses.FrozenInstanceError):
        labels.background = 0


def test_with_colors():
    labels = parse_labels("a; b (background)")
    recoloured = labels.with_colors([(1, 2, 3), (4, 5, 6)])
    assert recoloured.colors == ((1, 2, 3), (4, 5, 6))
    assert recoloured.names == labels.names and recoloured.background == 1
    assert labels.colors == (default_color(0), default_color(1))
    with pytest.raises(LabelError, match="3 colours given for 2 classes"):
        labels.with_colors([(0, 0, 0)] * 3)


def test_default_palette_is_deterministic_and_distinguishable():
    kelly_first = ["F3C300", "875692", "F38400", "A1CAF1", "BE0032"]  # Kelly (1965), white and black left out
    assert [default_color(i) for i in range(5)] == [rgb(c) for c in kelly_first]
    colors = [default_color(i) for i in range(64)]
    assert colors == [default_color(i) for i in range(64)]
    assert len(set(colors)) == 64
    assert (0, 0, 0) not in colors and (255, 255, 255) not in colors
    for i, first in enumerate(colors[:24]):
        for second in colors[i + 1 : 24]:
            assert sum(abs(a - b) for a, b in zip(first, second, strict=True)) > 30
    with pytest.raises(ValueError, match=">= 0"):
        default_color(-1)


# ---------------------------------------------------------------- round trips

WORDS = ["road", "tree", "water", "bare soil", "low-growing grass", "car", "Roof", "parking lot", "x"]


def random_label_set(rng: random.Random) -> LabelSet:
    """A random valid label set: names, prompts, colours and background drawn independently."""
    count = rng.randint(2, 7)
    names = rng.sample([f"{w} {i}" if rng.random() < 0.3 else w for i, w in enumerate(WORDS)], count)
    classes = []
    for index, name in enumerate(names):
        prompts = rng.sample(WORDS, rng.randint(1, 4))
        if rng.random() < 0.4:
            prompts = [name, *prompts]
        color = default_color(index) if rng.random() < 0.5 else tuple(rng.randrange(256) for _ in range(3))
        classes.append(LabelClass(name, tuple(prompts), color))
    background = rng.randrange(count) if rng.random() < 0.5 else None
    return LabelSet(tuple(classes), background)


def messy_text(labels: LabelSet, rng: random.Random) -> str:
    """The same set written by hand: random spacing, separators, optional prefixes, trailing separators."""

    def space() -> str:
        return rng.choice(["", " ", "  ", "\t"])

    entries = []
    for index, label_class in enumerate(labels):
        head = label_class.name if (label_class.name != label_class.prompts[0] or rng.random() < 0.5) else ""
        if label_class.color != default_color(index):
            code = bytes(label_class.color).hex()
            head += f" #{code.upper() if rng.random() < 0.5 else code}"
        if index == labels.background:
            head += rng.choice([" (background)", " (BACKGROUND)"])
        prompts = f"{space()},{space()}".join(label_class.prompts) + rng.choice(["", ",", " , "])
        entries.append(f"{space()}{head}{space()}:{space()}{prompts}{space()}" if head.strip() else prompts)
    text = entries[0]
    for entry in entries[1:]:
        text += rng.choice([";", "; ", "\n", ";\n", "\r\n", "\n\n", " ;\n  \n"]) + entry
    return text + rng.choice(["", ";", "\n", ";\n", "  \n\n"])


def test_to_text_round_trips_the_design_example():
    labels = parse_labels(DESIGN_EXAMPLE)
    assert labels.to_text() == DESIGN_EXAMPLE
    assert parse_labels(labels.to_text("\n")) == labels


def test_to_text_round_trip_property():
    rng = random.Random(1234)
    for _ in range(400):
        labels = random_label_set(rng)
        for separator in ("; ", ";", "\n"):
            assert parse_labels(labels.to_text(separator)) == labels
        assert parse_labels(messy_text(labels, rng)) == labels


def test_to_text_rejects_other_separators():
    with pytest.raises(ValueError, match="separator"):
        parse_labels("a; b").to_text(", ")


def test_dict_round_trip_and_validation():
    rng = random.Random(7)
    for _ in range(50):
        labels = random_label_set(rng)
        assert LabelSet.from_dict(labels.to_dict()) == labels
    good = parse_labels("a; b").to_dict()
    with pytest.raises(LabelError, match="'classes' must be a list"):
        LabelSet.from_dict({"classes": "a; b"})
    with pytest.raises(LabelError, match="class 2 must be an object with exactly"):
        LabelSet.from_dict({"classes": [good["classes"][0], {"name": "b", "prompts": ["b"]}]})
    with pytest.raises(LabelError, match="class 1: 'prompts' must be a list"):
        LabelSet.from_dict({"classes": [{"name": "a", "prompts": "a", "color": [0, 0, 0]}, *good["classes"]]})


def test_labels_module_is_light():
    code = "import sys, engine.labels; print(sorted({'torch', 'numpy', 'open_clip'} & set(sys.modules)))"
    command = [sys.executable, "-c", code]
    result = subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
