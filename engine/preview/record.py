"""Run a show fixed-step over audio and collect what a preview draws.

The engine is the live one (:class:`engine.live.core.EngineCore`, analysis + show graph),
stepped through the audio with show frames on a fixed grid, so a preview is reproducible and
shows what the rig would do live. It always starts at the top of the audio, even for a
``start`` later in the song: the beat tracker, section detector and show state reach that
point exactly as they would in a live set.

Each show frame has a *presentation time*, ``frame time + lead`` (the show renders ahead by its
outputs' latency so light lands on the beat). A video frame at time ``t`` shows the show frame
whose presentation time is nearest ``t``.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from engine.features import FeatureEvent
from engine.live.telemetry import FixtureView
from engine.preview import PreviewError


@dataclass(frozen=True)
class StageState:
    """Everything one video frame draws of the show at one moment."""

    index: int  # video frame number (0 = ``start``)
    time: float  # audio time in seconds
    view: FixtureView  # every fixture's rendered attributes (pre-master; NaN = not set)
    dimmer: float  # grand master (show master × operator master)
    blackout: bool
    looks: dict[str, str | None]  # layer → look
    bpm: float
    #: The engine's event log so far (grows during the run; read, never modify): a frame shows
    #: what the engine knew at that moment, including beats it predicts ahead.
    events: list[FeatureEvent] = field(default_factory=list)


@dataclass
class Recording:
    """A whole run, compact enough for a 3-minute song: lit colours on a coarse grid, all events."""

    sample_rate: int
    start: float  # seconds
    end: float
    fixture_names: list[str]
    groups: dict[str, np.ndarray]
    times: np.ndarray  # (T,) presentation times in seconds
    lit: np.ndarray  # (T, n, 3) linear RGB × intensity × master (0 in blackout), cells averaged
    looks: list[tuple[float, dict[str, str | None]]]  # (time, layer → look) at each change
    events: list[FeatureEvent] = field(default_factory=list)
    #: Presentation times (s) at which the show fired a beat (its beat counter moved).
    show_beats: np.ndarray = field(default_factory=lambda: np.zeros(0))
    engine_seconds: float = 0.0  # wall time of the engine run (analysis + show + drawing callbacks)
    show_frames: int = 0


def lit_colours(view: FixtureView, cell_offsets: np.ndarray, dimmer: float) -> np.ndarray:
    """(n, 3) linear light each fixture gives: colour × intensity × ``dimmer``, NaN as the
    renderer's defaults (intensity 0, colour white); a fixture with cells gives their mean (a
    cell the show left unset follows its fixture, as the DMX renderer does)."""
    n = len(view.intensity)
    inten = np.nan_to_num(np.asarray(view.intensity, np.float64), nan=0.0)
    colour = np.nan_to_num(np.asarray(view.color, np.float64).reshape(n, 3), nan=1.0)
    lit = np.clip(colour, 0, 1) * np.clip(inten, 0, 1)[:, None]
    counts = np.diff(np.asarray(cell_offsets[: n + 1]))
    if len(view.cell_intensity) and counts.sum():
        parent = np.repeat(np.arange(n), counts)
        ci = np.asarray(view.cell_intensity, np.float64)
        cc = np.asarray(view.cell_color, np.float64).reshape(-1, 3)
        ci = np.clip(np.where(np.isnan(ci), inten[parent], ci), 0, 1)
        cc = np.clip(np.where(np.isnan(cc), colour[parent], cc), 0, 1)
        sums = np.zeros((n, 3))
        np.add.at(sums, parent, cc * ci[:, None])
        has = counts > 0
        lit[has] = sums[has] / counts[has, None]
    return lit * dimmer


def load_audio_mono(path: str | Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples of an audio file at the rate the live engine would run it: the
    file's own when it is 44.1 or 48 kHz, else resampled to 48 kHz (errors name the file)."""
    from engine.audio.file import load_audio

    samples, rate = load_audio(path, None, mono=True)
    if rate not in (44100, 48000):
        samples, rate = load_audio(path, 48000, mono=True)
    return np.ascontiguousarray(samples, np.float32).reshape(-1), int(rate)


