"""Behaviour of the live structure analyser on generated arrangements with known sections."""

from __future__ import annotations

import numpy as np
import pytest

from engine.analysis.frontend import FrontEnd
from engine.analysis.structure import StructureAnalyser, StructureBeatAnalyser
from engine.analysis.structure_synth import Arrangement, render_arrangement
from engine.audio.block import AudioBlock
from engine.features import FeatureEvent

SR = 44100
PLAN = [("intro", 8), ("breakdown", 4), ("build", 4), ("drop", 8)]


def oracle_beats(arr: Arrangement, lead: float = 0.01) -> list[FeatureEvent]:
    """Beat events on the true grid, announced ``lead`` s ahead as the tracker does."""
    downs = set(np.round(arr.downbeats * SR).astype(int).tolist())
    out = []
    for t in arr.beats:
        f = int(round(t * SR))
        out.append(FeatureEvent("beat", f, f - int(lead * SR), 1.0,
                                {"position": 1 if f in downs else 2, "beats_per_bar": 4, "bpm": arr.bpm}))
    return out


def run(samples: np.ndarray, blocks, beats: list[FeatureEvent] | None = None) -> list[FeatureEvent]:
    """Feed ``samples`` in blocks of the given sizes (cycled), beats by their decision frame."""
    fe = FrontEnd(SR)
    an = StructureAnalyser(fe)
    beats = beats or []
    events, pos, i, bi = [], 0, 0, 0
    sizes = list(blocks)
    while pos < len(samples):
        n = sizes[i % len(sizes)]
        blk = AudioBlock(pos, samples[pos : pos + n], SR)
        mine = []
        while bi < len(beats) and beats[bi].detected_at < blk.end_frame:
            mine.append(beats[bi])
            bi += 1
        events.extend(an.process(blk, mine))
        pos += n
        i += 1
    return events


def sections(events: list[FeatureEvent], kind: str) -> list[FeatureEvent]:
    return [e for e in events if e.name == "section" and e.data["kind"] == kind]


@pytest.fixture(scope="module")
def arrangement() -> Arrangement:
    return render_arrangement(3, SR, bpm=128.0, gain_db=-6.0, tail=2.0, plan=PLAN)


@pytest.fixture(scope="module")
def events(arrangement: Arrangement) -> list[FeatureEvent]:
    return run(arrangement.samples, [512], oracle_beats(arrangement))


def test_chunked_equals_whole_file(arrangement: Arrangement, events: list[FeatureEvent]) -> None:
    beats = oracle_beats(arrangement)
    whole = run(arrangement.samples, [len(arrangement.samples)], beats)
    odd = run(arrangement.samples, [333, 1111, 7, 4097], beats)
    # float sums over differently sized batches may differ in the last bits: compare to 1e-9
    key = lambda e: (e.name, e.time, e.detected_at, round(e.value, 9),  # noqa: E731
                     sorted((k, round(v, 9) if isinstance(v, float) else v) for k, v in e.data.items()))
    assert [key(e) for e in whole] == [key(e) for e in odd] == [key(e) for e in events]
    assert sections(whole, "drop")


def test_drop_fires_on_the_downbeat(arrangement: Arrangement, events: list[FeatureEvent]) -> None:
    (true_drop,) = arrangement.times("drop")
    drops = sections(events, "drop")
    assert len(drops) == 1
    d = drops[0]
    assert abs(d.time / SR - true_drop) <= 0.05
    assert 0.0 <= d.detected_at / SR - true_drop <= 0.05
    assert 0.5 <= d.value <= 1.0 and d.data["confidence"] == d.value


def test_breakdown_buildup_and_phrases_within_a_bar(arrangement: Arrangement, events: list[FeatureEvent]) -> None:
    bar = 4 * 60.0 / arrangement.bpm
    for kind in ("breakdown_start", "breakdown_end", "buildup", "music_start", "silence"):
        got = [e.time / SR for e in sections(events, kind)]
        true = arrangement.times(kind).tolist()
        assert len(got) == len(true), (kind, got, true)
        assert all(abs(g - t) <= bar for g, t in zip(got, true)), (kind, got, true)
        assert all(e.detected_at >= e.time for e in sections(events, kind))
    # phrases every 8 bars while music plays (the outro's last downbeat falls on the silence)
    (end,) = arrangement.times("silence")
    phrases = [e for e in sections(events, "phrase") if e.time / SR < end - 0.1]
    assert np.allclose([e.time / SR for e in phrases], arrangement.times("phrase"), atol=0.05), phrases
    assert phrases[0].data["bars"] == 32 and {e.data["bars"] for e in phrases} <= {8, 16, 32}


def test_drop_prediction_counts_down_to_the_drop(arrangement: Arrangement, events: list[FeatureEvent]) -> None:
    (true_drop,) = arrangement.times("drop")
    bar = 4 * 60.0 / arrangement.bpm
    pred = [e for e in events if e.name == "drop.bars_until"]
    ahead = [e for e in pred if e.value >= 0 and e.time / SR < true_drop - 0.1]
    assert ahead, "no prediction during the build-up"
    # every announcement points at the true drop's downbeat
    for e in ahead:
        assert abs(e.time / SR + e.value * bar - true_drop) <= 0.05
    assert pred[-1].value == -1.0  # expectation cleared by the drop


