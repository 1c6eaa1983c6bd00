"""The environment's plan without installing anything: the base interpreter in each platform's layout (fake
folder trees), the user data folder, GPU detection, the torch build, the constraints kept in sync with
requirements.txt, and pip's output read as progress and clear errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ovss.engine.errors import InputError
from ovss.ovss_plugin.environment.constraints import CONSTRAINTS_PATH, render_constraints
from ovss.ovss_plugin.environment.errors import DiskSpaceError, NoPythonError, PackageIndexError, SetupError
from ovss.ovss_plugin.environment.health import check_health
from ovss.ovss_plugin.environment.interpreter import find_base_python, probe_version
from ovss.ovss_plugin.environment.pip_output import PipProgress, pip_failure
from ovss.ovss_plugin.environment.plan import (
    GpuInfo,
    default_env_dir,
    describe_plan,
    detect_nvidia,
    env_python,
    make_plan,
    proxy_url,
)

ROOT = Path(__file__).resolve().parents[2]
V = (3, 12)


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    return path


def probe_all(path: Path) -> tuple[int, int]:
    return V


def test_windows_osgeo4w_finds_python_exe_in_the_base_prefix_not_qgis(tmp_path):
    base = tmp_path / "OSGeo4W" / "apps" / "Python312"
    touch(tmp_path / "OSGeo4W" / "bin" / "qgis-bin.exe")  # sys.executable inside QGIS
    python = touch(base / "python.exe")
    assert find_base_python(str(base), str(base), "win32", V, probe_all) == python


def test_macos_bundle_finds_the_versioned_python_in_the_framework(tmp_path):
    framework = tmp_path / "QGIS.app" / "Contents" / "Frameworks" / "Python.framework" / "Versions" / "3.12"
    touch(tmp_path / "QGIS.app" / "Contents" / "MacOS" / "QGIS")
    touch(framework / "bin" / "python3")
    versioned = touch(framework / "bin" / "python3.12")
    assert find_base_python(str(framework), str(framework), "darwin", V, probe_all) == versioned


def test_linux_in_a_venv_uses_the_base_interpreter_first(tmp_path):
    base = touch(tmp_path / "usr" / "bin" / "python3.12")
    venv_python = touch(tmp_path / "venv" / "bin" / "python3.12")
    assert find_base_python(str(tmp_path / "usr"), str(tmp_path / "venv"), "linux", V, probe_all) == base
    assert find_base_python(str(tmp_path / "gone"), str(tmp_path / "venv"), "linux", V, probe_all) == venv_python


def test_an_interpreter_of_another_version_is_refused(tmp_path):
    touch(tmp_path / "bin" / "python3")
    with pytest.raises(NoPythonError, match="python3-venv"):
        find_base_python(str(tmp_path), str(tmp_path), "linux", V, lambda _path: (3, 9))


def test_no_interpreter_is_a_clear_error(tmp_path):
    with pytest.raises(NoPythonError, match=r"No Python 3\.12 interpreter found"):
        find_base_python(str(tmp_path), str(tmp_path), "win32", V, probe_all)


def test_the_real_probe_accepts_this_machine_s_python_and_refuses_a_non_python(tmp_path):
    assert probe_version(find_base_python()) == sys.version_info[:2]
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\necho not python\n")
    fake.chmod(0o755)
    assert probe_version(fake) is None


@pytest.mark.parametrize(("platform", "environ", "expected"), [
    ("win32", {"LOCALAPPDATA": "C:/Users/u/AppData/Local"}, "C:/Users/u/AppData/Local/ovss/env"),
    ("darwin", {}, "HOME/Library/Application Support/ovss/env"),
    ("linux", {}, "HOME/.local/share/ovss/env"),
    ("linux", {"XDG_DATA_HOME": "/data"}, "/data/ovss/env"),
    ("win32", {"OVSS_ENV_DIR": "/elsewhere/env"}, "/elsewhere/env"),
])
def test_the_environment_goes_to_the_user_data_folder_unless_overridden(platform, environ, expected):
    home = Path("/home/u")
    assert default_env_dir(platform, environ, home) == Path(expected.replace("HOME", str(home)))


def test_env_python_per_platform(tmp_path):
    assert env_python(tmp_path, "win32") == tmp_path / "Scripts" / "python.exe"
    assert env_python(tmp_path, "linux") == tmp_path / "bin" / "python"


def test_an_nvidia_gpu_is_seen_through_nvidia_smi_or_the_linux_driver(tmp_path):
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'NVIDIA H100 80GB HBM3, 550.54.15'\n")
    smi.chmod(0o755)
    assert detect_nvidia(tmp_path / "proc", which=lambda _name: str(smi)) == GpuInfo("NVIDIA H100 80GB HBM3",
                                                                                      "550.54.15")
    version = touch(tmp_path / "proc" / "driver" / "nvidia" / "version")
    version.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\n")
    assert detect_nvidia(tmp_path / "proc", which=lambda _name: None) == GpuInfo("", "535.104.05")
    assert detect_nvidia(tmp_path / "none", which=lambda _name: None) is None


def test_the_torch_build_follows_the_gpu_and_the_platform(tmp_path):
    gpu = GpuInfo("RTX", "550")
    python = tmp_path / "python"
    cuda = make_plan(tmp_path, python, torch_build="auto", platform="linux", gpu=gpu)
    assert cuda.torch_build == "cuda" and cuda.extra_index_urls[0].endswith("/cu132")
    cpu = make_plan(tmp_path, python, torch_build="auto", platform="win32", gpu=None)
    assert cpu.torch_build == "cpu" and cpu.extra_index_urls[0].endswith("/cpu")
    mac = make_plan(tmp_path, python, torch_build="auto", platform="darwin", gpu=None)
    assert mac.torch_build == "default" and mac.extra_index_urls == ()
    assert cuda.disk_bytes > cpu.disk_bytes > 0
    mirror = make_plan(tmp_path, python, torch_build="cpu", index_url="http://mirror/simple/", platform="linux")
    assert mirror.index_url == "http://mirror/simple/" and mirror.extra_index_urls == ()
    with pytest.raises(InputError, match="macOS"):
        make_plan(tmp_path, python, torch_build="cuda", platform="darwin")
    with pytest.raises(InputError, match="Unknown torch build"):
        make_plan(tmp_path, python, torch_build="rocm", platform="linux")


def test_the_plan_text_says_where_how_big_which_build_and_hides_proxy_passwords(tmp_path):
    plan = make_plan(tmp_path / "env", tmp_path / "python", torch_build="auto", platform="linux",
                     gpu=GpuInfo("RTX 4090", "550.1"), proxy="http://me:secret@proxy:3128")
    text = describe_plan(plan)
    assert str(tmp_path / "env") in text and "8.0 GB" in text and "CUDA" in text and "RTX 4090" in text
    assert "secret" not in text and "me:***@proxy:3128" in text


def test_the_constraints_shipped_in_the_plugin_match_requirements_txt():
    expected = render_constraints((ROOT / "requirements.txt").read_text())
    assert CONSTRAINTS_PATH.read_text() == expected, "run: python tools/sync_constraints.py"
    assert "torch==" in expected and "numpy==1.26.4" in expected


def test_pip_lines_become_per_package_progress():
    tracker = PipProgress(expected=3)
    steps = [tracker.feed(line) for line in (
        "Looking in indexes: http://127.0.0.1/simple/", "Collecting numpy==1.26.4",
        "  Downloading numpy-1.26.4-cp311-manylinux.whl (18.2 MB)", "Collecting torch==2.5.1",
        "Collecting scipy==1.13.1", "Installing collected packages: numpy, torch, scipy",
        "Successfully installed numpy-1.26.4 scipy-1.13.1 torch-2.5.1")]
    assert steps[0] is None
    assert steps[1].message == "Collecting numpy (1 of 3)"
    assert steps[2].message == "Downloading numpy (18.2 MB) (1 of 3)"
    assert [step.fraction for step in steps[1:]] == sorted(step.fraction for step in steps[1:])
    assert steps[-1].fraction == 1.0 and "numpy, torch, scipy" in steps[-2].message


@pytest.mark.parametrize(("lines", "error", "text"), [
    (["ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device"],
     DiskSpaceError, "disk is full"),
    (["OSError: There is not enough space on the disk"], DiskSpaceError, "disk is full"),
    (["ERROR: No matching distribution found for torch==2.5.1"], PackageIndexError, "does not offer torch==2.5.1"),
    (["WARNING: Retrying ... ProxyError('Cannot connect to proxy.')", "ERROR: Could not find a version"],
     PackageIndexError, "proxy"),
    (["ERROR: something else went wrong"], SetupError, "something else went wrong"),
])
def test_a_failed_pip_becomes_a_clear_error(lines, error, text):
    failure = pip_failure(lines, 1, "https://pypi.org/simple", "/tmp/log")
    assert type(failure) is error and text in str(failure) and "/tmp/log" in str(failure)


def test_the_health_check_names_what_is_missing_in_an_environment(tmp_path):
    python = find_base_python()
    report = check_health(python, {"json5-not-installed": "1.0", "pip": "0.0.1"}, ("json", "no_such_module_x"))
    assert not report.ok
    assert any("import no_such_module_x fails: ModuleNotFoundError" in problem for problem in report.problems)
    assert any("json5-not-installed is not installed" in problem for problem in report.problems)
    assert any(problem.startswith("pip is ") and "needs 0.0.1" in problem for problem in report.problems)
    assert not any("import json " in problem for problem in report.problems)
    broken = check_health(tmp_path / "missing-python", {}, ())
    assert not broken.ok and "does not exist" in broken.summary()


@pytest.mark.parametrize(("settings", "expected"), [
    ({"proxy/proxyEnabled": "true", "proxy/proxyType": "HttpProxy", "proxy/proxyHost": "proxy.example",
      "proxy/proxyPort": "3128", "proxy/proxyUser": "me", "proxy/proxyPassword": "p@ss:word"},
     "http://me:p%40ss%3Aword@proxy.example:3128"),
    ({"proxy/proxyEnabled": "true", "proxy/proxyType": "HttpCachingProxy", "proxy/proxyHost": "cache",
      "proxy/proxyPort": "80"},
     "http://cache:80"),
    ({"proxy/proxyEnabled": "true", "proxy/proxyType": "Socks5Proxy", "proxy/proxyHost": "socks",
      "proxy/proxyPort": "1080"},
     "socks5://socks:1080"),
    ({"proxy/proxyEnabled": "true", "proxy/proxyType": "DefaultProxy", "proxy/proxyHost": "ignored"}, None),
    ({"proxy/proxyEnabled": "false", "proxy/proxyHost": "proxy.example"}, None),
    ({}, None),
])
def test_qgis_proxy_settings_become_pip_s_proxy_url(settings, expected):
    assert proxy_url(settings) == expected


def test_the_environment_package_is_free_of_qgis_and_qt():
    import ast
    import importlib.util

    spec = importlib.util.spec_from_file_location("layering", ROOT / "tests" / "engine" / "test_layering.py")
    layering = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(layering)
    modules = sorted((ROOT / "ovss_plugin" / "environment").glob("*.py"))
    assert len(modules) > 5
    for path in modules:
        names = [name for _, name in layering.imported_modules(ast.parse(path.read_text()), path)]
        assert not [name for name in names if name.split(".")[0] in {"qgis", "PyQt5", "PyQt6", "sip"}], path
        plugin_imports = [name for name in names if name.startswith("ovss_plugin.")]
        assert all(name.startswith("ovss_plugin.environment") for name in plugin_imports), (path, plugin_imports)


def test_children_get_no_console_window_on_windows_and_pip_its_own_process_group(monkeypatch):
    import subprocess

    from ovss.ovss_plugin.environment import process

    assert process.child_flags() == {} and process.child_flags(new_group=True) == {"start_new_session": True}
    monkeypatch.setattr(process.sys, "platform", "win32")
    monkeypatch.setattr(subprocess, "CREATE_NO_WINDOW", 0x08000000, raising=False)
    monkeypatch.setattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200, raising=False)
    assert process.child_flags() == {"creationflags": 0x08000000}
    assert process.child_flags(new_group=True) == {"creationflags": 0x08000200}


def test_child_processes_lose_qgis_s_python_variables():
    from ovss.ovss_plugin.environment.process import clean_environment

    env = clean_environment({"HTTPS_PROXY": "http://p:1"}, base={"PYTHONHOME": "C:/OSGeo4W/apps/Python312",
                                                                  "PYTHONPATH": "C:/qgis/python", "PATH": "/bin"})
    assert env == {"PATH": "/bin", "PYTHONNOUSERSITE": "1", "PYTHONIOENCODING": "utf-8", "HTTPS_PROXY": "http://p:1"}


def test_the_diagnostics_report_without_an_environment_says_what_is_missing(tmp_path):
    import json

    from ovss.ovss_plugin.environment.diagnostics import DiagnosticsInput, collect_diagnostics, render_text

    given = DiagnosticsInput("3.22.16-Białowieża", tmp_path, tmp_path / "env", None, tmp_path / "env-install.log")
    report = collect_diagnostics(given, gpu=GpuInfo("NVIDIA H100", "550.54"))
    text = render_text(report)
    for expected in ("QGIS: 3.22.16-Białowieża", f"QGIS's Python: {sys.version.split()[0]}",
                     "GPU: NVIDIA H100 (driver 550.54)", f"{tmp_path / 'env' / 'bin' / 'python'} does not exist",
                     "not recorded (no finished installation)", "Configured Python: none"):
        assert expected in text
    assert json.loads(text.split("As JSON:\n", 1)[1]) == report
