"""The engine must never depend on QGIS, Qt, OpenCV or the plugin package, and imports itself only relatively."""

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[2] / "engine"
# cv2: a test-only oracle (opencv-python clashes with QGIS's Qt); the engine reproduces what it needs
FORBIDDEN_TOP_LEVEL = {"qgis", "PyQt5", "PyQt6", "PySide2", "PySide6", "sip", "ovss_plugin", "ovss", "cv2"}


def imported_modules(tree: ast.AST, module_path: Path) -> list[tuple[int, str]]:
    """Absolute names of every module imported by ``tree`` (relative imports resolved against the file)."""
    package_parts = list(module_path.relative_to(ENGINE.parent).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((node.lineno, name))
    return found


def engine_modules() -> list[Path]:
    return sorted(ENGINE.rglob("*.py"))


def test_engine_has_modules():
    assert len(engine_modules()) > 3


@pytest.mark.parametrize("path", engine_modules(), ids=lambda p: str(p.relative_to(ENGINE.parent)))
def test_engine_module_imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    problems = []
    for lineno, name in imported_modules(tree, path):
        top = name.split(".")[0]
        if top in FORBIDDEN_TOP_LEVEL:
            problems.append(f"{path.name}:{lineno} imports {name}")
        if not name:
            problems.append(f"{path.name}:{lineno} relative import escapes the engine package")
    absolute_engine = [
        f"{path.name}:{node.lineno} absolute import of engine (use a relative import)"
        for node in ast.walk(tree)
        if (isinstance(node, ast.ImportFrom) and node.level == 0
            and (node.module or "").split(".")[0] == "engine")
        or (isinstance(node, ast.Import)
            and any(a.name.split(".")[0] == "engine" for a in node.names))
    ]
    assert not problems + absolute_engine


def test_checker_catches_forbidden_imports(tmp_path: Path):
    """The checker itself must flag QGIS, Qt and plugin imports, also when written relatively."""
    fake = ENGINE / "raster" / "fake_module.py"
    source = ("import qgis.core\nfrom PyQt5 import QtCore\n"
              "from ...ovss_plugin import dock\nfrom .. import errors\n")
    names = [name for _, name in imported_modules(ast.parse(source), fake)]
    assert names == ["qgis.core", "PyQt5", "ovss_plugin", "engine"]
