"""The analyser list shared by ``analyze`` and the live engine: one front end for all."""

from __future__ import annotations

import numpy as np

from engine.analysis.beats import BeatAnalyser
from engine.analysis.frontend import FrontEnd
from engine.analysis.onsets import LevelMeter, OnsetDetector
from engine.analysis.pipeline import AnalysisOptions, AnalysisPipeline, build_analysers
from engine.audio.block import AudioBlock

from .conftest import drum_track


def test_default_pipeline_and_options():
    pipe = AnalysisPipeline(48000, AnalysisOptions(structure=False))
    kinds = [type(a) for a in pipe.analysers]
    assert kinds == [BeatAnalyser, OnsetDetector, LevelMeter]
    # with the structure analyser (another issue's), the beat analyser is still found
    assert isinstance(AnalysisPipeline(48000).beats, BeatAnalyser)
    assert all(a.fe is pipe.frontend for a in pipe.analysers)
    assert pipe.beats is pipe.analysers[0]
    only = build_analysers(FrontEnd(44100), AnalysisOptions(beats=False, levels=False, structure=False))
    assert [type(a) for a in only] == [OnsetDetector]
    assert AnalysisPipeline(44100, AnalysisOptions(beats=False, structure=False)).beats is None


def test_front_end_runs_once_per_block(monkeypatch):
    pipe = AnalysisPipeline(44100)
    calls = {"fast": 0, "beat": 0}
    fast, beat = pipe.frontend._fast, pipe.frontend._beat

    def count_fast(x):
        calls["fast"] += 1
        return fast(x)

    def count_beat(x):
        calls["beat"] += 1
        return beat(x)

    monkeypatch.setattr(pipe.frontend, "_fast", count_fast)
    monkeypatch.setattr(pipe.frontend, "_beat", count_beat)
    x, _, _ = drum_track(44100, 120, 2)
    blocks = 0
    for s in range(0, len(x), 512):
        pipe.process(AudioBlock(s, x[s : s + 512], 44100))
        blocks += 1
    assert calls == {"fast": blocks, "beat": blocks}  # three analysers, one STFT pass per block


def test_pipeline_reset_replays_identically():
    x, _, _ = drum_track(44100, 126, 6, seed=8)
    pipe = AnalysisPipeline(44100)

    def run():
        out = []
        for s in range(0, len(x), 1024):
            out.extend(pipe.process(AudioBlock(10_000 + s, x[s : s + 1024], 44100)))
        return [(e.name, e.time - 10_000, e.detected_at - 10_000, round(e.value, 9)) for e in out]

    a = run()
    pipe.reset()
    b = run()
    assert a == b
    assert any(n == "beat" for n, *_ in a) and any(n == "onset" for n, *_ in a)
    # times are stream frames: the stream started at frame 10,000
    assert min(t for _, t, _, _ in a) >= 0
    assert np.isfinite([v for *_, v in a]).all()


def test_beat_analyser_overrides_take_stream_frames_and_seconds():
    rate = 48000
    x, _, _ = drum_track(rate, 120, 6, seed=1)
    pipe = AnalysisPipeline(rate, AnalysisOptions(onsets=False, levels=False, structure=False))
    beats = pipe.beats
    events = []
    for s in range(0, len(x), 960):
        events.extend(pipe.process(AudioBlock(s, x[s : s + 960], rate)))
    before = beats.clock(len(x))
    beats.nudge(0.010)  # seconds
    after = beats.clock(len(x))
    assert after.next_beats[0] - before.next_beats[0] == 480  # 10 ms at 48 kHz
    beats.set_mode("manual")
    for t in (6.0, 6.5, 7.0, 7.5):
        beats.tap(int(t * rate))
    clk = beats.clock(int(7.6 * rate))
    assert clk.mode == "manual" and abs(clk.bpm - 120) < 1e-6
    assert abs(clk.next_beats[0] - 8.0 * rate) <= 1
    beats.resync(int(8.0 * rate))
    assert beats.clock(int(8.01 * rate)).beat_in_bar == 1


def test_onset_stem_name():
    from engine.analysis.onsets import OnsetDetector

    x, _, _ = drum_track(44100, 100, 3)
    det = OnsetDetector(FrontEnd(44100), stem="drums")
    events = []
    for s in range(0, len(x), 512):
        events.extend(det.process(AudioBlock(s, x[s : s + 512], 44100)))
    assert events and {e.data["stem"] for e in events} == {"drums"}
