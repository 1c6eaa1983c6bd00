"""What the OVSS Processing algorithms share: identity, icon, engine errors as Processing errors, and the
method registry seen as Processing parameters (static-string enums, so that ``qgis_process``, batch rows and
models store method names rather than positions, still accepting a position as QGIS's own enums do)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputLayerDefinition,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProperty,
)
from qgis.PyQt.QtGui import QIcon

from ...engine.errors import OVSSError

# the plugin's icon; not imported from ..plugin, which would load the dock into qgis_process
ICON_PATH = Path(__file__).resolve().parents[2] / "resources" / "icon.svg"


@contextlib.contextmanager
def engine_errors() -> Iterator[None]:
    """Turn an engine error (one clear line) into the :class:`QgsProcessingException` Processing shows."""
    try:
        yield
    except OVSSError as exc:
        raise QgsProcessingException(str(exc)) from exc


class OVSSAlgorithm(QgsProcessingAlgorithm):
    """Base of the provider's algorithms: the icon and a fresh instance of the concrete class."""

    def icon(self) -> QIcon:
        """The plugin's icon."""
        return QIcon(str(ICON_PATH))

    def createInstance(self) -> OVSSAlgorithm:
        """A new instance of the same algorithm (Processing runs copies)."""
        return type(self)()


def static_enum(
    name: str, description: str, options: Sequence[str], default: str | None, optional: bool = False
) -> QgsProcessingParameterEnum:
    """An enum whose value is the option's text (``METHOD=sdci-v2``), not its position."""
    return QgsProcessingParameterEnum(
        name, description, list(options), False, default, optional, usesStaticStrings=True
    )


def enum_choice(value: Any, options: Sequence[str], what: str) -> str:
    """A static-string enum's value as the option's text: the text itself, or its position (``0``, ``"1"``),
    as QGIS accepts for its own enums (and ``qgis_process help`` suggests); '' for no value."""
    text = "" if value is None else str(value).strip()
    if text.isdigit() and text not in options:
        index = int(text)
        if index >= len(options):
            raise QgsProcessingException(f"{what}: option {index} does not exist (0..{len(options) - 1})")
        return options[index]
    return text


def with_enum_names(
    algorithm: QgsProcessingAlgorithm, parameters: Mapping[str, Any]
) -> dict[str, Any]:
    """``parameters`` with every static-string enum given by position replaced by the option's text."""
    named = dict(parameters)
    for definition in algorithm.parameterDefinitions():
        if isinstance(definition, QgsProcessingParameterEnum) and definition.usesStaticStrings():
            value = named.get(definition.name())
            if isinstance(value, int | str) and not isinstance(value, bool):
                named[definition.name()] = enum_choice(value, definition.options(), definition.description())
    return named


def destination_file(value: Any) -> str | None:
    """The file a destination parameter's value names; None for a temporary output, an expression or none."""
    if isinstance(value, QgsProcessingOutputLayerDefinition):
        value = value.sink
    if isinstance(value, QgsProperty):
        if value.propertyType() != QgsProperty.StaticProperty:
            return None
        value = value.staticValue()
    text = "" if value is None else str(value).strip()
    if not text or text == QgsProcessing.TEMPORARY_OUTPUT or text.startswith("memory:"):
        return None
    return text


def check_destinations(
    algorithm: QgsProcessingAlgorithm, parameters: Mapping[str, Any], names: Sequence[str]
) -> None:
    """Every named output's folder exists and is writable, else a :class:`QgsProcessingException` naming the
    output; meant for ``checkParameterValues``, before any model is built, so a wrong path is reported once."""
    from ...engine.raster.writer import check_output_path

    for name in names:
        path = destination_file(parameters.get(name))
        if path is None:
            continue
        try:
            check_output_path(path)
        except OVSSError as exc:
            raise QgsProcessingException(f"{algorithm.parameterDefinition(name).description()}: {exc}") from exc


def advanced(parameter: QgsProcessingParameterDefinition) -> QgsProcessingParameterDefinition:
    """``parameter`` moved to the dialog's Advanced Parameters group."""
    parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
    return parameter
