"""Felzenszwalb superpixels as the official SDCI code computes them (uint8 RGB into scikit-image)."""

import numpy as np
import pytest
from PIL import Image
from skimage.segmentation import felzenszwalb as skimage_felzenszwalb

from engine.errors import InputError
from engine.ops.superpixels import felzenszwalb


@pytest.fixture(scope="module")
def crop(shared_data):
    img = np.array(Image.open(shared_data / "potsdam" / "img" / "2_10_0_0_512_512.png").convert("RGB"))
    return img[:96, :128]


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """True when two label maps split the pixels into the same regions (labels may be renamed)."""
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    return pairs.shape[1] == len(np.unique(a)) == len(np.unique(b))


def test_labels_are_the_official_call_on_uint8_relabelled_consecutively(crop):
    labels = felzenszwalb(crop)
    official = skimage_felzenszwalb(crop, scale=40, sigma=0.8, min_size=20)
    assert labels.shape == crop.shape[:2] and labels.dtype == np.int32
    assert _same_partition(labels, official)
    assert set(np.unique(labels)) == set(range(labels.max() + 1))


def test_float_0_255_input_gives_the_uint8_result_not_scikit_images_float_result(crop):
    as_float = crop.astype(np.float32)
    assert np.array_equal(felzenszwalb(as_float), felzenszwalb(crop))
    raw_float = skimage_felzenszwalb(as_float, scale=40, sigma=0.8, min_size=20)
    assert not _same_partition(raw_float, felzenszwalb(crop))


def test_segments_respect_min_size(crop):
    labels = felzenszwalb(crop, min_size=20)
    assert np.bincount(labels.ravel()).min() >= 20


def test_rejects_a_non_rgb_array():
    with pytest.raises(InputError, match="RGB"):
        felzenszwalb(np.zeros((8, 8), dtype=np.uint8))
