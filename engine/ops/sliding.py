"""SegEarth-OV's inference geometry: long-side resize and mmseg-style sliding windows.

Facts from the reference (likyoo/SegEarth-OV ``segearth_segmentor.py`` ``forward_slide`` and
``configs/*.py``):

- the test pipeline's ``Resize(scale=(448, 448), keep_ratio=True)`` is mmcv's ``imrescale``: scale factor
  ``min(448 / long side, 448 / short side) = 448 / long side`` (so small images are enlarged too), new sides
  ``int(side * factor + 0.5)``, interpolation ``cv2.INTER_LINEAR`` on the uint8 image, in OpenCV's 8-bit
  fixed point. The methods reproduce that bit for bit for 8-bit tiles (:mod:`.resize_u8`) and pass the result
  with ``long_side=None``; :func:`resize_long_side` is the float path for other data (bilinear, half-pixel
  centres, no antialiasing: the same sampling, without the 8-bit rounding);
- windows: ``h_grids = max(h - crop + stride - 1, 0) // stride + 1``; window ``y1 = i * stride``,
  ``y2 = min(y1 + crop, h)``, ``y1 = max(y2 - crop, 0)`` (the last window is aligned to the border; an
  image smaller than the crop is one window of the image's size, not padded to the crop);
- a window whose side is not a multiple of the patch size is zero-padded centred (``left = pad // 2``) on
  the normalised image, and the logits are cut back; window logits are summed and divided by a count map;
- the averaged logits are resized back to the original image size with bilinear interpolation
  (``align_corners=False``), before the logit scale and softmax.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ..errors import InputError

WindowFn = Callable[[torch.Tensor], torch.Tensor]


class Window(NamedTuple):
    """A window ``[y1:y2, x1:x2]`` of an image (pixel indices, end exclusive)."""

    y1: int
    y2: int
    x1: int
    x2: int


def _grid_starts(size: int, crop: int, stride: int) -> list[tuple[int, int]]:
    """mmseg's window ranges ``(start, end)`` along one axis of length ``size``."""
    n = max(size - crop + stride - 1, 0) // stride + 1
    ranges = []
    for i in range(n):
        end = min(i * stride + crop, size)
        ranges.append((max(end - crop, 0), end))
    return ranges


def plan_windows(h: int, w: int, crop: int = 224, stride: int = 112) -> list[Window]:
    """The sliding windows of mmseg's ``slide_inference`` / SegEarth-OV's ``forward_slide``, row-major.

    Every pixel is covered; all windows have the size ``(min(crop, h), min(crop, w))``. ``stride`` must not
    exceed ``crop`` (otherwise the rule leaves gaps).
    """
    if h < 1 or w < 1:
        raise ValueError(f"image size must be positive, got {h} x {w}")
    if crop < 1 or stride < 1:
        raise InputError(f"window crop and stride must be positive, got crop {crop}, stride {stride}")
    if stride > crop:
        raise InputError(f"window stride {stride} exceeds the crop {crop}: some pixels would not be covered")
    rows = _grid_starts(h, crop, stride)
    cols = _grid_starts(w, crop, stride)
    return [Window(y1, y2, x1, x2) for y1, y2 in rows for x1, x2 in cols]


def coverage_count(windows: list[Window], h: int, w: int, device: torch.device | str | None = None) -> torch.Tensor:
    """How many windows cover each pixel: a float32 ``(h, w)`` count map (the divisor of the averaging)."""
    count = torch.zeros((h, w), dtype=torch.float32, device=device)
    for win in windows:
        count[win.y1 : win.y2, win.x1 : win.x2] += 1.0
    return count


def centred_padding(h: int, w: int, multiple: int) -> tuple[int, int, int, int]:
    """``(left, right, top, bottom)`` zero padding bringing ``h x w`` to multiples of ``multiple``.

    SegEarth-OV's ``compute_padsize``: the extra pixels are split with the smaller half left/top.
    """
    pad_w = -w % multiple
    pad_h = -h % multiple
    return pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2


