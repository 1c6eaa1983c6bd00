"""What setting up the environment will do, decided before anything is downloaded.

The plan names the folder (a per-user data folder, overridden by a setting or ``$OVSS_ENV_DIR``), the base
interpreter, the torch build (CUDA when an NVIDIA GPU is seen, the CPU build otherwise, PyPI's default build on
macOS), the package indexes, and rough disk and time estimates; :func:`describe_plan` is the text the user
agrees to.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from ...engine.errors import InputError
from .constraints import CONSTRAINTS_PATH
from .process import child_flags

ENV_DIR_VARIABLE = "OVSS_ENV_DIR"
TORCH_BUILDS = ("auto", "cpu", "cuda")
# the extra index each torch build comes from (None: PyPI's own wheels, the default build on macOS)
TORCH_INDEXES: Mapping[str, str | None] = {
    "cpu": "https://download.pytorch.org/whl/cpu",
    "cuda": "https://download.pytorch.org/whl/cu132",
    "default": None,
}
# rough size of the finished environment and install time on a ~50 Mbit/s line, per torch build
ESTIMATES: Mapping[str, tuple[float, int]] = {"cpu": (2.5, 10), "cuda": (8.0, 30), "default": (2.0, 10)}
# modules the health check imports: the engine's heavy packages
HEALTH_MODULES = ("numpy", "torch", "torchvision", "open_clip", "timm", "safetensors", "skimage", "scipy")
NVIDIA_SMI_TIMEOUT_S = 10


@dataclass(frozen=True)
class GpuInfo:
    """An NVIDIA GPU as the system reports it (``name`` or ``driver`` may be empty when unknown)."""

    name: str
    driver: str


@dataclass(frozen=True)
class EnvironmentPlan:
    """Everything the installer needs, as data (the tests build plans for a local index and tiny wheels)."""

    target: Path
    base_python: Path
    torch_build: str  # "cpu", "cuda" or "default"
    index_url: str | None = None  # None: pip's configured index (PyPI)
    extra_index_urls: tuple[str, ...] = ()
    constraints: Path = CONSTRAINTS_PATH
    modules: tuple[str, ...] = HEALTH_MODULES
    disk_bytes: int = 0
    minutes: int = 0
    proxy: str | None = None
    gpu: GpuInfo | None = field(default=None, compare=False)

    @property
    def log_path(self) -> Path:
        """The install log of this plan's environment."""
        return log_path_for(self.target)


def log_path_for(target: Path) -> Path:
    """The install log of the environment at ``target``: beside it, so that recreating the environment keeps it."""
    return target.with_name(target.name + "-install.log")


def default_env_dir(
    platform: str = sys.platform, environ: Mapping[str, str] = os.environ, home: Path | None = None
) -> Path:
    """The per-user data folder for the environment: ``%LOCALAPPDATA%\\ovss\\env`` on Windows,
    ``~/Library/Application Support/ovss/env`` on macOS, ``$XDG_DATA_HOME/ovss/env`` (``~/.local/share``)
    elsewhere; ``$OVSS_ENV_DIR`` overrides all of them."""
    if environ.get(ENV_DIR_VARIABLE):
        return Path(environ[ENV_DIR_VARIABLE]).expanduser()
    home = home or Path.home()
    if platform.startswith("win"):
        base = Path(environ["LOCALAPPDATA"]) if environ.get("LOCALAPPDATA") else home / "AppData" / "Local"
    elif platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(environ["XDG_DATA_HOME"]) if environ.get("XDG_DATA_HOME") else home / ".local" / "share"
    return base / "ovss" / "env"


def env_python(target: Path, platform: str = sys.platform) -> Path:
    """The interpreter of the virtual environment at ``target``."""
    return target / "Scripts" / "python.exe" if platform.startswith("win") else target / "bin" / "python"


def detect_nvidia(
    proc_root: Path = Path("/proc"),
    which: Callable[[str], str | None] = shutil.which,
    run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
) -> GpuInfo | None:
    """An NVIDIA GPU seen by ``nvidia-smi`` (any platform) or the Linux driver (``/proc/driver/nvidia``)."""
    smi = which("nvidia-smi")
    if smi:
        try:
            done = run([smi, "--query-gpu=name,driver_version", "--format=csv,noheader"], capture_output=True,
                       text=True, timeout=NVIDIA_SMI_TIMEOUT_S, check=False, **child_flags())
            first = done.stdout.strip().splitlines()[0] if done.returncode == 0 and done.stdout.strip() else ""
        except (OSError, subprocess.SubprocessError):
            first = ""
        if first:
            name, _, driver = first.partition(",")
            return GpuInfo(name.strip(), driver.strip())
    version_file = proc_root / "driver" / "nvidia" / "version"
    if version_file.is_file():
        text = version_file.read_text(errors="replace")
        words = text.split("Kernel Module", 1)[-1].split()
        return GpuInfo("", words[0] if words else "")
    return None


