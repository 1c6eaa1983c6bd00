"""The built-in presets against the papers' tables and the official code, user presets, and the CLI."""

import json

import pytest

from engine.cli import main
from engine.errors import LabelError
from engine.labels import (
    BUILTIN_PRESET_DIR,
    Preset,
    list_presets,
    load_preset,
    load_presets_from,
    parse_labels,
    preset_params,
    preset_to_json,
    read_preset_file,
    save_user_preset,
)

SDCI_DATASETS = ("gid", "potsdam", "vaihingen", "loveda", "isaid")
SEGEARTH_DATASETS = ("openearthmap", "loveda", "isaid", "potsdam", "vaihingen", "uavid", "udd5", "vdd")
ALL_DATASETS = ("gid", "potsdam", "vaihingen", "loveda", "isaid", "openearthmap", "uavid", "udd5", "vdd")
METHODS = ("sdci-v1", "sdci-v2", "alignclip-d", "alignclip-s", "segearth-ov")  # design document

# SDCI paper, Appendix C.4, Table 3: Ori -> (Candidate Set of Gen, Gen), typed from the paper's text.
SDCI_TABLE_3 = {
    "gid": [
        ("built-up", "residential area, structures, buildings, architecture", "buildings"),
        ("farmland", "cropland, agricultural land, field, cultivated land", "agricultural land"),
        ("forest", "woodland, tree cover, mountain forest, canopy", "mountain forest"),
        ("meadow", "grassland, greenspace, shrubs, flatland forest, low vegetation", "flatland forest"),
        ("water", "river, lake, water body", "water body"),
    ],
    "potsdam": [
        ("impervious surfaces", "road, streets, ground, parking lot, sidewalk", "ground, road, streets"),
        ("building", "buildings, man-made buildings, architecture, house", "buildings, man-made buildings"),
        (
            "low vegetation",
            "low vegetation, low-growing grassland, grass patches, lawn, grass vegetation",
            "low vegetation, low-growing grassland, grass patches, lawn, grass vegetation",
        ),
        ("tree", "woods, trees, plants", "trees"),
        ("car", "automobile, vehicles, transportation", "vehicles"),
    ],
    "vaihingen": [
        ("impervious surfaces", "road, streets, ground, parking lot, sidewalk", "ground, road, streets"),
        ("building", "building, man-made buildings, architecture, house", "building"),
        (
            "low vegetation",
            "low vegetation, low-growing grassland, grass",
            "low vegetation, low-growing grassland",
        ),
        ("tree", "woods, tree, plants", "tree"),
        ("car", "automobile, vehicles, transportation", "vehicle"),
    ],
    "loveda": [
        ("building", "building, man-made buildings, architecture, house", "building"),
        ("road", "road, streets", "road"),
        ("water", "river, lake, water", "water"),
        ("barren", "bare land, dry soil, sandy land", "dry soil"),
        ("forest", "woodland, tree cover, forest", "forest"),
        ("agriculture", "cropland, agricultural land, field, farmland", "farmland"),
    ],
}
# SDCI code: the class files after their leading "other" line (data/*/cls_*.txt, data/iSAID/iSAID.txt).
ISAID_ORI = [
    "ship", "storage tank", "baseball diamond", "tennis court", "basketball court", "ground track field",
    "bridge", "large vehicle", "small vehicle", "helicopter", "swimming pool", "roundabout",
    "soccer ball field", "plane", "harbor",
]
# SDCI code: scripts/config/*/*-15.yaml score_threshold.
SDCI_SCORE_THRESHOLD = {"gid": 0.5, "potsdam": 0.0, "vaihingen": 0.0, "loveda": 0.5, "isaid": 0.5}
# SegEarth-OV code: configs/cls_*.txt (one class a line) and configs/cfg_*.py (prob_thd, bg_idx default 0).
SEGEARTH = {
    "openearthmap": (
        ["background", "bareland,barren", "grass", "pavement", "road", "tree,forest", "water,river",
         "cropland", "building,roof,house"],
        0.1, 0,
    ),
    "loveda": (
        ["background", "building,roof,house", "road", "water", "barren", "forest", "agricultural"], 0.3, 0
    ),
    "isaid": (["background", *("store tank" if n == "storage tank" else n for n in ISAID_ORI)], 0.4, 0),
    "potsdam": (
        ["road,parking lot", "building", "low vegetation", "tree", "car", "clutter,background"], 0.1, 5
    ),
    "vaihingen": (["impervious surface", "building", "low vegetation", "tree", "car", "clutter"], 0.1, 5),
    "uavid": (["background", "building", "road", "car", "tree", "vegetation", "human"], 0.3, 0),
    "udd5": (["vegetation", "building", "road", "vehicle", "background"], 0.4, 4),
    "vdd": (["background", "facade", "road", "vegetation", "vehicle", "roof", "water"], 0.3, 0),
}
# AlignCLIP paper, Appendix A.3, Table 6: (alpha, beta) with DINO and with SAM.
ALIGNCLIP_TABLE_6 = {
    "openearthmap": ((0.1, 0.1), (0.1, 0.1)),
    "loveda": ((0.7, 0.2), (0.5, 0.2)),
    "isaid": ((0.5, 0.2), (0.5, 0.2)),
    "potsdam": ((0.3, 0.1), (0.3, 0.2)),
    "vaihingen": ((0.3, 0.5), (0.3, 0.5)),
    "uavid": ((0.2, 0.3), (0.2, 0.4)),
    "udd5": ((0.3, 0.2), (0.3, 0.2)),
    "vdd": ((0.2, 0.3), (0.2, 0.4)),
}
ISPRS_COLORS = {
    "impervious surfaces": (255, 255, 255),
    "building": (0, 0, 255),
    "low vegetation": (0, 255, 255),
    "tree": (0, 255, 0),
    "car": (255, 255, 0),
    "clutter": (255, 0, 0),
}


