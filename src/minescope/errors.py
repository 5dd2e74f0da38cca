"""Errors the user can act on: each carries one line, in both languages, saying what, where, and how to fix."""

from __future__ import annotations

from minescope.model import Text


class InputError(Exception):
    """Bad input from the user (a file, a row, an option); the message is one line meant for them."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.text = Text(zh=zh, en=en)
        self.message = en
