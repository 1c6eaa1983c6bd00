"""Update the Qt translation sources (.ts) from every ``tr("...")`` call in ovss_plugin/.

pylupdate5 assigns a ``tr()`` call to the enclosing class's context; the plugin translates everything in one
context ("OVSS"), so the strings are collected here with ``ast`` instead. Existing translations are kept;
strings no longer used are marked obsolete. Usage: ``python i18n/update_ts.py i18n/ovss_de.ts ...``.
"""

from __future__ import annotations

import ast
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTEXT = "OVSS"


def source_strings(folder: Path) -> dict[str, str]:
    """Every literal passed to ``tr()`` under ``folder``, with the first place it appears."""
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "tr"
                    and node.args and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)):
                found.setdefault(node.args[0].value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def update_ts(ts_path: Path, strings: dict[str, str]) -> None:
    """Merge ``strings`` into ``ts_path`` keeping the translations it already has."""
    language = ts_path.stem.split("_", 1)[1]
    old: dict[str, str] = {}
    if ts_path.exists():
        for message in ET.parse(ts_path).getroot().iter("message"):
            translation = message.find("translation")
            if translation is not None and translation.text and translation.get("type") != "unfinished":
                old[message.findtext("source", "")] = translation.text
    root = ET.Element("TS", version="2.1", language=language)
    context = ET.SubElement(root, "context")
    ET.SubElement(context, "name").text = CONTEXT
    for source, location in strings.items():
        message = ET.SubElement(context, "message")
        file_name, line = location.rsplit(":", 1)
        ET.SubElement(message, "location", filename=f"../{file_name}", line=line)
        ET.SubElement(message, "source").text = source
        translation = ET.SubElement(message, "translation")
        if source in old:
            translation.text = old[source]
        else:
            translation.set("type", "unfinished")
    ET.indent(root)
    ts_path.write_text('<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE TS>\n'
                       + ET.tostring(root, encoding="unicode") + "\n", encoding="utf-8")


def main(paths: list[str]) -> int:
    strings = source_strings(ROOT / "ovss_plugin")
    for path in paths:
        update_ts(Path(path), strings)
        print(f"{path}: {len(strings)} strings")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
