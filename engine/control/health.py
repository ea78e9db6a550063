"""The health snapshot: what a stage operator (or a monitoring script) asks a headless engine.

Answered by the OSC query ``/beamsync/status`` and written to the log every
``--status-interval`` seconds. Everything comes from snapshots (the engine's shared status
block, the source's counters), so a query never touches the realtime path.
"""

from __future__ import annotations

import time
from typing import Any, Callable

STATES = {0.0: "starting", 1.0: "running", 2.0: "stopped", -1.0: "failed"}


class Health:
    """Builds the health snapshot of one running engine.

    ``extra`` callables add sections (``osc`` counters, ``midi``, ``link``) by name.
    """

    def __init__(self, engine: Any, source: Any, *, started: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.source = source
        self.clock = clock
        self.started = clock() if started is None else started
        self.extra: dict[str, Callable[[], Any]] = {}

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able dict: device, tempo, fps, xruns, errors, uptime and each extra section."""
        st = self.engine.status.snapshot()
        stats = self.source.stats()
        device: dict[str, Any] = {
            "name": str(getattr(self.source, "device_name", "") or getattr(self.source, "name", "") or "?"),
            # AudioProcess reports running | lost | stopped | failed; a file source just runs.
            "state": str(getattr(self.source, "state", "running")),
            "losses": int(getattr(self.source, "losses", 0)),
            "restarts": int(getattr(self.source, "restarts", 0)),
            "events": list(getattr(self.source, "events", []))[-5:],
        }
        out = {
            "uptime_s": round(self.clock() - self.started, 1),
            "engine": STATES.get(st.get("state", 0.0), "unknown") if self.engine.alive else "stopped",
            "device": device,
            "tempo": {
                "bpm": round(st.get("bpm", 0.0), 2),
                "confidence": round(st.get("confidence", 0.0), 3),
                "beat_in_bar": int(st.get("beat_in_bar", 0)),
                "beat_phase": round(st.get("beat_phase", 0.0), 3),
            },
            "level": round(st.get("level", 0.0), 4),
            "level_db": round(st.get("level_db", -200.0), 1),
            "fps": {"show": round(st.get("show_fps", 0.0), 1), "output": round(st.get("output_fps", 0.0), 1)},
            "xruns": int(stats.xruns),
            "lost_frames": int(stats.lost_frames) + int(st.get("lost_frames", 0)),
            "errors": {
                "output": int(st.get("output_errors", 0)),
                "show_reload": int(st.get("show_reload_errors", 0)),
                "show_late": int(st.get("show_late", 0)),
            },
            "output_packets": int(st.get("output_packets", 0)),
            "analysis_load": round(st.get("analysis_load", 0.0), 3),
            "cpu_percent": round(st.get("cpu_percent", 0.0), 1),
            "show_generation": int(st.get("show_generation", 0)),
        }
        for name, fn in self.extra.items():
            try:
                out[name] = fn()
            except Exception as exc:  # one broken section must not hide the rest of the report
                out[name] = {"error": str(exc)}
        return out
