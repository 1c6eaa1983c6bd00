"""What the OVSS Processing algorithms share: identity, icon, engine errors as Processing errors, and the
method registry seen as Processing parameters (static-string enums, so that ``qgis_process``, batch rows and
models store method names rather than positions)."""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
)
from qgis.PyQt.QtGui import QIcon

from ...engine.errors import OVSSError
from ...engine.methods.base import available_methods, method_info

# the plugin's icon; not imported from ..plugin, which would load the dock into qgis_process
ICON_PATH = Path(__file__).resolve().parents[2] / "resources" / "icon.svg"

PARAMETER_TYPES = (bool, int, float, str)


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


@dataclass(frozen=True)
class MethodParameter:
    """One field of a method's config dataclass offered as an advanced Processing parameter."""

    method: str
    field: str
    default: bool | int | float | str

    @property
    def key(self) -> str:
        """The Processing parameter name, e.g. ``SDCI_V2_ALPHA``."""
        return re.sub(r"[^A-Za-z0-9]+", "_", f"{self.method}_{self.field}").upper()


def method_parameters() -> list[MethodParameter]:
    """Every registered method's config fields with a scalar default (the paper's values), in order."""
    specs = []
    for name in available_methods():
        config = method_info(name).config_class
        if config is None or not dataclasses.is_dataclass(config):
            continue
        for field in dataclasses.fields(config):
            if isinstance(field.default, PARAMETER_TYPES):
                specs.append(MethodParameter(name, field.name, field.default))
    return specs


def advanced(parameter: QgsProcessingParameterDefinition) -> QgsProcessingParameterDefinition:
    """``parameter`` moved to the dialog's Advanced Parameters group."""
    parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
    return parameter
