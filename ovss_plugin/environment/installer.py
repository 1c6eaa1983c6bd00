"""Creating the environment and installing the pinned packages into it, resumably.

:func:`ensure_environment` follows a plan: a healthy, current environment is left alone (a second run does
nothing); otherwise it checks the free disk space, creates the virtual environment with the base interpreter's
``venv`` module (recreating a half-made one, or one with another torch build), installs the pins with pip
(after a plugin update with other pins, pip upgrades or downgrades in place), runs the health check and only
then writes the state file. pip runs as a subprocess whose output goes, line by line, to the log and to the
progress callback; cancelling kills it. Whatever interrupts a run (cancel, a killed QGIS, a full disk, a
broken index), the state file is missing, so the next run repairs the environment: pip installs what is
missing, a folder whose Python does not run, or that pip cannot mend, is recreated. Folders that are not an
environment (no ``pyvenv.cfg``, state file or the marker written before the venv) are never deleted.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ...engine.errors import CancelledError
from .constraints import constraints_digest, read_pins
from .errors import DiskSpaceError, SetupError, UnhealthyEnvironmentError
from .health import HealthReport, check_health
from .pip_output import PipProgress, pip_failure
from .plan import EnvironmentPlan, env_python, redact
from .process import child_flags, clean_environment

STATE_FILE = "ovss-environment.json"
INCOMPLETE_MARKER = "ovss-environment.incomplete"  # written before the venv, removed with the state file written
POLL_S = 0.2
TAIL_LINES = 200
# shares of the whole run: venv creation up to 0.1, pip up to 0.9, the health check the rest
VENV_END, PIP_END = 0.1, 0.9

ProgressCallback = Callable[[float, str], None]


@dataclass(frozen=True)
class SetupResult:
    """A finished setup: the environment's Python, whether anything was changed, and its health report."""

    python: Path
    changed: bool
    health: HealthReport


def _no_progress(_fraction: float, _message: str) -> None:
    """Default progress callback."""


def _never() -> bool:
    """Default cancel callback."""
    return False


def free_bytes(path: Path) -> int:
    """Free space on the disk that holds ``path`` (or its nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def read_state(target: Path) -> dict:
    """The state file of the environment at ``target`` ({} when missing or unreadable)."""
    try:
        state = json.loads((target / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _write_state(plan: EnvironmentPlan, health: HealthReport) -> None:
    """Record a verified installation (written atomically, last)."""
    state = {"constraints_sha256": constraints_digest(plan.constraints), "torch_build": plan.torch_build,
             "python_version": health.python_version, "base_python": str(plan.base_python),
             "installed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    temporary = plan.target / (STATE_FILE + ".tmp")
    temporary.write_text(json.dumps(state, indent=2), encoding="utf-8")
    os.replace(temporary, plan.target / STATE_FILE)
    (plan.target / INCOMPLETE_MARKER).unlink(missing_ok=True)


def _is_current(plan: EnvironmentPlan, state: dict) -> bool:
    """The state file says the environment was installed from these pins with this torch build."""
    return (state.get("constraints_sha256") == constraints_digest(plan.constraints)
            and state.get("torch_build") == plan.torch_build)


def _other_torch_build(plan: EnvironmentPlan, state: dict) -> bool:
    """The environment holds another torch build (pip would keep it: ``2.5.1+cpu`` satisfies ``==2.5.1``)."""
    return bool(state) and state.get("torch_build") != plan.torch_build


def _venv_works(target: Path, python: Path) -> bool:
    """The environment's interpreter starts, has pip and really is the venv at ``target`` (a venv cut short
    by a kill may lack pip or ``pyvenv.cfg``; without it, ``bin/python`` would be the base interpreter, and pip
    must never install into that)."""
    try:
        done = subprocess.run([str(python), "-c", "import pip, sys; print(sys.prefix)"], capture_output=True,
                              text=True, timeout=60, env=clean_environment(), check=False, **child_flags())
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and Path(done.stdout.strip()).resolve() == target.resolve()


def _looks_like_environment(target: Path) -> bool:
    """``target`` is a virtual environment (or what is left of one), so it may be deleted and recreated."""
    return any((target / name).exists() for name in ("pyvenv.cfg", STATE_FILE, INCOMPLETE_MARKER))


def _kill(process: subprocess.Popen) -> None:
    """Kill ``process`` and its children (pip starts build subprocesses)."""
    if sys.platform.startswith("win"):
        subprocess.run(["taskkill", "/F", "/T", "/PID", str(process.pid)], capture_output=True, check=False,
                       **child_flags())
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.kill()
    process.wait()


def run_logged(
    command: Sequence[str], env: dict[str, str], log: IO[str], *, on_line: Callable[[str], None],
    cancel: Callable[[], bool], what: str,
) -> tuple[int, list[str]]:
    """Run ``command``, writing each output line to ``log`` and ``on_line``; kill it when ``cancel()``.

    Returns the exit status and the last lines; raises :class:`CancelledError` after a cancel.
    """
    log.write("$ " + " ".join(redact(part) for part in command) + "\n")
    log.flush()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               text=True, encoding="utf-8", errors="replace", env=env, **child_flags(new_group=True))
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\r\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    while True:
        if cancel():
            _kill(process)
            log.write(f"--- cancelled: {what} killed\n")
            log.flush()
            raise CancelledError(f"Cancelled while {what}; run the setup again to finish it (it resumes).")
        try:
            line = lines.get(timeout=POLL_S)
        except queue.Empty:
            continue
        if line is None:
            break
        tail.append(line)
        log.write(line + "\n")
        log.flush()
        on_line(line)
    return process.wait(), list(tail)


def pip_command(plan: EnvironmentPlan, python: Path) -> list[str]:
    """The pip command that installs every pin of the constraints file from the plan's indexes."""
    command = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
               "--progress-bar", "off", "--prefer-binary", "-c", str(plan.constraints),
               *(f"{name}=={version}" for name, version in read_pins(plan.constraints).items())]
    if plan.index_url:
        command += ["--index-url", plan.index_url]
    for url in plan.extra_index_urls:
        command += ["--extra-index-url", url]
    if plan.proxy:
        command += ["--proxy", plan.proxy]
    return command


