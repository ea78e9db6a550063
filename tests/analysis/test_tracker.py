"""The causal beat tracker on synthetic activations of known tempo, meter and beats."""

from __future__ import annotations

import numpy as np
import pytest

from engine.analysis.tracker import BeatTracker, TrackerOptions

from .synth import FPS, HOP, READY, activations, beat_times, run

RATE = 44100


def _beats(events, since: float = 0.0):
    ev = [e for e in events if e.name == "beat" and e.time / RATE >= since]
    return np.array([e.time for e in ev]) / RATE, ev


def _tempi(events, since: float = 0.0, until: float = 1e9):
    return np.array([e.value for e in events if e.name == "tempo" and since <= e.time / RATE < until])


def _nearest_err(fired: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return np.array([f - truth[np.argmin(np.abs(truth - f))] for f in fired])


def _tracker(**kw) -> BeatTracker:
    return BeatTracker(HOP, 0, TrackerOptions(**{"model_lead": 0.0, **kw}))  # synthetic peaks sit on the beat


def test_steady_four_four_locks_fast_and_fires_on_the_beat():
    truth = beat_times([(0, 120)], 20)
    ev = run(_tracker(), activations(truth, 20))
    fired, beat_ev = _beats(ev)
    assert fired[0] - truth[0] <= 3.0  # first beat within 3 s of the music
    late = fired[(fired > 4.0) & (fired < 19.5)]
    assert np.all(np.abs(_nearest_err(late, truth)) < 0.02)
    assert len(late) >= 0.95 * np.sum((truth > 4.0) & (truth < 19.5))
    # downbeats: every 4th true beat (the first is a downbeat)
    downs = truth[::4]
    fired_downs = np.array([e.time / RATE for e in beat_ev if e.data["position"] == 1 and e.time / RATE > 5])
    assert len(fired_downs) >= 3
    assert np.all(np.abs(_nearest_err(fired_downs, downs)) < 0.02)
    assert all(e.data["beats_per_bar"] == 4 for e in beat_ev if e.time / RATE > 5)
    assert np.all(np.abs(_tempi(ev, since=4.0) - 120) < 1.2)


def test_three_four_meter():
    truth = beat_times([(0, 100)], 20)
    ev = run(_tracker(), activations(truth, 20, meter=3))
    fired, beat_ev = _beats(ev, since=5.0)
    assert all(e.data["beats_per_bar"] == 3 for e in beat_ev)
    fired_downs = np.array([e.time / RATE for e in beat_ev if e.data["position"] == 1])
    assert len(fired_downs) >= 4
    assert np.all(np.abs(_nearest_err(fired_downs, truth[::3])) < 0.02)
    positions = [e.data["position"] for e in beat_ev]
    assert positions[:6] == [positions[0], *[(positions[0] + i - 1) % 3 + 1 for i in range(1, 6)]]


def test_relocks_within_four_seconds_after_a_tempo_change():
    truth = beat_times([(0, 120), (10, 140)], 22)
    ev = run(_tracker(), activations(truth, 22))
    fired, _ = _beats(ev)
    after = fired[(fired >= 14.0) & (fired < 21.5)]
    assert len(after) >= 0.95 * np.sum((truth >= 14.0) & (truth < 21.5))
    assert np.all(np.abs(_nearest_err(after, truth)) < 0.025)
    assert np.all(np.abs(_tempi(ev, since=14.0) - 140) < 1.5)


def test_holds_tempo_and_phase_through_a_silent_gap():
    """Activations near zero for 6 s while the input is not silent (quiet defaults to 0): a
    breakdown the model hears no beat in. (Silent *input* closes the gate: tests below.)"""
    truth = beat_times([(0, 124)], 26)
    tr = _tracker()
    ev = run(tr, activations(truth, 26, silent=((8.0, 14.0),)))
    fired, beat_ev = _beats(ev)
    gap = fired[(fired > 8.5) & (fired < 14.0)]
    assert len(gap) >= 0.9 * np.sum((truth > 8.5) & (truth < 14.0))  # the clock keeps firing
    assert np.all(np.abs(_nearest_err(gap, truth)) < 0.03)  # on the held grid
    assert np.all(np.abs(_tempi(ev, since=9.0, until=14.0) - 124) < 1.5)  # no wandering
    conf_gap = [e.data["confidence"] for e in beat_ev if 10 < e.time / RATE < 14]
    conf_music = [e.data["confidence"] for e in beat_ev if 4 < e.time / RATE < 8]
    assert max(conf_gap) < 0.3 < 0.8 < min(conf_music)  # lower confidence while holding
    back = fired[(fired > 16.0) & (fired < 25.5)]
    assert np.all(np.abs(_nearest_err(back, truth)) < 0.02)


@pytest.mark.parametrize("bpm,offbeat", [(100, 0.6), (70, 0.0), (170, 0.0)])
def test_no_octave_errors_after_lock(bpm, offbeat):
    truth = beat_times([(0, bpm)], 20)
    ev = run(_tracker(), activations(truth, 20, offbeat=offbeat))
    assert np.all(np.abs(_tempi(ev, since=5.0) - bpm) < 0.015 * bpm)


def test_predicted_beats_fire_ahead_and_confirmed_beats_after():
    truth = beat_times([(0, 120)], 16)
    act = activations(truth, 16)
    _, pred = _beats(run(_tracker(), act), since=4.0)
    assert pred and all(e.data["predicted"] for e in pred)
    lead = np.array([e.time - e.detected_at for e in pred]) / RATE
    assert np.all(lead >= 0) and np.median(lead) > 0.01  # fired before the beat
    _, conf = _beats(run(_tracker(predict=False), act), since=4.0)
    assert conf and not any(e.data["predicted"] for e in conf)
    lag = np.array([e.detected_at - e.time for e in conf]) / RATE
    assert np.all(lag >= 0.032)  # known only after the model's 32 ms look-ahead
    assert np.all(np.abs(_nearest_err(np.array([e.time for e in conf]) / RATE, truth)) < 0.02)


def test_clock_describes_phase_and_next_beats():
    truth = beat_times([(0, 120)], 10)
    tr = _tracker()
    ev = run(tr, activations(truth, 10))
    now = int(9.0 * RATE)
    clk = tr.clock(now)
    assert clk.locked and clk.mode == "auto"
    assert abs(clk.bpm - 120) < 1.0
    # 9.0 s is 0.5 s after the beat at 8.5 s: phase 0 (the beat itself is at 9.0 s)
    expected_phase = ((9.0 - 0.5) / 0.5) % 1.0
    assert min(abs(clk.beat_phase - expected_phase), 1 - abs(clk.beat_phase - expected_phase)) < 0.05
    assert len(clk.next_beats) == 4
    assert np.all(np.abs(_nearest_err(np.array(clk.next_beats) / RATE, beat_times([(0, 120)], 12))) < 0.02)
    assert 0.0 <= clk.bar_phase < 1.0 and 1 <= clk.beat_in_bar <= clk.beats_per_bar
    assert ev  # sanity: the run produced events


def test_reset_reproduces_the_same_events():
    truth = beat_times([(0, 128)], 8)
    act = activations(truth, 8, seed=3)
    tr = _tracker()
    a = run(tr, act)
    tr.reset()
    b = run(tr, act)
    assert [(e.name, e.time, e.detected_at, e.data) for e in a] == [(e.name, e.time, e.detected_at, e.data) for e in b]


def test_manual_mode_holds_a_tapped_grid_nudge_and_resync():
    tr = _tracker()
    period = 60.0 / 90
    taps = [1.0 + k * period for k in range(4)]
    # activations of an unrelated 120 BPM track: manual mode must ignore them
    act = activations(beat_times([(0, 120)], 12), 12)
    events = []
    tapped = False
    for i, (b, d) in enumerate(act):
        now = i * HOP + 1430
        if not tapped and now / RATE >= taps[-1]:
            for t in taps:
                tr.tap(int(t * RATE))
            tr.set_mode("manual")
            tapped = True
        if i == int(8.0 * FPS):
            tr.nudge(0.010 * RATE)  # 10 ms later
        if i == int(9.0 * FPS):
            tr.resync(int(taps[0] * RATE + 12 * period * RATE))  # the beat at 1.0 + 12 periods
        events.extend(tr.step(i, float(b), float(d), now))
    grid = np.array([taps[0] + k * period for k in range(40)])
    fired, ev = _beats(events, since=taps[-1] + 0.1)
    before = fired[fired < 7.9]
    assert len(before) >= 5
    assert np.all(np.abs(_nearest_err(before, grid)) < 0.003)
    after = fired[fired > 8.3]
    assert np.all(np.abs(_nearest_err(after, grid + 0.010)) < 0.003)
    assert abs(tr.bpm - 90) < 0.1
    resynced = [e for e in ev if e.time / RATE > 9.2]
    assert resynced
    # beat index k on the grid: positions now count from the resynced beat (k = 12)
    for e in resynced:
        k = round((e.time / RATE - 0.010 - taps[0]) / period)
        assert e.data["position"] == (k - 12) % 4 + 1
    tr.set_mode("auto")
    assert tr.mode == "auto"
    with pytest.raises(ValueError):
        tr.set_mode("freeze")


def test_tap_in_auto_mode_seeds_the_tempo():
    tr = _tracker()
    truth = beat_times([(0, 96)], 12)
    act = activations(truth, 12, strength=0.25, noise=0.1, seed=5)  # weak, noisy evidence
    events = []
    for i, (b, d) in enumerate(act):
        if i == 25:
            for t in truth[:3]:
                tr.tap(int(t * RATE))
        events.extend(tr.step(i, float(b), float(d), i * HOP + 1430))
    assert abs(tr.bpm - 96) < 2.0
    fired, _ = _beats(events, since=2.0)
    assert len(fired) > 10
    assert np.median(np.abs(_nearest_err(fired, truth))) < 0.02


def test_a_double_time_clock_gives_way_to_the_bar_tempo():
    """Equal pulses at 200 BPM whose downbeats come every eighth pulse: the clock may first fit
    the pulse, but once the HMM is sure of 100 BPM (4/4 bars) the clock follows it. Every
    100 BPM beat is also on a 200 BPM clock, so this needs the HMM's tempo to overrule it."""
    truth = beat_times([(0, 100)], 20)
    ev = run(_tracker(), activations(truth, 20, offbeat=1.0))
    assert np.all(np.abs(_tempi(ev, since=5.0) - 100) < 1.5)
    fired, _ = _beats(ev, since=5.0)
    assert np.all(np.abs(_nearest_err(fired, truth)) < 0.02)
    assert len(fired) >= 0.95 * np.sum((truth > 5.0) & (truth < 19.5))
    # the same run with the HMM never allowed to overrule the clock stays at double time
    stuck = run(_tracker(sure=1.1), activations(truth, 20, offbeat=1.0))
    assert np.all(np.abs(_tempi(stuck, since=5.0) - 200) < 3.0)


def test_a_short_clip_fires_its_beats_before_it_ends():
    """A 3.3 s clip at 90 BPM: the lock comes from the beats already heard, in time to fire the
    last three beats on time."""
    truth = beat_times([(0, 90)], 3.3)
    fired, _ = _beats(run(_tracker(), activations(truth, 3.3)))
    assert len(fired) >= 3
    assert np.all(np.abs(_nearest_err(fired, truth)) < 0.02)


def _run_with_silence(tracker: BeatTracker, act: np.ndarray, silence: tuple[float, float]) -> list:
    """Like ``synth.run``, telling the tracker how long the input has been silent: the input is
    digital silence from ``silence[0]`` to ``silence[1]`` seconds."""
    start, end = silence[0] * RATE, silence[1] * RATE
    events = []
    for i, (b, d) in enumerate(act):
        now = i * HOP + READY
        quiet = now - start if start <= now < end else 0.0
        events.extend(tracker.step(i, float(b), float(d), now, quiet=quiet))
    return events


def test_a_silence_tail_stops_the_beats_and_holds_the_tempo():
    """Music to 12 s, then silence: beats fire until the gate time (1 s; two beats at 124 BPM
    are 0.97 s) and never after; the tempo is still reported, with confidence 0."""
    truth = beat_times([(0, 124)], 12.0)
    act = activations(truth, 20, silent=((12.0, 20.0),))
    tr = _tracker()
    ev = _run_with_silence(tr, act, (12.0, 1e9))
    fired, _ = _beats(ev)
    assert np.sum((fired > 12.0) & (fired < 13.0)) == 2  # the clock flies on inside the gate time
    assert fired.max() < 13.0 + 0.04  # gate closed (+ fire-ahead)
    tempo = [e for e in ev if e.name == "tempo" and e.time / RATE > 13.1]
    assert len(tempo) >= 6
    assert all(abs(e.value - 124) < 1.2 and e.data["confidence"] == 0.0 for e in tempo)
    clk = tr.clock(int(19.5 * RATE))
    assert not clk.locked and clk.confidence == 0.0 and abs(clk.bpm - 124) < 1.2
    assert tr.gated


def test_music_after_a_silence_relocks_at_its_own_phase():
    """Silence from 8 to 14 s, then the music returns half a beat off the old grid: nothing is
    fired on the old grid, and the new one is locked within 1.5 s."""
    period = 60.0 / 124
    truth = np.concatenate([beat_times([(0, 124)], 8.0), beat_times([(0, 124)], 24.0, start=14.0 + 0.5 * period)])
    act = activations(truth, 24)
    ev = _run_with_silence(_tracker(), act, (8.0, 14.0))
    fired, beat_ev = _beats(ev)
    assert not np.any((fired > 9.05) & (fired < 14.0))
    back = fired[fired > 14.0]
    assert back[0] < 15.5
    assert np.all(np.abs(_nearest_err(back, truth)) < 0.02)  # never the old grid's phase
    assert len(back) >= 0.95 * np.sum((truth > back[0]) & (truth < 23.5))
    assert np.all(np.abs(_tempi(ev, since=16.0) - 124) < 1.2)


def test_a_one_beat_rest_at_a_slow_tempo_does_not_close_the_gate():
    """At 60 BPM the gate time is two beats (2 s), not 1 s: a 1.9 s rest (one beat silent)
    keeps the clock going on the same grid, every beat fired."""
    truth = beat_times([(0, 60)], 18)
    rest = (10.1, 12.0)
    act = activations(truth, 18, silent=(rest,))
    ev = _run_with_silence(_tracker(), act, rest)
    fired, _ = _beats(ev)
    steady = truth[(truth > 6.0) & (truth < 17.5)]
    got = fired[(fired > 5.9) & (fired < 17.5)]
    assert len(got) == len(steady)
    assert np.all(np.abs(_nearest_err(got, truth)) < 0.02)


def test_manual_mode_ignores_the_gate():
    """The user's grid fires whatever the input (the gate is for the automatic tracker)."""
    tr = _tracker()
    taps = [1.0 + k * 0.5 for k in range(4)]
    for t in taps:
        tr.tap(int(t * RATE))
    tr.set_mode("manual")
    act = np.zeros((int(8 * FPS), 2))
    events = []
    for i, (b, d) in enumerate(act):
        now = i * HOP + READY
        if now / RATE > taps[-1]:
            events.extend(tr.step(i, float(b), float(d), now, quiet=float("inf")))
    fired, _ = _beats(events)
    assert len(fired) >= 8 and np.all(np.abs(_nearest_err(fired, np.array(taps[0] + 0.5 * np.arange(20)))) < 0.003)
    tr.set_mode("auto")  # back to auto in silence: the gate holds
    assert not _beats([e for i in range(len(act), len(act) + 100)
                       for e in tr.step(i, 0.0, 0.0, i * HOP + READY, quiet=float("inf"))])[1]
