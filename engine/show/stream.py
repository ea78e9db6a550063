"""Recorded feature streams: the show's inputs frame by frame, saved as JSON and replayed.

A stream is a list of :class:`~engine.show.inputs.ShowInputs`. :func:`save_stream` /
:func:`load_stream` write and read it as small JSON; :func:`synthetic_stream` makes a
deterministic one (a steady tempo with kicks, snares, hi-hats, bass and vocal levels, notes
and a build-up / drop / breakdown), used by the golden tests and the benchmark;
:func:`replay` runs a show over a stream in fixed steps and returns the DMX bytes of every
frame, identical run after run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

from engine.features import FeatureEvent
from engine.show.inputs import BeatClock, ShowInputs

STREAM_VERSION = 1


def _inputs_to_json(x: ShowInputs) -> dict[str, Any]:
    c = x.clock
    return {
        "frame": x.frame,
        "values": {k: round(float(v), 6) for k, v in x.values.items()},
        "events": [
            {"name": e.name, "time": e.time, "detected_at": e.detected_at, "value": e.value, "data": e.data}
            for e in x.events
        ],
        "clock": [c.bpm, round(c.phase, 6), c.beat_in_bar, c.beats_per_bar, c.confidence, c.next_beat, c.next_beat_in_bar],
    }


def save_stream(path: str | Path, frames: Iterable[ShowInputs], sample_rate: int) -> None:
    """Write a stream as JSON (one object: version, sample rate, frames)."""
    data = {"version": STREAM_VERSION, "sample_rate": sample_rate, "frames": [_inputs_to_json(f) for f in frames]}
    Path(path).write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")


def load_stream(path: str | Path) -> list[ShowInputs]:
    """Read a stream written by :func:`save_stream`."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if data.get("version") != STREAM_VERSION:
        raise ValueError(f"{path}: unsupported stream version {data.get('version')!r}")
    sr = int(data["sample_rate"])
    out = []
    for f in data["frames"]:
        bpm, phase, bib, bpb, conf, nb, nbib = f["clock"]
        out.append(ShowInputs(
            frame=int(f["frame"]),
            sample_rate=sr,
            values={k: float(v) for k, v in f["values"].items()},
            events=[FeatureEvent(e["name"], int(e["time"]), int(e["detected_at"]), float(e["value"]), dict(e["data"]))
                    for e in f["events"]],
            clock=BeatClock(float(bpm), float(phase), int(bib), int(bpb), float(conf), None if nb is None else int(nb), int(nbib)),
        ))
    return out


def synthetic_stream(seconds: float = 8.0, *, bpm: float = 128.0, sample_rate: int = 48000,
                     frame_rate: float = 100.0, beats_per_bar: int = 4) -> list[ShowInputs]:
    """A deterministic musical feature stream (no randomness: pure functions of time).

    Four-on-the-floor kicks on every beat, snares on 2 and 4, hi-hats on off-beats, a bass
    line level, vocals entering after 2 bars, a note every beat, a build-up at bar 3, a drop at
    bar 4 and a breakdown at bar 7 (at 128 BPM a bar is 1.875 s). Onsets are reported 20 ms
    after they happen (``detected_at``), as a causal detector would.
    """
    period = 60.0 / bpm
    hop = 1.0 / frame_rate
    n = int(round(seconds * frame_rate))
    frames: list[ShowInputs] = []
    detect_lag = 0.020
    # every onset and section event with its time, then delivered when detected
    scheduled: list[tuple[float, FeatureEvent]] = []

    def at(t: float) -> int:
        return int(round(t * sample_rate))

    k = 0
    while k * period < seconds + 1.0:
        tb = k * period
        pos = k % beats_per_bar + 1
        scheduled.append((tb + detect_lag, FeatureEvent("onset", at(tb), at(tb + detect_lag), 0.9, {"stem": "drums", "label": "kick"})))
        if pos in (2, 4):
            scheduled.append((tb + detect_lag, FeatureEvent("onset", at(tb), at(tb + detect_lag), 1.0, {"stem": "drums", "label": "snare"})))
        th = tb + period / 2
        scheduled.append((th + detect_lag, FeatureEvent("onset", at(th), at(th + detect_lag), 0.5, {"stem": "drums", "label": "hihat"})))
        pitch = (48, 55, 52, 57)[k % 4]
        scheduled.append((tb + 0.03, FeatureEvent("note_on", at(tb), at(tb + 0.03), 0.8, {"pitch": pitch, "velocity": 100})))
        k += 1
    bar = period * beats_per_bar
    for b, name in ((2, "buildup"), (3, "drop"), (6, "breakdown")):
        t = b * bar
        scheduled.append((t + 0.1, FeatureEvent("section", at(t), at(t + 0.1), 1.0, {"kind": name})))
    scheduled.sort(key=lambda x: (x[0], x[1].name))
    si = 0
    for i in range(n):
        t = i * hop
        events = []
        while si < len(scheduled) and scheduled[si][0] <= t:
            events.append(scheduled[si][1])
            si += 1
        beat_pos = t / period
        kb = int(math.floor(beat_pos + 1e-9))
        phase = beat_pos - kb
        next_k = kb + 1
        in_bar = kb % beats_per_bar + 1
        env_kick = math.exp(-phase * 6.0)
        values = {
            "level": round(0.45 + 0.35 * env_kick + 0.1 * math.sin(t * 0.7), 6),
            "level.low": round(0.3 + 0.6 * env_kick, 6),
            "level.mid": round(0.4 + 0.2 * math.sin(t * 1.3), 6),
            "level.high": round(0.3 + 0.3 * ((beat_pos * 2) % 1.0 < 0.2), 6),
            "level.drums": round(0.6 * env_kick + 0.2, 6),
            "level.bass": round(0.5 + 0.4 * math.sin(2 * math.pi * beat_pos / 2), 6),
            "level.hihat": round(0.7 if (beat_pos + 0.5) % 1.0 < 0.1 else 0.1, 6),
            "level.vocals": round(0.0 if t < 2 * bar else 0.5 + 0.2 * math.sin(t), 6),
            "level.other": round(0.3 + 0.2 * math.sin(t * 0.5), 6),
            "energy": round(min(1.0, 0.3 + 0.1 * t), 6),
        }
        clock = BeatClock(bpm=bpm, phase=round(phase, 6), beat_in_bar=in_bar, beats_per_bar=beats_per_bar,
                          confidence=0.9, next_beat=at(next_k * period), next_beat_in_bar=next_k % beats_per_bar + 1)
        frames.append(ShowInputs(at(t), sample_rate, values, events, clock))
    return frames


def replay(show: Any, frames: Iterable[ShowInputs]) -> list[bytes]:
    """Run ``show`` over ``frames`` (fixed step) and return each frame's DMX bytes."""
    from engine.show.runtime import ShowRuntime

    rt = ShowRuntime(show)
    return [rt.render(f).data.tobytes() for f in frames]
