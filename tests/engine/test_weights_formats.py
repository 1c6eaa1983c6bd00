"""Each real checkpoint format, written from a randomly initialised real architecture in the publisher's
on-disk layout, read back through the real code and loaded strictly."""

from __future__ import annotations

import copy
import pickle
import warnings
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

from engine import models
from engine.errors import WeightsError
from engine.weights import formats
from engine.weights.registry import (
    FORMAT_DINO,
    FORMAT_DINOV2,
    FORMAT_OPENAI_CLIP,
    FORMAT_SAM,
    FORMAT_SIMFEATUP,
    get_checkpoint,
)

timm = pytest.importorskip("timm")
open_clip = pytest.importorskip("open_clip")


def assert_same_tensors(actual: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    """Same keys, every tensor equal in value, float32 where the expected tensor is floating."""
    assert sorted(actual) == sorted(expected)
    for key, value in expected.items():
        assert actual[key].dtype == (torch.float32 if value.is_floating_point() else value.dtype), key
        assert torch.equal(actual[key], value.to(actual[key].dtype)), key


# --- OpenAI CLIP: TorchScript archives with fp16 parameters -------------------------------------------


class _Node(nn.Module):
    """A module tree node; scripted, it gives a TorchScript archive with any key names we choose."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def openai_style_archive(state: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """Save ``state`` (OpenAI key names) as a TorchScript archive with fp16 parameters, the size attributes
    and a non-parameter ``attn_mask`` tensor per residual block, like OpenAI's files; return what
    ``torch.jit.load(path).state_dict()`` should hold."""
    root = _Node()
    expected: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        *parents, leaf = key.split(".")
        node = root
        for part in parents:
            if not hasattr(node, part):
                node.add_module(part, _Node())
            node = getattr(node, part)
        tensor = value.detach().half() if value.is_floating_point() else value.detach()
        node.register_parameter(leaf, nn.Parameter(tensor, requires_grad=False))
        expected[key] = tensor
        if leaf == "in_proj_weight" and ".resblocks." in key:
            block = root.get_submodule(".".join(parents[:-1]))
            block.attn_mask = torch.full((2, 2), float("-inf"))  # plain attribute, not in state_dict
    for name, size in (("input_resolution", 224), ("context_length", 77), ("vocab_size", 49408)):
        root.register_buffer(name, torch.tensor(size))
        expected[name] = torch.tensor(size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.* is deprecated in torch 2.15
        torch.jit.save(torch.jit.script(root), str(path))
    return expected


def tiny_open_clip() -> nn.Module:
    """A two-layer open_clip CLIP: the same key layout as ViT-B-16, a fraction of its size."""
    vision = open_clip.model.CLIPVisionCfg(layers=2, width=64, head_width=32, patch_size=16, image_size=32)
    text = open_clip.model.CLIPTextCfg(context_length=77, vocab_size=100, width=64, heads=2, layers=2)
    return open_clip.model.CLIP(embed_dim=32, vision_cfg=vision, text_cfg=text, quick_gelu=True)


def test_torchscript_reader_matches_torch_jit_load(tmp_path):
    path = tmp_path / "ViT-B-16.pt"
    expected = openai_style_archive(tiny_open_clip().state_dict(), path)
    got = formats.read_torchscript_tensors(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        reference = torch.jit.load(str(path), map_location="cpu").state_dict()
    assert sorted(got) == sorted(reference) == sorted(expected)
    for key in reference:
        assert got[key].dtype == reference[key].dtype and torch.equal(got[key], reference[key]), key


def test_openai_clip_archive_round_trips_into_open_clip(tmp_path):
    model = tiny_open_clip()
    path = tmp_path / "ViT-B-16.pt"
    openai_style_archive(model.state_dict(), path)
    converted = formats.read_checkpoint(path, FORMAT_OPENAI_CLIP, "ViT-B-16")
    expected = {k: v.half().float() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    assert_same_tensors(converted, expected)
    fresh = tiny_open_clip()
    fresh.load_state_dict(converted, strict=True)


@pytest.mark.parametrize("arch", ["ViT-B-16", pytest.param("ViT-L-14", marks=pytest.mark.slow)])
def test_openai_clip_real_architecture_through_facade(tmp_path, arch):
    original = open_clip.create_model(arch, pretrained=None, force_quick_gelu=True)
    path = tmp_path / f"{arch}.pt"
    openai_style_archive(original.state_dict(), path)
    backbone = models.load_clip(arch, path)
    loaded = backbone.model.state_dict()
    for key, value in original.state_dict().items():
        assert torch.equal(loaded[key], value.half().float()), key


# --- DINO v1, DINOv2, SAM: plain state dicts in the official layouts -----------------------------------

DINOV2_SMALL = "vit_small_patch14_reg4_dinov2"  # DINOv2's smallest registers model, the same file layout


@pytest.fixture(scope="module")
def dino_small() -> dict[str, torch.Tensor]:
    """Random weights of DINO ViT-S/8 in timm's layout."""
    return timm.create_model("vit_small_patch8_224", pretrained=False, num_classes=0).state_dict()


@pytest.fixture(scope="module")
def dinov2_small() -> nn.Module:
    """A random DINOv2 ViT-S/14 with registers (timm)."""
    return timm.create_model(DINOV2_SMALL, pretrained=False, num_classes=0)


def test_dino_teacher_checkpoint_round_trips(tmp_path, dino_small):
    state = dino_small
    head = {"head.mlp.0.weight": torch.randn(8, 384), "head.last_layer.weight_g": torch.randn(1, 1)}
    teacher = {f"backbone.{k}": v for k, v in state.items()} | head
    student = {f"module.backbone.{k}": torch.zeros_like(v) for k, v in state.items()}
    path = tmp_path / "dino_deitsmall8_pretrain_full_checkpoint.pth"
    torch.save({"teacher": teacher, "student": student, "epoch": 100}, path)
    converted = formats.read_checkpoint(path, FORMAT_DINO, "vit_small_patch8_224")
    assert_same_tensors(converted, state)
    vfm = models.load_vfm("dino_vits8", path)
    assert_same_tensors(vfm.model.state_dict(), state)


def test_dino_plain_backbone_file(tmp_path, dino_small):
    path = tmp_path / "dino_deitsmall8_pretrain.pth"
    torch.save(dino_small, path)
    assert_same_tensors(formats.read_checkpoint(path, FORMAT_DINO, "vit_small_patch8_224"), dino_small)


def dinov2_official(model: nn.Module) -> dict[str, torch.Tensor]:
    """A timm DINOv2-with-registers state dict written back in facebookresearch/dinov2's layout: the CLS
    position embedding inside ``pos_embed`` (out of ``cls_token``), ``register_tokens``, ``mask_token``."""
    state = dict(model.state_dict())
    cls_pos = torch.randn(1, 1, state["pos_embed"].shape[-1])
    official = {k: v for k, v in state.items() if k not in ("cls_token", "reg_token", "pos_embed")}
    official["cls_token"] = state["cls_token"] - cls_pos
    official["pos_embed"] = torch.cat([cls_pos, state["pos_embed"]], dim=1)
    official["register_tokens"] = state["reg_token"]
    official["mask_token"] = torch.randn(1, state["pos_embed"].shape[-1])
    return official


def test_dinov2_official_layout_round_trips(tmp_path, dinov2_small):
    arch, model = DINOV2_SMALL, dinov2_small
    official = dinov2_official(model)
    assert any(".ls1.gamma" in key for key in official)
    path = tmp_path / "dinov2_vits14_reg4_pretrain.pth"
    torch.save(official, path)
    converted = formats.read_checkpoint(path, FORMAT_DINOV2, arch)
    expected = model.state_dict()
    assert sorted(converted) == sorted(expected)
    for key, value in expected.items():
        assert torch.allclose(converted[key], value, atol=1e-6), key
    copy.deepcopy(model).load_state_dict(converted, strict=True)


def test_safetensors_file_of_an_official_layout(tmp_path, dinov2_small):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    arch = DINOV2_SMALL
    official = dinov2_official(dinov2_small)
    torch.save(official, tmp_path / "w.pth")
    contiguous = {k: v.contiguous() for k, v in official.items()}
    safetensors_torch.save_file(contiguous, str(tmp_path / "w.safetensors"))
    from_pth = formats.read_checkpoint(tmp_path / "w.pth", FORMAT_DINOV2, arch)
    assert_same_tensors(formats.read_checkpoint(tmp_path / "w.safetensors", FORMAT_DINOV2, arch), from_pth)


def sam_official(encoder: nn.Module) -> dict[str, torch.Tensor]:
    """A timm SAM encoder's weights in segment-anything's whole-model layout (plus decoder keys)."""
    official = {
        "image_encoder." + k.replace("mlp.fc", "mlp.lin"): v for k, v in encoder.state_dict().items()
    }
    official["prompt_encoder.point_embeddings.0.weight"] = torch.randn(1, 256)
    official["mask_decoder.iou_token.weight"] = torch.randn(1, 256)
    return official


def test_sam_whole_model_keeps_image_encoder(tmp_path):
    from timm.models.vision_transformer_sam import VisionTransformerSAM

    def small() -> nn.Module:
        return VisionTransformerSAM(
            img_size=64, patch_size=16, embed_dim=32, depth=2, num_heads=2, num_classes=0, neck_chans=16,
            use_rel_pos=True, window_size=2, global_attn_indexes=(1,),
        )

    encoder = small()
    official = sam_official(encoder)
    assert any(".mlp.lin1." in key for key in official)
    path = tmp_path / "sam_small.pth"
    torch.save(official, path)
    converted = formats.read_checkpoint(path, FORMAT_SAM, "samvit_base_patch16")
    assert_same_tensors(converted, encoder.state_dict())
    small().load_state_dict(converted, strict=True)


@pytest.mark.slow
def test_sam_vit_b_through_facade(tmp_path):
    encoder = timm.create_model("samvit_base_patch16", pretrained=False, num_classes=0)
    path = tmp_path / "sam_vit_b_01ec64.pth"
    torch.save(sam_official(encoder), path)
    vfm = models.load_vfm("sam_vitb", path)
    assert_same_tensors(vfm.model.state_dict(), encoder.state_dict())


# --- SimFeatUp Lightning checkpoints ------------------------------------------------------------------


def test_real_simfeatup_jbu_stack_checkpoint(shared_data):
    path = shared_data / "weights" / "clip_jbu_stack_cocostuff.ckpt"
    raw = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    expected = {k.split(".", 1)[1]: v for k, v in raw.items()}
    converted = formats.read_checkpoint(path, FORMAT_SIMFEATUP, "jbu_stack")
    assert_same_tensors(converted, expected)
    upsampler = models.load_upsampler("jbu_stack", path, dim=512)
    assert_same_tensors(upsampler.state_dict(), expected)


def test_lightning_jbu_one_round_trips(tmp_path):
    from engine.backbones.upsamplers import build_upsampler

    original = build_upsampler("jbu_one", 64, seed=3)
    lightning = {
        "epoch": 2,
        "pytorch-lightning_version": "1.9.0",
        "state_dict": {f"upsampler.{k}": v for k, v in original.state_dict().items()}
        | {"downsampler.kernel": torch.ones(3)},
    }
    path = tmp_path / "xclip_jbu_one_million_aid.ckpt"
    torch.save(lightning, path)
    loaded = models.load_upsampler("jbu_one", path, dim=64)
    assert_same_tensors(loaded.state_dict(), original.state_dict())


# --- the facade and safety ----------------------------------------------------------------------------


def test_random_source_is_seeded():
    a = models.load_upsampler("jbu_one", "random", dim=16, seed=1).state_dict()
    b = models.load_upsampler("jbu_one", "random", dim=16, seed=1).state_dict()
    c = models.load_upsampler("jbu_one", "random", dim=16, seed=2).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].numel() > 1)


