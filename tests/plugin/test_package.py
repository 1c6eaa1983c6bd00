"""``make package``: the plugin ZIP passes the QGIS plugin repository's upload checks
(``tools/check_plugin_zip.py``, the rules of plugins.qgis.org's validator) and carries the GPL licence.

The ZIP is built from a copy of the tracked files with junk added (a stray ``.pyc``, ``__pycache__``, a
``.git`` folder, pytest caches), so the test neither depends on nor touches the checkout's state.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from check_plugin_zip import check_plugin_zip  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("make") is None or shutil.which("lrelease") is None,
                                reason="make or lrelease missing")


@pytest.fixture
def source_tree(tmp_path) -> Path:
    """The tracked files, the virtual environment linked, and junk a developer's checkout accumulates."""
    tree = tmp_path / "checkout"
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode().split("\0")
    for name in filter(None, files):
        target = tree / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    (tree / ".venv").symlink_to((ROOT / ".venv").resolve(), target_is_directory=True)
    for junk in ("engine/__pycache__/cli.cpython-311.pyc", "engine/stray.pyc", ".git/HEAD", ".pytest_cache/x",
                 "ovss_plugin/.DS_Store"):
        (tree / junk).parent.mkdir(parents=True, exist_ok=True)
        (tree / junk).write_bytes(b"junk")
    return tree


def test_make_package_builds_a_zip_the_plugin_repository_accepts(source_tree, tmp_path):
    dist = tmp_path / "dist"
    done = subprocess.run(
        ["make", "-o", "venv", "package", f"DIST={dist}"], cwd=source_tree, capture_output=True, text=True,
        timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    package = dist / "ovss.zip"
    assert check_plugin_zip(package) == []
    with zipfile.ZipFile(package) as archive:
        names = archive.namelist()
        licence = archive.read("ovss/LICENSE").decode()
        demo_readme = archive.read("ovss/engine/data/demo/README.md").decode()
        constraints = archive.read("ovss/ovss_plugin/environment/constraints.txt").decode()
    assert "GNU GENERAL PUBLIC LICENSE" in licence and "Version 2, June 1991" in licence
    assert "CC BY-NC-SA" in demo_readme and "ovss/engine/data/demo/oem_koeln_50.tif" in names
    assert {name.split("/")[1] for name in names if name.count("/") > 1} >= {"engine", "ovss_plugin", "i18n"}
    assert "ovss/i18n/ovss_de.qm" in names
    assert constraints == (ROOT / "ovss_plugin" / "environment" / "constraints.txt").read_text()  # the pins ship
    for unwanted in ("/tests/", "/tools/", "/.git/", "__pycache__", ".pyc", ".DS_Store", ".pytest_cache", ".ts"):
        assert not [name for name in names if unwanted in name or name.endswith(unwanted)], unwanted


def test_the_checker_names_each_broken_rule(tmp_path):
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("my-plugin/__init__.py", "")
        archive.writestr("my-plugin/__pycache__/x.cpython-311.pyc", b"")
        archive.writestr("my-plugin/metadata.txt", "[general]\nname=x\nrepository=http://repo\nauthor=a/b\n")
        archive.writestr("other/readme.txt", "")
    problems = "\n".join(check_plugin_zip(bad))
    for expected in ("compiled file", "__pycache__ folder", "one top-level folder", "not a Python identifier",
                     "my-plugin/LICENSE is missing", "lacks tracker", "lacks email", "repository is not a URL",
                     "author contains a slash"):
        assert expected in problems
