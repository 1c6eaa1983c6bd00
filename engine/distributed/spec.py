"""What the workers build: a method named in the registry with its build options, as plain hashable data."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..methods import base
from ..methods.base import create_method, method_info

if TYPE_CHECKING:
    from ..methods.base import Method


@dataclass(frozen=True)
class MethodSpec:
    """A method to build on each worker (the arguments of :func:`engine.methods.base.create_method`).

    ``params`` are kept as sorted JSON so that the spec is hashable (it keys the worker's cache of built
    methods); ``factory`` is, for a method registered outside the engine (by a plugin or a test), the
    registered factory itself, pickled by reference (its module must be importable on the workers), so that a
    worker builds it without registering it first; the engine's own methods are found in the worker's registry.
    """

    name: str
    weights: str = "default"
    weights_dir: str | None = None
    device: str = "auto"
    precision: str = "auto"
    seed: int = 0
    params_json: str = "{}"
    factory: Callable[..., Method] | None = field(default=None, compare=False)

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
        factory = method_info(name).factory
        engine_methods = base.__name__.rpartition(".")[0]  # engine.methods, or ovss.engine.methods in QGIS
        return cls(
            name,
            str(weights),
            None if weights_dir is None else str(weights_dir),
            device,
            precision,
            seed,
            json.dumps(dict(params or {}), sort_keys=True),
            None if factory.__module__.startswith(f"{engine_methods}.") else factory,
        )

    @property
    def params(self) -> dict[str, Any]:
        """The method parameters."""
        return dict(json.loads(self.params_json))

    def build(self) -> Method:
        """Build the method, as :func:`engine.methods.base.create_method` does (with the spec's factory if any)."""
        options = {
            "weights": self.weights,
            "weights_dir": self.weights_dir,
            "device": self.device,
            "precision": self.precision,
            "seed": self.seed,
            "params": self.params,
        }
        return create_method(self.name, **options) if self.factory is None else self.factory(**options)
