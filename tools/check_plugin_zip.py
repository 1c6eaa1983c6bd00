"""Check a plugin ZIP against the upload rules of the QGIS plugin repository (plugins.qgis.org).

The rules are those its validator applies (qgis/qgis-django, ``qgis-app/plugins/validator.py``): at most
25,000,000 bytes; one top-level folder named like a Python identifier holding ``__init__.py``,
``metadata.txt`` and ``LICENSE``; no ``.pyc`` file and no ``__pycache__``, ``.git`` or ``__MACOSX`` folder; no
absolute or ``..`` paths, backslashes or drive letters; a ``[general]`` section with name, description,
version, qgisMinimumVersion, author, email, about, tracker and repository; http(s) URLs for tracker, repository
and homepage (not the template's placeholders); an author without slashes; the icon inside the package. The
site also checks that the URLs answer, which needs the network and is not done here.

Usage: ``python tools/check_plugin_zip.py dist/ovss.zip`` (exit status 1 and one line per problem if any).
"""

from __future__ import annotations

import configparser
import re
import sys
import zipfile
from pathlib import Path
from urllib.parse import urlparse

MAX_SIZE = 25_000_000
REQUIRED_METADATA = (
    "name",
    "description",
    "version",
    "qgisMinimumVersion",
    "author",
    "email",
    "about",
    "tracker",
    "repository",
)
PLACEHOLDER_URLS = {"tracker": "http://bugs", "repository": "http://repo", "homepage": "http://homepage"}
FORBIDDEN_DIRS = ("__MACOSX", ".git", "__pycache__")
COMPILED_SUFFIXES = (".pyc", ".pyo", ".so", ".pyd", ".dll", ".dylib", ".exe")


def _name_problems(names: list[str]) -> list[str]:
    """Paths the repository refuses: unsafe paths, compiled files, forbidden folders, several top folders."""
    problems = []
    for name in names:
        parts = name.split("/")
        if ".." in name or name.startswith("/") or "\\" in name or re.match(r"^[A-Za-z]:", name):
            problems.append(f"unsafe path in the archive: {name}")
        if name.endswith(COMPILED_SUFFIXES) or ".pyc" in name:
            problems.append(f"compiled file in the archive: {name}")
        problems.extend(f"{folder} folder in the archive: {name}" for folder in FORBIDDEN_DIRS if folder in parts)
    tops = sorted({name.split("/")[0] for name in names})
    if len(tops) != 1:
        problems.append(f"the archive must hold one top-level folder, found: {', '.join(tops)}")
    return problems


def _metadata_problems(archive: zipfile.ZipFile, package: str, names: set[str]) -> list[str]:
    """Missing or malformed metadata.txt fields, and an icon that is not in the package."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(archive.read(f"{package}/metadata.txt").decode("utf-8"))
    if not parser.has_section("general"):
        return ["metadata.txt has no [general] section"]
    general = dict(parser.items("general"))
    problems = [f"metadata.txt lacks {field}" for field in REQUIRED_METADATA if not general.get(field, "").strip()]
    for field, placeholder in PLACEHOLDER_URLS.items():
        text = general.get(field, "").strip()
        url = urlparse(text)
        if field in general and (text == placeholder or not (url.scheme in ("http", "https") and url.netloc)):
            problems.append(f"metadata.txt {field} is not a URL: {general[field]!r}")
    if "/" in general.get("author", ""):
        problems.append("metadata.txt author contains a slash")
    icon = general.get("icon", "").removeprefix("./")
    if icon and f"{package}/{icon}" not in names:
        problems.append(f"the icon {icon} is not in the package")
    return problems


def check_plugin_zip(path: str | Path) -> list[str]:
    """Every rule ``path`` breaks, one line each (empty: the repository would accept it, URLs unchecked)."""
    path = Path(path)
    if path.stat().st_size > MAX_SIZE:
        return [f"{path} is {path.stat().st_size} bytes; the limit is {MAX_SIZE}"]
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        return [f"{path} is not a ZIP file ({exc})"]
    with archive:
        names = archive.namelist()
        problems = _name_problems(names)
        bad = archive.testzip()
        if bad:
            problems.append(f"bad CRC for {bad}")
        package = names[0].split("/")[0] if names else ""
        if not package.isidentifier():
            problems.append(f"the top-level folder {package!r} is not a Python identifier")
        required = [f"{package}/{name}" for name in ("__init__.py", "metadata.txt", "LICENSE")]
        problems.extend(f"{name} is missing" for name in required if name not in names)
        if f"{package}/metadata.txt" in names:
            problems.extend(_metadata_problems(archive, package, set(names)))
    return problems


def main(argv: list[str]) -> int:
    """Check each ZIP named on the command line; print the problems; exit status 1 if any."""
    problems = [f"{name}: {problem}" for name in argv for problem in check_plugin_zip(name)]
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems or not argv else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
