"""The checkpoint registry: complete, consistent with the builders, checksums only where known."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlparse

import pytest

from engine import models
from engine.errors import InputError
from engine.weights import formats, registry

METHOD_NAMES = {"sdci-v1", "sdci-v2", "alignclip-d", "alignclip-s", "segearth-ov"}
HEX64 = re.compile(r"[0-9a-f]{64}")


@pytest.mark.parametrize("ckpt", registry.CHECKPOINTS.values(), ids=list(registry.CHECKPOINTS))
def test_record_is_consistent(ckpt):
    url = urlparse(ckpt.url)
    assert url.scheme == "https" and url.netloc
    assert url.path.rsplit("/", 1)[-1] == ckpt.filename
    assert ckpt.sha256 is None or HEX64.fullmatch(ckpt.sha256)
    assert ckpt.size is None or ckpt.size > 0
    assert ckpt.format in formats.CONVERTERS
    assert set(ckpt.used_by) <= METHOD_NAMES
    assert ckpt.license and ckpt.homepage.startswith("https://")


def test_openai_sha256_is_the_one_in_the_url():
    for name in ("clip-vit-b-16", "clip-vit-l-14"):
        ckpt = registry.get_checkpoint(name)
        assert ckpt.url.split("/")[-2] == ckpt.sha256


def test_every_method_needs_only_registered_checkpoints():
    needed = {
        "sdci-v1": {"ViT-L-14", "dino_vitb8"},
        "sdci-v2": {"ViT-L-14", "dinov2_vitb14_reg"},
        "alignclip-d": {"ViT-B-16", "dino_vitb8", "jbu_one"},
        "alignclip-s": {"ViT-B-16", "sam_vitb", "jbu_one"},
        "segearth-ov": {"ViT-B-16", "jbu_one"},
    }
    for method, roles in needed.items():
        for role in roles:
            assert method in models.checkpoint_for(role).used_by, (method, role)


def test_architectures_match_the_builders():
    from engine.backbones.clip import ARCHITECTURES
    from engine.backbones.upsamplers import UPSAMPLER_CONFIGS
    from engine.backbones.vfm import VFM_CONFIGS

    for name, config in VFM_CONFIGS.items():
        assert models.checkpoint_for(name).architecture == config.timm_name
    for kind in UPSAMPLER_CONFIGS:
        assert models.checkpoint_for(kind).architecture == kind
    for arch in ARCHITECTURES:
        assert models.checkpoint_for(arch).architecture == arch


def test_jbu_stack_checksum_and_size_match_the_real_file(shared_data):
    path = shared_data / "weights" / "clip_jbu_stack_cocostuff.ckpt"
    ckpt = registry.get_checkpoint("simfeatup-jbu-stack-clip-b16")
    assert ckpt.filename == path.name
    assert ckpt.size == path.stat().st_size
    assert ckpt.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_unknown_names_are_clear_errors():
    with pytest.raises(InputError, match="unknown checkpoint 'nope'; known: clip-vit-b-16"):
        registry.get_checkpoint("nope")
    with pytest.raises(InputError, match="no checkpoint for backbone 'resnet'"):
        models.checkpoint_for("resnet")
