"""The health check: does an environment's Python import the engine's packages at the pinned versions?

It runs as a subprocess of that Python (never in QGIS's process, where importing torch could clash with
QGIS's libraries); the child prints one JSON object which is compared with the constraints here.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .constraints import canonical_name, public_version
from .process import child_flags, clean_environment

HEALTH_TIMEOUT_S = 600  # a first import of torch from a cold disk takes minutes on slow machines
CHECK_SCRIPT = """
import importlib, importlib.metadata as md, json, sys
request = json.loads(sys.argv[1])
errors, versions = {}, {}
for module in request["modules"]:
    try:
        importlib.import_module(module)
    except Exception as exc:
        errors[module] = f"{type(exc).__name__}: {exc}".splitlines()[0]
for dist in request["dists"]:
    try:
        versions[dist] = md.version(dist)
    except md.PackageNotFoundError:
        versions[dist] = None
print(json.dumps({"python": sys.version.split()[0], "prefix": sys.prefix, "errors": errors, "versions": versions}))
"""


@dataclass(frozen=True)
class HealthReport:
    """The outcome of a health check: ``problems`` is empty for a healthy environment."""

    python: Path
    problems: tuple[str, ...]
    python_version: str = ""
    versions: tuple[tuple[str, str | None], ...] = ()

    @property
    def ok(self) -> bool:
        """True when every module imports and every pinned package has its pinned version."""
        return not self.problems

    def summary(self) -> str:
        """One line: healthy, or the problems found."""
        if self.ok:
            return f"{self.python} (Python {self.python_version}) has every package at its pinned version."
        return f"{self.python} is not usable: " + "; ".join(self.problems)


def check_health(python: Path, pins: dict[str, str], modules: tuple[str, ...]) -> HealthReport:
    """Run the check in ``python``: each of ``modules`` must import, each pinned distribution must be
    installed at its pinned version (local build tags such as ``+cpu`` ignored)."""
    if not Path(python).is_file():
        return HealthReport(python, (f"{python} does not exist",))
    request = json.dumps({"modules": list(modules), "dists": list(pins)})
    try:
        done = subprocess.run([str(python), "-c", CHECK_SCRIPT, request], capture_output=True, text=True,
                              timeout=HEALTH_TIMEOUT_S, env=clean_environment(), check=False, **child_flags())
    except subprocess.TimeoutExpired:
        return HealthReport(python, (f"the check did not finish within {HEALTH_TIMEOUT_S} s",))
    except OSError as exc:
        return HealthReport(python, (f"it cannot be started ({exc})",))
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        detail = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit status {done.returncode}"
        return HealthReport(python, (f"it does not run as a Python interpreter ({detail})",))
    problems = [f"import {module} fails: {error}" for module, error in answer["errors"].items()]
    versions = {canonical_name(name): version for name, version in answer["versions"].items()}
    for name, wanted in pins.items():
        found = versions.get(canonical_name(name))
        if found is None:
            problems.append(f"{name} is not installed (needs {wanted})")
        elif public_version(found) != wanted:
            problems.append(f"{name} is {found}, needs {wanted}")
    return HealthReport(python, tuple(problems), answer["python"], tuple(sorted(versions.items())))
