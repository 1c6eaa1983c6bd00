"""Method parameter overrides as text: parsing (JSON or key=value lines), the check against a method's own
default config (a variant's values, not its config class's), and the changes from the defaults."""

from __future__ import annotations

import pytest

from engine.errors import InputError
from engine.methods.alignclip import METHOD_CONFIGS, AlignClipConfig
from engine.methods.params import changed_params, check_params, default_params, parse_params_text


@pytest.mark.parametrize(
    "text",
    ["alpha=0.3\nstages=late_fusion\nvfm=null", "alpha = 0.3; stages=late_fusion; vfm=null",
     '{"alpha": 0.3, "stages": "late_fusion", "vfm": null}'],
)
def test_json_and_key_value_lines_give_the_same_values(text):
    assert parse_params_text(text) == {"alpha": 0.3, "stages": "late_fusion", "vfm": None}


@pytest.mark.parametrize(
    ("text", "message"),
    [("alpha", "KEY=VALUE"), ('{"alpha": [1]}', "only numbers"), ("{alpha: 1}", "not valid JSON"),
     ("a=1\na=2", "a is given twice")],
)
def test_bad_text_is_one_clear_error(text, message):
    with pytest.raises(InputError, match=message):
        parse_params_text(text)


def test_defaults_are_the_variants_own_config():
    defaults = default_params("alignclip-d")
    assert defaults["alpha"] == METHOD_CONFIGS["alignclip-d"].alpha != AlignClipConfig().alpha
    assert list(defaults) == list(AlignClipConfig.__dataclass_fields__)


def test_check_converts_and_refuses_as_the_method_would():
    assert check_params("sdci-v2", {"knn_k": 12.0}) == {"knn_k": 12}
    assert isinstance(check_params("sdci-v2", {"knn_k": 12.0})["knn_k"], int)
    with pytest.raises(InputError, match="unknown parameter 'knn' for sdci-v2"):
        check_params("sdci-v2", {"knn": 3})
    with pytest.raises(InputError, match="alpha and beta must be in"):  # the config's own range check
        check_params("alignclip-d", {"alpha": 2.0})


def test_only_values_that_differ_from_the_defaults_are_changes():
    alpha = METHOD_CONFIGS["alignclip-d"].alpha
    assert changed_params("alignclip-d", {"alpha": alpha, "beta": 0.9}) == {"beta": 0.9}
