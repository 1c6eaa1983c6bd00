"""Every checkpoint the methods use: where it comes from, how to check it and how to read it.

The records are data. ``sha256`` is set only where the publisher gives it (OpenAI puts it in the URL path)
or where it was computed from the real file; ``size`` only where the byte count is known. Without a
checksum, ``weights verify`` reports "no published checksum" instead of pretending.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError

# file formats, each with a reader/converter in ``formats.py``
FORMAT_OPENAI_CLIP = "openai-clip"  # TorchScript archive with fp16 parameters (OpenAI's ``*.pt``)
FORMAT_DINO = "dino"  # plain state dict, maybe nested under "teacher"/"student", "backbone." prefixes
FORMAT_DINOV2 = "dinov2"  # plain state dict with register tokens and layer scale (official keys)
FORMAT_SAM = "sam"  # plain state dict of the whole SAM model; the image encoder is kept
FORMAT_SIMFEATUP = "simfeatup"  # PyTorch Lightning checkpoint, keys "upsampler.*" under "state_dict"


@dataclass(frozen=True)
class Checkpoint:
    """One downloadable checkpoint.

    ``architecture`` names the in-memory model the converted weights fit: an open_clip architecture
    (``ViT-B-16``), a timm model name (``vit_base_patch8_224``) or a SimFeatUp upsampler kind
    (``jbu_one``). ``used_by`` lists the method names that need it.
    """

    name: str
    filename: str
    url: str
    sha256: str | None
    size: int | None
    format: str
    architecture: str
    used_by: tuple[str, ...]
    license: str
    homepage: str


_OPENAI = "https://openaipublic.azureedge.net/clip/models"
_FAIR = "https://dl.fbaipublicfiles.com"
_SEGEARTH_RAW = "https://github.com/likyoo/SegEarth-OV/raw/main/simfeatup_dev/weights"

CHECKPOINTS: dict[str, Checkpoint] = {
    ckpt.name: ckpt
    for ckpt in (
        Checkpoint(
            name="clip-vit-b-16",
            filename="ViT-B-16.pt",
            url=f"{_OPENAI}/5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt",
            sha256="5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f",
            size=None,
            format=FORMAT_OPENAI_CLIP,
            architecture="ViT-B-16",
            used_by=("alignclip-d", "alignclip-s", "segearth-ov"),
            license="MIT",
            homepage="https://github.com/openai/CLIP",
        ),
        Checkpoint(
            name="clip-vit-l-14",
            filename="ViT-L-14.pt",
            url=f"{_OPENAI}/b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt",
            sha256="b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836",
            size=None,
            format=FORMAT_OPENAI_CLIP,
            architecture="ViT-L-14",
            used_by=("sdci-v1", "sdci-v2"),
            license="MIT",
            homepage="https://github.com/openai/CLIP",
        ),
        Checkpoint(
            name="dino-vitb8",
            filename="dino_vitbase8_pretrain.pth",
            url=f"{_FAIR}/dino/dino_vitbase8_pretrain/dino_vitbase8_pretrain.pth",
            sha256=None,
            size=None,
            format=FORMAT_DINO,
            architecture="vit_base_patch8_224",
            used_by=("sdci-v1", "alignclip-d"),
            license="Apache-2.0",
            homepage="https://github.com/facebookresearch/dino",
        ),
        Checkpoint(
            name="dino-vits8",
            filename="dino_deitsmall8_pretrain.pth",
            url=f"{_FAIR}/dino/dino_deitsmall8_pretrain/dino_deitsmall8_pretrain.pth",
            sha256=None,
            size=None,
            format=FORMAT_DINO,
            architecture="vit_small_patch8_224",
            used_by=(),
            license="Apache-2.0",
            homepage="https://github.com/facebookresearch/dino",
        ),
        Checkpoint(
            name="dinov2-vitb14-reg",
            filename="dinov2_vitb14_reg4_pretrain.pth",
            url=f"{_FAIR}/dinov2/dinov2_vitb14/dinov2_vitb14_reg4_pretrain.pth",
            sha256=None,
            size=None,
            format=FORMAT_DINOV2,
            architecture="vit_base_patch14_reg4_dinov2",
            used_by=("sdci-v2",),
            license="Apache-2.0",
            homepage="https://github.com/facebookresearch/dinov2",
        ),
        Checkpoint(
            name="sam-vitb",
            filename="sam_vit_b_01ec64.pth",
            url=f"{_FAIR}/segment_anything/sam_vit_b_01ec64.pth",
            sha256=None,
            size=None,
            format=FORMAT_SAM,
            architecture="samvit_base_patch16",
            used_by=("alignclip-s",),
            license="Apache-2.0",
            homepage="https://github.com/facebookresearch/segment-anything",
        ),
        Checkpoint(
            name="simfeatup-jbu-one-clip-b16",
            filename="xclip_jbu_one_million_aid.ckpt",
            url=f"{_SEGEARTH_RAW}/xclip_jbu_one_million_aid.ckpt",
            sha256=None,
            size=None,
            format=FORMAT_SIMFEATUP,
            architecture="jbu_one",
            used_by=("alignclip-d", "alignclip-s", "segearth-ov"),
            license="unspecified (SegEarth-OV repository)",
            homepage="https://github.com/likyoo/SegEarth-OV",
        ),
        Checkpoint(
            # FeatUp's CLIP upsampler; SegEarth-OV's copy is byte-identical (same git blob) to the file
            # these values were computed from
            name="simfeatup-jbu-stack-clip-b16",
            filename="clip_jbu_stack_cocostuff.ckpt",
            url=f"{_SEGEARTH_RAW}/clip_jbu_stack_cocostuff.ckpt",
            sha256="38ce7487c648d01cf37beb005f464410c498008fea03e6a68a269d79e4e29622",
            size=3513883,
            format=FORMAT_SIMFEATUP,
            architecture="jbu_stack",
            used_by=(),
            license="MIT (FeatUp)",
            homepage="https://github.com/mhamilton723/FeatUp",
        ),
    )
}


def get_checkpoint(name: str) -> Checkpoint:
    """The registry record called ``name``; a clear :class:`InputError` naming the known ones otherwise."""
    try:
        return CHECKPOINTS[name]
    except KeyError:
        raise InputError(f"unknown checkpoint {name!r}; known: {', '.join(CHECKPOINTS)}") from None
