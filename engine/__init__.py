"""beamsync: realtime audio-reactive light-show engine."""

__version__ = "0.1.0"
