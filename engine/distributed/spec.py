"""What the workers build: a method named in the registry with its build options, as plain hashable data."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..methods.base import create_method, method_info

if TYPE_CHECKING:
    from ..methods.base import Method

BUILTIN_MODULE = re.compile(r"(^|\.)engine\.methods(\.|$)")  # engine.methods.* or ovss.engine.methods.*


@dataclass(frozen=True)
class MethodSpec:
    """A method to build on each worker (the arguments of :func:`engine.methods.base.create_method`).

    ``params`` are kept as sorted JSON so that the spec is hashable (it keys the worker's cache of built
    methods); ``module`` is the module that registers a method defined outside the engine (a plugin's or a
    test's), imported on the worker before building; it must be importable there.
    """

    name: str
    weights: str = "default"
    weights_dir: str | None = None
    device: str = "auto"
    precision: str = "auto"
    seed: int = 0
    params_json: str = "{}"
    module: str = ""

    @classmethod
    def of(
        cls,
        name: str,
        *,
        weights: str = "default",
        weights_dir: str | None = None,
        device: str = "auto",
        precision: str = "auto",
        seed: int = 0,
        params: Mapping[str, Any] | None = None,
    ) -> MethodSpec:
        """The spec of a registered method (:class:`InputError` for an unknown name)."""
        module = method_info(name).factory.__module__
        return cls(
            name,
            str(weights),
            None if weights_dir is None else str(weights_dir),
            device,
            precision,
            seed,
            json.dumps(dict(params or {}), sort_keys=True),
            "" if BUILTIN_MODULE.search(module) else module,
        )

    @property
    def params(self) -> dict[str, Any]:
        """The method parameters."""
        return dict(json.loads(self.params_json))

    def build(self) -> Method:
        """Build the method (importing :attr:`module` first, so that it registers itself)."""
        if self.module:
            importlib.import_module(self.module)
        return create_method(
            self.name,
            weights=self.weights,
            weights_dir=self.weights_dir,
            device=self.device,
            precision=self.precision,
            seed=self.seed,
            params=self.params,
        )
