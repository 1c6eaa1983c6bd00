"""Translations: every tr() string is in the German source, and the compiled .qm translates at run time."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from qgis.PyQt.QtCore import QCoreApplication

ROOT = Path(__file__).resolve().parents[2]


def test_every_tr_string_is_in_the_german_source():
    import importlib.util

    spec = importlib.util.spec_from_file_location("update_ts", ROOT / "i18n" / "update_ts.py")
    update_ts = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(update_ts)
    used = set(update_ts.source_strings(ROOT / "ovss_plugin"))
    translated = {
        m.findtext("source")
        for m in ET.parse(ROOT / "i18n" / "ovss_de.ts").getroot().iter("message")
        if m.find("translation").text
    }
    assert used and used <= translated, sorted(used - translated)


def test_german_translation_loads_and_translates():
    from ovss.ovss_plugin.i18n import install_translator, tr

    if not (ROOT / "i18n" / "ovss_de.qm").exists():
        pytest.fail("i18n/ovss_de.qm missing: run `make transcompile`")
    translator = install_translator("de")
    try:
        assert translator is not None
        assert tr("Ready.") == "Bereit."
    finally:
        QCoreApplication.removeTranslator(translator)
    assert tr("Ready.") == "Ready."
