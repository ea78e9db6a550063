"""A monitor feed from a recorded run instead of a live engine (screenshots, previews, tests).

:func:`recorded_feed` runs the same :class:`~engine.live.core.EngineCore` the live engine runs,
fixed-step over the audio (reproducible), into local status/telemetry blocks, then puts the
audio into a local ring, so the window shows exactly what it would have shown at the end of
that stretch of a live run. Extra events (notes, sections, stem onsets from analysers a show
does not run live yet) can be appended to the recorded stream.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import numpy as np

from engine.features import FeatureEvent
from engine.ui.feed import MonitorFeed


def recorded_feed(show_path: str | Path, samples: np.ndarray, sample_rate: int, *,
                  seconds: float | None = None, extra_events: Iterable[FeatureEvent] = ()) -> MonitorFeed:
    """Run ``show_path`` fixed-step over ``samples`` (mono) for ``seconds`` (all when None) and
    return a feed frozen at the end of that run; commands posted to it are only recorded."""
    from engine.audio.filesource import FileSource
    from engine.audio.ring import RingBuffer, RingLayout
    from engine.live.core import EngineCore
    from engine.live.status import StatusBlock
    from engine.live.telemetry import Telemetry
    from engine.show.loader import load_show

    x = np.ascontiguousarray(samples, np.float32).reshape(-1)
    if seconds is not None:
        x = x[: int(seconds * sample_rate)]
    src = FileSource(samples=x, sample_rate=sample_rate, block_size=256, realtime=False)
    telemetry = Telemetry(shared=False)
    status = StatusBlock(shared=False)
    show = load_show(show_path)
    core = EngineCore(src, show, start_outputs=False, telemetry=telemetry)
    with src:
        core.run_fixed()
    core.stop()
    extra = sorted(extra_events, key=lambda e: e.time)
    if extra:
        telemetry.publish_events(extra)
    st = core.stats
    status["state"] = 1
    status["show_frames"] = st.show_frames
    status["show_fps"] = core.frame_rate
    status["show_cost_ms"] = 1000.0 * st.show.seconds / max(1, st.show_frames)
    status["analysis_load"] = st.analysis_load(sample_rate)
    status["events"] = st.events
    values = core.bus.values
    status["level"] = values.get("level", 0.0)
    status["level_db"] = values.get("level.db", -200.0)
    if core.beat is not None:
        c = core.beat.clock(core.analysed_to)
        status["bpm"], status["beat_phase"] = c.bpm, c.beat_phase
        status["beat_in_bar"], status["confidence"] = c.beat_in_bar, c.confidence

    ring = RingBuffer(RingLayout(capacity=int(4 * sample_rate), channels=1))
    posted: list[tuple[str, Any]] = []
    feed = MonitorFeed(status=status, telemetry=telemetry, ring=ring, sample_rate=sample_rate, show_path=show_path,
                       post=lambda c, v: posted.append((c, v)), source_label="recorded run")
    block = 4096
    for i in range(0, len(x), block):  # the feed's reader view sees the newest 4 s, at their frame indices
        ring.write(x[i : i + block].reshape(-1, 1))
    ring.skip_to_newest()  # the recording's consumer (the engine) had read everything
    return feed