def split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(","))


def foreground(preset: Preset) -> list:
    return [preset.labels[i] for i in preset.labels.foreground_indices]


# ---------------------------------------------------------------- the built-in presets


def test_design_names_exist():
    names = set(list_presets())
    expected = {f"{d}-ori" for d in ALL_DATASETS}
    expected |= {f"{d}-{k}" for d in SDCI_DATASETS for k in ("gen", "setgen")}
    expected |= {f"{d}-segearth" for d in SEGEARTH_DATASETS}
    assert names == expected


@pytest.mark.parametrize("name", list_presets())
def test_every_preset_loads_and_is_consistent(name):
    preset = load_preset(name)
    assert preset.name == name == f"{preset.dataset}-{preset.kind}"
    assert preset.dataset in ALL_DATASETS
    assert len(preset.labels) >= 2
    assert preset.description and preset.sources
    assert set(preset.params) <= set(METHODS)
    text = (BUILTIN_PRESET_DIR / f"{name}.json").read_text(encoding="utf-8")
    assert text == preset_to_json(preset)  # files are in the canonical layout the writer produces
    assert parse_labels(preset.labels.to_text()) == preset.labels


@pytest.mark.parametrize("dataset", ALL_DATASETS)
def test_kinds_of_a_dataset_share_classes_colours_background_and_params(dataset):
    presets = [load_preset(n) for n in list_presets() if n.startswith(f"{dataset}-")]
    first = presets[0]
    for preset in presets[1:]:
        assert preset.labels.names == first.labels.names
        assert preset.labels.colors == first.labels.colors
        assert preset.labels.background == first.labels.background
        assert preset.params == first.params


@pytest.mark.parametrize("dataset", sorted(SDCI_TABLE_3))
def test_gen_and_setgen_equal_sdci_table_3(dataset):
    rows = SDCI_TABLE_3[dataset]
    ori, setgen, gen = (foreground(load_preset(f"{dataset}-{kind}")) for kind in ("ori", "setgen", "gen"))
    assert [c.name for c in ori] == [row[0] for row in rows]
    assert [c.prompts for c in ori] == [(row[0],) for row in rows]
    assert [c.name for c in gen] == [c.name for c in setgen] == [row[0] for row in rows]
    assert [c.prompts for c in setgen] == [split(row[1]) for row in rows]
    assert [c.prompts for c in gen] == [split(row[2]) for row in rows]