def test_energy_is_level_independent(arrangement: Arrangement, events: list[FeatureEvent]) -> None:
    quiet = run(arrangement.samples * np.float32(10 ** (-20 / 20)), [512], oracle_beats(arrangement))

    def curve(ev: list[FeatureEvent], name: str) -> np.ndarray:
        return np.array([e.value for e in ev if e.name == name])

    t = np.array([ev.time for ev in events if ev.name == "energy"]) / SR
    # the same curves until the outro fades into the (absolute) silence threshold
    (end,) = arrangement.times("silence")
    # (brightness skips frames under the silence threshold, which sits 20 dB higher in the quiet
    # copy relative to the music: a small difference in quiet moments)
    for name, tol in (("energy", 0.02), ("brightness", 0.05), ("energy.trend_short", 0.02)):
        a, b = curve(events, name), curve(quiet, name)
        assert len(a) == len(b) == len(t) > 1000
        assert np.max(np.abs(a - b)[t < end - 1.0]) < tol, name
    e = curve(events, "energy")
    (drop,) = arrangement.times("drop")
    (brk,) = arrangement.times("breakdown_start")
    assert np.mean(e[(t > drop + 2) & (t < drop + 10)]) > np.mean(e[(t > brk + 2) & (t < brk + 6)]) + 0.1
    assert sections(quiet, "drop")


def test_steady_groove_has_no_drop_or_breakdown() -> None:
    arr = render_arrangement(5, SR, bpm=124.0, gain_db=-10.0, tail=0.0, plan=[("intro", 8), ("groove", 8)])
    ev = run(arr.samples, [512], oracle_beats(arr))
    kinds = [e.data["kind"] for e in ev if e.name == "section"]
    assert "drop" not in kinds and "breakdown_start" not in kinds and "buildup" not in kinds
    assert kinds.count("phrase") == 2


def test_silence_and_music_start() -> None:
    rng = np.random.default_rng(0)
    x = np.zeros(8 * SR, np.float32)
    x[1 * SR : 4 * SR] = 0.05 * rng.standard_normal(3 * SR)
    x[6 * SR : 8 * SR] = 0.05 * rng.standard_normal(2 * SR)
    ev = run(x, [700])
    got = [(e.data["kind"], round(e.time / SR, 2)) for e in ev if e.name == "section"]
    assert [k for k, _ in got] == ["music_start", "silence", "music_start"]
    for (_, t), want in zip(got, (1.0, 4.0, 6.0)):
        assert abs(t - want) <= 0.02


def test_with_the_live_beat_tracker_chunked_equals_whole() -> None:
    arr = render_arrangement(11, SR, bpm=126.0, gain_db=-8.0, tail=0.0,
                             plan=[("intro", 4), ("breakdown", 4), ("drop", 2)])
    x = arr.samples

    def live(block: int) -> list[FeatureEvent]:
        fe = FrontEnd(SR)
        an = StructureBeatAnalyser(fe)
        out = []
        for s in range(0, len(x), block):
            out.extend(an.process(AudioBlock(s, x[s : s + block], SR)))
        return out

    a, b = live(512), live(1723)
    # block boundaries interleave beat and structure events differently: compare in order of
    # decision
    key = lambda e: (e.detected_at, e.name, e.time, round(e.value, 9))  # noqa: E731
    assert sorted(map(key, a)) == sorted(map(key, b))
    (true_drop,) = arr.times("drop")
    drops = sections(a, "drop")
    assert len(drops) == 1 and abs(drops[0].time / SR - true_drop) <= 0.05


def test_analyze_reports_sections() -> None:
    """The default analysis pipeline runs the structure analyser; ``analyze`` lists sections."""
    from engine.analysis.analyze import analyze_samples
    from engine.analysis.pipeline import AnalysisOptions

    arr = render_arrangement(11, SR, bpm=126.0, gain_db=-8.0, tail=1.0,
                             plan=[("intro", 4), ("breakdown", 4), ("drop", 2)])
    res = analyze_samples(arr.samples, SR, AnalysisOptions(onsets=False, levels=False))
    assert isinstance(res.pipeline.beats, StructureBeatAnalyser)
    doc = res.to_json()
    kinds = [s["kind"] for s in doc["sections"]]
    assert kinds[0] == "music_start" and "drop" in kinds and kinds[-1] == "silence"
    drop = next(s for s in doc["sections"] if s["kind"] == "drop")
    assert set(drop) == {"time", "kind", "confidence", "detected_at"}
    assert abs(drop["time"] - arr.times("drop")[0]) <= 0.05
    off = analyze_samples(arr.samples[: 5 * SR], SR, AnalysisOptions(onsets=False, levels=False, structure=False))
    assert off.to_json()["sections"] == []
