"""OpenCV's 8-bit bilinear resize, reproduced without OpenCV: bit for bit against the official pipeline's
448 x 448 Vaihingen image and against OpenCV itself (run in a child process: cv2 is never loaded beside QGIS)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.errors import InputError
from engine.ops.resize_u8 import as_uint8, linear_coefficients, resize_linear_u8, resize_tile_8bit
from engine.ops.sliding import resize_long_side


@pytest.fixture(scope="module")
def vaihingen(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    """The Vaihingen sample (512, 512, 3) and the official pipeline's 448 x 448 resize of it."""
    image = np.array(Image.open(shared_data / "vaihingen/img/area1_0_0_512_512.png").convert("RGB"))
    official = np.load(shared_data / "reference/segearth_vaihingen_resize448.npz")["resized_rgb_uint8"]
    return image, official


def test_equals_the_official_448_image_bit_for_bit(vaihingen) -> None:
    image, official = vaihingen
    ours = resize_linear_u8(image, (448, 448))
    assert ours.dtype == np.uint8 and ours.shape == (448, 448, 3)
    assert np.array_equal(ours, official)


def test_the_float_path_is_what_differed_from_the_official_image(vaihingen) -> None:
    """Why the 8-bit path exists: torch's float bilinear is up to 0.76 grey levels off, often above 0.5."""
    image, official = vaihingen
    tensor = torch.from_numpy(image.transpose(2, 0, 1).astype(np.float32))[None]
    floats = resize_long_side(tensor, 448)[0].numpy().transpose(1, 2, 0)
    diff = np.abs(floats - official.astype(np.float32))
    assert 0.5 < diff.max() < 1.0
    assert (diff > 0.5).mean() > 0.05


def test_a_tile_of_8bit_values_takes_the_exact_path(vaihingen) -> None:
    image, official = vaihingen
    pixels, long_side = resize_tile_8bit(image.transpose(2, 0, 1).astype(np.float32), 448)
    assert long_side is None
    assert np.array_equal(pixels.transpose(1, 2, 0), official)


def test_other_tiles_keep_the_float_path() -> None:
    stretched = np.linspace(0.0, 255.0, 3 * 20 * 30, dtype=np.float32).reshape(3, 20, 30)
    pixels, long_side = resize_tile_8bit(stretched, 448)
    assert pixels is stretched and long_side == 448
    whole = np.full((3, 20, 30), 7.0, dtype=np.float32)
    assert resize_tile_8bit(whole, None) == (whole, None)
    assert as_uint8(np.array([0.0, 255.0, 12.0])) is not None
    assert as_uint8(np.array([0.0, 256.0])) is None and as_uint8(np.array([-1.0])) is None
    assert as_uint8(np.array([np.nan, 1.0])) is None


def test_coefficients_sum_to_one_in_fixed_point() -> None:
    for src, dst in ((512, 448), (37, 448), (896, 448), (5, 3)):
        first, a0, a1 = linear_coefficients(src, dst, clamp=True)
        assert np.all(a0 + a1 == 2048)
        assert first.min() >= 0 and first.max() <= src - 1


def test_bad_input_is_refused() -> None:
    with pytest.raises(InputError, match="uint8"):
        resize_linear_u8(np.zeros((4, 4), dtype=np.uint8), (2, 2))
    with pytest.raises(InputError, match="positive"):
        resize_linear_u8(np.zeros((4, 4, 3), dtype=np.uint8), (0, 2))


_OPENCV_ORACLE = textwrap.dedent(
    """
    import json, sys
    import cv2, numpy as np
    cases = json.loads(sys.argv[1])
    rng = np.random.default_rng(7)
    out = {}
    for i, (h, w, c, dh, dw) in enumerate(cases):
        image = rng.integers(0, 256, (h, w, c), dtype=np.uint8)
        resized = cv2.resize(image, (dw, dh), interpolation=cv2.INTER_LINEAR).reshape(dh, dw, c)
        np.save(sys.argv[2] + f"/{i}_in.npy", image)
        np.save(sys.argv[2] + f"/{i}_out.npy", resized)
    """
)


def test_equals_opencv_on_many_sizes(tmp_path: Path) -> None:
    pytest.importorskip("cv2")
    rng = np.random.default_rng(3)
    cases = [(512, 512, 3, 448, 448), (896, 600, 3, 448, 300), (200, 100, 3, 100, 50), (37, 5, 3, 448, 61)]
    cases += [(1, 9, 3, 3, 448), (300, 301, 1, 448, 449), (1024, 1024, 3, 448, 448)]
    for _ in range(40):
        h, w, dh, dw = (int(v) for v in rng.integers(1, 600, 4))
        cases.append((h, w, 3, dh, dw))
    subprocess.run(
        [sys.executable, "-c", _OPENCV_ORACLE, json.dumps(cases), str(tmp_path)], check=True, timeout=120
    )
    for i, (_, _, _, dh, dw) in enumerate(cases):
        image = np.load(tmp_path / f"{i}_in.npy")
        expected = np.load(tmp_path / f"{i}_out.npy")
        assert np.array_equal(resize_linear_u8(image, (dh, dw)), expected), cases[i]