def test_isaid_gen_and_setgen_are_the_official_names():
    for kind in ("ori", "gen", "setgen"):
        classes = foreground(load_preset(f"isaid-{kind}"))
        assert [c.prompts for c in classes] == [(n,) for n in ISAID_ORI]


@pytest.mark.parametrize("dataset", SDCI_DATASETS)
def test_sdci_score_thresholds(dataset):
    preset = load_preset(f"{dataset}-ori")
    for method in ("sdci-v1", "sdci-v2"):
        assert preset_params(preset, method) == {"score_threshold": SDCI_SCORE_THRESHOLD[dataset]}


@pytest.mark.parametrize("dataset", sorted(SEGEARTH))
def test_segearth_class_names_and_background_settings(dataset):
    lines, prob_thd, bg_idx = SEGEARTH[dataset]
    preset = load_preset(f"{dataset}-segearth")
    assert [c.prompts for c in preset.labels] == [split(line) for line in lines]
    for kind in ("ori", "segearth"):
        labels = load_preset(f"{dataset}-{kind}").labels
        assert labels.background == bg_idx
    assert preset_params(preset, "segearth-ov") == {"prob_thd": prob_thd}


@pytest.mark.parametrize("dataset", sorted(ALIGNCLIP_TABLE_6))
def test_alignclip_alpha_beta_equal_table_6(dataset):
    (alpha_d, beta_d), (alpha_s, beta_s) = ALIGNCLIP_TABLE_6[dataset]
    preset = load_preset(f"{dataset}-ori")
    prob_thd = SEGEARTH[dataset][1]
    assert preset_params(preset, "alignclip-d") == {"alpha": alpha_d, "beta": beta_d, "prob_thd": prob_thd}
    assert preset_params(preset, "alignclip-s") == {"alpha": alpha_s, "beta": beta_s, "prob_thd": prob_thd}


def test_methods_without_paper_values_get_no_params():
    assert preset_params(load_preset("gid-ori"), "alignclip-d") == {}
    assert set(load_preset("uavid-ori").params) == {"segearth-ov", "alignclip-d", "alignclip-s"}


def test_isprs_colours():
    for dataset in ("potsdam", "vaihingen"):
        labels = load_preset(f"{dataset}-ori").labels
        assert dict(zip(labels.names, labels.colors, strict=True)) == ISPRS_COLORS
        assert labels.names[labels.background] == "clutter"


def test_unknown_preset_lists_close_matches():
    with pytest.raises(LabelError, match=r"unknown preset 'potsdam-orig'; did you mean potsdam-ori"):
        load_preset("potsdam-orig")
    with pytest.raises(LabelError, match=r"unknown preset 'zzz'; 'python -m engine presets list'"):
        load_preset("zzz")
    with pytest.raises(LabelError, match="unknown preset"):
        load_preset("../presets/gid-ori")


def test_preset_params_returns_a_copy():
    preset = load_preset("potsdam-ori")
    params = preset_params(preset, "segearth-ov")
    params["prob_thd"] = 0.9
    assert preset_params(preset, "segearth-ov") == {"prob_thd": 0.1}


# ---------------------------------------------------------------- user presets


def make_user_preset(name: str = "my city") -> Preset:
    labels = parse_labels("building #ff0000: buildings, roofs; trees; other (background)")
    return Preset(name, "", "custom", "my classes", labels, {"segearth-ov": {"prob_thd": 0.2}}, ("me",))


def test_user_preset_round_trip(tmp_path):
    preset = make_user_preset()
    path = save_user_preset(preset, tmp_path / "presets")
    assert path == tmp_path / "presets" / "my city.json"
    assert read_preset_file(path) == preset
    assert load_presets_from(tmp_path / "presets") == [preset]
    assert load_preset("my city", tmp_path / "presets") == preset
    assert list_presets(tmp_path / "presets")[-1] == "my city"
    assert [p.name for p in (tmp_path / "presets").iterdir()] == ["my city.json"]  # no temporary left
    save_user_preset(preset, tmp_path / "presets")  # saving again replaces it
    assert load_presets_from(tmp_path / "presets") == [preset]


