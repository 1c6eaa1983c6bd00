"""Prompt template sets, as data: each template is a ``str.format`` pattern with one ``{}`` for the class.

- ``openai_imagenet``: the 80 ImageNet templates of OpenAI's CLIP zero-shot evaluation (open_clip ships them
  as ``OPENAI_IMAGENET_TEMPLATES``, as lambdas); SegEarth-OV uses them.
- ``sdci_rs``: SDCI's 10 remote-sensing templates (``template/image_template.txt`` of the official code).
- ``alignclip_rs``: 80 remote-sensing templates in AlignCLIP's style. The paper's 80 are not public; its
  Table 5 publishes five, which are included verbatim (``[class]`` -> ``{}``, the first five entries). The
  other 75 follow the same pattern: an image-quality or sensor qualifier, a remote-sensing image type
  (aerial, satellite, remote sensing, drone, map) and the class, mirroring the kinds of variation in
  OpenAI's natural-image set (quality, cropping, size, view) for overhead imagery.
"""

from __future__ import annotations

from ..errors import InputError

OPENAI_IMAGENET: tuple[str, ...] = (
    "a bad photo of a {}.",
    "a photo of many {}.",
    "a sculpture of a {}.",
    "a photo of the hard to see {}.",
    "a low resolution photo of the {}.",
    "a rendering of a {}.",
    "graffiti of a {}.",
    "a bad photo of the {}.",
    "a cropped photo of the {}.",
    "a tattoo of a {}.",
    "the embroidered {}.",
    "a photo of a hard to see {}.",
    "a bright photo of a {}.",
    "a photo of a clean {}.",
    "a photo of a dirty {}.",
    "a dark photo of the {}.",
    "a drawing of a {}.",
    "a photo of my {}.",
    "the plastic {}.",
    "a photo of the cool {}.",
    "a close-up photo of a {}.",
    "a black and white photo of the {}.",
    "a painting of the {}.",
    "a painting of a {}.",
    "a pixelated photo of the {}.",
    "a sculpture of the {}.",
    "a bright photo of the {}.",
    "a cropped photo of a {}.",
    "a plastic {}.",
    "a photo of the dirty {}.",
    "a jpeg corrupted photo of a {}.",
    "a blurry photo of the {}.",
    "a photo of the {}.",
    "a good photo of the {}.",
    "a rendering of the {}.",
    "a {} in a video game.",
    "a photo of one {}.",
    "a doodle of a {}.",
    "a close-up photo of the {}.",
    "a photo of a {}.",
    "the origami {}.",
    "the {} in a video game.",
    "a sketch of a {}.",
    "a doodle of the {}.",
    "a origami {}.",
    "a low resolution photo of a {}.",
    "the toy {}.",
    "a rendition of the {}.",
    "a photo of the clean {}.",
    "a photo of a large {}.",
    "a rendition of a {}.",
    "a photo of a nice {}.",
    "a photo of a weird {}.",
    "a blurry photo of a {}.",
    "a cartoon {}.",
    "art of a {}.",
    "a sketch of the {}.",
    "a embroidered {}.",
    "a pixelated photo of a {}.",
    "itap of the {}.",
    "a jpeg corrupted photo of the {}.",
    "a good photo of a {}.",
    "a plushie {}.",
    "a photo of the nice {}.",
    "a photo of the small {}.",
    "a photo of the weird {}.",
    "the cartoon {}.",
    "art of the {}.",
    "a drawing of the {}.",
    "a photo of the large {}.",
    "a black and white photo of a {}.",
    "the plushie {}.",
    "a dark photo of a {}.",
    "itap of a {}.",
    "graffiti of the {}.",
    "a toy {}.",
    "itap of my {}.",
    "a photo of a cool {}.",
    "a photo of a small {}.",
    "a tattoo of the {}.",
)

SDCI_RS: tuple[str, ...] = (
    "a satellite image of a {}.",
    "an aerial view of a {}.",
    "a satellite photo of a {}.",
    "a top-down view of a {}.",
    "a piece of land with a {}.",
    "a landscape dominated by a {}.",
    "an earth observation satellite image of a {}.",
    "a landscape dominated by {}.",
    "an area of {} as seen from above.",
    "land cover classified as {}.",
)