def test_checkpoint_for_matches_formats():
    expected = {
        "ViT-B-16": FORMAT_OPENAI_CLIP,
        "ViT-L-14": FORMAT_OPENAI_CLIP,
        "dino_vitb8": FORMAT_DINO,
        "dino_vits8": FORMAT_DINO,
        "dinov2_vitb14_reg": FORMAT_DINOV2,
        "sam_vitb": FORMAT_SAM,
        "jbu_one": FORMAT_SIMFEATUP,
        "jbu_stack": FORMAT_SIMFEATUP,
    }
    assert {role: models.checkpoint_for(role).format for role in expected} == expected
    assert models.checkpoint_for("jbu_one") is get_checkpoint("simfeatup-jbu-one-clip-b16")


class _Evil:
    """Pickles as a call that creates a file: what a malicious checkpoint would do on load."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickled_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"weight": torch.ones(2), "payload": _Evil(marker)}, path)
    with pytest.raises(WeightsError, match="never run") as info:
        formats.read_checkpoint(path, FORMAT_DINO, "vit_small_patch8_224")
    assert "\n" not in str(info.value)
    assert not marker.exists()


def test_torchscript_archive_with_code_global_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("evil/data.pkl", pickle.dumps(_Evil(marker), protocol=2))
        archive.writestr("evil/code/__torch__.py", "class M(Module):\n  __parameters__ = []\n")
    with pytest.raises(WeightsError, match="only tensors are accepted"):
        formats.read_checkpoint(path, FORMAT_OPENAI_CLIP, "ViT-B-16")
    assert not marker.exists()
