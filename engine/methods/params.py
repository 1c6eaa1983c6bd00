"""Method parameter overrides given as text (``--param KEY=VALUE``, Processing's "method parameters" field),
checked against the chosen method's config before anything is built.

A method's defaults are its registered default config (a variant's own values, e.g. ``alignclip-d``'s alpha),
else its config class's field defaults. :func:`param_specs` describes each parameter for an editor (the dock):
type, default, choices, range, unit and help, from the config fields' metadata (``help``, ``choices``,
``min``, ``max``, ``unit``); a field without metadata is described by its type alone.

The check is :func:`.base.config_with_params`, the one the methods themselves run, so a value accepted here
is accepted when the method is built.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class ParamSpec:
    """One method parameter as an editor shows it.

    ``kind``: ``bool``, ``int``, ``float``, ``choice`` (one of ``choices``) or ``text`` (anything else, as
    text or JSON); ``optional``: None is accepted (e.g. ``long_side``: no resize); ``minimum``/``maximum``:
    the accepted range (None: unbounded); ``unit``: e.g. ``px``; ``help``: what the parameter does, in words.
    """

    name: str
    kind: str
    default: Any
    optional: bool = False
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    unit: str = ""
    help: str = ""


_KINDS: dict[type, str] = {bool: "bool", int: "int", float: "float", str: "text"}


def _value_type(config_class: type, field: dataclasses.Field, default: Any) -> tuple[type | None, bool]:
    """The field's value type without None, and whether None is accepted (from the annotation, else the
    default's type)."""
    try:
        hint = typing.get_type_hints(config_class)[field.name]
    except (NameError, TypeError, KeyError):
        return (None, True) if default is None else (type(default), False)
    union = isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
    arguments = typing.get_args(hint) if union else (hint,)
    values = [arg for arg in arguments if arg is not type(None)]
    return (values[0] if len(values) == 1 else None), len(values) < len(arguments)


def param_specs(name: str) -> list[ParamSpec]:
    """Every parameter of method ``name``, in the config's field order, with its default (the variant's)."""
    config = default_config(name)
    if config is None:
        return []
    specs = []
    for field in dataclasses.fields(config):
        default = getattr(config, field.name)
        value_type, optional = _value_type(type(config), field, default)
        meta = field.metadata
        choices = tuple(meta.get("choices", ()))
        kind = "choice" if choices else _KINDS.get(value_type, "text") if isinstance(value_type, type) else "text"
        specs.append(ParamSpec(field.name, kind, default, optional, choices, meta.get("min"), meta.get("max"),
                               meta.get("unit", ""), meta.get("help", "")))
    return specs


def param_spec(name: str, parameter: str) -> ParamSpec:
    """The description of ``parameter`` of method ``name``; :class:`InputError` for an unknown parameter."""
    for spec in param_specs(name):
        if spec.name == parameter:
            return spec
    raise InputError(f"method {name} has no parameter {parameter}")