# AlignCLIP Table 5, verbatim with [class] -> {}.
ALIGNCLIP_PUBLISHED: tuple[str, ...] = (
    "a low-quality aerial image of {}.",
    "a cropped remote sensing image of {}.",
    "a remote sensing interpretation map of {}.",
    "a satellite image containing hardly recognizable {}.",
    "a low-resolution remote sensing image of {}.",
)

ALIGNCLIP_RS: tuple[str, ...] = (
    *ALIGNCLIP_PUBLISHED,
    # image quality
    "a low-quality satellite image of {}.",
    "a low-quality remote sensing image of {}.",
    "a high-quality aerial image of {}.",
    "a low-resolution satellite image of {}.",
    "a high-resolution satellite image of {}.",
    "a high-resolution remote sensing image of {}.",
    "a very high resolution aerial image of {}.",
    "a medium-resolution satellite image of {}.",
    "a blurry aerial image of {}.",
    "a blurry satellite image of {}.",
    "a blurry remote sensing image of {}.",
    "a clear aerial image of {}.",
    "a clear satellite image of {}.",
    "a clear remote sensing image of {}.",
    "a bright aerial image of {}.",
    "a dark aerial image of {}.",
    "a bright satellite image of {}.",
    "a dark satellite image of {}.",
    "a noisy remote sensing image of {}.",
    "a jpeg compressed satellite image of {}.",
    "a hazy aerial image of {}.",
    "a partly cloudy satellite image of {}.",
    "a satellite image of {} with shadows.",
    # cropping and visibility
    "a cropped aerial image of {}.",
    "a cropped satellite image of {}.",
    "an aerial image containing hardly recognizable {}.",
    "a remote sensing image containing hardly recognizable {}.",
    "an aerial image containing {}.",
    "a satellite image containing {}.",
    "a remote sensing image containing {}.",
    # amount and size
    "an aerial image containing many {}.",
    "a satellite image containing a large area of {}.",
    "a remote sensing image containing a small area of {}.",
    "an aerial image of a large {}.",
    "an aerial image of a small {}.",
    "a satellite image of scattered {}.",
    "a satellite image of dense {}.",
    "an aerial image of the {}.",
    "a satellite image of the {}.",
    "a remote sensing image of the {}.",
    # maps and annotations
    "a remote sensing interpretation map of the {}.",
    "a remote sensing segmentation map of {}.",
    "a land cover map of {}.",
    "a land use map showing {}.",
    "an annotated remote sensing image of {}.",
    # viewpoint
    "a top-down aerial image of {}.",
    "a top-down satellite image of {}.",
    "an overhead image of {}.",
    "an overhead view of {}.",
    "a bird's-eye view of {}.",
    "a nadir aerial image of {}.",
    "an oblique aerial image of {}.",
    # sensor and product
    "a drone image of {}.",
    "a UAV image of {}.",
    "an aerial photograph of {}.",
    "a satellite photograph of {}.",
    "an orthophoto of {}.",
    "an orthorectified satellite image of {}.",
    "a multispectral satellite image of {}.",
    "a true-colour satellite image of {}.",
    "a false-colour remote sensing image of {}.",
    "a panchromatic satellite image of {}.",
    "a Google Earth image of {}.",
    # scene and tile
    "a remote sensing image patch of {}.",
    "a satellite image tile of {}.",
    "an aerial image tile of {}.",
    "a remote sensing scene of {}.",
    "an aerial scene of {}.",
    "a satellite scene of {}.",
    # setting
    "an urban aerial image of {}.",
    "a rural satellite image of {}.",
    "a remote sensing image of {} in a city.",
    "a remote sensing image of {} in the countryside.",
    "an aerial image of {} taken in summer.",
    "an aerial image of {} taken in winter.",
)

TEMPLATE_SETS: dict[str, tuple[str, ...]] = {
    "openai_imagenet": OPENAI_IMAGENET,
    "sdci_rs": SDCI_RS,
    "alignclip_rs": ALIGNCLIP_RS,
}


def get_templates(name: str) -> tuple[str, ...]:
    """The template set registered as ``name``; :class:`InputError` listing the known names otherwise."""
    try:
        return TEMPLATE_SETS[name]
    except KeyError:
        raise InputError(f"unknown template set {name!r}; known: {', '.join(TEMPLATE_SETS)}") from None
