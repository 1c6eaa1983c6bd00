"""The pinned requirements the environment is installed with: ``constraints.txt`` beside this module.

The file is generated from the repository's ``requirements.txt`` (:func:`render_constraints`; regenerate with
``python tools/sync_constraints.py``) and a test keeps the two in sync. It ships inside the plugin ZIP, so the
plugin installs exactly the versions the engine is tested with.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

CONSTRAINTS_PATH = Path(__file__).resolve().parent / "constraints.txt"
HEADER = (
    "# Generated from requirements.txt by tools/sync_constraints.py; do not edit.\n"
    "# The pins the plugin's own Python environment is installed with (pip -c).\n"
)
_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)")


def canonical_name(name: str) -> str:
    """A distribution name as PEP 503 compares it (``Open_Clip.Torch`` -> ``open-clip-torch``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pins(text: str) -> dict[str, str]:
    """``name==version`` lines of a requirements/constraints text as {canonical name: version}."""
    pins = {}
    for line in text.splitlines():
        match = _PIN.match(line)
        if match:
            pins[canonical_name(match.group(1))] = match.group(2)
    return pins


def render_constraints(requirements_text: str) -> str:
    """The constraints file for ``requirements_text``: the header and one ``name==version`` line per pin."""
    return HEADER + "".join(f"{name}=={version}\n" for name, version in parse_pins(requirements_text).items())


def read_pins(path: Path = CONSTRAINTS_PATH) -> dict[str, str]:
    """The pins of the constraints file at ``path``."""
    return parse_pins(path.read_text(encoding="utf-8"))


def constraints_digest(path: Path = CONSTRAINTS_PATH) -> str:
    """sha256 of the constraints file: an environment is current when it was installed from the same pins."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def public_version(version: str) -> str:
    """A version without its local part (``2.5.1+cpu`` -> ``2.5.1``): the CPU/CUDA builds satisfy one pin."""
    return version.split("+", 1)[0]
