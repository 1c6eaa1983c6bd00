"""Parameter descriptions for editors: kind, default (the variant's), choices, range, unit and help from the
config fields' metadata; type-based descriptions for fields without metadata; the offered choices and ranges
agree with what the configs accept and with the engine's registries."""

from __future__ import annotations

import dataclasses

import pytest

from engine.errors import InputError
from engine.methods.base import config_with_params
from engine.methods.params import default_config, default_params, param_spec, param_specs


def test_variant_defaults_choices_range_unit_and_help():
    alpha = param_spec("alignclip-d", "alpha")
    assert (alpha.kind, alpha.default, alpha.minimum, alpha.maximum) == ("float", 0.3, 0.0, 1.0)
    assert param_spec("segearth-ov", "alpha").default == 0.0
    long_side = param_spec("segearth-ov", "long_side")
    assert (long_side.kind, long_side.optional, long_side.unit, long_side.default) == ("int", True, "px", 448)
    solver = param_spec("sdci-v2", "solver")
    assert solver.kind == "choice" and solver.choices == ("fast", "reference") and "solver" in solver.help
    vfm = param_spec("alignclip-s", "vfm")
    assert (vfm.kind, vfm.optional, vfm.default) == ("choice", True, "sam_vitb")
    assert param_spec("sdci-v1", "vfm").default == "dino_vitb8"
    assert param_spec("sdci-v2", "diffusion_closed_form").kind == "bool"
    with pytest.raises(InputError, match="has no parameter nonsense"):
        param_spec("sdci-v2", "nonsense")


@pytest.mark.parametrize("name", ["segearth-ov", "alignclip-d", "sdci-v2"])
def test_every_field_is_described_in_words_and_its_default_is_in_range(name):
    specs = param_specs(name)
    assert [spec.name for spec in specs] == list(default_params(name))
    for spec in specs:
        assert spec.help, spec.name
        if spec.default is None:
            assert spec.optional, spec.name
            continue
        if spec.kind == "choice":
            assert spec.default in spec.choices, spec.name
        if spec.minimum is not None:
            assert spec.minimum <= spec.default <= spec.maximum, spec.name


@pytest.mark.parametrize("name", ["alignclip-d", "sdci-v2"])
def test_every_offered_choice_and_range_end_is_accepted_by_the_config(name):
    """What the dock offers never fails the config's own check (a range end or any choice)."""
    base = default_config(name)
    for spec in param_specs(name):
        values = list(spec.choices) + [v for v in (spec.minimum, spec.maximum) if v is not None]
        for value in values:
            if spec.name == "cce_affinity" and value == "attention":
                continue  # needs cce_grid "vfm" as well (the config says so in one line)
            config_with_params(base, {spec.name: int(value) if spec.kind == "int" else value}, name)


def test_fields_without_metadata_are_described_by_their_type():
    @dataclasses.dataclass(frozen=True)
    class Plain:
        sharpness: float = 0.05
        levels: int = 3
        normalise: bool = True
        label: str | None = None
        sizes: tuple[int, ...] = (1, 2)

    from engine.methods import base

    base.register_method("plain-test", "plain", config_class=Plain)(lambda **kwargs: None)
    try:
        kinds = {spec.name: (spec.kind, spec.optional, spec.help) for spec in param_specs("plain-test")}
    finally:
        del base._REGISTRY["plain-test"]
    assert kinds == {"sharpness": ("float", False, ""), "levels": ("int", False, ""),
                     "normalise": ("bool", False, ""), "label": ("text", True, ""), "sizes": ("text", False, "")}


def test_offered_model_and_template_names_are_the_registered_ones():
    from engine.backbones.clip import ARCHITECTURES
    from engine.backbones.vfm import VFM_CONFIGS
    from engine.methods.param_choices import CLIP_ARCHITECTURES, TEMPLATE_SET_NAMES, VISION_FOUNDATION_MODELS
    from engine.text.templates import TEMPLATE_SETS

    assert CLIP_ARCHITECTURES == ARCHITECTURES
    assert set(VISION_FOUNDATION_MODELS) == set(VFM_CONFIGS)
    assert set(TEMPLATE_SET_NAMES) == set(TEMPLATE_SETS)
