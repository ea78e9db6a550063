"""The base of every error that beamsync reports to a user.

Each module defines its own narrow exception type deriving from :class:`BeamsyncError`
(``AudioError``, ``ConfigError``, ``OutputError`` ...). The CLI catches ``BeamsyncError`` and
prints its message on one line, without a traceback; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations


class BeamsyncError(Exception):
    """An error caused by the user's input or environment, with a message that says what and where."""

    exit_code = 2

    def __init__(self, message: str = "", *, hint: str | None = None) -> None:
        super().__init__(message)
        #: Extra lines printed after the one-line message (e.g. the list of devices).
        self.hint = hint