def choose_torch_build(requested: str, platform: str, gpu: GpuInfo | None) -> str:
    """``requested`` (auto, cpu, cuda) resolved for ``platform``: macOS always gets PyPI's default build."""
    if requested not in TORCH_BUILDS:
        raise InputError(f"Unknown torch build {requested!r}; choose one of {', '.join(TORCH_BUILDS)}.")
    if platform == "darwin":
        if requested == "cuda":
            raise InputError("There is no CUDA build of torch for macOS; choose auto or cpu.")
        return "default"
    if requested == "auto":
        return "cuda" if gpu is not None else "cpu"
    return requested


def make_plan(
    target: Path,
    base_python: Path,
    *,
    torch_build: str = "auto",
    index_url: str | None = None,
    proxy: str | None = None,
    platform: str = sys.platform,
    gpu: GpuInfo | None = None,
    constraints: Path = CONSTRAINTS_PATH,
    modules: tuple[str, ...] = HEALTH_MODULES,
) -> EnvironmentPlan:
    """The plan for ``target``: with ``index_url`` (a mirror, or a test's local index) only that index is
    used; otherwise pip's index plus the torch build's index."""
    build = choose_torch_build(torch_build, platform, gpu)
    extra = TORCH_INDEXES[build]
    gigabytes, minutes = ESTIMATES[build]
    return EnvironmentPlan(
        target=target, base_python=base_python, torch_build=build, index_url=index_url or None,
        extra_index_urls=() if index_url or extra is None else (extra,), disk_bytes=int(gigabytes * 1e9),
        minutes=minutes, proxy=proxy or None, gpu=gpu, constraints=constraints, modules=modules,
    )


def proxy_url(settings: Mapping[str, object]) -> str | None:
    """QGIS's proxy settings (the ``proxy/...`` keys of its profile, as data) as the URL pip takes; None when
    QGIS uses no proxy of its own (none, or the system's, which pip finds in the environment itself)."""
    enabled = str(settings.get("proxy/proxyEnabled", "false")).lower() in ("true", "1")
    host = str(settings.get("proxy/proxyHost", "") or "").strip()
    kind = str(settings.get("proxy/proxyType", "HttpProxy"))
    if not enabled or not host or kind in ("DefaultProxy", "NoProxy"):
        return None
    scheme = "socks5" if kind == "Socks5Proxy" else "http"
    user = quote(str(settings.get("proxy/proxyUser", "") or ""), safe="")
    password = quote(str(settings.get("proxy/proxyPassword", "") or ""), safe="")
    credentials = f"{user}:{password}@" if user and password else (f"{user}@" if user else "")
    port = str(settings.get("proxy/proxyPort", "") or "").strip()
    return f"{scheme}://{credentials}{host}" + (f":{port}" if port else "")


def redact(url: str) -> str:
    """``url`` with its password hidden (proxy URLs carry credentials; plans and logs are shown and shared)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def describe_plan(plan: EnvironmentPlan) -> str:
    """The text the user agrees to: what is downloaded, from where, into which folder, how big and how long."""
    build = {"cpu": "the CPU build of torch (no NVIDIA GPU seen)" if plan.gpu is None else "the CPU build of torch",
             "cuda": "the CUDA build of torch", "default": "the default torch build for macOS"}[plan.torch_build]
    if plan.torch_build == "cuda" and plan.gpu is not None:
        build += f" (NVIDIA GPU seen: {plan.gpu.name or 'unknown model'}, driver {plan.gpu.driver or 'unknown'})"
    if plan.index_url:
        build = f"the torch build that {plan.index_url} offers (this computer would take {build})"
    indexes = ", ".join((plan.index_url or "PyPI (pip's configured index)", *plan.extra_index_urls))
    lines = [
        "The plugin will create its own Python environment and install the engine's packages into it "
        "(torch, torchvision, open_clip, timm, numpy, scipy, scikit-image, ...) with "
        f"{build}. QGIS's own Python is not changed.",
        f"Folder: {plan.target}",
        f"Python: {plan.base_python}",
        f"Packages from: {indexes}" + (f" through the proxy {redact(plan.proxy)}" if plan.proxy else ""),
        f"Needs about {plan.disk_bytes / 1e9:.1f} GB of disk and roughly {plan.minutes} minutes "
        "(depending on the connection).",
        f"Log: {plan.log_path}",
    ]
    return "\n".join(lines)
