"""Annotated arrangements for evaluating :mod:`engine.analysis.structure` (synthesised, no samples).

:func:`render_arrangement` builds a dance track from numpy-synthesised parts (kick, clap/snare,
hats, crash, bass, pads, lead, riser, snare roll) following a random plan of sections (intro,
groove, breakdown, build, drop, soft return, outro) on an 8-bar phrase grid, and returns the
audio with the true structural events. :func:`render_dj_mix` joins two arrangements of different
tempo and key with a crossfade (a DJ's transition, for ``track_change``).

Truth conventions (what the analyser is scored against):

* ``music_start``: first sample of music after silence (every track has a silent lead-in).
* ``breakdown_start``: the downbeat where drums and bass leave; ``breakdown_end``: the downbeat
  where the low end (kick/bass) comes back after a breakdown (a drop or a soft return).
* ``buildup``: the downbeat where a build (snare roll, riser) begins.
* ``drop``: the downbeat of the full-energy return after a build or breakdown.
* ``silence``: first silent sample after the music ends (only tracks with a silent tail).
* ``phrase``: every 8 bars from the first downbeat of the music.
* ``track_change``: the middle of the crossfade of a DJ mix.

Deterministic: the same seed gives the same samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SECTION_KINDS = ("intro", "groove", "breakdown", "build", "drop", "soft", "outro")


@dataclass(slots=True)
class Arrangement:
    """A rendered arrangement: mono float32 ``samples`` and its true structure (seconds)."""

    samples: np.ndarray
    sample_rate: int
    bpm: float
    sections: list[tuple[float, str]]  # (start, kind), plus ("end", ...) excluded
    events: list[tuple[float, str]]  # (time, kind) of the truth events
    downbeats: np.ndarray
    beats: np.ndarray
    plan: list[tuple[str, int]] = field(default_factory=list)  # (section kind, bars)

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.sample_rate

    def times(self, kind: str) -> np.ndarray:
        """True times (s) of one event kind."""
        return np.array([t for t, k in self.events if k == kind], dtype=np.float64)


def _midi_hz(m: float) -> float:
    return 440.0 * 2.0 ** ((m - 69.0) / 12.0)


def _one_pole_lowpass(x: np.ndarray, cutoff: np.ndarray | float, sr: int) -> np.ndarray:
    """First-order low-pass, per-sample cutoff allowed (slow Python-free via scipy when fixed)."""
    from scipy.signal import lfilter

    if np.isscalar(cutoff):
        a = float(np.exp(-2.0 * np.pi * float(cutoff) / sr))
        return lfilter([1.0 - a], [1.0, -a], x)
    # time-varying: process in 256-sample chunks with a held coefficient
    out = np.empty_like(x)
    zi = np.zeros(1)
    cut = np.asarray(cutoff)
    for i in range(0, len(x), 256):
        a = float(np.exp(-2.0 * np.pi * float(cut[i]) / sr))
        out[i : i + 256], zi = lfilter([1.0 - a], [1.0, -a], x[i : i + 256], zi=zi)
    return out


class _Kit:
    """One-shot drum sounds for one arrangement (randomised a little per seed)."""

    def __init__(self, rng: np.random.Generator, sr: int) -> None:
        n = int(0.35 * sr)
        t = np.arange(n) / sr
        f0 = rng.uniform(45, 58)
        freq = f0 + rng.uniform(90, 150) * np.exp(-t / rng.uniform(0.02, 0.04))
        self.kick = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / rng.uniform(0.15, 0.3))
        self.kick[: int(0.002 * sr)] *= np.linspace(0, 1, int(0.002 * sr))
        n = int(0.25 * sr)
        t = np.arange(n) / sr
        noise = rng.standard_normal(n)
        body = np.sin(2 * np.pi * rng.uniform(170, 230) * t)
        self.snare = (0.7 * np.diff(noise, prepend=0.0) + 0.6 * body) * np.exp(-t / rng.uniform(0.05, 0.09))
        n = int(0.06 * sr)
        t = np.arange(n) / sr
        self.hat = np.diff(rng.standard_normal(n), n=2, prepend=[0.0, 0.0]) * np.exp(-t / 0.015) * 0.25
        self.open_hat = np.diff(rng.standard_normal(int(0.25 * sr)), n=2, prepend=[0.0, 0.0]) \
            * np.exp(-np.arange(int(0.25 * sr)) / sr / 0.08) * 0.2
        n = int(1.5 * sr)
        t = np.arange(n) / sr
        self.crash = np.diff(rng.standard_normal(n), prepend=0.0) * np.exp(-t / 0.5) * 0.35


def _saw(freq: float, n: int, sr: int, phase: float = 0.0) -> np.ndarray:
    return 2.0 * ((np.arange(n) * freq / sr + phase) % 1.0) - 1.0


def _plan(rng: np.random.Generator) -> list[tuple[str, int]]:
    """A random section plan on an 8-bar grid."""
    plan: list[tuple[str, int]] = [("intro", int(rng.choice([8, 16])))]
    plan.append(("groove", int(rng.choice([8, 16]))))
    for part in range(int(rng.choice([1, 2, 2]))):
        style = rng.random()
        if style < 0.55:  # breakdown then build then drop
            build = int(rng.choice([4, 8]))
            plan += [("breakdown", int(rng.choice([8, 16])) - (build if build == 4 else 0)), ("build", build)]
        elif style < 0.8:  # build straight from the groove
            plan += [("build", int(rng.choice([4, 8])))]
            if plan[-2][0] == "groove" and plan[-1][1] == 4:
                plan[-2] = ("groove", plan[-2][1] + 4)  # keep the 8-bar grid
        else:  # breakdown, build, drop and a soft return later
            plan += [("breakdown", 8), ("build", 8)]
        plan.append(("drop", int(rng.choice([8, 16]))))
        if part == 0 and rng.random() < 0.4:
            plan += [("breakdown", 8), ("soft", 8)]
    plan.append(("outro", 8))
    return plan


def render_arrangement(seed: int, sample_rate: int = 44100, *, bpm: float | None = None,
                       gain_db: float | None = None, lead_in: float = 1.0,
                       tail: float | None = None, root: int | None = None,
                       plan: list[tuple[str, int]] | None = None) -> Arrangement:
    """Render one random arrangement (see the module docstring for the truth conventions).

    ``gain_db`` scales the whole track (random −24..−3 dB by default, to test level robustness);
    ``tail`` seconds of silence after the outro (random: none or 2–4 s).
    """
    rng = np.random.default_rng(seed)
    sr = int(sample_rate)
    bpm = float(bpm if bpm is not None else rng.uniform(118, 136))
    gain_db = float(gain_db if gain_db is not None else rng.uniform(-24, -3))
    tail = float(tail if tail is not None else (0.0 if rng.random() < 0.5 else rng.uniform(2.0, 4.0)))
    root = int(root if root is not None else rng.integers(36, 44))  # bass root, MIDI
    plan = plan or _plan(rng)
    kit = _Kit(rng, sr)
    beat = 60.0 / bpm
    bar = 4 * beat
    total_bars = sum(b for _, b in plan)
    start = lead_in
    n = int((start + total_bars * bar + tail) * sr)
    out = np.zeros(n)
    # chord progression: scale degrees (minor), one chord per bar
    prog = [(0, 3, 7), (8, 12, 15), (3, 7, 10), (10, 14, 17)] if rng.random() < 0.5 else \
        [(0, 3, 7), (5, 8, 12), (8, 12, 15), (7, 10, 14)]
    bass_pat = rng.choice([0, 1, 2])
    lead_notes = rng.choice([0, 3, 5, 7, 10, 12], size=16)

    def put(sig: np.ndarray, at: float, g: float) -> None:
        i = int(round(at * sr))
        if i >= n:
            return
        j = min(n, i + len(sig))
        out[i:j] += g * sig[: j - i]

    pad_cache: dict[int, np.ndarray] = {}

    def pad(chord_i: int) -> np.ndarray:
        if chord_i not in pad_cache:
            m = int(bar * sr)
            tt = np.arange(m) / sr
            s = np.zeros(m)
            for note in prog[chord_i]:
                f = _midi_hz(root + 24 + note)
                s += _saw(f, m, sr, rng.random()) + _saw(f * 1.004, m, sr, rng.random())
            s = _one_pole_lowpass(s, 1800.0, sr)
            fade = np.minimum(1.0, np.minimum(tt / 0.15, (bar - tt) / 0.15))
            pad_cache[chord_i] = s * fade / 6.0
        return pad_cache[chord_i]

    sections, events, downbeats, beats = [], [], [], []
    t_bar = start
    events.append((start, "music_start"))
    prev_kind = None
    bar_no = 0
    for kind, bars in plan:
        sections.append((t_bar, kind))
        if kind == "breakdown":
            events.append((t_bar, "breakdown_start"))
        if kind == "build":
            events.append((t_bar, "buildup"))
        if kind == "drop":
            events.append((t_bar, "drop"))
            if prev_kind in ("breakdown", "build") and any(k == "breakdown" for _, k in sections[-3:-1]):
                events.append((t_bar, "breakdown_end"))
        if kind == "soft":
            events.append((t_bar, "breakdown_end"))
        build_kick = kind == "build" and prev_kind != "breakdown"
        level = {"intro": 0.7, "groove": 0.9, "breakdown": 0.6, "build": 0.8, "drop": 1.0,
                 "soft": 0.65, "outro": 0.7}[kind]
        for b in range(bars):
            tb = t_bar + b * bar
            downbeats.append(tb)
            chord = (bar_no // 1) % 4
            if b == 0 and kind in ("drop", "groove"):
                put(kit.crash, tb, 0.8)
            if kind in ("groove", "breakdown", "build", "drop"):
                put(pad(chord), tb, 0.55 if kind == "breakdown" else 0.35)
            for q in range(4):
                t = tb + q * beat
                beats.append(t)
                kick = kind in ("intro", "groove", "drop", "soft", "outro") or (build_kick and b < bars // 2)
                if kick:
                    put(kit.kick, t, 0.9 * level)
                if kind in ("groove", "drop") and q in (1, 3):
                    put(kit.snare, t, 0.45 * level)
                if kind in ("intro", "groove", "drop", "soft", "outro"):
                    put(kit.hat, t + beat / 2, 0.9 * level)
                    if kind in ("groove", "drop"):
                        put(kit.open_hat, t + beat / 2, 0.5 * level)
                if kind in ("groove", "drop"):
                    m = int(beat / 2 * sr)
                    for half in (0, 1):
                        if bass_pat == 0 and half == 0:
                            continue
                        f = _midi_hz(root + prog[chord][0] + (12 if (bass_pat == 2 and half) else 0))
                        s = _one_pole_lowpass(_saw(f, m, sr), 400.0, sr) * np.exp(-np.arange(m) / sr / 0.12)
                        put(s, t + half * beat / 2, 0.8 * level)
                if kind == "drop":
                    for e in range(2):
                        m = int(beat / 2 * sr)
                        f = _midi_hz(root + 36 + int(lead_notes[(4 * b + 2 * q + e) % 16]))
                        s = (_saw(f, m, sr) + _saw(f * 1.006, m, sr)) * np.exp(-np.arange(m) / sr / 0.1) * 0.12
                        put(s, t + e * beat / 2, level)
            if kind == "build":
                # snare roll: quarters, eighths, sixteenths, thirty-seconds over the build
                frac = b / bars
                div = 1 if frac < 0.25 else 2 if frac < 0.5 else 4 if frac < 0.85 else 8
                for k in range(4 * div):
                    v = 0.15 + 0.4 * (b + k / (4 * div)) / bars
                    put(kit.snare, tb + k * beat / div, v)
            bar_no += 1
        if kind == "build":  # riser: noise with a rising cutoff plus an upward sweep
            m = int(bars * bar * sr)
            u = np.arange(m) / m
            noise = rng.standard_normal(m)
            cut = 300.0 * (12000.0 / 300.0) ** u
            hp = noise - _one_pole_lowpass(noise, 200.0, sr)
            riser = _one_pole_lowpass(hp, cut, sr) * u ** 1.5 * 0.25
            sweep_f = 200.0 * 20.0 ** u
            riser += np.sin(2 * np.pi * np.cumsum(sweep_f) / sr) * u ** 2 * 0.06
            put(riser, t_bar, 1.0)
        t_bar += bars * bar
        prev_kind = kind
    end = t_bar
    if tail > 0:
        events.append((end, "silence"))
        out[int(end * sr):] = 0.0  # hard stop: one-shots ringing past the end are cut
    first = start
    for k in range(0, total_bars, 8):
        events.append((first + k * bar, "phrase"))
    out = np.tanh(out * 0.8) * 10.0 ** (gain_db / 20.0)
    # the lead-in stays exactly silent (tanh(0) = 0)
    events.sort()
    return Arrangement(out.astype(np.float32), sr, bpm, sections, events, np.array(downbeats),
                       np.array(beats), plan)


def render_dj_mix(seed: int, sample_rate: int = 44100, *, crossfade_bars: int = 8) -> Arrangement:
    """Two arrangements of different tempo and key, the second mixed in over ``crossfade_bars``
    bars of the first's outro (equal-power crossfade). Truth: both tracks' events, minus the
    first's ``silence`` and the second's ``music_start``, plus ``track_change`` at the middle of
    the crossfade. Phrase truth is kept only outside the crossfade."""
    rng = np.random.default_rng(seed + 10_000)
    a = render_arrangement(seed, sample_rate, tail=0.0, gain_db=rng.uniform(-12, -4))
    bpm_b = a.bpm * (1.0 + rng.choice([-1, 1]) * rng.uniform(0.05, 0.10))
    b = render_arrangement(seed + 5000, sample_rate, bpm=bpm_b, lead_in=0.0, gain_db=rng.uniform(-12, -4),
                           root=36 + (int(rng.integers(36, 44)) + 5) % 8)
    sr = sample_rate
    fade_s = crossfade_bars * 4 * 60.0 / a.bpm
    a_end = a.sections[-1][0]  # outro start of A
    join = a.duration - fade_s  # fade over the last bars of A's outro
    i = int(round(join * sr))
    m = int(round(fade_s * sr))
    n = max(len(a.samples), i + len(b.samples))
    out = np.zeros(n)
    ga = np.ones(len(a.samples))
    ga[i : i + m] = np.cos(0.5 * np.pi * np.arange(m) / m)
    ga[i + m :] = 0.0
    out[: len(a.samples)] += a.samples * ga
    gb = np.ones(len(b.samples))
    gb[:m] = np.sin(0.5 * np.pi * np.arange(m) / m)
    out[i : i + len(b.samples)] += b.samples * gb
    events = [(t, k) for t, k in a.events if k not in ("silence",) and not (k == "phrase" and t >= join)]
    events += [(t + join, k) for t, k in b.events
               if k != "music_start" and not (k == "phrase" and t < fade_s)]
    change = join + fade_s / 2
    events.append((change, "track_change"))
    events.sort()
    sections = a.sections + [(t + join, k) for t, k in b.sections]
    # the beat grid is the outgoing track's until the middle of the crossfade, then the new one's
    downbeats = np.concatenate([a.downbeats[a.downbeats < change], b.downbeats[b.downbeats + join >= change] + join])
    beats = np.concatenate([a.beats[a.beats < change], b.beats[b.beats + join >= change] + join])
    return Arrangement(out.astype(np.float32), sr, a.bpm, sections, events, downbeats, beats, a.plan + b.plan)
