"""Sliding windows and resizing of SegEarth-OV's inference, against the mmseg rule written out in the test."""

import numpy as np
import pytest
import torch

from engine.errors import InputError
from engine.ops.sliding import (
    Window,
    centred_padding,
    coverage_count,
    plan_windows,
    rescaled_size,
    resize_long_side,
    resized_slide_inference,
    slide_inference,
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def sizes_around(crop: int, stride: int) -> list[int]:
    """Image sides at the edge cases of the rule: tiny, around the crop, around a stride, non-multiples."""
    sides = {1, 7, crop - 1, crop, crop + 1, crop + stride - 1, crop + stride, 2 * crop + 1, 3 * crop + 17}
    return sorted(s for s in sides if s >= 1)


def mmseg_windows(h: int, w: int, crop: int, stride: int) -> list[tuple[int, int, int, int]]:
    """mmseg's slide_inference loop, written as in the reference (crop and stride per axis)."""
    out = []
    h_grids = max(h - crop + stride - 1, 0) // stride + 1
    w_grids = max(w - crop + stride - 1, 0) // stride + 1
    for h_idx in range(h_grids):
        for w_idx in range(w_grids):
            y1, x1 = h_idx * stride, w_idx * stride
            y2, x2 = min(y1 + crop, h), min(x1 + crop, w)
            y1, x1 = max(y2 - crop, 0), max(x2 - crop, 0)
            out.append((y1, y2, x1, x2))
    return out


def naive_count(windows: list[tuple[int, int, int, int]], h: int, w: int) -> np.ndarray:
    count = np.zeros((h, w))
    for y1, y2, x1, x2 in windows:
        count[y1:y2, x1:x2] += 1
    return count


@pytest.mark.parametrize(("crop", "stride"), [(224, 112), (224, 224), (64, 48), (10, 3)])
def test_windows_follow_the_mmseg_rule_and_cover_every_pixel(crop: int, stride: int) -> None:
    sides = sizes_around(crop, stride)
    for h in sides:
        for w in (1, crop + 1, sides[-1]):
            windows = plan_windows(h, w, crop, stride)
            expected = mmseg_windows(h, w, crop, stride)
            assert [tuple(win) for win in windows] == expected
            assert {(y2 - y1, x2 - x1) for y1, y2, x1, x2 in expected} == {(min(crop, h), min(crop, w))}
            count = naive_count(expected, h, w)
            assert count.min() >= 1
            np.testing.assert_array_equal(coverage_count(windows, h, w).numpy(), count)


def test_448_square_gets_nine_windows_of_224() -> None:
    windows = plan_windows(448, 448)
    starts = sorted({win.y1 for win in windows})
    assert starts == [0, 112, 224] and len(windows) == 9
    assert windows[-1] == Window(224, 448, 224, 448)


def test_stride_larger_than_crop_is_rejected() -> None:
    with pytest.raises(InputError, match="exceeds the crop"):
        plan_windows(500, 500, crop=100, stride=200)


@pytest.mark.parametrize("device", DEVICES)
def test_average_of_window_dependent_logits_uses_the_count_map(device: str) -> None:
    h, w = 300, 250
    image = torch.zeros(1, 3, h, w, device=device)
    calls: list[int] = []

    def fn(crops: torch.Tensor) -> torch.Tensor:
        calls.append(len(calls))
        return torch.full((1, 2, *crops.shape[-2:]), float(len(calls)), device=crops.device)

    out = slide_inference(image, fn, 224, 112, windows_per_call=1)
    expected_sum = np.zeros((h, w))
    windows = mmseg_windows(h, w, 224, 112)
    for i, (y1, y2, x1, x2) in enumerate(windows):
        expected_sum[y1:y2, x1:x2] += i + 1
    expected = expected_sum / naive_count(windows, h, w)
    assert out.shape == (1, 2, h, w) and out.device.type == device and out.dtype == torch.float32
    np.testing.assert_allclose(out[0, 1].cpu().numpy(), expected, atol=1e-5)


def test_constant_image_gives_position_independent_output() -> None:
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 4, 3, padding=1, padding_mode="replicate")
    image = torch.full((1, 3, 150, 117), 0.7)
    with torch.no_grad():
        out = slide_inference(image, conv, 64, 40)
        single = conv(image[:, :, :64, :64])[0, :, 0, 0]
    assert out.shape == (1, 4, 150, 117)
    torch.testing.assert_close(out, single[None, :, None, None].expand_as(out), atol=1e-5, rtol=0)


