"""A stand-in for the panels' :class:`~ovss_plugin.panels.dialogs.Dialogs`: scripted answers, recorded messages."""

from __future__ import annotations

from typing import Any


class ScriptedDialogs:
    """Answers every question from ``answers`` (a dict by method name) and records what was said."""

    def __init__(self, **answers: Any) -> None:
        self.answers = answers
        self.asked: list[tuple[str, tuple]] = []
        self.messages: list[tuple[str, Any]] = []

    def _answer(self, name: str, *args: Any) -> Any:
        self.asked.append((name, args))
        return self.answers.get(name)

    def ask_text(self, title: str, label: str, text: str, multiline: bool = False) -> str | None:
        return self._answer("ask_text", title, label, text, multiline)

    def ask_open_path(self, title: str, file_filter: str) -> str | None:
        return self._answer("ask_open_path", title, file_filter)

    def ask_save_path(self, title: str, file_filter: str, name: str) -> str | None:
        return self._answer("ask_save_path", title, file_filter, name)

    def ask_folder(self, title: str, folder: str) -> str | None:
        return self._answer("ask_folder", title, folder)

    def confirm(self, question: str) -> bool:
        return bool(self._answer("confirm", question))

    def notify(self, message: str, level: Any) -> None:
        self.messages.append((message, level))