def test_builtin_preset_exported_and_imported(tmp_path):
    original = load_preset("vaihingen-gen")
    copy = Preset(**{**original.__dict__, "name": "vaihingen-gen-copy"})
    assert read_preset_file(save_user_preset(copy, tmp_path)) == copy


def test_user_preset_errors(tmp_path):
    with pytest.raises(LabelError, match="'gid-ori' is a built-in preset"):
        save_user_preset(Preset(**{**make_user_preset().__dict__, "name": "gid-ori"}), tmp_path)
    with pytest.raises(LabelError, match="name 'a/b' must be"):
        save_user_preset(Preset(**{**make_user_preset().__dict__, "name": "a/b"}), tmp_path)
    assert load_presets_from(tmp_path / "missing") == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("classes"), r"missing keys \['classes'\]"),
        (lambda d: d.update(colour=1), r"unknown keys \['colour'\]"),
        (lambda d: d.update(format=2), "format 2 is not supported"),
        (lambda d: d.update(kind="best"), "kind 'best' is not one of"),
        (lambda d: d.update(sources="me"), "'sources' must be a list"),
        (lambda d: d.update(params={"sdci-v1": {"x": [1]}}), "'params' must map method names"),
        (lambda d: d.update(background=7), "background index 7"),
        (lambda d: d["classes"].pop(), "at least two classes"),
        (lambda d: d["classes"][0].update(color=[0, 0, 300]), "colour"),
    ],
)
def test_invalid_preset_files(tmp_path, change, message):
    data = json.loads(preset_to_json(load_preset("udd5-ori")))
    data["classes"] = data["classes"][:2]
    data["background"] = None
    change(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(LabelError, match=message) as info:
        load_presets_from(tmp_path)
    assert str(info.value).startswith(f"preset file {path}: ")


def test_unreadable_and_duplicate_preset_files(tmp_path):
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(LabelError, match=r"broken.json: invalid JSON at line 1"):
        load_presets_from(tmp_path)
    (tmp_path / "broken.json").unlink()
    text = preset_to_json(make_user_preset())
    (tmp_path / "one.json").write_text(text, encoding="utf-8")
    (tmp_path / "two.json").write_text(text, encoding="utf-8")
    with pytest.raises(LabelError, match="two files hold the preset 'my city'"):
        load_presets_from(tmp_path)


# ---------------------------------------------------------------- command line


def test_cli_list(capsys):
    assert main(["presets", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["NAME", "CLASSES", "BACKGROUND"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == set(list_presets())
    assert rows["potsdam-gen"][1:3] == ["6", "clutter"]
    assert rows["gid-ori"][1:3] == ["5", "-"]


def test_cli_list_with_user_dir(tmp_path, capsys):
    save_user_preset(make_user_preset("mine"), tmp_path)
    assert main(["presets", "list", "--user-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].split()[:3] == ["mine", "3", "other"]


def test_cli_show(capsys):
    assert main(["presets", "show", "potsdam-gen"]) == 0
    out = capsys.readouterr().out
    preset = load_preset("potsdam-gen")
    label_line = next(line for line in out.splitlines() if line.startswith("labels: "))
    assert parse_labels(label_line.removeprefix("labels: ")) == preset.labels
    assert "  alignclip-d: alpha=0.3, beta=0.1, prob_thd=0.1" in out.splitlines()
    assert "   5  clutter              #ff0000  clutter  (background)" in out.splitlines()


def test_cli_show_json(capsys):
    assert main(["presets", "show", "vdd-segearth", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == load_preset("vdd-segearth").to_dict()


def test_cli_unknown_preset(capsys):
    assert main(["presets", "show", "loveda-gem"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: unknown preset 'loveda-gem'; did you mean loveda-gen")
