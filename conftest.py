"""Root conftest: import paths for the two ways the code is imported.

The engine tests import ``engine`` as a top-level package (as ``python -m engine`` does from the root).
The plugin tests import the repository root as the package ``ovss`` (as QGIS does once the plugin is
deployed); a symlink named ``ovss`` in a session folder stands in for the deployed plugin folder.
"""

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
SHARED_DATA = (ROOT.parent / "shared" / "data").resolve()

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(ROOT))

_PACKAGE_PARENT = Path(tempfile.mkdtemp(prefix="ovss-plugin-path-"))
atexit.register(shutil.rmtree, _PACKAGE_PARENT, ignore_errors=True)
(_PACKAGE_PARENT / "ovss").symlink_to(ROOT, target_is_directory=True)
sys.path.append(str(_PACKAGE_PARENT))
sys.path.append("/usr/share/qgis/python/plugins")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test by its folder: ``tests/engine`` -> engine, ``tests/plugin`` -> plugin."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "engine" in parts:
            item.add_marker(pytest.mark.engine)
        if "plugin" in parts:
            item.add_marker(pytest.mark.plugin)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real labelled samples in ``../shared/data`` (skip if this checkout has none beside it)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA
