"""The method contract and the registry of method names.

A method turns an RGB tile into class probabilities. It is built once (backbones loaded), prepared once
per label set (text embeddings), then called tile by tile. It knows nothing of rasters, files or QGIS.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from ..errors import InputError

if TYPE_CHECKING:
    import numpy as np

    from ..labels import LabelSet


@runtime_checkable
class Method(Protocol):
    """What the pipeline needs from a method.

    A method may also expose ``metadata``, a mapping of strings that the run's output records about it (the
    device it ran on, where its weights came from, any fallback it took); see :func:`method_metadata`; and
    ``predict_batch(tiles)``, its batched entry point (see :func:`predict_batch`).
    """

    name: str
    min_tile: int

    def prepare(self, labels: LabelSet) -> None:
        """Compute what depends on the labels only (text embeddings), once per label set."""

    def predict(self, tile: np.ndarray) -> np.ndarray:
        """Class probabilities ``(K, H, W)`` float32 for an RGB tile ``(3, H, W)`` float32 in 0..255."""


_CANCEL_CHECK: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar(
    "ovss_cancel_check", default=None
)


@contextlib.contextmanager
def cancellation(check: Callable[[], None]) -> Iterator[None]:
    """Within the block, :func:`cancel_point` calls ``check`` (which raises to stop the run)."""
    token = _CANCEL_CHECK.set(check)
    try:
        yield
    finally:
        _CANCEL_CHECK.reset(token)


def cancel_point() -> None:
    """Where a batch may stop: between the tiles of a method that loops over them (a no-op outside a run).

    The pipeline runs each batch under :func:`cancellation` with its cancel check, so a user's cancel acts
    within a batch, not only between batches; a method whose own ``predict_batch`` loops over its tiles calls
    this between them.
    """
    check = _CANCEL_CHECK.get()
    if check is not None:
        check()


def predict_batch(method: Method, tiles: np.ndarray) -> np.ndarray:
    """Class probabilities ``(B, K, H, W)`` float32 for a batch of RGB tiles ``(B, 3, H, W)`` of one size.

    The batched entry point of the contract: a method that has its own ``predict_batch`` (one pass of its
    backbones over the whole batch) is called with the batch; any other method gets its tiles one by one
    through ``predict``, so ``predict`` stays the batch of one, with a :func:`cancel_point` before each tile
    after the first. Both must give the same result (float32: 1e-5).
    """
    import numpy as np

    own = getattr(method, "predict_batch", None)
    if own is not None:
        return own(tiles)
    results = []
    for index, tile in enumerate(tiles):
        if index:
            cancel_point()
        results.append(method.predict(tile))
    return np.stack(results)


def method_metadata(method: Method) -> dict[str, str]:
    """The method's own ``metadata`` items (empty for a method that has none)."""
    return {str(key): str(value) for key, value in dict(getattr(method, "metadata", {}) or {}).items()}


MethodFactory = Callable[..., Method]
# (method params, tile height, tile width, labels) -> bytes of one predict call, known before the method is built
PlannedTileMemory = Callable[[Mapping[str, Any], int, int, "LabelSet"], int]


@dataclass(frozen=True)
class MethodInfo:
    """A registered method: its stable name, a one-line description, how to build it, the checkpoints it
    needs, its config dataclass (whose fields the dock and Processing offer as parameters), the config
    instance it runs with by default (a variant's own values; None: the class's field defaults) and
    ``tile_memory``, which estimates a tile's working memory from the parameters before the method is built."""

    name: str
    description: str
    factory: MethodFactory
    checkpoints: tuple[str, ...] = ()
    config_class: type | None = None
    min_tile: int = 1
    defaults: Any = None
    tile_memory: PlannedTileMemory | None = None


_REGISTRY: dict[str, MethodInfo] = {}


