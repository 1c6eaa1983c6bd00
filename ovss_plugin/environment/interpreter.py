"""Finding a real Python interpreter of QGIS's Python version, to create the environment from.

Inside QGIS ``sys.executable`` is the QGIS binary on Windows and macOS (and often on Linux), so it is never
used there: the interpreter is looked up from ``sys.base_prefix`` (the installation QGIS's Python runs on,
also when QGIS itself runs inside a virtual environment) and then ``sys.prefix``, in each platform's layout:

- Windows (OSGeo4W, the standalone installer): ``<prefix>\\python.exe`` (``apps\\Python3xx``);
- macOS (QGIS.app): ``<prefix>/bin/python3.x`` or ``<prefix>/bin/python3`` (``Contents/MacOS`` or a
  ``Python.framework/Versions/3.x`` folder inside the bundle);
- Linux and other POSIX systems: ``<prefix>/bin/python3.x``, ``<prefix>/bin/python3``.

A candidate is accepted only when running it reports the same major.minor version and has ``venv`` and
``ensurepip`` (Debian splits these into ``python3-venv``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from .errors import NoPythonError
from .process import child_flags, clean_environment

PROBE = "import ensurepip, json, sys, venv; print(json.dumps(list(sys.version_info[:2])))"
PROBE_TIMEOUT_S = 60


def candidate_paths(prefix: Path, platform: str, version: tuple[int, int]) -> list[Path]:
    """Where an interpreter lives under ``prefix`` on ``platform`` (``sys.platform`` values), best first."""
    major, minor = version
    if platform.startswith("win"):
        return [prefix / "python.exe", prefix / f"python{major}.exe", prefix / "bin" / "python.exe"]
    return [prefix / "bin" / f"python{major}.{minor}", prefix / "bin" / f"python{major}", prefix / "bin" / "python"]


def probe_version(python: Path) -> tuple[int, int] | None:
    """The major.minor version ``python`` reports when it can create environments; None when it cannot."""
    try:
        done = subprocess.run(
            [str(python), "-c", PROBE], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S,
            env=clean_environment(), check=False, **child_flags(),
        )
        major, minor = json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError, TypeError):
        return None
    return (major, minor) if done.returncode == 0 else None


def find_base_python(
    base_prefix: str = sys.base_prefix,
    prefix: str = sys.prefix,
    platform: str = sys.platform,
    version: tuple[int, int] = (sys.version_info.major, sys.version_info.minor),
    probe: Callable[[Path], tuple[int, int] | None] = probe_version,
) -> Path:
    """The first interpreter under ``base_prefix`` then ``prefix`` that ``probe`` confirms as ``version``.

    Raises :class:`NoPythonError` naming the folders searched (and the Debian package to install when an
    interpreter is there but cannot create environments).
    """
    seen: list[Path] = []
    for root in dict.fromkeys((Path(base_prefix), Path(prefix))):
        for path in candidate_paths(root, platform, version):
            if path.is_file() and path not in seen:
                seen.append(path)
                if probe(path) == version:
                    return path
    wanted = f"{version[0]}.{version[1]}"
    if seen:
        raise NoPythonError(
            f"The Python {wanted} found at {seen[0]} cannot create environments (on Debian/Ubuntu install the "
            f"package python3-venv); or choose an existing environment instead."
        )
    raise NoPythonError(
        f"No Python {wanted} interpreter found under {base_prefix} or {prefix}; choose an existing environment "
        f"(a Python {wanted} with the requirements) instead."
    )