def run_preview(
    show: Any,
    samples: np.ndarray,
    sample_rate: int,
    *,
    start: float = 0.0,
    duration: float | None = None,
    fps: float | None = None,
    on_stage: Callable[[StageState], None] | None = None,
    timeline_rate: float = 50.0,
    progress: Callable[[float], None] | None = None,
) -> Recording:
    """Run ``show`` (a loaded :class:`engine.show.loader.Show`) over ``samples`` (mono).

    ``on_stage`` receives a :class:`StageState` for each video frame at ``fps`` between
    ``start`` and ``start + duration`` (seconds; all of the rest when None). The returned
    :class:`Recording` holds the lit colours at about ``timeline_rate`` Hz and every event.
    """
    from engine.audio.filesource import FileSource
    from engine.live.core import EngineCore

    x = np.ascontiguousarray(samples, np.float32).reshape(-1)
    total = len(x) / sample_rate
    if start < 0 or start >= total:
        raise PreviewError(f"--start {start:g} s: the audio is {total:.2f} s long")
    end = total if duration is None else start + duration
    if duration is not None and duration <= 0:
        raise PreviewError(f"--duration {duration:g} s: must be positive")
    end = min(end, total)
    if fps is not None and fps <= 0:
        raise PreviewError(f"--fps {fps:g}: must be positive")
    end_frame = int(round(end * sample_rate))
    src = FileSource(samples=x[:end_frame], sample_rate=sample_rate, block_size=256, realtime=False)
    patch = show.patch
    cell_offsets = np.asarray(patch.cell_offsets)

    times: list[float] = []
    lit: list[np.ndarray] = []
    looks: list[tuple[float, dict[str, str | None]]] = []
    holder: dict[str, Any] = {}
    show_beats: list[float] = []
    state = {"beat_count": 0, "video": 0, "timeline_next": start, "progress_next": 0.0, "frames": 0}
    frame_rate = float(show.settings.frame_rate)
    half = 0.5 / frame_rate
    timeline_step = 1.0 / max(1e-6, min(timeline_rate, frame_rate))

    fps_ = float(fps or 1.0)
    n_video = video_frame_count(start, end, fps_) if (on_stage is not None and fps is not None) else 0

    def emit(st: StageState) -> None:
        i = state["video"]
        assert on_stage is not None
        on_stage(StageState(i, start + i / fps_, st.view, st.dimmer, st.blackout, st.looks, st.bpm, holder["events"]))
        state["video"] += 1

    def on_frame(frame: int, dmx: Any) -> None:
        core = holder["core"]
        runtime = core.runtime
        state["frames"] += 1
        domain = runtime.domains[0]
        t = frame / sample_rate + domain.lead  # presentation time
        if progress is not None and frame >= state["progress_next"]:
            progress(min(1.0, frame / max(1, end_frame)))
            state["progress_next"] = frame + end_frame / 100.0
        if domain.beat_count != state["beat_count"]:
            state["beat_count"] = domain.beat_count
            show_beats.append(t)
        if t < start - half:
            return
        need_video = n_video > state["video"] and start + state["video"] / fps_ <= t + half
        need_timeline = t + half >= state["timeline_next"] and t <= end + half
        if not (need_video or need_timeline):
            return
        attrs = runtime.attrs
        view = FixtureView(frame, attrs.intensity.copy(), attrs.color.copy(), attrs.pan.copy(), attrs.tilt.copy(),
                           attrs.zoom.copy(), attrs.strobe.copy(), attrs.cell_intensity.copy(),
                           attrs.cell_color.copy())
        dimmer = float(runtime.master() * core.master)
        blackout = bool(domain.blackout or core.blackout)
        layer_looks = {name: st.look for name, st in domain.layers.items()}
        if not looks or looks[-1][1] != layer_looks:
            looks.append((max(start, t), layer_looks))
        if need_timeline:
            times.append(t)
            lit.append(lit_colours(view, cell_offsets, 0.0 if blackout else dimmer).astype(np.float32))
            while state["timeline_next"] <= t + half:
                state["timeline_next"] += timeline_step
        if need_video:
            bpm = float(domain.values.get("bpm", 0.0) or 0.0)
            last = StageState(0, 0.0, view, dimmer, blackout, layer_looks, bpm)
            holder["last"] = last
            while state["video"] < n_video and start + state["video"] / fps_ <= t + half:
                emit(last)

    core = EngineCore(src, show, start_outputs=False, on_frame=on_frame)
    core.events_log = []
    holder["core"] = core
    holder["events"] = core.events_log
    t0 = _time.perf_counter()
    with src:
        core.run_fixed()
    core.stop()
    # The last video frames may lie past the last show frame (less than a show period): they
    # hold the final state, as the rig would.
    while state["video"] < n_video and "last" in holder:
        emit(holder["last"])
    if progress is not None:
        progress(1.0)
    n = patch.n_fixtures
    return Recording(
        sample_rate=sample_rate, start=start, end=end, fixture_names=[f.name for f in patch.fixtures],
        groups={k: np.asarray(v) for k, v in patch.groups.items()},
        times=np.asarray(times, np.float64),
        lit=np.stack(lit) if lit else np.zeros((0, n, 3), np.float32),
        looks=looks, events=list(core.events_log), show_beats=np.asarray(show_beats, np.float64),
        engine_seconds=_time.perf_counter() - t0, show_frames=state["frames"])


def video_frame_count(start: float, end: float, fps: float) -> int:
    """How many frames a video of ``start..end`` seconds at ``fps`` has (frame i at start + i/fps)."""
    return max(1, int(np.ceil((end - start) * fps - 1e-9)))
