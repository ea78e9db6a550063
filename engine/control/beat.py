"""The engine's beat position, read from its shared status block, for clock outputs.

The status block holds the beat clock at the last update (``bpm``, ``beat_phase`` in 0..1,
``heartbeat`` = ``time.monotonic()`` of the update, ``analysis_lag_ms``), a few times a second.
MIDI clock out and Link lead need a continuous, unwrapped beat count at any instant, whose
value modulo the bar length is the position in the bar (Link compares bar phase):
:class:`BeatPosition` places the status's ``beat_in_bar - 1 + beat_phase`` in the bar nearest
the extrapolation of the previous update, and extrapolates to ``now`` at the current tempo.
"""

from __future__ import annotations

from typing import Any


class BeatPosition:
    """Unwrapped beat position from successive status snapshots (pure: pass ``now``)."""

    def __init__(self, beats_per_bar: int = 4) -> None:
        self.beats_per_bar = beats_per_bar
        self._hb: float | None = None  # heartbeat of the last snapshot used
        self._abs = 0.0  # unwrapped beat position at that heartbeat
        self.bpm = 0.0

    def read(self, st: dict[str, Any], now: float) -> tuple[float, float] | None:
        """``(beats, bpm)`` at ``now``; None while the engine knows no tempo."""
        bpm = float(st.get("bpm", 0.0))
        if bpm <= 0:
            self._hb = None
            return None
        hb = float(st.get("heartbeat", 0.0))
        # The clock describes the audio that had been analysed, which arrived analysis_lag earlier.
        lag = float(st.get("analysis_lag_ms", 0.0)) / 1000.0
        in_bar = max(0.0, float(st.get("beat_in_bar", 1.0)) - 1.0) + float(st.get("beat_phase", 0.0))
        in_bar += lag * bpm / 60.0
        if self._hb is None:
            self._abs = in_bar
        elif hb != self._hb:
            predicted = self._abs + (hb - self._hb) * self.bpm / 60.0
            n = self.beats_per_bar
            self._abs = in_bar + n * round((predicted - in_bar) / n)
        self._hb = hb
        self.bpm = bpm
        return self._abs + max(0.0, now - hb) * bpm / 60.0, bpm
