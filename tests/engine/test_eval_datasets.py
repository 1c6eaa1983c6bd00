"""Dataset descriptions: consistent with the presets, and decoding the real samples of ../shared/data."""

import numpy as np
import pytest
from osgeo import gdal

from engine.errors import InputError
from engine.evaluate.datasets import (
    decode_mask,
    list_datasets,
    load_dataset,
    plain_encoding,
    rgb_code,
)
from engine.evaluate.protocols import IGNORE, PROTOCOLS, ClassSpace
from engine.labels import load_preset

ALL = ("gid", "isaid", "loveda", "openearthmap", "potsdam", "uavid", "udd5", "vaihingen", "vdd")
ISPRS_COLOURS = [(255, 255, 255), (0, 0, 255), (0, 255, 255), (0, 255, 0), (255, 255, 0), (255, 0, 0)]


def read(path):
    return gdal.Open(str(path)).ReadAsArray()


def mmseg_reduce_zero_label(label):
    """mmsegmentation's LoadAnnotations.reduce_zero_label, written out."""
    label = label.astype(np.int64)
    label[label == 0] = 255
    label = label - 1
    label[label == 254] = 255
    return label


def test_the_nine_datasets_are_described():
    assert tuple(list_datasets()) == ALL


@pytest.mark.parametrize("name", ALL)
def test_description_agrees_with_its_presets(name):
    dataset = load_dataset(name)
    presets = [load_preset(p) for p in dataset.presets.values()]
    assert {p.dataset for p in presets} == {name}
    assert {len(p.labels) for p in presets} == {len(dataset.labels)}
    assert {p.labels.background for p in presets} == {dataset.labels.background}
    for encoding in dataset.encodings.values():
        assert encoding.num_classes == len(dataset.labels)
        assert all(encoding.classes), "every class needs at least one code"


@pytest.mark.parametrize("name", [n for n in ALL if load_dataset(n).reduce_zero_label is not None])
def test_index_encoding_is_mmsegs_reduce_zero_label_where_the_config_uses_it(name):
    dataset = load_dataset(name)
    k = len(dataset.labels)
    encoding = dataset.encodings["index"]
    codes = np.arange(256)
    defined = codes[np.isin(codes, list(encoding.code_table()))]
    ours = decode_mask(defined, encoding, name)
    expected = mmseg_reduce_zero_label(defined) if dataset.reduce_zero_label else defined
    np.testing.assert_array_equal(ours, expected)
    assert set(expected.tolist()) - {255} == set(range(k))


@pytest.mark.parametrize("name", [n for n in ALL if "rgb" in load_dataset(n).encodings])
def test_rgb_encodings_use_the_dataset_colours_of_the_presets(name):
    dataset = load_dataset(name)
    first_codes = [group[0] for group in dataset.encodings["rgb"].classes]
    assert first_codes == [rgb_code(c) for c in dataset.labels.colors]


def test_loveda_samples_decode_to_raw_minus_one_with_nodata_ignored(shared_data):
    encoding = load_dataset("loveda").encodings["index"]
    for path in sorted((shared_data / "loveda" / "ann").glob("*.png")):
        raw = read(path)
        decoded = decode_mask(raw, encoding, path.name)
        raw_counts = np.bincount(raw.ravel(), minlength=8)
        counts = np.bincount(decoded.ravel(), minlength=256)
        assert counts[IGNORE] == raw_counts[0]
        np.testing.assert_array_equal(counts[:7], raw_counts[1:8])  # 1 background -> class 0, ...
        assert set(np.unique(decoded).tolist()) <= set(range(7)) | {IGNORE}


@pytest.mark.parametrize("name, stem", [("potsdam", "2_10_0_0_512_512"), ("vaihingen", "area1_0_0_512_512")])
def test_isprs_samples_index_and_colour_encodings_agree(shared_data, name, stem):
    dataset = load_dataset(name)
    raw = read(shared_data / name / "ann" / f"{stem}.png")
    decoded = decode_mask(raw, dataset.encodings["index"], stem)
    assert np.count_nonzero(decoded == IGNORE) == np.count_nonzero(raw == 0)  # boundary
    for value in range(1, 7):
        assert np.count_nonzero(decoded == value - 1) == np.count_nonzero(raw == value)
    # the same mask written in the ISPRS colours (black boundary) decodes to the same classes
    colours = np.array([(0, 0, 0), *ISPRS_COLOURS], dtype=np.uint8)
    rgb = np.moveaxis(colours[raw], -1, 0)
    np.testing.assert_array_equal(decode_mask(rgb, dataset.encodings["rgb"], stem), decoded)
    # SDCI's protocol drops clutter (class 5) as well; SegEarth-OV's keeps it
    sdci = ClassSpace.of(6, dataset.labels.background, PROTOCOLS["sdci"]).target(decoded)
    assert np.count_nonzero(sdci != IGNORE) == np.count_nonzero((raw >= 1) & (raw <= 5))
    segearth = ClassSpace.of(6, dataset.labels.background, PROTOCOLS["segearth"]).target(decoded)
    np.testing.assert_array_equal(segearth, decoded)


def test_uavid_moving_and_static_car_are_one_class():
    encoding = load_dataset("uavid").encodings["rgb"]
    rgb = np.array([[192, 64, 0], [0, 0, 0], [192, 128, 0]], dtype=np.uint8).reshape(3, 1, 3)
    assert decode_mask(rgb, encoding, "uavid").tolist() == [[3, 3, 0]]


def test_plain_encoding_matches_mmseg_and_ignore_index():
    codes = np.array([0, 1, 2, 3, 255], dtype=np.uint8)
    reduced = decode_mask(codes, plain_encoding(3, 255, True), "m")
    np.testing.assert_array_equal(reduced, mmseg_reduce_zero_label(codes))
    plain = decode_mask(np.array([0, 1, 2, 9], dtype=np.uint8), plain_encoding(3, 9), "m")
    assert plain.tolist() == [0, 1, 2, IGNORE]
    with pytest.raises(
        InputError,
        match=r"^m: value 3 is not defined by the mask encoding \(class indices 0\.\.2, ignore 255\)$",
    ):
        decode_mask(np.array([0, 3], dtype=np.uint8), plain_encoding(3), "m")


def test_decoding_errors_are_clear():
    loveda = load_dataset("loveda")
    with pytest.raises(InputError, match=r"x.png: value 9 is not defined by the mask encoding"):
        decode_mask(np.array([[1, 9]], dtype=np.uint8), loveda.encodings["index"], "x.png")
    with pytest.raises(InputError, match=r"value #123456 is not defined"):
        decode_mask(
            np.array([0x12, 0x34, 0x56], dtype=np.uint8).reshape(3, 1, 1),
            load_dataset("potsdam").encodings["rgb"],
            "y",
        )
    with pytest.raises(InputError, match="3-band mask, but loveda masks are single-band class codes"):
        loveda.encoding_for(3, "z")
    with pytest.raises(InputError, match="unknown dataset 'potsdm'; did you mean potsdam"):
        load_dataset("potsdm")
