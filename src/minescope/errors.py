"""Errors the user can act on: each carries one line saying what, where, and how to fix."""

from __future__ import annotations


class InputError(Exception):
    """Bad input from the user (a file, a row, an option); the message is one line meant for them."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
