"""Regenerate ``ovss_plugin/environment/constraints.txt`` from ``requirements.txt`` (run after changing a pin).

Usage: ``python tools/sync_constraints.py`` from the repository root.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULE = ROOT / "ovss_plugin" / "environment" / "constraints.py"


def main() -> int:
    """Write the constraints file; print its path."""
    spec = importlib.util.spec_from_file_location("ovss_constraints", MODULE)
    assert spec is not None and spec.loader is not None
    constraints = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(constraints)
    text = constraints.render_constraints((ROOT / "requirements.txt").read_text(encoding="utf-8"))
    constraints.CONSTRAINTS_PATH.write_text(text, encoding="utf-8")
    print(constraints.CONSTRAINTS_PATH)
    return 0


if __name__ == "__main__":
    sys.exit(main())
