"""Translation: ``tr()`` for every user-visible string, and the translator for the user's locale."""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsSettings
from qgis.PyQt.QtCore import QCoreApplication, QLocale, QTranslator

CONTEXT = "OVSS"
I18N_DIR = Path(__file__).resolve().parent.parent / "i18n"


def tr(text: str) -> str:
    """Translate ``text`` in the plugin's single translation context."""
    return QCoreApplication.translate(CONTEXT, text)


def user_locale() -> str:
    """The two-letter locale QGIS runs in (its own setting first, then the system's)."""
    value = QgsSettings().value("locale/userLocale", "") or QLocale.system().name()
    return str(value)[:2]


def install_translator(locale: str | None = None) -> QTranslator | None:
    """Load ``i18n/ovss_<locale>.qm`` into the application; returns the translator (keep it alive) or None."""
    qm_file = I18N_DIR / f"ovss_{locale or user_locale()}.qm"
    if not qm_file.exists():
        return None
    translator = QTranslator()
    if not translator.load(str(qm_file)):
        return None
    QCoreApplication.installTranslator(translator)
    return translator
