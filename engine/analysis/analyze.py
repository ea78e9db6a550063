"""Offline analysis of a file with the live engine's streaming analysers (``beamsync analyze``)."""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.analysis.pipeline import AnalysisOptions, AnalysisPipeline
from engine.audio.block import AudioBlock
from engine.features import FeatureEvent


@dataclass(slots=True)
class AnalysisResult:
    """Every event of one run, with what is needed to turn frames into seconds."""

    events: list[FeatureEvent]
    sample_rate: int
    frames: int
    seconds_spent: float
    pipeline: AnalysisPipeline
    cpu_seconds: float = 0.0  # process CPU time (the wall time above includes waiting for a shared CPU)

    @property
    def duration(self) -> float:
        """Audio duration in seconds."""
        return self.frames / self.sample_rate

    def to_json(self) -> dict[str, Any]:
        """The ``analyze`` JSON document (times in seconds)."""
        sr = float(self.sample_rate)

        def sec(frame: float) -> float:
            return round(frame / sr, 4)

        beats, tempo, onsets, sections = [], [], [], []
        note_on: dict[tuple[int, int], int] = {}
        notes = []
        for e in self.events:
            if e.name == "beat":
                beats.append({"time": sec(e.time), "position": int(e.data["position"]),
                              "detected_at": sec(e.detected_at), "beats_per_bar": int(e.data["beats_per_bar"]),
                              "bpm": round(float(e.data["bpm"]), 2), "confidence": round(float(e.data["confidence"]), 3),
                              "predicted": bool(e.data["predicted"])})
            elif e.name == "tempo":
                tempo.append({"time": sec(e.time), "bpm": round(float(e.data["bpm"]), 2),
                              "confidence": round(float(e.data["confidence"]), 3)})
            elif e.name == "onset":
                item = {"time": sec(e.time), "stem": e.data.get("stem", "mix")}
                if "label" in e.data:
                    item["label"] = e.data["label"]
                item["strength"] = round(float(e.data["strength"]), 3)
                item["detected_at"] = sec(e.detected_at)
                onsets.append(item)
            elif e.name == "section":
                sections.append({"time": sec(e.time), "kind": e.data["kind"],
                                 "confidence": round(float(e.data["confidence"]), 3), "detected_at": sec(e.detected_at)})
            elif e.name == "note_on":
                note_on[(str(e.data.get("stem", "mix")), int(e.data["pitch"]), int(e.time))] = e.detected_at
            elif e.name == "note_off":
                onset = int(e.data["onset"])
                stem = str(e.data.get("stem", "mix"))
                notes.append({"onset": sec(onset), "offset": sec(e.time), "pitch": int(e.data["pitch"]),
                              "velocity": int(round(127 * float(e.data["velocity"]))) if float(e.data["velocity"]) <= 1.0
                              else int(e.data["velocity"]),
                              "detected_at": sec(note_on.get((stem, int(e.data["pitch"]), onset), e.detected_at)),
                              "stem": stem})
        return {"duration": round(self.duration, 4), "sample_rate": self.sample_rate,
                "beats": beats, "tempo": tempo, "onsets": onsets, "notes": notes, "sections": sections,
                "options": {"predict": self.pipeline.options.predict},
                "realtime_factor": round(self.duration / max(self.seconds_spent, 1e-9), 2),
                "cpu_realtime_factor": round(self.duration / max(self.cpu_seconds, 1e-9), 2)}


def analyze_samples(samples: np.ndarray, sample_rate: int, options: AnalysisOptions | None = None, *,
                    block: int = 512, progress: Callable[[float], None] | None = None) -> AnalysisResult:
    """Feed ``samples`` (mono float32) through a fresh pipeline in ``block``-frame blocks."""
    pipe = AnalysisPipeline(sample_rate, options)
    x = np.asarray(samples, dtype=np.float32)
    events: list[FeatureEvent] = []
    t0, c0 = _time.perf_counter(), _time.process_time()
    step = max(1, len(x) // block // 100)
    for n, start in enumerate(range(0, len(x), block)):
        events.extend(pipe.process(AudioBlock(start, x[start : start + block], sample_rate)))
        if progress and n % step == 0:
            progress(min(1.0, (start + block) / max(len(x), 1)))
    for analyser in pipe.analysers:  # end of file: analysers that hold back events release them
        flush = getattr(analyser, "flush", None)
        if flush is not None:
            events.extend(flush(len(x)))
    if progress:
        progress(1.0)
    return AnalysisResult(events, sample_rate, len(x), _time.perf_counter() - t0, pipe,
                          cpu_seconds=_time.process_time() - c0)


def analyze_file(path: str | Path, options: AnalysisOptions | None = None, *, block: int = 512,
                 progress: Callable[[float], None] | None = None) -> AnalysisResult:
    """Load ``path`` (mono, its own rate) and analyse it; raises ``AudioError`` for bad files."""
    from engine.audio.file import load_audio

    samples, rate = load_audio(path, mono=True)
    return analyze_samples(samples, rate, options, block=block, progress=progress)
