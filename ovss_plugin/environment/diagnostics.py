"""The diagnostics report a user attaches to a bug: versions, paths, free disk, GPU, the environment's packages
and the end of the last install log. Collected without importing the engine's packages (the environment's
package list comes from ``pip list`` run by the environment's own Python)."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .installer import free_bytes, read_state
from .plan import GpuInfo, detect_nvidia, env_python
from .process import child_flags, clean_environment

LOG_TAIL_LINES = 80
PIP_LIST_TIMEOUT_S = 120


@dataclass(frozen=True)
class DiagnosticsInput:
    """What only the QGIS side knows: its version, the environment folder and the configured interpreter."""

    qgis_version: str
    plugin_dir: Path
    env_dir: Path
    configured_python: Path | None
    log_path: Path


def environment_packages(python: Path) -> list[dict[str, str]] | str:
    """``pip list`` of ``python`` as [{name, version}], or the reason it could not be listed."""
    if not python.is_file():
        return f"{python} does not exist"
    try:
        done = subprocess.run([str(python), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
                              capture_output=True, text=True, timeout=PIP_LIST_TIMEOUT_S, env=clean_environment(),
                              check=False, **child_flags())
        packages = json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        return f"pip list failed: {exc}"
    return [{"name": item["name"], "version": item["version"]} for item in packages]


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last ``lines`` lines of the install log (empty when there is none)."""
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return []


def collect_diagnostics(given: DiagnosticsInput, gpu: GpuInfo | None = None) -> dict[str, Any]:
    """Everything the report shows, as JSON-ready data (``gpu`` defaults to what is detected now)."""
    gpu = gpu if gpu is not None else detect_nvidia()
    python = given.configured_python or env_python(given.env_dir)
    return {
        "qgis_version": given.qgis_version,
        "qgis_python": {"version": sys.version.split()[0], "executable": sys.executable,
                        "prefix": sys.prefix, "base_prefix": sys.base_prefix},
        "system": platform.platform(),
        "plugin_dir": str(given.plugin_dir),
        "environment_dir": str(given.env_dir),
        "environment_python": str(python),
        "configured_python": str(given.configured_python) if given.configured_python else None,
        "environment_state": read_state(given.env_dir),
        "free_disk_gb": round(free_bytes(given.env_dir) / 1e9, 1),
        "gpu": {"name": gpu.name, "driver": gpu.driver} if gpu else None,
        "packages": environment_packages(python),
        "install_log": str(given.log_path),
        "install_log_tail": log_tail(given.log_path),
    }


def render_text(report: dict[str, Any]) -> str:
    """The report as plain text for a bug report (the data itself is appended as JSON)."""
    gpu = report["gpu"]
    packages = report["packages"]
    listed = ("\n".join(f"  {item['name']}=={item['version']}" for item in packages)
              if isinstance(packages, list) else f"  ({packages})")
    lines = [
        "OVSS plugin diagnostics",
        f"QGIS: {report['qgis_version']}",
        f"QGIS's Python: {report['qgis_python']['version']} ({report['qgis_python']['executable']})",
        f"System: {report['system']}",
        f"Plugin folder: {report['plugin_dir']}",
        f"Environment folder: {report['environment_dir']} ({report['free_disk_gb']} GB free)",
        f"Environment Python: {report['environment_python']}",
        f"Configured Python: {report['configured_python'] or 'none'}",
        f"Installed: {report['environment_state'] or 'not recorded (no finished installation)'}",
        f"GPU: {gpu['name'] or 'NVIDIA'} (driver {gpu['driver'] or 'unknown'})" if gpu else "GPU: no NVIDIA GPU seen",
        "Packages in the environment:",
        listed,
        f"Last install log ({report['install_log']}):",
        *(f"  {line}" for line in report["install_log_tail"] or ["(none)"]),
        "",
        "As JSON:",
        json.dumps(report, indent=2),
    ]
    return "\n".join(lines) + "\n"


def write_report(path: Path, report: dict[str, Any]) -> Path:
    """Write the text report to ``path`` (its folder must exist)."""
    path.write_text(render_text(report), encoding="utf-8")
    return path
