"""Templates as data; the text encoder against open_clip's full-context encoding and the reference rules."""

import open_clip
import pytest
import torch

from engine.backbones.clip import ClipBackbone, build_clip
from engine.device import Runtime
from engine.errors import InputError
from engine.text.encoder import TextEncoder
from engine.text.templates import (
    ALIGNCLIP_RS,
    OPENAI_IMAGENET,
    SDCI_RS,
    TEMPLATE_SETS,
    get_templates,
)

CPU32 = Runtime(torch.device("cpu"), torch.float32)
FEW_TEMPLATES = ("a satellite image of a {}.", "an area of {} as seen from above.", "{}")


@pytest.fixture(scope="module")
def clip_b16() -> ClipBackbone:
    return build_clip("ViT-B-16", seed=0)


def _full_context_unit(clip: ClipBackbone, texts: list[str]) -> torch.Tensor:
    """Unit embeddings from open_clip's own 77-token ``encode_text``."""
    with torch.no_grad():
        return clip.model.encode_text(clip.tokenizer(texts), normalize=True)


def test_openai_templates_equal_open_clips():
    assert len(OPENAI_IMAGENET) == 80
    for name in ("building", "low vegetation"):
        expected = [template(name) for template in open_clip.OPENAI_IMAGENET_TEMPLATES]
        assert [template.format(name) for template in OPENAI_IMAGENET] == expected


def test_template_sets_are_well_formed():
    assert TEMPLATE_SETS == {
        "openai_imagenet": OPENAI_IMAGENET,
        "sdci_rs": SDCI_RS,
        "alignclip_rs": ALIGNCLIP_RS,
    }
    assert (len(SDCI_RS), len(ALIGNCLIP_RS)) == (10, 80)
    for templates in TEMPLATE_SETS.values():
        assert len(set(templates)) == len(templates)
        assert all(t.count("{}") == 1 and "{" not in t.replace("{}", "") for t in templates)
    published = (
        "a low-quality aerial image of [class].",
        "a cropped remote sensing image of [class].",
        "a remote sensing interpretation map of [class].",
        "a satellite image containing hardly recognizable [class].",
        "a low-resolution remote sensing image of [class].",
    )
    assert {p.replace("[class]", "{}") for p in published} <= set(ALIGNCLIP_RS)
    assert get_templates("sdci_rs") is SDCI_RS
    with pytest.raises(InputError, match="unknown template set 'imagenet'; known: openai_imagenet, sdci_rs"):
        get_templates("imagenet")


def test_cut_tokens_equal_full_context(clip_b16):
    texts = ["a satellite image of a low vegetation.", "tree", "an area of impervious surfaces from above"]
    ids = clip_b16.tokenizer(texts)
    length = int(ids.argmax(-1).max()) + 1
    assert length < 77
    with torch.no_grad():
        full = clip_b16.model.encode_text(ids)
    torch.testing.assert_close(clip_b16.encode_text(ids[:, :length]), full, atol=1e-5, rtol=1e-5)
    with pytest.raises(InputError, match="text is 78 tokens long; CLIP reads at most 77"):
        clip_b16.encode_text(torch.ones(1, 78, dtype=torch.long))


def test_encode_prompts_equals_open_clip_zero_shot_classifier(clip_b16):
    prompts = ["building", "low vegetation", "impervious surfaces", "car"]
    expected = open_clip.build_zero_shot_classifier(
        clip_b16.model, clip_b16.tokenizer, prompts, OPENAI_IMAGENET[:6], num_classes_per_batch=2
    ).T
    got = TextEncoder(clip_b16, CPU32, batch_size=5).encode_prompts(prompts, OPENAI_IMAGENET[:6])
    assert got.shape == (4, 512)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_encode_prompt_sets_follows_sdci_rule(clip_b16):
    sets = [["built-up", "road", "building"], ["water"], ["forest", "tree"]]
    encoder = TextEncoder(clip_b16, CPU32, batch_size=4)
    got = encoder.encode_prompt_sets(sets, FEW_TEMPLATES)

    expected = []
    for names in sets:  # SDCI classifier: texts ordered template-major, sub-names inside
        texts = [template.format(name) for template in FEW_TEMPLATES for name in names]
        unit = _full_context_unit(clip_b16, texts)
        per_template = unit.reshape(len(FEW_TEMPLATES), len(names), -1).mean(dim=1)
        per_template = per_template / per_template.norm(dim=-1, keepdim=True)
        mean = per_template.mean(dim=0)
        expected.append(mean / mean.norm())
    torch.testing.assert_close(got, torch.stack(expected), atol=1e-5, rtol=1e-5)
    # a set of one name is the plain prompt rule; several names are not their plain average
    torch.testing.assert_close(got[1], encoder.encode_prompts(["water"], FEW_TEMPLATES)[0], atol=1e-6, rtol=0)
    plain = encoder.encode_prompts(["forest", "tree"], FEW_TEMPLATES).mean(0)
    assert not torch.allclose(got[2], plain / plain.norm(), atol=1e-4)


def test_batch_size_does_not_change_results(clip_b16):
    prompts = ["a", "river with sand banks and small boats", "farmland", "bare soil"]
    one = TextEncoder(clip_b16, CPU32, batch_size=1).encode_prompts(prompts, SDCI_RS[:4])
    many = TextEncoder(clip_b16, CPU32, batch_size=1000).encode_prompts(prompts, SDCI_RS[:4])
    torch.testing.assert_close(one, many, atol=1e-6, rtol=0)
    torch.testing.assert_close(one.norm(dim=-1), torch.ones(4))


def test_results_are_cached_per_model_prompts_and_templates(clip_b16, monkeypatch):
    calls = []
    original = clip_b16.encode_text

    def counting(token_ids):
        calls.append(token_ids.shape)
        return original(token_ids)

    monkeypatch.setattr(clip_b16, "encode_text", counting)
    encoder = TextEncoder(clip_b16, CPU32, batch_size=3)
    prompts = ["cached-prompt-1", "cached-prompt-2"]
    first = encoder.encode_prompts(prompts, FEW_TEMPLATES)
    assert len(calls) == 2  # 6 texts in batches of 3
    first.zero_()  # callers get a copy
    second = TextEncoder(clip_b16, CPU32).encode_prompts(prompts, list(FEW_TEMPLATES))
    assert len(calls) == 2
    assert torch.all(second.norm(dim=-1) > 0.99)
    encoder.encode_prompts(prompts, FEW_TEMPLATES[:2])  # other templates: 4 texts, 2 batches
    assert len(calls) == 4
    encoder.encode_prompt_sets([prompts], FEW_TEMPLATES)  # other rule: 6 texts, 2 batches
    assert len(calls) == 6


def test_bad_prompt_inputs(clip_b16):
    encoder = TextEncoder(clip_b16, CPU32)
    with pytest.raises(InputError, match="no prompts to encode"):
        encoder.encode_prompts([], FEW_TEMPLATES)
    with pytest.raises(InputError, match="no prompt templates given"):
        encoder.encode_prompts(["water"], [])
    with pytest.raises(InputError, match="a class has no prompt"):
        encoder.encode_prompt_sets([["water"], []], FEW_TEMPLATES)
    with pytest.raises(InputError, match=r"prompt template 'a photo' has no '\{\}' for the class name"):
        encoder.encode_prompts(["water"], ["a photo"])
