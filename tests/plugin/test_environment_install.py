"""Creating the environment and installing pins into it from a package index on 127.0.0.1 (tiny wheels the
test builds): success, a second run that does nothing, resume after a killed install, a broken index, a full
disk. Real subprocesses (venv, pip, the health check), no network."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from local_index import TINY_MODULES

from ovss.engine.errors import CancelledError
from ovss.ovss_plugin.environment.errors import DiskSpaceError, PackageIndexError, SetupError
from ovss.ovss_plugin.environment.installer import STATE_FILE, ensure_environment, read_state
from ovss.ovss_plugin.environment.interpreter import find_base_python
from ovss.ovss_plugin.environment.plan import EnvironmentPlan, env_python

TMPFS_MB = 48


@pytest.fixture(scope="module")
def base_python() -> Path:
    return find_base_python()


def tiny_plan(target: Path, base_python: Path, index_url: str, constraints: Path,
              disk_bytes: int = 0) -> EnvironmentPlan:
    return EnvironmentPlan(target=target, base_python=base_python, torch_build="cpu", index_url=index_url,
                           constraints=constraints, modules=TINY_MODULES, disk_bytes=disk_bytes)


def installed_version(python: Path, module: str) -> str:
    done = subprocess.run([str(python), "-c", f"import {module}; print({module}.VERSION)"], capture_output=True,
                          text=True, check=True)
    return done.stdout.strip()


def test_installs_the_pins_and_a_second_run_does_nothing(tmp_path, base_python, tiny_index, tiny_constraints):
    plan = tiny_plan(tmp_path / "env", base_python, tiny_index.url, tiny_constraints)
    steps: list[tuple[float, str]] = []
    result = ensure_environment(plan, progress=lambda fraction, message: steps.append((fraction, message)))
    assert result.changed and result.health.ok
    assert result.python == env_python(plan.target)
    assert installed_version(result.python, "ovsstiny_a") == "1.0"  # the pin, not the newest (2.0)
    assert installed_version(result.python, "ovsstiny_b") == "1.0"
    assert read_state(plan.target)["torch_build"] == "cpu"
    assert "Successfully installed" in plan.log_path.read_text()
    fractions = [fraction for fraction, _ in steps]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("ovsstiny-b" in message and "of 2" in message for _, message in steps)
    requests, log_size = len(tiny_index.requests), plan.log_path.stat().st_size

    again = ensure_environment(plan)
    assert not again.changed and again.health.ok
    assert len(tiny_index.requests) == requests  # pip did not even ask the index
    assert plan.log_path.stat().st_size == log_size


def test_a_killed_install_leaves_no_state_and_the_next_run_repairs_it(tmp_path, base_python, tiny_index,
                                                                       tiny_constraints):
    plan = tiny_plan(tmp_path / "env", base_python, tiny_index.url, tiny_constraints)
    tiny_index.slow_down("ovsstiny_b-1.0-py3-none-any.whl", 30.0)
    seen = threading.Event()

    def progress(_fraction: float, message: str) -> None:
        if "ovsstiny-b" in message:
            seen.set()

    with pytest.raises(CancelledError, match="resumes"):
        ensure_environment(plan, progress=progress, cancel=seen.is_set)
    assert not (plan.target / STATE_FILE).exists()
    assert "cancelled" in plan.log_path.read_text()
    tiny_index.slow_down("ovsstiny_b-1.0-py3-none-any.whl", 0.0)
    result = ensure_environment(plan)
    assert result.changed and result.health.ok and read_state(plan.target)


def test_a_half_made_environment_is_recreated(tmp_path, base_python, tiny_index, tiny_constraints):
    plan = tiny_plan(tmp_path / "env", base_python, tiny_index.url, tiny_constraints)
    ensure_environment(plan)
    (plan.target / STATE_FILE).unlink()  # as if the run was killed before the end
    for python in (plan.target / "bin").glob("python*"):
        python.unlink()  # ... while the venv was being made
    result = ensure_environment(plan)
    assert result.changed and result.health.ok
    assert installed_version(result.python, "ovsstiny_b") == "1.0"


def test_a_folder_of_other_files_is_never_deleted(tmp_path, base_python, tiny_index, tiny_constraints):
    target = tmp_path / "documents"
    target.mkdir()
    (target / "thesis.txt").write_text("precious")
    with pytest.raises(SetupError, match="not an environment"):
        ensure_environment(tiny_plan(target, base_python, tiny_index.url, tiny_constraints))
    assert (target / "thesis.txt").read_text() == "precious"


def test_a_broken_index_is_a_clear_error_and_leaves_no_state(tmp_path, base_python, tiny_index, tiny_constraints):
    plan = tiny_plan(tmp_path / "env", base_python, tiny_index.url, tiny_constraints)
    for mode, expected in (("404", "does not offer ovsstiny-a"), ("garbage", "cannot read"),
                           ("garbage-files", "damaged")):
        tiny_index.set_mode(mode)
        with pytest.raises(PackageIndexError, match=expected) as caught:
            ensure_environment(plan)
        assert str(plan.log_path) in str(caught.value)
        assert not (plan.target / STATE_FILE).exists()
    tiny_index.set_mode("ok")  # the index is repaired: the same folder is finished
    assert ensure_environment(plan).health.ok


def test_an_unreachable_index_says_so(tmp_path, base_python, tiny_constraints, pip_isolated):
    plan = tiny_plan(tmp_path / "env", base_python, "http://127.0.0.1:9/simple/", tiny_constraints)
    with pytest.raises(PackageIndexError, match=r"cannot be reached|does not offer"):
        ensure_environment(plan)


@pytest.fixture
def tiny_disk(tmp_path):
    """A tmpfs of TMPFS_MB MiB (needs root and mount; skipped elsewhere)."""
    mount = tmp_path / "tiny-disk"
    mount.mkdir()
    if not sys.platform.startswith("linux") or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_MB}m", "tmpfs", str(mount)], capture_output=True,
            check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root on Linux)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_not_enough_free_space_stops_before_anything_is_written(tmp_path, base_python, tiny_index,
                                                                tiny_constraints, tiny_disk):
    plan = tiny_plan(tiny_disk / "env", base_python, tiny_index.url, tiny_constraints, disk_bytes=10**9)
    with pytest.raises(DiskSpaceError, match=r"needs about 1\.0 GB"):
        ensure_environment(plan)
    assert not plan.target.exists() and not tiny_index.requests


def test_a_disk_filling_up_during_the_install_is_a_clear_error(tmp_path, base_python, tiny_index, tiny_constraints,
                                                               tiny_disk):
    from local_index import build_wheel, lay_out_index

    root = Path(tiny_index.httpd.RequestHandlerClass.keywords["directory"])
    lay_out_index(root, [build_wheel(tmp_path, "ovsstiny-b", "1.0", requires=("ovsstiny-a",), payload=40 << 20)])
    plan = tiny_plan(tiny_disk / "env", base_python, tiny_index.url, tiny_constraints, disk_bytes=1 << 20)
    with pytest.raises(DiskSpaceError, match="disk is full"):
        ensure_environment(plan)
    assert not (plan.target / STATE_FILE).exists()


@pytest.mark.slow  # three environments: kept out of the default run
def test_other_pins_are_installed_in_place_and_another_torch_build_recreates(tmp_path, base_python, tiny_index,
                                                                             tiny_constraints):
    from local_index import build_wheel, lay_out_index

    plan = tiny_plan(tmp_path / "env", base_python, tiny_index.url, tiny_constraints)
    ensure_environment(plan)
    marker = plan.target / "kept.txt"
    marker.write_text("the same environment")
    root = Path(tiny_index.httpd.RequestHandlerClass.keywords["directory"])
    lay_out_index(root, [build_wheel(tmp_path, "ovsstiny-b", "1.1", requires=("ovsstiny-a",))])
    tiny_constraints.write_text("ovsstiny-a==2.0\novsstiny-b==1.1\n")  # a plugin update changed the pins
    updated = ensure_environment(plan)
    assert updated.changed and updated.health.ok and marker.exists()
    assert installed_version(updated.python, "ovsstiny_a") == "2.0"
    rebuilt = ensure_environment(dataclasses.replace(plan, torch_build="cuda"))
    assert rebuilt.changed and not marker.exists() and read_state(plan.target)["torch_build"] == "cuda"


def test_a_venv_killed_before_pyvenv_cfg_is_still_recognised_and_recreated(tmp_path, base_python, tiny_index,
                                                                           tiny_constraints):
    plan = tiny_plan(tmp_path / "env", base_python, tiny_index.url, tiny_constraints)
    calls = iter([False, True])  # cancel at the first poll while the venv is being made

    with pytest.raises(CancelledError):
        ensure_environment(plan, cancel=lambda: next(calls, True))
    (plan.target / "pyvenv.cfg").unlink(missing_ok=True)
    (plan.target / "bin").mkdir(exist_ok=True)
    assert ensure_environment(plan).health.ok


def test_qgis_s_proxy_carries_every_request_of_pip(tmp_path, base_python, tiny_index, tiny_constraints,
                                                   *, forwarding_proxy, monkeypatch):
    proxy, proxied = forwarding_proxy
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    plan = dataclasses.replace(tiny_plan(tmp_path / "env", base_python, tiny_index.url, tiny_constraints),
                               proxy=proxy)
    assert ensure_environment(plan).health.ok
    assert any(url.endswith("/simple/ovsstiny-b/") for url in proxied)
    assert any(url.endswith("/files/ovsstiny_b-1.0-py3-none-any.whl") for url in proxied)
    assert len(proxied) == len(tiny_index.requests)  # nothing went around the proxy


def test_a_refused_proxy_is_named_as_the_problem(tmp_path, base_python, tiny_index, tiny_constraints, monkeypatch):
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    plan = dataclasses.replace(tiny_plan(tmp_path / "env", base_python, tiny_index.url, tiny_constraints),
                               proxy="http://user:secret@127.0.0.1:9")
    with pytest.raises(PackageIndexError, match="proxy") as caught:
        ensure_environment(plan)
    assert not tiny_index.requests and "secret" not in plan.log_path.read_text() + str(caught.value)


@pytest.mark.slow  # three environments: kept out of the default run
def test_files_damaged_behind_pip_s_back_make_the_environment_be_recreated(tmp_path, base_python, tiny_index,
                                                                          tiny_constraints):
    plan = tiny_plan(tmp_path / "env", base_python, tiny_index.url, tiny_constraints)
    ensure_environment(plan)
    damaged = next(plan.target.glob("lib/python*/site-packages/ovsstiny_a"))
    shutil.rmtree(damaged)  # pip still sees ovsstiny-a 1.0 installed, the import fails
    result = ensure_environment(plan)
    assert result.changed and result.health.ok and damaged.exists()
    assert "recreating it" in plan.log_path.read_text()
