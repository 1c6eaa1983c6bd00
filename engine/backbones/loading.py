"""Strict loading of converted state dicts into the backbone modules, with a one-line error."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from ..errors import WeightsError


def load_strict(module: nn.Module, state_dict: Mapping[str, Tensor], name: str) -> None:
    """Load ``state_dict`` into ``module`` strictly; a mismatch raises :class:`WeightsError` in one line
    that counts the missing, unexpected and wrongly shaped keys and names one of each."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong = sorted(key for key in set(expected) & set(state_dict)
                   if tuple(expected[key].shape) != tuple(state_dict[key].shape))
    found = ((missing, "missing"), (unexpected, "unexpected"), (wrong, "wrongly shaped"))
    problems = [f"{len(keys)} {what} (e.g. {keys[0]})" for keys, what in found if keys]
    if problems:
        raise WeightsError(f"the weights do not fit {name}: {', '.join(problems)}")
    module.load_state_dict(state_dict, strict=True)
