"""Felzenszwalb superpixels for CSCP (SDCI Sec. 3.3), as the official code computes them.

The official ``felzenszwalb_img2labels`` reads the tile with PIL as ``uint8`` RGB and passes it unchanged to
``skimage.segmentation.felzenszwalb(scale=40, sigma=0.8, min_size=20)``. scikit-image converts ``uint8`` to
float in ``[0, 1]`` (``x * (1/255)``) before smoothing, whereas a float image is used as it is, so the same
picture given as float ``0..255`` yields a very different (much finer) segmentation. This wrapper accepts
either and always segments the ``[0, 1]`` image the official call sees.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import InputError

if TYPE_CHECKING:
    import numpy as np


def felzenszwalb(image: np.ndarray, scale: float = 40.0, sigma: float = 0.8, min_size: int = 20) -> np.ndarray:
    """Superpixel labels ``(H, W)`` int32, consecutive from 0, of an RGB image ``(H, W, 3)``.

    ``image`` is ``uint8`` or float in ``0..255`` (the engine's tile convention, channels last here). An
    integer-valued float image gives exactly the official ``uint8`` result; other floats are scaled the same
    way (``x / 255``) without rounding.
    """
    import numpy as np
    from skimage.segmentation import felzenszwalb as skimage_felzenszwalb

    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3:
        raise InputError(f"superpixels need an RGB image (H, W, 3), got shape {img.shape}")
    if img.dtype != np.uint8:
        img = np.multiply(img, 1.0 / 255.0, dtype=np.float64)
    labels = skimage_felzenszwalb(img, scale=scale, sigma=sigma, min_size=min_size)
    _, consecutive = np.unique(labels, return_inverse=True)
    return consecutive.reshape(labels.shape).astype(np.int32)