def test_windows_per_call_batches_give_the_same_result() -> None:
    """The windows of both images go through ``fn`` one at a time, three at a time (calls splitting windows
    and images) or all in one call, with the same result."""
    torch.manual_seed(1)
    conv = torch.nn.Conv2d(3, 5, 3, padding=1)
    image = torch.randn(2, 3, 130, 190)
    n_windows = len(plan_windows(130, 190, 64, 48))
    results, sizes = {}, {}
    for per_call in (1, 3, None):
        calls: list[int] = []

        def fn(crops: torch.Tensor, calls: list[int] = calls) -> torch.Tensor:
            calls.append(crops.shape[0])
            return conv(crops)

        with torch.no_grad():
            results[per_call] = slide_inference(image, fn, 64, 48, windows_per_call=per_call)
        sizes[per_call] = calls
    assert sizes[1] == [1] * 2 * n_windows and sizes[None] == [2 * n_windows]
    assert sizes[3] == [3] * 8 and n_windows == 12  # a call may hold one image of a window, the other in the next
    for per_call in (3, None):
        torch.testing.assert_close(results[per_call], results[1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(results[None][1:], slide_inference(image[1:], conv, 64, 48), atol=1e-5, rtol=1e-5)


def test_padding_to_the_patch_size_is_centred_and_cut_back() -> None:
    image = torch.arange(100 * 150, dtype=torch.float32).reshape(1, 1, 100, 150).repeat(1, 3, 1, 1)
    seen: list[tuple[int, int]] = []

    def fn(crops: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(crops.shape[-2:]))
        return crops[:, :1]

    out = slide_inference(image, fn, 224, 112, pad_multiple=16)
    assert seen == [(112, 160)]
    assert centred_padding(100, 150, 16) == (5, 5, 6, 6)
    assert torch.equal(out, image[:, :1])


def test_low_resolution_window_logits_are_resized_to_the_window() -> None:
    def fn(crops: torch.Tensor) -> torch.Tensor:
        return torch.ones(crops.shape[0], 3, 14, 14) * 2.0

    out = slide_inference(torch.zeros(1, 3, 300, 300), fn)
    assert out.shape == (1, 3, 300, 300)
    torch.testing.assert_close(out, torch.full_like(out, 2.0))


@pytest.mark.parametrize(("h", "w"), [(512, 512), (1024, 512), (300, 200), (100, 37), (448, 1000), (999, 1)])
def test_rescaled_size_is_mmcvs_rule(h: int, w: int) -> None:
    factor = 448 / max(h, w)
    assert rescaled_size(h, w) == (int(h * factor + 0.5), int(w * factor + 0.5))
    assert max(rescaled_size(h, w)) == 448


def naive_bilinear(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """cv2 INTER_LINEAR sampling: half-pixel centres, source coordinates clamped to the border."""
    h, w = img.shape
    out = np.zeros((out_h, out_w))
    for i in range(out_h):
        sy = min(max((i + 0.5) * h / out_h - 0.5, 0.0), h - 1)
        y0 = int(np.floor(sy))
        y1, fy = min(y0 + 1, h - 1), sy - y0
        for j in range(out_w):
            sx = min(max((j + 0.5) * w / out_w - 0.5, 0.0), w - 1)
            x0 = int(np.floor(sx))
            x1, fx = min(x0 + 1, w - 1), sx - x0
            top = (1 - fx) * img[y0, x0] + fx * img[y0, x1]
            bottom = (1 - fx) * img[y1, x0] + fx * img[y1, x1]
            out[i, j] = (1 - fy) * top + fy * bottom
    return out


@pytest.mark.parametrize(("h", "w", "long_side"), [(9, 6, 20), (40, 25, 16)])
def test_resize_long_side_is_half_pixel_bilinear(h: int, w: int, long_side: int) -> None:
    img = torch.rand(1, 1, h, w, generator=torch.Generator().manual_seed(0))
    out = resize_long_side(img, long_side)
    expected = naive_bilinear(img[0, 0].double().numpy(), *rescaled_size(h, w, long_side))
    np.testing.assert_allclose(out[0, 0].double().numpy(), expected, atol=1e-5)


def test_resized_slide_inference_returns_the_tile_size() -> None:
    image = torch.full((1, 3, 600, 300), 3.0)
    seen: list[tuple[int, int]] = []

    def fn(crops: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(crops.shape))
        return crops[:, :2] * 2

    out = resized_slide_inference(image, fn)
    assert out.shape == (1, 2, 600, 300)
    assert seen == [(3, 3, 224, 224)]  # 600 x 300 -> 448 x 224: three windows down, one across, one call
    torch.testing.assert_close(out, torch.full_like(out, 6.0))
