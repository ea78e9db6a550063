"""Musical structure, live: energy, build-ups, drops, breakdowns, silence, phrases.

:class:`StructureAnalyser` runs on the shared :class:`~engine.analysis.frontend.FrontEnd`'s fast
frames (one magnitude spectrum per 5.8 ms hop) and on the beat tracker's ``beat`` events, which
it turns into its own beat/bar counter (a flywheel keeps counting through breakdowns where the
tracker falls silent). Everything is causal and depends only on the sample stream and the beat
events, so feeding blocks of any size gives identical output.

Continuous values (events every ``value_every`` seconds):

* ``energy`` in [0, 1]: broadband power smoothed over ``energy_tau``, in dB relative to a slow
  peak follower of itself (``energy_range_db`` below the reference is 0): independent of the
  input's overall level.
* ``energy.trend_short`` / ``energy.trend_long``: difference of a faster and a slower average of
  ``energy`` (1 s vs 4 s, 4 s vs 16 s); positive while the energy rises.
* ``brightness`` in [0, 1]: spectral centroid on a log-frequency axis (60 Hz → 0, 16 kHz → 1).
* ``drop.bars_until`` (on every beat in a build-up): bars until the expected drop downbeat
  (the next 8-bar phrase boundary after the build-up began); −1 once no drop is expected.

``section`` events (``data["kind"]``, ``value`` = confidence, also ``data["confidence"]``):

* ``music_start`` / ``silence``: the input leaves / enters digital-near silence
  (``silence_db`` dBFS for ``silence_min`` s).
* ``breakdown_start``: the low end (kick and bass, 30–150 Hz) stays ``low_absent_db`` below its
  running reference for a bar while music plays; the time is the first downbeat after the
  last low hit. ``breakdown_end``: the low end comes back.
* ``drop``: the low end comes back at full strength after a breakdown or build-up, in music
  whose low end drove most beats before the break; detected on the return's first hit (within
  ``confirm`` s) and placed on the grid beat nearest to it (within ``snap`` s), which then
  becomes a downbeat and the start of a phrase.
* ``buildup``: the high band (2–16 kHz: snare rolls, risers, noise sweeps) rises bar after bar;
  the time is the downbeat where the rise began.
* ``phrase``: every ``phrase_bars`` bars from the phrase anchor (music start, drop, breakdown);
  ``data["bars"]`` is 32, 16 or 8 (the longest period that starts here).
* ``track_change``: the beat tracker's tempo moves by more than ``tempo_change`` and stays.

Event ``time`` is the input frame where the thing happens (a downbeat for drops and phrases),
``detected_at`` the frame at which it was decided.

The beat grid: tracker beats are taken while the low end plays; while it is away (breakdowns,
build-ups) the grid is held, extrapolated with the period fitted over the last 32 beats,
because the tracker then follows pads and rolls off the grid. Tracker beats off the held grid
are ignored until the tracker keeps a steady tempo of its own for 8 beats (a new track). Bars
are counted in ``meter`` beats; the downbeat is voted for by the tracker's bar position, the
change of the low band from beat to beat (bass notes change on bar lines), and, strongly, by
drops and breakdown starts.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from engine.analysis.beats import BeatAnalyser
from engine.analysis.frontend import FrontEnd
from engine.audio.block import AudioBlock
from engine.features import FeatureEvent

SECTION_KINDS = ("music_start", "silence", "breakdown_start", "breakdown_end", "buildup", "drop",
                 "phrase", "track_change")


@dataclass(slots=True)
class StructureOptions:
    """Tuning of :class:`StructureAnalyser` (general-purpose defaults, units in the names)."""

    value_every: float = 0.02  # s between continuous value events
    energy_tau: float = 0.4  # s
    brightness_tau: float = 0.2  # s
    ref_release_db_per_s: float = 0.2  # how fast the loudness references forget a loud passage
    energy_range_db: float = 24.0
    silence_db: float = -60.0  # dBFS of a frame counted as silent
    silence_min: float = 0.5  # s of silence before ``silence`` fires
    new_track_silence: float = 3.0  # s of silence after which the references restart
    low_tau: float = 0.3  # s, smoothing of the low-band level
    low_absent_db: float = 12.0  # low band this far under its reference: drums/bass gone
    low_hit_db: float = 9.0  # a frame this close to the reference is a low hit
    low_return_db: float = 6.0  # a frame this close after a breakdown: the low end is back
    breakdown_bars: float = 1.0  # bars without low hits before ``breakdown_start``
    drop_absent_bars: float = 1.5  # bars without low hits before a return can be a drop
    drop_absent_bars_build: float = 0.75  # the same inside a build-up
    drop_mix_db: float = 5.0  # the return's loudest frame within this of the loudest frames
    drop_groove: float = 0.75  # share of the last 16 beats before the break with a low hit
    confirm: float = 0.035  # s after the first returning frame to decide drop vs. soft return
    snap: float = 0.05  # s: a drop within this of a grid beat is placed on it
    build_step_db: float = 1.0  # each bar of a build-up louder in the high band by this
    build_rise_db: float = 4.0  # and by this over two bars
    phrase_bars: int = 8
    tempo_change: float = 0.03  # relative tempo change for ``track_change``
    flywheel_bars: int = 64  # bars the beat counter runs on without tracker beats
    #: beats per bar; None follows the tracker. Dance music is in 4, and the tracker's meter
    #: guess wanders (3/4 on a kick-and-offbeat-hats intro, measured on generated tracks).
    meter: int | None = 4


class _Ema:
    """Exponential moving average with a time constant in frames (first value taken as is)."""

    __slots__ = ("a", "value", "started")

    def __init__(self, tau_frames: float) -> None:
        self.a = 1.0 - math.exp(-1.0 / max(tau_frames, 1e-9))
        self.value = 0.0
        self.started = False

    def update(self, x: float) -> float:
        if not self.started:
            self.value, self.started = x, True
        else:
            self.value += self.a * (x - self.value)
        return self.value


def _db(power: float) -> float:
    return 10.0 * math.log10(power + 1e-12)


@dataclass(slots=True)
class _Bar:
    """Features of one bar (between two downbeat ticks)."""

    start: int
    index: int
    high_db: float = 0.0
    mix_db: float = 0.0
    low_db: float = 0.0
    frames: int = 0
    bpm: float = 0.0


class StructureAnalyser:
    """Causal structure analyser: ``process(block, beats=...) -> events``, ``reset()``.

    ``beats`` are the beat tracker's events decided on the same block (any events; only
    ``beat`` is read). Without beats, drops are placed at their onset and no phrases are given.
    """

    def __init__(self, frontend: FrontEnd, options: StructureOptions | None = None) -> None:
        self.fe = frontend
        self.opt = options or StructureOptions()
        sr = frontend.sample_rate
        self.sr = sr
        self.hop = frontend.fast_hop
        self.fps = sr / frontend.fast_hop
        f = frontend.fast_freqs
        w = frontend.fast_window_fn.astype(np.float64)
        scale = 2.0 / (len(w) * float((w * w).sum()))  # Parseval: mean square of the frame
        top = min(16000.0, 0.49 * sr)
        bands = [(30.0, top), (30.0, 150.0), (150.0, 2000.0), (2000.0, top)]
        self._bands = np.stack([((f >= lo) & (f < hi)) * scale for lo, hi in bands], 1).astype(np.float32)
        self._bands64 = self._bands.astype(np.float64)
        sel = (f >= 60.0) & (f < top)
        self._cent_w = np.where(sel, np.log2(np.maximum(f, 1.0) / 60.0) / math.log2(top / 60.0), 0.0)
        self._cent_mask = sel.astype(np.float64)
        o = self.opt
        self._value_every = max(1, int(round(o.value_every * self.fps)))
        self._confirm_frames = max(1, int(round(o.confirm * self.fps)))
        self._release = o.ref_release_db_per_s / self.fps
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget the stream."""
        o, fps = self.opt, self.fps
        self._frame_no = 0
        self._mix_ema = _Ema(o.energy_tau * fps)
        self._low_ema = _Ema(o.low_tau * fps)
        self._high_ema = _Ema(o.low_tau * fps)
        self._bright_ema = _Ema(o.brightness_tau * fps)
        self._e1, self._e4, self._e16 = _Ema(1.0 * fps), _Ema(4.0 * fps), _Ema(16.0 * fps)
        self._mix_ref: float | None = None  # smoothed mix dB reference
        self._peak_ref: float | None = None  # loudest frames' dB reference
        self._low_ref: float | None = None
        self.energy = 0.0
        self.brightness = 0.0
        # silence
        self._music = False
        self._silent_since: int | None = None
        self._music_since: int | None = None
        # beat grid
        self._pending: deque[FeatureEvent] = deque()
        self._upcoming: list[tuple[int, int]] = []  # (time, tracker position) not ticked yet
        self._ticks: deque[tuple[int, bool]] = deque(maxlen=16)  # (time, downbeat)
        self._period: float | None = None  # frames per beat
        self._last_tick: int | None = None
        self._beat_count = 0
        self._meter = self.opt.meter or 4
        self._down_phase = 0
        self._phase_score = np.zeros(8)
        self._flywheel = 0
        self._trusted: deque[int] = deque(maxlen=32)
        self._fit_period: float | None = None
        self._disagree: deque[float] = deque(maxlen=8)
        self._low_beats: deque[float] = deque(maxlen=16)
        self._disagree_since = 0
        self._resync_at: int | None = None  # when the tracker's beats began to leave our grid
        self._beat_had_low = False
        self._bpm_hist: deque[float] = deque(maxlen=8)
        self._seg = np.zeros(3)
        self._seg_n = 0
        self._prev_seg: np.ndarray | None = None
        # bars and phrases
        self._bar: _Bar | None = None
        self._bars: deque[_Bar] = deque(maxlen=24)
        self._bar_count = -1
        self._anchor_bar: int | None = None
        # sections
        self._last_low_hit: int | None = None
        self._breakdown = False
        self._candidate: int | None = None  # frame end of the first returning frame
        self._cand_peak = -200.0
        self._build_start_bar: int | None = None
        self._expected_drop_bar = 0
        self._last_build_bar = -100
        self._cand_absent = 0
        self._cand_low = -200.0
        self._low_s = -200.0
        self._last_track_change_bar = -100

    # ------------------------------------------------------------------ helpers
    def _event(self, name: str, time: int, now: int, value: float, data: dict | None = None) -> FeatureEvent:
        return FeatureEvent(name, int(time), int(now), float(value), data or {})

    def _section(self, kind: str, time: int, now: int, confidence: float, **extra) -> FeatureEvent:
        c = float(min(1.0, max(0.0, confidence)))
        return FeatureEvent("section", int(time), int(now), c, {"kind": kind, "confidence": c, **extra})

    @property
    def bar_frames(self) -> float | None:
        """Current bar length in input frames (None before the first beats)."""
        return None if self._period is None else self._period * self._meter

    # ------------------------------------------------------------------ main loop
    def process(self, block: AudioBlock, beats: Iterable[FeatureEvent] = ()) -> list[FeatureEvent]:
        """Structure events for the fast frames this block completes."""
        fr = self.fe.frames_for(block)
        for e in beats:
            if e.name == "beat":
                self._pending.append(e)
        events: list[FeatureEvent] = []
        if len(fr.fast_mag) == 0:
            return events
        # frame by frame (not one matrix product per block): the sums then do not depend on
        # how many frames a block holds, so any block size gives bit-identical results
        for mag, end in zip(fr.fast_mag, fr.fast_end):
            power = mag.astype(np.float64) ** 2
            bands = power @ self._bands64
            cent = float(power @ self._cent_w) / (float(power @ self._cent_mask) + 1e-12)
            self._frame(int(end), bands, cent, events)
        return events

    def _frame(self, now: int, bands: np.ndarray, centroid: float, out: list[FeatureEvent]) -> None:
        o = self.opt
        self._frame_no += 1
        mix_p, low_p, mid_p, high_p = (float(x) for x in bands)
        mix_inst = _db(mix_p)
        low_inst = _db(low_p)
        # -- beat grid: apply tracker events known by now, tick beats that have passed
        self._grid(now, out)
        # -- silence and music start
        if mix_inst < o.silence_db:
            if self._silent_since is None:
                self._silent_since = now - self.hop
            silent_for = (now - self._silent_since) / self.sr
            if self._music and silent_for >= o.silence_min:
                self._music = False
                self._breakdown = False
                self._candidate = None
                self._end_build(now, out)
                out.append(self._section("silence", self._silent_since, now, 1.0))
        else:
            if not self._music and mix_inst > o.silence_db + 3.0:
                silent_for = (now - self._silent_since) / self.sr if self._silent_since is not None else 1e9
                if silent_for >= o.new_track_silence:
                    self._mix_ref = self._peak_ref = self._low_ref = None
                    self._anchor_bar = None
                    self._last_low_hit = None
                self._music = True
                self._music_since = now - self.hop
                out.append(self._section("music_start", now - self.hop, now, 1.0))
                if self._anchor_bar is None:
                    # a downbeat ticked just before the music became audible starts the phrase
                    self._anchor_at(now - self.hop, now, out)
            if mix_inst > o.silence_db + 3.0:
                self._silent_since = None
        # -- energy and brightness
        mix_s = _db(self._mix_ema.update(mix_p))
        low_s = _db(self._low_ema.update(low_p))
        self._high_ema.update(high_p)
        if self._music:
            # The references forget slowly, except in a breakdown or build-up: the drop is
            # measured against the loudness before it.
            rel = 0.0 if (self._breakdown or self._build_start_bar is not None) else self._release
            self._mix_ref = mix_s if self._mix_ref is None else max(mix_s, self._mix_ref - rel)
            self._peak_ref = mix_inst if self._peak_ref is None else max(mix_inst, self._peak_ref - rel)
            self._low_ref = low_s if self._low_ref is None else max(low_s, self._low_ref - rel)
        ref = self._mix_ref if self._mix_ref is not None else mix_s
        self.energy = min(1.0, max(0.0, 1.0 + (mix_s - ref) / o.energy_range_db)) if self._music else 0.0
        e1, e4, e16 = self._e1.update(self.energy), self._e4.update(self.energy), self._e16.update(self.energy)
        self.brightness = self._bright_ema.update(min(1.0, max(0.0, centroid))) if mix_inst > o.silence_db else \
            self._bright_ema.value
        if self._frame_no % self._value_every == 0:
            out.append(self._event("energy", now, now, self.energy))
            out.append(self._event("energy.trend_short", now, now, e1 - e4))
            out.append(self._event("energy.trend_long", now, now, e4 - e16))
            out.append(self._event("brightness", now, now, self.brightness))
        # -- bar accumulation
        if self._bar is not None:
            b = self._bar
            b.frames += 1
            b.high_db += high_p
            b.mix_db += mix_p
            b.low_db += low_p
        # -- per-beat segment spectrum for the downbeat vote (mid band, coarse)
        # (kept as band powers only: cheap and enough for chord/bass changes)
        self._seg_n += 1
        self._seg += (low_p, mid_p, high_p)
        # -- low end: breakdowns and drops
        if self._music and self._low_ref is not None:
            self._low_end(now, low_inst, mix_inst, low_s, out)

    # ------------------------------------------------------------------ low end
    def _low_end(self, now: int, low_inst: float, mix_inst: float, low_s: float, out: list[FeatureEvent]) -> None:
        o = self.opt
        hit = low_inst >= self._low_ref - o.low_hit_db
        if self._last_low_hit is None:
            self._last_low_hit = now
        self._low_s = low_s
        if self._candidate is not None:
            self._cand_peak = max(self._cand_peak, mix_inst)
            self._cand_low = max(self._cand_low, low_inst)
            self._decide_return(now, out)
            return
        if not hit:
            if self.bar_frames is None:  # no beat grid: decide breakdowns here, 2 s bars
                self._check_breakdown(now, out)
            return
        absent = now - self._last_low_hit
        bar = self.bar_frames or 2.0 * self.sr  # without a grid: assume 120 BPM
        need = o.drop_absent_bars_build if self._build_start_bar is not None else o.drop_absent_bars
        self._beat_had_low = True
        if self._breakdown or absent >= need * bar:
            # the low end returns: decide within ``confirm`` whether it is a drop
            self._candidate = now
            self._cand_peak = mix_inst
            self._cand_low = low_inst
            self._cand_absent = absent
            self._decide_return(now, out)
            return
        self._last_low_hit = now

    def _decide_return(self, now: int, out: list[FeatureEvent]) -> None:
        o = self.opt
        frames_in = int(round((now - self._candidate) / self.hop))
        back = self._cand_low >= self._low_ref - o.low_return_db
        # a drop returns to a driving low end: before the break, most beats carried kick/bass
        # (dance music) rather than the occasional bass note (a waltz, a pizzicato line)
        flags = list(self._low_beats)
        while flags and not flags[-1]:  # the beats since the low end left
            flags.pop()
        groove = float(np.mean(flags[-12:])) if len(flags) >= 4 else 0.0
        is_drop = (back and self._cand_peak >= (self._peak_ref or self._cand_peak) - o.drop_mix_db
                   and groove >= o.drop_groove)
        if is_drop or frames_in >= self._confirm_frames:
            self._fire_return(now, is_drop, back, out)

    def _check_breakdown(self, now: int, out: list[FeatureEvent]) -> None:
        """Drums and bass gone for a bar while music plays (and no build-up is running)."""
        o = self.opt
        if (self._breakdown or self._build_start_bar is not None or self._candidate is not None
                or not self._music or self._low_ref is None or self._last_low_hit is None):
            return
        bar = self.bar_frames or 2.0 * self.sr
        absent = now - self._last_low_hit
        if absent >= o.breakdown_bars * bar - 0.25 * (self._period or 0.5 * self.sr) \
                and self._low_s < self._low_ref - o.low_absent_db:
            self._breakdown = True
            # the breakdown starts on the beat after the last kick/bass hit, a downbeat
            t = self._first_tick_after(self._last_low_hit + int(0.1 * (self._period or 0.5 * self.sr)))
            conf = min(1.0, (self._low_ref - self._low_s) / (2.0 * o.low_absent_db))
            out.append(self._section("breakdown_start", t, now, conf))
            phase_before = self._down_phase
            self._make_downbeat(t, 2.0)
            if self._down_phase == phase_before:
                self._anchor_at(t, now, out)

    def _fire_return(self, now: int, is_drop: bool, back: bool, out: list[FeatureEvent]) -> None:
        if not (back or is_drop):  # a low hit (snare body, a riser's rumble), not the low end
            self._candidate = None
            return
        onset = self._candidate - self.fe.fast_window // 4
        t, on_grid = self._snap(onset)
        contrast = min(1.0, self._cand_absent / (4.0 * (self.bar_frames or 2.0 * self.sr)))
        if self._breakdown:
            out.append(self._section("breakdown_end", t, now, 0.6 + 0.4 * contrast))
        if is_drop:
            # longer breaks, a build-up before, and a return as loud as the loudest part raise it
            loud = (self._cand_peak - (self._peak_ref or self._cand_peak) + self.opt.drop_mix_db) / self.opt.drop_mix_db
            conf = 0.4 + 0.2 * contrast + 0.2 * (self._build_start_bar is not None) + 0.2 * min(1.0, max(0.0, loud))
            out.append(self._section("drop", t, now, conf, on_grid=on_grid))
            self._make_downbeat(t)
            self._anchor_at(t, now, out)
            # the rise into the drop is not a new build-up: the next one comes a phrase later
            self._last_build_bar = self._bar_count
        self._end_build(now, out)
        self._breakdown = False
        self._candidate = None
        self._last_low_hit = now

    # ------------------------------------------------------------------ beat grid
    def _holding(self, now: int) -> bool:
        """Hold the beat grid (ignore the tracker) while the low end is away.

        Without kick and bass the tracker follows pads, rolls and risers and drifts off the
        grid (measured on the generated breakdowns: a fifth of its beats within 50 ms); the
        drums' grid, extrapolated with the tempo fitted over the last beats, stays on it.
        """
        if self._fit_period is None or self._last_tick is None or self._last_low_hit is None or not self._music:
            return False
        return now - self._last_low_hit > 1.5 * self._fit_period

    def _grid(self, now: int, out: list[FeatureEvent]) -> None:
        hold = self._holding(now)
        while self._pending and self._pending[0].detected_at <= now:
            e = self._pending.popleft()
            if hold:
                continue
            bpm = float(e.data.get("bpm", 0.0))
            bpb = int(e.data.get("beats_per_bar", 4))
            ref = self._last_tick if not self._upcoming else self._upcoming[-1][0]
            own = self._fit_period or self._period
            if ref is not None and own:
                # (the shorter of our period and the tracker's, so that a tracker leaving a
                # half-tempo lock is heard as disagreeing, not as duplicate beats)
                if e.time < ref + 0.5 * min(own, 60.0 * self.sr / bpm if bpm > 0 else own):
                    continue  # the same beat again (or one already passed by the flywheel)
                k = (e.time - ref) / own
                same_tempo = bpm <= 0 or abs(60.0 * self.sr / bpm / own - 1.0) < 0.1
                if abs(k - round(k)) <= 0.1 and same_tempo:
                    self._disagree.clear()
                else:
                    # off our grid (the tracker re-locking after a breakdown): keep the grid
                    # unless the tracker holds a steady tempo of its own for 8 beats (a tempo
                    # change, a new track); then follow it
                    if not self._disagree:
                        self._disagree_since = int(e.time)
                    self._disagree.append(bpm)
                    d = self._disagree
                    if len(d) < d.maxlen or max(d) - min(d) > 0.02 * max(d):
                        continue
                    d.clear()
                    self._resync_at = self._disagree_since
                    self._trusted.clear()
                    self._fit_period = None
            if bpm > 0:
                p = 60.0 * self.sr / bpm
                if own is None or abs(p / own - 1.0) < 0.03 or self._fit_period is None:
                    self._period = p
                self._bpm_hist.append(bpm)
            self._meter = self.opt.meter or (bpb if bpb in (2, 3, 4, 6) else 4)
            self._upcoming.append((int(e.time), int(e.data.get("position", 0))))
        if hold:
            self._upcoming.clear()
        while self._upcoming and self._upcoming[0][0] <= now:
            t, pos = self._upcoming.pop(0)
            self._flywheel = 0
            self._trusted.append(t)
            self._fit()
            self._tick(t, pos, now, out)
        period = self._fit_period or self._period
        if period and self._last_tick is not None and not self._upcoming:
            grace = 0.0 if hold else 0.03 * self.sr
            nxt = self._last_tick + period
            if now >= nxt + grace and self._flywheel < self.opt.flywheel_bars * self._meter:
                self._flywheel += 1
                self._tick(int(round(nxt)), 0, now, out)

    def _fit(self) -> None:
        """Beat period from a line through the recent tracker beats (robust to skipped beats).

        The tracker's own tempo figure can differ from the spacing of the beats it fires by a
        few percent; the flywheel needs the spacing.
        """
        tr = self._trusted
        if len(tr) < 4:
            self._fit_period = None
            return
        t = np.asarray(tr, dtype=np.float64)
        d = np.diff(t)
        p0 = float(np.median(d))
        if p0 <= 0:
            return
        k = np.concatenate([[0.0], np.cumsum(np.maximum(1.0, np.round(d / p0)))])
        slope = float(np.polyfit(k, t, 1)[0])
        self._fit_period = float(np.clip(slope, 0.95 * p0, 1.05 * p0))

    def _tick(self, t: int, tracker_pos: int, now: int, out: list[FeatureEvent]) -> None:
        self._last_tick = t
        self._beat_count += 1
        m = self._meter
        score = self._phase_score
        score *= 0.99
        if tracker_pos == 1:
            score[self._beat_count % m] += 0.15
        # chord/bass change at the beat that just ended: evidence that that beat was a downbeat
        if self._seg_n:
            seg = self._seg / self._seg_n
            if self._prev_seg is not None:
                change = float(abs(10.0 * np.log10((seg[0] + 1e-12) / (self._prev_seg[0] + 1e-12))))
                score[(self._beat_count - 1) % m] += min(change, 6.0) / 6.0
            self._prev_seg = seg
        self._seg = np.zeros(3)
        self._seg_n = 0
        best = int(np.argmax(score[:m]))
        if tracker_pos >= 1 and score[:m].max() < 1.0:
            # no evidence of our own yet: take the tracker's bar position
            self._down_phase = (self._beat_count - tracker_pos + 1) % m
        elif best != self._down_phase % m and score[best] > 1.3 * score[self._down_phase % m] + 0.5:
            self._down_phase = best
        down = self._beat_count % m == self._down_phase % m
        self._ticks.append((t, down))
        if not self._breakdown and self._build_start_bar is None and self._music:
            # (frozen through breakdowns and build-ups: it describes the music before them)
            self._low_beats.append(1.0 if self._beat_had_low else 0.0)
        self._beat_had_low = False
        if self._build_start_bar is not None and self._bar is not None:
            beats_in = (self._beat_count - self._down_phase) % m
            bars_left = self._expected_drop_bar - self._bar_count - beats_in / m
            if down:
                bars_left = self._expected_drop_bar - (self._bar_count + 1)
            out.append(self._event("drop.bars_until", t, now, max(0.0, bars_left)))
        if down:
            self._downbeat(t, now, out)  # (build-up check first: a build may drop the kick)
        self._check_breakdown(now, out)

    def _downbeat(self, t: int, now: int, out: list[FeatureEvent]) -> None:
        if self._bar is not None and self._bar.frames:
            b = self._bar
            n = b.frames
            b.high_db, b.mix_db, b.low_db = _db(b.high_db / n), _db(b.mix_db / n), _db(b.low_db / n)
            b.bpm = self._bpm_hist[-1] if self._bpm_hist else 0.0
            self._bars.append(b)
            self._bar_done(now, out)
        self._bar_count += 1
        self._bar = _Bar(t, self._bar_count)
        if self._music and self._anchor_bar is None:
            self._anchor_bar = self._bar_count
            if self._music_since is not None and self._period:
                # music usually starts on a downbeat: when the grid (found a few beats into the
                # music) puts the start a whole number of bars back, count the phrase from it
                bar = self._period * self._meter
                j = int(round((t - self._music_since) / bar))
                if j >= 1 and abs(t - self._music_since - j * bar) <= 0.15 * self._period:
                    self._anchor_bar = self._bar_count - j
        if self._anchor_bar is not None and self._music:
            k = self._bar_count - self._anchor_bar
            if k % self.opt.phrase_bars == 0:
                out.append(self._phrase(t, now, k))

    def _phrase(self, t: int, now: int, k: int) -> FeatureEvent:
        p = self.opt.phrase_bars
        bars = 4 * p if k % (4 * p) == 0 else 2 * p if k % (2 * p) == 0 else p
        conf = 0.5
        if len(self._bars) >= 2 * p // 2:
            h = [b.mix_db for b in self._bars]
            half = p // 2
            before, after = np.mean(h[-2 * half : -half]), np.mean(h[-half:])
            conf = 0.5 + 0.5 * min(1.0, abs(after - before) / 6.0)
        return self._section("phrase", t, now, conf, bars=bars, bar=k)

    def _anchor_at(self, t: int, now: int, out: list[FeatureEvent]) -> None:
        """Make the bar starting at frame ``t`` the start of a phrase."""
        if self._bar is None:
            return
        if abs(self._bar.start - t) <= 0.5 * (self._period or self.sr):
            if self._anchor_bar is None or (self._bar_count - self._anchor_bar) % self.opt.phrase_bars:
                self._anchor_bar = self._bar_count
                out.append(self._phrase(self._bar.start, now, 0))
            else:
                self._anchor_bar = self._bar_count - ((self._bar_count - self._anchor_bar) % self.opt.phrase_bars)
        elif t > self._bar.start:  # the downbeat at t is still to come
            self._anchor_bar = self._bar_count + 1
        elif self._period:  # a downbeat some bars back (a breakdown is found a bar late)
            j = int(round((self._bar.start - t) / (self._period * self._meter)))
            self._anchor_bar = self._bar_count - j

    def _make_downbeat(self, t: int, weight: float = 4.0) -> None:
        """Evidence that the beat at ``t`` is a downbeat (a drop lands on one; a breakdown
        starts on one): vote for its bar phase with ``weight``."""
        if self._period is None or self._last_tick is None:
            return
        n = self._beat_count + int(round((t - self._last_tick) / self._period))
        m = self._meter
        phase = n % m
        self._phase_score[:m] *= 0.5
        self._phase_score[phase] += weight
        if phase != self._down_phase % m and self._phase_score[phase] >= self._phase_score[:m].max():
            self._down_phase = phase
            if abs(t - self._last_tick) <= 0.5 * self._period:
                # the beat was just ticked as an ordinary beat: its bar starts now
                self._bars_restart(t)
            elif t < self._last_tick:
                # a past downbeat: the bars since then are counted from it
                self._anchor_past(t)

    def _anchor_past(self, t: int) -> None:
        """Count the phrase from a downbeat ``t`` a few beats back (the next downbeat tick is
        a whole number of bars after it)."""
        if self._period is None or self._last_tick is None:
            return
        bar = self._period * self._meter
        j = max(1, math.ceil((self._last_tick - t) / bar + 0.01))
        self._anchor_bar = self._bar_count + 1 - j

    def _bars_restart(self, t: int) -> None:
        if self._bar is not None and self._bar.frames:
            b = self._bar
            n = b.frames
            b.high_db, b.mix_db, b.low_db = _db(b.high_db / n), _db(b.mix_db / n), _db(b.low_db / n)
            self._bars.append(b)
        self._bar_count += 1
        self._bar = _Bar(t, self._bar_count)

    def _snap(self, onset: int) -> tuple[int, bool]:
        """The beat nearest ``onset`` within ``snap`` s (ticked, announced or extrapolated)."""
        cands = [t for t, _ in self._ticks] + [t for t, _ in self._upcoming]
        if self._period and self._last_tick is not None:
            cands.append(int(round(self._last_tick + self._period)))
        if not cands:
            return onset, False
        best = min(cands, key=lambda c: abs(c - onset))
        if abs(best - onset) <= self.opt.snap * self.sr:
            return int(best), True
        return onset, False

    def _first_tick_after(self, frame: int) -> int:
        for t, _ in self._ticks:
            if t > frame:
                return t
        return frame

    # ------------------------------------------------------------------ bars
    def _bar_done(self, now: int, out: list[FeatureEvent]) -> None:
        o = self.opt
        bars = self._bars
        if self._build_start_bar is not None:
            b = bars[-1]
            if b.index >= self._expected_drop_bar + 1:  # the drop did not come
                self._end_build(now, out)
        elif (len(bars) >= 3 and self._music
              and self._bar_count - self._last_build_bar >= self.opt.phrase_bars):
            window = list(bars)[-5:]
            h = [b.high_db for b in window]
            r1, r2 = h[-1] - h[-2], h[-2] - h[-3]
            if r1 >= o.build_step_db and r2 >= o.build_step_db and h[-1] - h[-3] >= o.build_rise_db:
                # the rise began at the earliest bar of the run of rising bars ...
                k = len(h) - 2
                while k - 1 >= 1 and h[k - 1] - h[k - 2] >= o.build_step_db:
                    k -= 1
                # ... or one bar earlier when that bar dipped (the groove's hats and bass left
                # as the build began, and the roll starts quiet)
                if k >= 2 and h[k - 1] < h[k - 2] - 2.0 * o.build_step_db:
                    k -= 1
                start_bar = window[k]
                self._build_start_bar = start_bar.index
                self._last_build_bar = self._bar_count
                p = o.phrase_bars
                anchor = self._anchor_bar if self._anchor_bar is not None else start_bar.index
                pos = (start_bar.index - anchor) % p
                # a build-up lasts at least two bars: one found a bar before a phrase boundary
                # (started a bar early) still leads to the boundary after next
                self._expected_drop_bar = start_bar.index + (p - pos) + (p if p - pos < 2 else 0)
                while self._expected_drop_bar <= self._bar_count + 1:  # a long build: next phrase
                    self._expected_drop_bar += p
                conf = min(1.0, 0.4 + (h[-1] - h[-3]) / 12.0)
                out.append(self._section("buildup", start_bar.start, now, conf,
                                         drop_expected_in_bars=self._expected_drop_bar - (self._bar_count + 1)))
        self._check_tempo(now, out)

    def _end_build(self, now: int, out: list[FeatureEvent]) -> None:
        if self._build_start_bar is not None:
            self._build_start_bar = None
            out.append(self._event("drop.bars_until", now, now, -1.0))

    def _check_tempo(self, now: int, out: list[FeatureEvent]) -> None:
        bars = [b for b in self._bars if b.bpm > 0]
        if len(bars) < 12 or self._bar_count - self._last_track_change_bar < 16:
            return
        old = np.array([b.bpm for b in bars[-12:-4]])
        new = np.array([b.bpm for b in bars[-4:]])
        ref = float(np.median(old))
        if np.ptp(old) > 0.02 * ref or np.ptp(new) > 0.02 * ref:
            return
        change = float(np.median(new)) / ref - 1.0
        if abs(change) >= self.opt.tempo_change:
            self._last_track_change_bar = self._bar_count
            # a new track: its own loudness references (kept as a floor a little below)
            self._mix_ref = self._peak_ref = self._low_ref = None
            # the change began at the first bar whose tempo is nearer the new one than the old
            new_bpm = float(np.median(new))
            k = len(bars) - 4
            while k > 0 and abs(bars[k - 1].bpm - new_bpm) < abs(bars[k - 1].bpm - ref):
                k -= 1
            t = bars[k].start
            if self._resync_at is not None and self._resync_at >= bars[-12].start:
                t = min(t, self._resync_at)  # the tracker began to leave our grid here
            self._resync_at = None
            out.append(self._section("track_change", t, now, min(1.0, abs(change) / 0.08),
                                     bpm_from=round(ref, 2), bpm_to=round(float(np.median(new)), 2)))


class StructureBeatAnalyser(BeatAnalyser):
    """The beat analyser with a :class:`StructureAnalyser` fed by its beat events.

    One object, so the structure analyser sees exactly the beat events of each block (chunked
    processing stays equal to whole-file processing) and ``AnalysisPipeline.beats`` still finds
    the beat analyser. Returns the beat events followed by the structure events.
    """

    def __init__(self, frontend: FrontEnd, *args, structure: StructureOptions | None = None, **kwargs) -> None:
        super().__init__(frontend, *args, **kwargs)
        self.structure = StructureAnalyser(frontend, structure)

    def reset(self) -> None:
        """Forget the stream."""
        super().reset()
        self.structure.reset()

    def process(self, block: AudioBlock) -> list[FeatureEvent]:
        """Beat events, then structure events, for this block."""
        events = super().process(block)
        return events + self.structure.process(block, events)