def pip_environment(plan: EnvironmentPlan) -> dict[str, str]:
    """The environment of pip's process: clean, with QGIS's proxy for every scheme when one is set."""
    proxy = {name: plan.proxy for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")}
    return clean_environment(proxy if plan.proxy else None)


def _prepare_folder(plan: EnvironmentPlan, python: Path, *, fresh: bool) -> bool:
    """Make sure a venv is at the target, reusing a working one unless ``fresh`` (True when it must be made)."""
    target = plan.target
    if not fresh and target.exists() and _venv_works(target, python):
        return False
    if target.exists() and any(target.iterdir()):
        if not _looks_like_environment(target):
            raise SetupError(f"The folder {target} already holds other files and is not an environment; "
                             "choose an empty or new folder.")
        shutil.rmtree(target)
    target.mkdir(parents=True, exist_ok=True)
    (target / INCOMPLETE_MARKER).write_text("a setup of this environment has not finished\n", encoding="utf-8")
    return True


def _install(plan: EnvironmentPlan, log: IO[str], progress: ProgressCallback, cancel: Callable[[], bool], *,
             fresh: bool) -> HealthReport:
    """One pass: the venv (reused unless ``fresh``), pip with the pins, the health check."""
    python = env_python(plan.target)
    index = plan.index_url or "PyPI"
    if _prepare_folder(plan, python, fresh=fresh):
        progress(0.0, f"Creating the Python environment in {plan.target}")
        status, tail = run_logged([str(plan.base_python), "-m", "venv", str(plan.target)], clean_environment(),
                                  log, on_line=lambda _line: None, cancel=cancel, what="creating the environment")
        if status != 0:
            raise pip_failure(tail, status, index, str(plan.log_path))
    tracker = PipProgress(len(read_pins(plan.constraints)))

    def on_line(line: str) -> None:
        step = tracker.feed(line)
        if step is not None:
            progress(VENV_END + (PIP_END - VENV_END) * step.fraction, step.message)

    progress(VENV_END, "Installing the packages")
    status, tail = run_logged(pip_command(plan, python), pip_environment(plan), log, on_line=on_line,
                              cancel=cancel, what="installing the packages")
    if status != 0:
        raise pip_failure(tail, status, index, str(plan.log_path))
    progress(PIP_END, "Checking the environment")
    health = check_health(python, read_pins(plan.constraints), plan.modules)
    log.write(f"--- health check: {health.summary()}\n")
    return health


def ensure_environment(
    plan: EnvironmentPlan,
    progress: ProgressCallback = _no_progress,
    cancel: Callable[[], bool] = _never,
    free_space: Callable[[Path], int] = free_bytes,
) -> SetupResult:
    """Bring the environment of ``plan`` to a healthy state, doing only what is missing (see the module
    docstring); an environment that pip cannot mend (files damaged behind pip's back) is recreated once.
    Raises :class:`SetupError` subclasses or :class:`CancelledError` with a clear message."""
    python = env_python(plan.target)
    state = read_state(plan.target)
    if _is_current(plan, state):
        progress(0.0, "Checking the existing environment")
        health = check_health(python, read_pins(plan.constraints), plan.modules)
        if health.ok:
            progress(1.0, "The environment is ready; nothing to do.")
            return SetupResult(python, False, health)
    elif _other_torch_build(plan, state):  # start from a fresh environment
        shutil.rmtree(plan.target)
    free = free_space(plan.target)
    if free < plan.disk_bytes:
        raise DiskSpaceError(f"Not enough free disk space for the environment in {plan.target}: it needs about "
                             f"{plan.disk_bytes / 1e9:.1f} GB, {free / 1e9:.1f} GB are free. Free some space or "
                             "choose another folder.")
    (plan.target / STATE_FILE).unlink(missing_ok=True)
    plan.log_path.parent.mkdir(parents=True, exist_ok=True)
    with plan.log_path.open("a", encoding="utf-8") as log:
        log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} setting up {plan.target} ({plan.torch_build})\n")
        fresh = not (plan.target / "pyvenv.cfg").exists()
        health = _install(plan, log, progress, cancel, fresh=False)
        if not health.ok and not fresh:
            log.write("--- pip could not mend the environment: recreating it\n")
            progress(0.0, "Recreating the environment")
            health = _install(plan, log, progress, cancel, fresh=True)
        if not health.ok:
            raise UnhealthyEnvironmentError(health.summary())
        _write_state(plan, health)
    progress(1.0, "The environment is ready.")
    return SetupResult(python, True, health)


def validate_existing(python: Path, constraints: Path, modules: tuple[str, ...]) -> HealthReport:
    """Check a user's own environment (conda, a venv) before the plugin uses it; raises when unhealthy."""
    health = check_health(python, read_pins(constraints), modules)
    if not health.ok:
        raise UnhealthyEnvironmentError(health.summary())
    return health