def register_method(
    name: str,
    description: str,
    checkpoints: tuple[str, ...] = (),
    config_class: type | None = None,
    min_tile: int | None = None,
    *,
    defaults: Any = None,
    tile_memory: PlannedTileMemory | None = None,
) -> Callable[[MethodFactory], MethodFactory]:
    """Decorator registering a method factory under ``name``.

    ``config_class`` is the method's config dataclass (its fields and defaults are offered as parameters);
    ``min_tile`` the smallest tile side it accepts, known before the method is built (default: the factory's
    own ``min_tile`` attribute when it is a class, else 1); ``defaults`` the config instance the factory
    starts from when it differs from ``config_class()`` (a variant's values); ``tile_memory`` its memory
    estimate before it is built (None: :func:`engine.memory.default_tile_bytes`).
    """

    def decorate(factory: MethodFactory) -> MethodFactory:
        smallest = min_tile if min_tile is not None else int(getattr(factory, "min_tile", 1))
        _REGISTRY[name] = MethodInfo(
            name, description, factory, checkpoints, config_class, smallest, defaults, tile_memory
        )
        return factory

    return decorate


@functools.cache
def _load_builtins() -> None:
    """Import the built-in method modules once, so that they register themselves."""
    from . import builtin  # noqa: F401


def available_methods() -> list[str]:
    """Names of every registered method, built-in ones first in registration order."""
    _load_builtins()
    return list(_REGISTRY)


def method_info(name: str) -> MethodInfo:
    """The registry entry for ``name``; an :class:`InputError` listing the known names otherwise."""
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(_REGISTRY) or "none"
        raise InputError(f"unknown method {name!r}; known methods: {known}") from None


def create_method(
    name: str,
    *,
    weights: str | Path = "default",
    weights_dir: str | Path | None = None,
    device: str = "auto",
    precision: str = "auto",
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
) -> Method:
    """Build the method registered as ``name``.

    ``weights`` is ``"default"`` (resolve the registry's checkpoints), ``"random"`` (the real architectures
    with weights drawn under ``seed``: a pipeline check, never a real result) or a folder of checkpoints.
    ``params`` overrides fields of the method's config dataclass.
    """
    info = method_info(name)
    return info.factory(
        weights=weights,
        weights_dir=weights_dir,
        device=device,
        precision=precision,
        seed=seed,
        params=dict(params or {}),
    )


ConfigT = TypeVar("ConfigT")


def config_with_params(base: ConfigT, params: Mapping[str, Any], method: str) -> ConfigT:
    """``base`` (a frozen config dataclass) with ``params`` overriding its fields, checked against the defaults.

    An unknown key, a number where text is expected (or the reverse), a fraction for an integer field or a
    non-boolean for a boolean one is an :class:`InputError` naming ``method``; integral floats become ints
    (JSON and ``--param`` give ``12.0``). ``None`` is accepted where the field's type allows it. The config's
    own ``__post_init__`` then checks the values.
    """
    fields = {field.name: field for field in dataclasses.fields(base)}  # type: ignore[arg-type]
    unknown = sorted(set(params) - set(fields))
    if unknown:
        raise InputError(f"unknown parameter {unknown[0]!r} for {method}; known: {', '.join(sorted(fields))}")
    values: dict[str, Any] = {}
    for key, value in params.items():
        default = getattr(base, key)
        converted = value
        if value is None or default is None:
            ok = (value is None and "None" in str(fields[key].type)) or default is None
        elif isinstance(default, bool) or isinstance(value, bool):
            ok = isinstance(value, bool) and isinstance(default, bool)
        elif isinstance(default, int | float):
            ok = isinstance(value, int | float) and (isinstance(default, float) or float(value).is_integer())
            converted = type(default)(value) if ok else value
        else:
            ok = isinstance(value, str)
        if not ok:
            raise InputError(f"{method} parameter {key} must be a {type(default).__name__}, got {value!r}")
        values[key] = converted
    return dataclasses.replace(base, **values)  # type: ignore[type-var]