def slide_inference(
    image: torch.Tensor,
    fn: WindowFn,
    crop: int = 224,
    stride: int = 112,
    *,
    pad_multiple: int = 1,
    windows_per_call: int | None = None,
) -> torch.Tensor:
    """Average ``fn``'s logits over sliding windows: ``image (B, C, H, W)`` -> logits ``(B, K, H, W)``.

    ``fn`` maps a batch of windows ``(n, C, h, w)`` to logits ``(n, K, h', w')``; if ``(h', w')`` is not
    the window's size the logits are resized to it bilinearly (as SegEarth-OV's ``forward_feature`` does).
    Windows are zero-padded (centred) to a multiple of ``pad_multiple`` (the patch size) before ``fn`` and the
    padding is cut from the logits. Overlapping logits are summed and divided by the count map of
    :func:`coverage_count`. The windows of all B images (all of one size) go through ``fn`` together,
    ``windows_per_call`` at a time (None: all in one call; 1 reproduces the reference's one-window loop with
    the least memory); ``fn`` must treat each window on its own. The result is float32 (or float64 for
    float64 logits) on the image's device.
    """
    if image.ndim != 4:
        raise ValueError(f"slide_inference expects a (B, C, H, W) image, got shape {tuple(image.shape)}")
    if (windows_per_call is not None and windows_per_call < 1) or pad_multiple < 1:
        raise InputError("windows_per_call and pad_multiple must be at least 1")
    b, _, h, w = image.shape
    windows = plan_windows(h, w, crop, stride)
    win_h, win_w = windows[0].y2 - windows[0].y1, windows[0].x2 - windows[0].x1
    left, right, top, bottom = centred_padding(win_h, win_w, pad_multiple)
    padded_size = (win_h + top + bottom, win_w + left + right)
    total: torch.Tensor | None = None
    # the (window, image) pairs window-major: the pairs of one window are contiguous, so a call's crops and
    # its logits' accumulation take one slice per window rather than one per crop
    pairs = len(windows) * b
    per_call = pairs if windows_per_call is None else windows_per_call
    for start in range(0, pairs, per_call):
        stop = min(start + per_call, pairs)
        parts = [(win, slice(max(start - i * b, 0), min(stop - i * b, b)))
                 for i, win in enumerate(windows) if i * b < stop and (i + 1) * b > start]
        crops = torch.cat([image[images, :, win.y1 : win.y2, win.x1 : win.x2] for win, images in parts])
        if left or right or top or bottom:
            crops = F.pad(crops, (left, right, top, bottom))
        logits = fn(crops)
        if tuple(logits.shape[-2:]) != padded_size:
            logits = F.interpolate(logits, size=padded_size, mode="bilinear", align_corners=False)
        logits = logits[:, :, top : top + win_h, left : left + win_w]
        if total is None:
            dtype = torch.promote_types(logits.dtype, torch.float32)
            total = torch.zeros((b, logits.shape[1], h, w), dtype=dtype, device=image.device)
        first = 0
        for win, images in parts:
            count = images.stop - images.start
            total[images, :, win.y1 : win.y2, win.x1 : win.x2] += logits[first : first + count].to(total.dtype)
            first += count
    assert total is not None
    return total / coverage_count(windows, h, w, device=image.device).to(total.dtype)


def rescaled_size(h: int, w: int, long_side: int = 448) -> tuple[int, int]:
    """mmcv's ``rescale_size`` for ``scale=(long_side, long_side)``, ``keep_ratio=True``: the new ``(h, w)``.

    Factor ``long_side / max(h, w)`` (enlarging small images too), sides ``int(side * factor + 0.5)``.
    """
    if h < 1 or w < 1:
        raise ValueError(f"image size must be positive, got {h} x {w}")
    if long_side < 1:
        raise InputError(f"the resize long side must be positive, got {long_side}")
    factor = min(long_side / max(h, w), long_side / min(h, w))
    return int(h * factor + 0.5), int(w * factor + 0.5)


def resize_long_side(image: torch.Tensor, long_side: int = 448) -> torch.Tensor:
    """Resize ``image (B, C, H, W)`` so that its long side is ``long_side``, keeping the aspect ratio.

    Size rule :func:`rescaled_size`; bilinear, ``align_corners=False``, no antialiasing: cv2's INTER_LINEAR
    sampling in floating point. This is the path for non-8-bit data; on an 8-bit image it is up to 0.76
    grey levels from OpenCV's fixed-point result (:func:`engine.ops.resize_u8.resize_linear_u8` is exact).
    """
    size = rescaled_size(image.shape[-2], image.shape[-1], long_side)
    if size == tuple(image.shape[-2:]):
        return image
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False)


def resized_slide_inference(
    image: torch.Tensor,
    fn: WindowFn,
    *,
    long_side: int | None = 448,
    crop: int = 224,
    stride: int = 112,
    pad_multiple: int = 1,
    windows_per_call: int | None = None,
    output_size: tuple[int, int] | None = None,
) -> torch.Tensor:
    """SegEarth-OV's whole inference geometry: resize, slide, resize the logits back to ``(H, W)``.

    ``image (B, C, H, W)`` -> logits ``(B, K, H, W)``: :func:`resize_long_side` (skipped when ``long_side`` is
    None, e.g. for an image resized in 8 bits already), :func:`slide_inference`, then bilinear interpolation
    (``align_corners=False``) back to ``output_size`` (default: the input's size), as ``forward_slide``
    resizes to ``ori_shape``.
    """
    h, w = output_size or tuple(image.shape[-2:])
    resized = image if long_side is None else resize_long_side(image, long_side)
    logits = slide_inference(resized, fn, crop, stride, pad_multiple=pad_multiple, windows_per_call=windows_per_call)
    if tuple(logits.shape[-2:]) == (h, w):
        return logits
    return F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)
