"""Causal beat, downbeat and tempo tracker on beat/downbeat activations, with beat prediction.

Two layers:

1. **A bar-pointer HMM, forward pass only** (causal). A state is (meter and beat in bar, beat
   interval ``T`` in frames, position ``p`` frames since the beat). Each frame the position
   advances; at the end of a beat the interval may change (probability
   ``exp(-lambda |T'/T - 1|)``: small tempo drifts are cheap, octave jumps practically
   impossible, which is the octave-error resistance once locked) and the beat in bar advances
   (3/4 and 4/4 bars, meter switches at bar ends with a small probability). Observations are the
   CRNN's beat and downbeat probabilities in the first ``1/observation_lambda`` of a beat and
   "no beat" elsewhere. A tiny share of the tempo prior (log-normal around 120 BPM) is mixed in
   every frame, so a tempo change far from the current one can take over within a few beats.
   Where activations carry no information (a breakdown), all hypotheses are scaled alike and
   the tempo and phase are held.
2. **A beat clock** (a phase-locked line through the recent beats): every beat the HMM passes
   is refined to sub-frame time at the activation peak and fitted with the beats before it
   that agree with the HMM tempo; its period and phase give the predicted next beats. Beats
   are *fired* ahead of time from that prediction (``predict=True``), so a light can land on
   the beat although the model sees 32 ms into the past only; with ``predict=False`` they fire
   when the HMM confirms them. A new grid (first lock, or a change of tempo or phase) starts
   with the HMM's earlier beats that the activations support, so it is adopted after one or two
   new beats; and while the HMM is sure of a tempo more than 30 % from the clock's (e.g. half
   of it), its beats are not taken as the clock's even where they coincide with them.

**The silence gate.** A breakdown is not silence: while there is sound the clock flies on
alone for ``hold`` seconds after the last clear beat. But when the *input* is truly silent (the
caller passes how long it has been below the gate level, e.g. −60 dBFS, see
:class:`~engine.analysis.beats.BeatAnalyser`) for longer than ``gate_seconds`` or
``gate_beats`` beat periods, whichever is longer, the music has stopped: no beat fires, the
confidence drops to 0 and the tracker must lock again (from the first two or three beats)
when sound returns. Silence says nothing about the beat, so the HMM is not stepped while the
gate is closed; when it closes, the HMM keeps its belief over tempi (and meters) and forgets the
phase and the beat in bar (what comes after a silence need not continue the old grid), and the
beat clock keeps its period, which the tempo events go on reporting, with confidence 0, and
which seeds the relock when the music returns at that tempo. Activations cannot make this
decision: the model's output on silence looks like its output in a drumless breakdown.

Manual override (tap, nudge, resync-to-downbeat, manual mode) acts on both layers; manual mode
ignores the gate (the user's grid is fired until the user says otherwise).
All times given to and returned by the public methods are input stream frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.features import FeatureEvent

AUTO, MANUAL = "auto", "manual"


@dataclass(frozen=True, slots=True)
class BeatClock:
    """The tracker's beat clock at one moment, for the live engine to fill the show's inputs.

    ``frame``: the input frame this describes; ``beat_phase`` and ``bar_phase`` in [0, 1)
    (0 on the beat / downbeat); ``beat_in_bar`` 1..``beats_per_bar`` for the beat that began
    the current phase (1 = downbeat); ``next_beats``: input frames of the next predicted beats.
    """

    frame: int
    bpm: float
    beat_phase: float
    bar_phase: float
    beat_in_bar: int
    beats_per_bar: int
    confidence: float
    next_beats: tuple[int, ...]
    locked: bool
    mode: str


@dataclass(slots=True)
class TrackerOptions:
    """Tuning of :class:`BeatTracker` (defaults are general-purpose, not fitted to any data set)."""

    fps: float = 50.0
    min_bpm: float = 55.0
    max_bpm: float = 215.0
    meters: tuple[int, ...] = (3, 4)
    transition_lambda: float = 100.0
    observation_lambda: float = 16.0
    meter_switch: float = 1e-3
    prior_bpm: float = 120.0
    prior_octaves: float = 0.7
    reinject: float = 1e-5
    min_confidence: float = 0.25
    # Evidence of a beat = contrast of its activation peak against the recent mean activation,
    # (peak - mean) / (peak + mean + 0.02): 0 for silence or a flat activation, → 1 for clear beats.
    weak_beat: float = 0.15  # contrast below which a beat does not move the beat clock
    full_evidence: float = 0.4  # contrast (averaged over beats) that counts as full confidence
    # The activation peak comes this long before the drum onset it marks; beat times are moved
    # by it. Measured on synthetic drum loops (96, 120, 137 BPM, two seeds, 148 beats; median
    # peak - onset): BeatNet model 1 -10.2 ms, model 2 -7.0, model 3 -0.2, their mean (the
    # shipped ensemble) -6.3 ms (`beamsync bench beats --lead`). (0.010 for model 1 alone.)
    model_lead: float = 0.006
    weak_share: float = 0.5  # a beat below this share of the clock's typical peak does not move it
    phase_tolerance: float = 0.1  # a beat within this share of a period of the clock refines it
    hold: float = 8.0  # seconds the clock keeps firing on its own after the last clear beat
    # The silence gate: input below ``gate_dbfs`` (RMS, 0 dBFS = RMS 1.0) for longer than
    # max(gate_seconds, gate_beats periods) stops the beats. One second is beyond any rest a
    # band plays on the grid at dance tempi and short enough that nobody sees the lights pulse
    # on an empty room; two periods keep a one-beat rest (a stop on the "and") at slow tempi
    # (2 beats at 60 BPM = 2 s) from closing it. -60 dBFS is the level that
    # :class:`~engine.analysis.structure.StructureAnalyser` also calls silence: far below any
    # sustained musical passage in mixed music (a quiet pad sits at -40 dBFS), above dither, a
    # DAW's silence and a muted mixer channel.
    gate_dbfs: float = -60.0
    gate_seconds: float = 1.0
    gate_beats: float = 2.0
    predict: bool = True
    tempo_every: float = 1.0  # seconds between tempo events
    sure: float = 0.5  # HMM concentration at which its tempo may overrule the beat clock's
    backfill: bool = True  # a new candidate grid starts with the HMM's supported beats before it


class BeatTracker:
    """Frame-by-frame tracker: ``step(index, beat, downbeat, now)`` returns the beat/tempo events.

    ``frame_time(index)`` maps a (fractional) activation frame to an input stream frame;
    ``hop`` is input frames per activation frame. ``fire_ahead`` (input frames) is how long
    before a predicted beat the event is emitted: at least the time until the next activation
    frame, plus any output latency the consumer wants to compensate.
    """

    def __init__(self, hop: float, origin: int = 0, options: TrackerOptions | None = None,
                 fire_ahead: float | None = None) -> None:
        self.opt = options or TrackerOptions()
        self.hop = float(hop)
        self.origin = int(origin)
        self.fire_ahead = float(fire_ahead) if fire_ahead is not None else 1.5 * self.hop
        o = self.opt
        lo = int(np.floor(60.0 * o.fps / o.max_bpm))
        hi = int(np.ceil(60.0 * o.fps / o.min_bpm))
        self.intervals = np.arange(lo, hi + 1)
        n_t, p_max = len(self.intervals), hi
        pos = np.arange(p_max)
        self._valid = (pos[None, :] < self.intervals[:, None]).astype(np.float64)
        self._region = pos[None, :] < self.intervals[:, None] / o.observation_lambda
        self._last = self.intervals - 1
        self._tidx = np.arange(n_t)
        # slots: one per (meter, beat in bar)
        self.slot_meter = np.array([m for m in o.meters for _ in range(m)])
        self.slot_beat = np.array([k for m in o.meters for k in range(m)])
        n_s = len(self.slot_meter)
        first = {m: int(np.flatnonzero(self.slot_meter == m)[0]) for m in o.meters}
        slot_trans = np.zeros((n_s, n_s))
        for s in range(n_s):
            m, k = self.slot_meter[s], self.slot_beat[s]
            if k < m - 1:
                slot_trans[s, s + 1] = 1.0
            else:  # bar end: next downbeat, maybe in another meter
                for m2 in o.meters:
                    slot_trans[s, first[m2]] = (1.0 - o.meter_switch) if m2 == m else o.meter_switch / max(1, len(o.meters) - 1)
        self._slot_trans_t = slot_trans.T.copy()
        self._is_down = (self.slot_beat == 0)[:, None, None]
        # Tempo change cost exp(-lambda |T'/T - 1|), except that a change by one frame is free:
        # a tempo between two integer intervals (80 BPM = 37.5 frames) alternates between them.
        step = np.abs(self.intervals[None, :] - self.intervals[:, None])
        trans = np.exp(-o.transition_lambda * np.maximum(step - 1, 0) / self.intervals[:, None])
        trans[trans < 1e-12] = 0.0
        self._tempo_trans = trans / trans.sum(1, keepdims=True)
        bpm = 60.0 * o.fps / self.intervals
        w = np.exp(-0.5 * (np.log2(bpm / o.prior_bpm) / o.prior_octaves) ** 2)
        prior = np.broadcast_to(w[None, :, None] / self.intervals[None, :, None], (n_s, n_t, p_max)) * self._valid[None]
        self._prior = prior / prior.sum()
        self._alpha = np.empty_like(self._prior)
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget everything except options: no tempo, no phase, automatic mode."""
        self._alpha[...] = self._prior
        self._index = -1
        self._act = np.zeros(256)  # recent beat+downbeat activations (5 s), ring by frame index
        self._last_recorded = -1e9
        self._run: list[float] = []  # recent beats on the clock (activation frames)
        self._candidate: list[float] = []  # recent beats off the clock
        self.period: float | None = None  # activation frames per beat
        self.anchor: float | None = None  # activation frame of the last beat
        self.anchor_beat = 0  # beat in bar of the anchor, 0-based
        self.meter = 4
        self._conc = 0.0
        self._evidence = 0.0
        self._mean_act = 0.0  # slow mean of the activation (about 2 s)
        self._strength = 0.0  # typical activation peak of the beats on the clock
        self.confidence = 0.0
        self._acquired = False  # three consistent beats seen: firing may start
        self._last_good = -1e9  # activation frame of the last clear, confident beat
        self._last_fired = -1e18  # input frames
        self._last_tempo_event = -1e18
        self._user_offset = 0.0  # input frames, from nudge()
        self.mode = AUTO
        self._taps: list[float] = []
        self.gated = False  # the input has been silent past the gate time: no beats
        self._relock = False  # locking again after a silence (the held period seeds the clock)

    def _to_frames(self, index: float) -> float:
        return self.origin + index * self.hop + self._user_offset

    def _to_index(self, frame: float) -> float:
        return (frame - self.origin - self._user_offset) / self.hop

    # ------------------------------------------------------------------ HMM
    def _forward(self, beat: float, down: float) -> tuple[int, int, int]:
        a = self._alpha
        end = a[:, self._tidx, self._last]  # mass finishing a beat, (slots, tempi)
        a[:, :, 1:] = a[:, :, :-1]
        a *= self._valid
        a[:, :, 0] = self._slot_trans_t @ (end @ self._tempo_trans)
        beat = min(max(beat, 1e-4), 1.0)
        down = min(max(down, 1e-4), 1.0)
        none = max(1.0 - beat - down, 1e-4) / (self.opt.observation_lambda - 1.0)
        on_beat = np.where(self._is_down, down, beat)  # (slots, 1, 1)
        a *= none + self._region[None] * (on_beat - none)
        a /= a.sum()
        if self.opt.reinject:
            a += self.opt.reinject * self._prior
            a /= 1.0 + self.opt.reinject
        s, t, p = np.unravel_index(int(np.argmax(a)), a.shape)
        # concentration: mass within ±1 tempo step and ±2 frames of phase (any beat in bar)
        marg = a.sum(0)
        self._conc = float(marg[max(t - 1, 0) : t + 2, max(p - 2, 0) : p + 3].sum())
        return int(s), int(t), int(p)

    # ------------------------------------------------------------------ public
    def step(self, index: int, beat: float, downbeat: float, now: int, quiet: float = 0.0) -> list[FeatureEvent]:
        """Advance to activation frame ``index`` (consecutive); ``now`` is the stream frame
        at which this runs (the end of the audio seen so far); ``quiet``: for how many input
        frames before ``now`` the input has been silent (below ``gate_dbfs``; 0 while there is
        sound, ``inf`` before any). Returns beat and tempo events."""
        events: list[FeatureEvent] = []
        self._index = index
        self._act[index % len(self._act)] = beat + downbeat
        # mean of everything so far for the first 2 s, then an exponential average
        self._mean_act += (beat + downbeat - self._mean_act) / min(index + 1, 2.0 * self.opt.fps)
        self._update_gate(quiet)
        if not self.gated:  # (silent input: nothing to observe, nothing to record)
            events.extend(self._observe(index, beat, downbeat, now))
        if self.opt.predict or self.mode == MANUAL:
            events.extend(self._fire(now))
        if now - self._last_tempo_event >= self.opt.tempo_every * self.opt.fps * self.hop and self.period:
            self._last_tempo_event = now
            events.append(FeatureEvent("tempo", int(now), int(now), self.bpm,
                                       {"bpm": self.bpm, "confidence": self.confidence, "beats_per_bar": self.meter}))
        return events

    def _observe(self, index: int, beat: float, downbeat: float, now: int) -> list[FeatureEvent]:
        """The HMM's forward step on this frame's activations, and the beat it has just passed."""
        s, t, p = self._forward(beat, downbeat)
        interval = int(self.intervals[t])
        meter = int(self.slot_meter[s])
        k = int(self.slot_beat[s])
        # A beat the HMM has passed two frames ago (so the activation peak around it can be
        # interpolated), not recorded yet.
        cand = index - p
        if p >= 2 and cand > self._last_recorded + 0.5 * interval:
            self._record(self._refine(cand, index) + self.opt.model_lead * self.opt.fps, k, meter, interval)
            if not self.opt.predict and self.locked and self.mode == AUTO and self.anchor is not None:
                # confirmed mode: fire the beat just put on the clock (not a re-interpreted old one)
                time = self._to_frames(self.anchor)
                if time > self._last_fired + 0.5 * self.period * self.hop and index - self.anchor <= 4:
                    self._last_fired = time
                    return [self._beat_event(time, now, self.anchor_beat, False)]
        return []

    def _update_gate(self, quiet: float) -> None:
        """Close the gate once the input has been silent past the gate time, open it on sound."""
        o = self.opt
        gate = max(o.gate_seconds * o.fps, o.gate_beats * (self.period or 0.0)) * self.hop
        silent = quiet > gate
        if silent and not self.gated and self.mode == AUTO:
            self._forget_grid()
        self.gated = silent

    def _forget_grid(self) -> None:
        """The music stopped. Whatever comes next (the same song after a pause, the next song)
        is locked afresh from its own beats: phase and beat in bar are unknown. Only the tempo
        is kept (the HMM's belief over tempi and meters, and ``period`` for the tempo events),
        so a return at the same tempo locks in two or three beats."""
        a = self._alpha
        tempo = a.sum((0, 2))  # (tempi,)
        slot = np.zeros(len(self.slot_meter))
        for m in self.opt.meters:
            mine = self.slot_meter == m
            slot[mine] = a[mine].sum() / m  # the meter's weight, spread over its beats
        a[...] = slot[:, None, None] * (tempo / self.intervals)[None, :, None] * self._valid[None]
        a /= a.sum()
        self._acquired = False
        self._relock = True
        self._run = []
        self._candidate = []
        self.confidence = 0.0
        self._evidence = 0.0
        self._last_good = -1e9

    @property
    def locked(self) -> bool:
        """Beats are being published: manual mode, or three consistent beats seen, confident (or
        within ``hold`` of the last confident beat) and the input not silent past the gate."""
        if self.mode == MANUAL:
            return True
        if not self._acquired or self.gated:
            return False
        # through a breakdown the clock flies on alone for `hold` seconds
        return self.confidence >= self.opt.min_confidence or self._index - self._last_good <= self.opt.hold * self.opt.fps

    @property
    def bpm(self) -> float:
        """Current tempo in beats per minute (0 before the first beat)."""
        return 60.0 * self.opt.fps / self.period if self.period else 0.0

    def clock(self, now: int) -> BeatClock:
        """The beat clock at stream frame ``now`` (extrapolated from the last beat)."""
        if not self.period or self.anchor is None:
            return BeatClock(int(now), 0.0, 0.0, 0.0, 1, self.meter, 0.0, (), False, self.mode)
        x = (self._to_index(now) - self.anchor) / self.period
        n = int(np.floor(x))
        beat_in_bar = (self.anchor_beat + n) % self.meter
        phase = x - n
        nxt = tuple(int(round(self._to_frames(self.anchor + (n + j) * self.period))) for j in range(1, 5))
        return BeatClock(int(now), self.bpm, float(phase), float((beat_in_bar + phase) / self.meter),
                         beat_in_bar + 1, self.meter, self.confidence, nxt,
                         self.locked, self.mode)

    # ------------------------------------------------------------------ beats
    def _refine(self, cand: int, index: int) -> float:
        """Sub-frame beat time: the activation peak within ±2 frames (not beyond ``index``)."""
        lo, hi = max(cand - 2, index - len(self._act) + 1, 0), min(cand + 2, index)
        if lo > hi:  # older than the kept activations
            return float(cand)
        frames = np.arange(lo, hi + 1)
        vals = self._act[frames % len(self._act)]
        j = int(np.argmax(vals))
        peak = frames[j]
        if vals[j] < 0.05 or j == 0 or j == len(vals) - 1:
            return float(cand if vals[j] < 0.05 else peak)
        a, b, c = vals[j - 1], vals[j], vals[j + 1]
        den = a - 2 * b + c
        return float(peak + (0.5 * (a - c) / den if den < 0 else 0.0))

    def _record(self, t: float, k: int, meter: int, interval: int) -> None:
        peak = float(self._act[[(int(round(t)) + d) % len(self._act) for d in (-1, 0, 1)]].max())
        contrast = max(0.0, (peak - self._mean_act) / (peak + self._mean_act + 0.02))
        self._evidence = 0.6 * self._evidence + 0.4 * contrast
        self.confidence = float(np.sqrt(self._conc) * min(1.0, self._evidence / self.opt.full_evidence))
        self._last_recorded = int(round(t))
        if self.mode == MANUAL:
            return
        if contrast < self.opt.weak_beat or (self._acquired and peak < self.opt.weak_share * self._strength):
            # no evidence (breakdown, silence), or far weaker than the beats that built the clock
            # (a pad's chord change in a breakdown): hold tempo and phase rather than follow the
            # HMM's drift; before the first lock such a beat counts for nothing
            return
        if self._acquired and self.period and self.anchor is not None:
            n = round((t - self.anchor) / self.period)
            dev = t - (self.anchor + n * self.period)
            # (an HMM interval a little off is fine: after a breakdown it may have drifted; but
            # while the HMM is sure of another tempo, e.g. half the clock's, its beats, all on the
            # clock, must go the candidate route, or they would keep a double-tempo clock forever)
            other_tempo = abs(interval / self.period - 1.0) > 0.3 and self._conc >= self.opt.sure
            if n >= 1 and abs(dev) <= self.opt.phase_tolerance * self.period and not other_tempo:
                # on the clock: refine it
                self._strength = 0.8 * self._strength + 0.2 * peak
                self._run = (self._run + [t])[-8:]
                self._candidate = []
                self._fit(self.period, k, meter)  # the clock's own period bounds the refit
                return
        # off the clock (or no clock yet): a candidate grid, adopted after three consistent beats,
        # so one stray activation never moves the clock but a real change of tempo or phase does
        if self._candidate and abs((t - self._candidate[-1]) - interval) <= 0.15 * interval:
            self._candidate.append(t)
        else:
            # a new grid: the HMM chose it on the evidence of the beats before this one, so
            # those (where the activation shows a clear peak) count for it at once instead of
            # being waited for again (a 3 s clip would be over before three new beats)
            self._candidate = self._backfill(t, interval) if self.opt.backfill else [t]
        # a young clock (few beats on it) gives way after two beats, an established one after three
        needed = 2 if len(self._run) < 6 else 3
        if len(self._candidate) >= needed and len(self._run) >= 6 and not self._candidate_is_better():
            return  # the audio still supports the established clock as well: keep it
        if len(self._candidate) >= needed or not self._acquired:
            self._run = list(self._candidate[-8:])
            self._strength = self._support(np.asarray(self._run))
            self._fit(interval, k, meter)
            # first lock: three consistent beats, or two when the HMM is already sure of them
            self._acquired = self._acquired or len(self._run) >= 3 or (len(self._run) >= 2 and self._conc >= 0.7)
            self._relock = self._relock and not self._acquired

    def _backfill(self, t: float, interval: int) -> list[float]:
        """``t`` preceded by up to two earlier beats of the HMM's grid (spacing ``interval``)
        that the kept activations support with a clear peak, oldest first."""
        lead = self.opt.model_lead * self.opt.fps
        out = [t]
        for _ in range(2):
            guess = out[0] - interval
            if guess < max(self._index - len(self._act) + 3, 2):
                break
            prev = self._refine(int(round(guess - lead)), self._index) + lead  # as _record's times
            peak = float(self._act[[(int(round(prev - lead)) + d) % len(self._act) for d in (-1, 0, 1)]].max())
            contrast = (peak - self._mean_act) / (peak + self._mean_act + 0.02)
            if contrast < self.opt.weak_beat or abs(out[0] - prev - interval) > 0.15 * interval:
                break
            out.insert(0, prev)
        return out

    def _support(self, times: np.ndarray) -> float:
        """Mean activation peak (±1 frame) at the given activation-frame times."""
        idx = np.round(times).astype(int)
        idx = idx[(idx >= self._index - len(self._act) + 2) & (idx <= self._index - 1)]
        if len(idx) == 0:
            return 0.0
        ring = len(self._act)
        return float(np.mean([self._act[[(i + d) % ring for d in (-1, 0, 1)]].max() for i in idx]))

    def _candidate_is_better(self) -> bool:
        """Do the candidate's beats carry clearly more activation than the clock's beats over the
        same stretch? (An HMM flip to a related tempo, e.g. 4:3, must earn its switch.)"""
        cand = np.asarray(self._candidate)
        if self._support(cand) < self.opt.weak_share * self._strength:
            return False  # weaker than the beats the clock was built on: not a new beat grid
        start, end = cand[0], cand[-1]
        n0 = int(np.ceil((start - self.anchor) / self.period - 0.5))
        n1 = int(np.floor((end - self.anchor) / self.period + 0.5))
        clock_beats = self.anchor + self.period * np.arange(n0, n1 + 1)
        return self._support(cand) > 1.2 * self._support(clock_beats) + 0.02

    def _fit(self, interval: float, k: int, meter: int) -> None:
        """Period and phase of the beat clock from the beats in ``_run`` (a line through them)."""
        # relocking after a silence at the tempo held through it: that period (fitted over many
        # beats) is finer than the HMM's whole-frame interval
        held = (self._relock and not self._acquired and self.period is not None
                and abs(self.period - interval) <= 1.0)
        step = self.period if self.period and (self._acquired or held) else float(interval)
        t = np.asarray(self._run)
        t = t[t >= t[-1] - 8.5 * step]  # the last eight beats or so: a tempo may drift
        if len(t) >= 3:
            idx = np.round((t - t[0]) / step)  # beat numbers (a skipped beat keeps its slot)
            slope, icpt = np.polyfit(idx, t, 1)
            period = float(np.clip(slope, 0.92 * interval, 1.08 * interval))
            anchor = 0.5 * t[-1] + 0.5 * (icpt + slope * idx[-1])
        else:
            period, anchor = (step if held else float(interval)), float(t[-1])
        self.period, self.anchor, self.anchor_beat, self.meter = period, anchor, k, meter
        if self.confidence >= self.opt.min_confidence:
            self._last_good = self._index

    def _beat_event(self, time: float, now: int, beat0: int, predicted: bool) -> FeatureEvent:
        return FeatureEvent("beat", int(round(time)), int(now), 1.0, {
            "position": beat0 % self.meter + 1, "beats_per_bar": self.meter, "bpm": self.bpm,
            "confidence": self.confidence, "predicted": predicted,
        })

    def _fire(self, now: int) -> list[FeatureEvent]:
        if not self.period or self.anchor is None:
            return []
        if self.mode == AUTO and not self.locked:
            return []
        period_frames = self.period * self.hop
        out = []
        # first candidate after the last fired beat (no walking over a long manual grid)
        n = max(1, int(np.floor((self._to_index(self._last_fired) - self.anchor) / self.period)))
        while True:
            t = self._to_frames(self.anchor + n * self.period)
            if t <= self._last_fired + 0.5 * period_frames:
                n += 1
                continue
            if t - now > self.fire_ahead:
                break
            self._last_fired = t
            if t >= now - 0.25 * period_frames:  # a beat found too late is skipped, not fired late
                out.append(self._beat_event(max(t, float(now)), now, self.anchor_beat + n, True))
            n += 1
        return out

    # ------------------------------------------------------------------ manual override
    def tap(self, frame: int) -> None:
        """A tap on the beat at stream ``frame``. Two or more taps (gaps < 2 s) set the tempo and
        phase; in auto mode they also re-seed the HMM there, in manual mode they define the grid."""
        f = self._to_index(frame)
        if self._taps and (f - self._taps[-1]) > 2.0 * self.opt.fps:
            self._taps = []
        self._taps = (self._taps + [f])[-8:]
        if len(self._taps) < 2:
            return
        period = float(np.median(np.diff(self._taps)))
        if self.period and self.anchor is not None:
            n = round((f - self.anchor) / self.period)
            self.anchor_beat = (self.anchor_beat + n) % self.meter
        self.period, self.anchor = period, f
        self._run = [f]
        self._candidate = []
        self._last_fired = max(self._last_fired, self._to_frames(f))
        self.confidence = max(self.confidence, self.opt.min_confidence)
        self._acquired = True
        if self.mode == AUTO:
            self._seed(period, f)

    def _seed(self, period: float, beat_at: float) -> None:
        """Concentrate the HMM on one tempo and phase (kept the slot beliefs)."""
        t_idx = int(np.argmin(np.abs(self.intervals - period)))
        slot_w = self._alpha.sum((1, 2))
        seed = np.zeros_like(self._alpha)
        for dt, w in ((-1, 0.25), (0, 0.5), (1, 0.25)):
            ti = t_idx + dt
            if 0 <= ti < len(self.intervals):
                p = int(round(self._index - beat_at)) % int(self.intervals[ti])
                seed[:, ti, p] = w * slot_w
        self._alpha[...] = 0.1 * self._alpha + 0.9 * seed / seed.sum()

    def nudge(self, frames: float) -> None:
        """Shift the beat grid by ``frames`` input frames (positive = later)."""
        self._user_offset += frames
        self._last_fired += min(frames, 0.0)

    def resync(self, frame: int) -> None:
        """Declare that the beat nearest stream ``frame`` is a downbeat."""
        if not self.period or self.anchor is None:
            return
        n = round((self._to_index(frame) - self.anchor) / self.period)
        shift = (-(self.anchor_beat + n)) % self.meter
        self.anchor_beat = (self.anchor_beat + shift) % self.meter
        idx = np.flatnonzero(self.slot_meter == self.meter)  # rotate the HMM's bar positions alike
        self._alpha[idx] = np.roll(self._alpha[idx], shift, axis=0)

    def set_mode(self, mode: str) -> None:
        """``"manual"`` holds the current (or tapped) grid and ignores the audio; ``"auto"`` follows it."""
        if mode not in (AUTO, MANUAL):
            raise ValueError(f"unknown tracker mode {mode!r} (auto or manual)")
        if mode == AUTO and self.mode == MANUAL and self.period:
            self._seed(self.period, self.anchor if self.anchor is not None else float(self._index))
        if mode == AUTO and self.mode == MANUAL and self.gated:
            self._forget_grid()  # back to auto in silence: nothing to fire until the music returns
        self.mode = mode
