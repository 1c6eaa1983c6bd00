"""The two papers' evaluation protocols, as data, and the class space each one evaluates.

- ``sdci`` (SDCI official code, ``ovs/main.py`` + ``util/miou.py``): the background / "other" class is never
  evaluated: the confusion matrix has the foreground classes only, in the class file's order (the label
  set's order without the background), ground-truth background pixels are left out like the ignore value
  255, the prediction is the best **foreground** class (SDCI has no background output), and the mIoU is the
  mean over the classes present in the ground truth.
- ``segearth`` (SegEarth-OV / AlignCLIP: mmsegmentation's ``IoUMetric``): every class of the label set is
  evaluated, background included; 255 is ignored; ``reduce_zero_label`` where mmsegmentation's dataset config
  uses it (a property of the mask encoding, see :mod:`.datasets`); the per-dataset probability threshold to
  the background class (``prob_thd``) is a method parameter that the presets carry and the methods apply;
  the mIoU is the mean over the classes present in ground truth or prediction.

Both protocols hand the preset's parameters for the method to the method unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import InputError

if TYPE_CHECKING:
    import numpy as np

IGNORE = 255  # the class value of ignored pixels after decoding (masks hold at most 255 classes)


@dataclass(frozen=True)
class Protocol:
    """How one paper turns predictions and masks into scores."""

    name: str
    title: str
    evaluate_background: bool  # False: background pixels ignored, prediction restricted to the foreground
    mean_over: str  # "union" (mmseg) or "gt" (SDCI), see metrics.mean_iou
    source: str


PROTOCOLS: dict[str, Protocol] = {
    "sdci": Protocol(
        name="sdci",
        title="SDCI: background / 'other' not evaluated, 255 ignored, mIoU over ground-truth classes",
        evaluate_background=False,
        mean_over="gt",
        source="github.com/yu-ni1989/SDCI @7f33971: ovs/main.py, util/miou.py (ShowSegmentResult)",
    ),
    "segearth": Protocol(
        name="segearth",
        title="SegEarth-OV / mmsegmentation IoUMetric: background evaluated, 255 ignored",
        evaluate_background=True,
        mean_over="union",
        source="github.com/likyoo/SegEarth-OV @3e22a96: configs/base_config.py (IoUMetric), configs/cfg_*.py",
    ),
}


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name``; InputError listing the known ones otherwise."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise InputError(f"unknown protocol {name!r}; known protocols: {', '.join(PROTOCOLS)}") from None


@dataclass(frozen=True)
class ClassSpace:
    """The classes a protocol evaluates: label-set indices in order; position = confusion-matrix index."""

    num_labels: int
    evaluated: tuple[int, ...]

    @classmethod
    def of(cls, num_labels: int, background: int | None, protocol: Protocol) -> ClassSpace:
        """All ``num_labels`` classes, or all but ``background`` where the protocol does not evaluate it."""
        drop = None if protocol.evaluate_background else background
        return cls(num_labels, tuple(i for i in range(num_labels) if i != drop))

    def target(self, classes: np.ndarray) -> np.ndarray:
        """Decoded ground truth (label-set indices) -> evaluated indices, :data:`IGNORE` elsewhere."""
        import numpy as np

        lut = np.full(256, IGNORE, dtype=np.uint8)
        lut[list(self.evaluated)] = np.arange(len(self.evaluated), dtype=np.uint8)
        return lut[classes]

    def prediction(self, probabilities: np.ndarray) -> np.ndarray:
        """Class probabilities ``(num_labels, h, w)`` -> index of the best evaluated class per pixel."""
        import numpy as np

        return np.argmax(probabilities[list(self.evaluated)], axis=0).astype(np.uint8)
