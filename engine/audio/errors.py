"""The audio layer's error type."""

from engine.errors import BeamsyncError


class AudioError(BeamsyncError):
    """A missing or unusable audio device or file, with what and where."""
