"""The one exception family of ``engine.control``."""

from __future__ import annotations

from engine.errors import BeamsyncError


class ControlError(BeamsyncError):
    """A control surface (OSC, MIDI, Link, service) could not be set up as asked."""


class ControlValueError(ControlError):
    """A control message named a known control with arguments it cannot take."""
