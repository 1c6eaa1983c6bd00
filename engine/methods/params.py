"""Method parameter overrides given as text (``--param KEY=VALUE``, Processing's "method parameters" field),
checked against the chosen method's config before anything is built.

A method's defaults are its registered default config (a variant's own values, e.g. ``alignclip-d``'s alpha),
else its config class's field defaults. The check is :func:`.base.config_with_params`, the one the methods
themselves run, so a value accepted here is accepted when the method is built.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from ..errors import InputError
from .base import config_with_params, method_info


def parse_param(text: str, what: str = "--param") -> tuple[str, Any]:
    """``KEY=VALUE`` -> ``(key, value)``; the value is read as JSON (number, true/false, null), else text.

    ``what`` names the input in the error message (``--param``, a line of a text field).
    """
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise InputError(f"{what} takes KEY=VALUE (e.g. prob_thd=0.3), got {text!r}")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value.strip()
    if isinstance(parsed, list | dict):
        raise InputError(f"{what} {key.strip()}: only numbers, true/false, null or text are accepted")
    return key.strip(), parsed


def parse_params_text(text: str) -> dict[str, Any]:
    """A JSON object (``{"alpha": 0.3}``) or ``key=value`` lines (also separated by ``;``) as a dict.

    Empty text is no override; a key given twice is an :class:`InputError`.
    """
    stripped = text.strip()
    if not stripped:
        return {}
    if stripped.startswith("{"):
        try:
            parsed = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise InputError(f"method parameters: not valid JSON ({exc.msg} at character {exc.pos})") from None
        for key, value in parsed.items():
            if isinstance(value, list | dict):
                raise InputError(f"method parameter {key}: only numbers, true/false, null or text are accepted")
        return dict(parsed)
    params: dict[str, Any] = {}
    for line in filter(str.strip, stripped.replace(";", "\n").splitlines()):
        key, value = parse_param(line.strip(), "a method parameter line")
        if key in params:
            raise InputError(f"method parameter {key} is given twice")
        params[key] = value
    return params


def default_config(name: str) -> Any | None:
    """The config method ``name`` runs with when nothing is overridden (None for a method without one)."""
    info = method_info(name)
    if info.defaults is not None:
        return info.defaults
    if info.config_class is not None and dataclasses.is_dataclass(info.config_class):
        return info.config_class()
    return None


def default_params(name: str) -> dict[str, Any]:
    """Every parameter of method ``name`` with its default value, in the config's field order."""
    config = default_config(name)
    if config is None:
        return {}
    return {field.name: getattr(config, field.name) for field in dataclasses.fields(config)}


def check_params(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` checked against method ``name``'s config (keys, types, ranges), as the method will read
    them (integral floats made ints); :class:`InputError` naming the method and the parameter otherwise."""
    config = default_config(name)
    if config is None:
        if params:
            raise InputError(f"method {name} takes no parameters, got {', '.join(sorted(params))}")
        return {}
    checked = config_with_params(config, params, name)
    return {key: getattr(checked, key) for key in params}


def changed_params(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``params`` whose value differs from method ``name``'s default."""
    defaults = default_params(name)
    return {key: value for key, value in params.items() if key not in defaults or defaults[key] != value}


def format_params(params: Mapping[str, Any]) -> str:
    """``alpha=0.3, stages=full`` (values as JSON, text unquoted), or ``none``."""
    shown = [f"{key}={value if isinstance(value, str) else json.dumps(value)}" for key, value in params.items()]
    return ", ".join(shown) or "none"
