"""Spectral-flux onsets of the whole mix, drum-hit labels from band energy rises, band levels.

All of it runs on the shared front end's fast frames (1024-sample Hann window, hop 256 at
44.1/48 kHz, 128 below 32 kHz) and is causal: an event is reported by the frame in which it
shows, with no look-ahead.

**Mix onsets** (no label; every instrument): the positive increase of the log-compressed
magnitude against the frame ``lag`` hops earlier, maximum-filtered over 3 bins (SuperFlux's
trick against vibrato), averaged over 30 Hz–16 kHz. An onset fires on the first frame where the
function is at least the maximum of the previous ``pre_max`` seconds and exceeds an adaptive
threshold (``ratio`` × the mean of the last ``pre_avg`` seconds + ``delta`` × a slow level of
the function, so the threshold follows loudness), at least ``min_gap`` after the previous one.

**Drum labels** (``kick``, ``snare``, ``hihat``: band proxies until stem separation provides the
drums): the energy of four bands in dBFS (:data:`DRUM_BANDS`), its *rise* over the minimum of
the last ``rise_frames`` frames, the power it *gained* over that minimum, and its level
against the band's own recent peak (a peak memory decaying ``peak_decay`` dB/s). A drum hit
is a large, sudden rise that brings a band near the loudest it has recently been; sustained
instruments in the same band rise less, or stay well under the peaks the drums set:

* kick: the power the sub band (30–120 Hz) gained comes within ``kick_jump_db`` of the band's
  recent peak (the kick adds as much low end as the loudest recent event: a rise in dB would
  miss a kick over a sustained bass, which lifts the band only ~5 dB, while a bass note change
  adds little *new* power), and more than the body band gained (a snare or a tom lifts the lows
  too, but its shell more). Gained power, not the rise in dB, decides between these
  neighbours: a beater's click lifts a body band that was nearly empty by many dB while adding
  little energy to it;
* snare: the body (150–500 Hz) and wire (1.5–5 kHz) bands both rise ≥ ``snare_rise_db`` to within
  ``snare_rel_db`` of their peaks, the body gaining more power than the sub band (not a kick);
* hi-hat: the high band (6–16 kHz) rises ≥ ``hihat_rise_db`` to within ``hihat_rel_db`` of its peak,
  and rises more (in dB) than the wire band: brighter than a snare, whose noise reaches 16 kHz
  too (in dB, because any cymbal or snare puts more absolute power in 1.5–5 kHz than above 6 kHz).

The rules are :class:`DrumHitRules`, which run on magnitude spectra of any STFT (a separated
drum spectrum too); :class:`OnsetDetector` runs them on the front end's fast frames.

A band needs a few frames of the hit inside the window to rise that far, so a label is often
decided a frame or two after the mix onset of the same hit: its ``time`` is then that onset's
(the attack is located by the broadband flux; the bands only name it), when the mix onset came
at most ``label_anchor`` earlier; ``detected_at`` stays the frame that decided the label.

Why band energies and not spectral flux per band (the previous design): on the isolated MDB
drum stems the flux proxies scored kick / snare / hi-hat F 0.80 / 0.33 / 0.84, these rules
0.99 / 0.85 / 0.90 (``bench/eval_onsets.py``): a snare lifts the 200 Hz–4 kHz flux, but so does
every kick and hi-hat, whereas "near the band's recent peak" singles out the hit that defines
that peak. On the full mixes they score 0.70 / 0.22 / 0.70 (flux proxies 0.49 / 0.26 / 0.68):
guitars and vocals in the snare's and hi-hat's bands hide those rises. Better labels need the
drum stem: :class:`~engine.analysis.stems.StemAnalyser` runs these same rules on the separated
drum spectrum (with the shipped separator: kick / snare / hi-hat F 0.67 / 0.38 / 0.73 on the
MDB mixes, ``bench/eval_onsets.py --stems``; the stem is far from the true one).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.analysis.frontend import FrontEnd
from engine.audio.block import AudioBlock
from engine.features import FeatureEvent

#: the whole-mix onset band (Hz)
MIX_BAND: tuple[float, float] = (30.0, 16000.0)
#: bands whose energy rises label a drum hit (Hz), in the order the rules index them
DRUM_BANDS: tuple[tuple[str, float, float], ...] = (
    ("sub", 30.0, 120.0),  # kick fundamental
    ("body", 150.0, 500.0),  # snare and tom shells
    ("rattle", 1500.0, 5000.0),  # snare wires
    ("high", 6000.0, 16000.0),  # hi-hats and cymbals
)
DRUM_LABELS: tuple[str, ...] = ("kick", "snare", "hihat")
LEVEL_BANDS: tuple[tuple[str, float, float], ...] = (
    ("mix", 20.0, 20000.0),
    ("low", 20.0, 250.0),
    ("mid", 250.0, 4000.0),
    ("high", 4000.0, 20000.0),
)


@dataclass(slots=True)
class DrumRuleOptions:
    """Tuning of :class:`DrumHitRules` (general-purpose defaults, see the module docstring)."""

    rise_frames: int = 3  # a band's rise is measured against the minimum of these frames
    peak_decay: float = 3.0  # dB per second, the band's peak memory
    floor_db: float = -60.0  # no drum label from a band quieter than this (dBFS)
    min_gap: float = 0.05  # seconds between hits of one label
    kick_jump_db: float = -1.0  # power the sub band gained, against its recent peak
    snare_rise_db: float = 6.0
    snare_rel_db: float = -6.0
    hihat_rise_db: float = 6.0
    hihat_rel_db: float = -15.0


@dataclass(slots=True)
class OnsetOptions:
    """Tuning of :class:`OnsetDetector` (general-purpose defaults, see the module docstring)."""

    compression: float = 100.0  # log10(1 + compression * magnitude)
    lag: int = 2  # frames between compared spectra
    pre_max: float = 0.03  # seconds
    pre_avg: float = 0.10  # seconds
    ratio: float = 1.0
    delta: float = 1.0
    level_tau: float = 3.0  # seconds, slow level of the onset function
    min_gap: float = 0.025  # seconds between mix onsets
    # Where in the window an onset is when it first shows: the reported time is the frame's
    # end minus this (calibrated on synthetic clicks, see tests/analysis/test_onsets.py).
    time_offset: float = 0.006  # seconds
    drums: DrumRuleOptions = field(default_factory=DrumRuleOptions)
    label_anchor: float = 0.02  # seconds: a label takes the time of a mix onset this recent


class DrumHitRules:
    """The drum band rules (module docstring) on magnitude spectra of any STFT.

    ``step(mag) -> [(label, rise in dB)]`` per frame, ``reset()``. ``freqs``: the frequency of
    each bin; ``window``: the analysis window (band energies then read in dBFS); ``fps``: frames
    per second. :class:`OnsetDetector` runs one on the front end's fast frames; a separated drum
    spectrum can be given to another.
    """

    def __init__(self, freqs: np.ndarray, window: np.ndarray, fps: float, options: DrumRuleOptions | None = None) -> None:
        self.opt = options or DrumRuleOptions()
        freqs = np.asarray(freqs, np.float64)
        w = np.asarray(window, np.float64)
        top = freqs[-1] * 0.98  # the bins right under Nyquist are unreliable
        # (bins, bands) matrix summing power, scaled to the mean square of the windowed frame
        # (Parseval, one-sided), so band energies read in dBFS
        scale = 2.0 / (len(w) * float((w * w).sum()))
        self._sum = np.zeros((len(freqs), len(DRUM_BANDS)))
        for b, (_, lo, hi) in enumerate(DRUM_BANDS):
            self._sum[(freqs >= lo) & (freqs < min(hi, top)), b] = scale
        self._usable = self._sum.any(axis=0)  # bands above Nyquist stay silent
        self._gap = int(round(self.opt.min_gap * fps))
        self._decay = self.opt.peak_decay / fps
        self.reset()

    def reset(self) -> None:
        """Forget the stream."""
        self._hist = np.full((len(DRUM_BANDS), max(1, self.opt.rise_frames)), -120.0)
        self._peak = np.full(len(DRUM_BANDS), -120.0)
        self._since = np.full(len(DRUM_LABELS), 10**9)
        self._frames = 0

    def step(self, mag: np.ndarray) -> list[tuple[str, float]]:
        """Advance one frame of magnitudes: (label, rise in dB) of each hit it shows."""
        o = self.opt
        power = mag.astype(np.float64) ** 2
        e = 10.0 * np.log10(power @ self._sum + 1e-12)
        before = self._hist.min(axis=1)
        rise = e - before
        # power each band gained (dB): which band got the most new energy names the drum; a
        # rise in dB alone would favour a band that was quiet before (a click lifts an empty band far)
        gain = 10.0 * np.log10(np.maximum(10.0 ** (e / 10.0) - 10.0 ** (before / 10.0), 1e-12))
        self._peak = np.maximum(self._peak - self._decay, e)
        rel = e - self._peak
        self._hist[:, :-1] = self._hist[:, 1:]
        self._hist[:, -1] = e
        self._since += 1
        self._frames += 1
        if self._frames <= self._hist.shape[1]:
            return []
        sub, body, rattle, high = range(len(DRUM_BANDS))
        audible = (e > o.floor_db) & self._usable
        fire = (
            audible[sub] and gain[sub] - self._peak[sub] >= o.kick_jump_db and gain[sub] > gain[body],
            audible[body] and audible[rattle] and rise[body] >= o.snare_rise_db and rise[rattle] >= o.snare_rise_db
            and rel[body] >= o.snare_rel_db and rel[rattle] >= o.snare_rel_db and gain[body] > gain[sub],
            audible[high] and rise[high] >= o.hihat_rise_db and rel[high] >= o.hihat_rel_db
            and rise[high] > rise[rattle],
        )
        hits = []
        for i, band in enumerate((sub, rattle, high)):
            if fire[i] and self._since[i] > self._gap:
                self._since[i] = 0
                hits.append((DRUM_LABELS[i], float(rise[band])))
        return hits


class OnsetDetector:
    """Causal onset detector: ``process(block) -> [onset events]``, ``reset()``.

    Events: ``FeatureEvent("onset", time, detected_at, strength, {"stem", "strength"})`` for the
    whole mix, plus ``{"label": "kick" | "snare" | "hihat"}`` for the drum band proxies.
    """

    def __init__(self, frontend: FrontEnd, options: OnsetOptions | None = None, *, stem: str = "mix",
                 band_proxies: bool = True) -> None:
        """``band_proxies=False``: only the whole-mix onset (when stem separation provides the
        real kick/snare/hi-hat labels)."""
        self.fe = frontend
        self.opt = options or OnsetOptions()
        #: the stem this detector listens to ("mix", or a separated stem fed through its own front end)
        self.stem = stem
        f = frontend.fast_freqs
        top = 0.49 * frontend.sample_rate
        self._mix_sel = np.flatnonzero((f >= MIX_BAND[0]) & (f < min(MIX_BAND[1], top)))
        fps = frontend.sample_rate / frontend.fast_hop
        self._pre_max = max(1, int(round(self.opt.pre_max * fps)))
        self._pre_avg = max(1, int(round(self.opt.pre_avg * fps)))
        self._hist_len = max(self._pre_max, self._pre_avg)
        self._level_a = 1.0 / (self.opt.level_tau * fps)
        self._mix_gap = int(round(self.opt.min_gap * fps))
        #: the drum band rules behind the labels (None without band proxies)
        self.drums = DrumHitRules(f, frontend.fast_window_fn, fps, self.opt.drums) if band_proxies else None
        self._anchor = int(round(self.opt.label_anchor * fps))
        self._offset = int(round(self.opt.time_offset * frontend.sample_rate))
        self.reset()

    def reset(self) -> None:
        """Forget the stream."""
        self._spec_hist = np.zeros((self.opt.lag, len(self.fe.fast_freqs)), np.float32)
        self._n = 0
        self._odf = np.zeros(self._hist_len)  # ring of the mix onset function (oldest first)
        self._level = 0.0
        self._frames = 0
        self._since = 10**9
        self._last_onset_time = 0  # time of the last mix onset (frames since: self._since)
        if self.drums is not None:
            self.drums.reset()

    def onset_function(self, mag: np.ndarray) -> float:
        """Advance one fast frame: the whole-mix onset function value."""
        logmag = np.log10(1.0 + self.opt.compression * mag)
        slot = self._n % self.opt.lag
        prev = self._spec_hist[slot]
        self._n += 1
        if self._n <= self.opt.lag:
            self._spec_hist[slot] = logmag
            return 0.0
        ref = np.maximum(np.maximum(prev, np.roll(prev, 1)), np.roll(prev, -1))
        value = float(np.maximum(logmag - ref, 0.0)[self._mix_sel].mean())
        self._spec_hist[slot] = logmag
        return value

    def process(self, block: AudioBlock) -> list[FeatureEvent]:
        """Onset events for the fast frames this block completes."""
        fr = self.fe.frames_for(block)
        events: list[FeatureEvent] = []
        o = self.opt
        for mag, end in zip(fr.fast_mag, fr.fast_end):
            t, det = int(end) - self._offset, int(end)
            odf = self.onset_function(mag)
            hist = self._odf
            thr = o.ratio * hist[-self._pre_avg :].mean() + o.delta * self._level
            self._since += 1
            if (odf >= hist[-self._pre_max :].max() and odf > thr and self._since > self._mix_gap
                    and self._frames >= self._pre_avg):
                self._since = 0
                self._last_onset_time = t
                strength = float(np.tanh((odf - thr) / (4.0 * self._level + 1e-9)))
                events.append(FeatureEvent("onset", t, det, strength, {"stem": self.stem, "strength": strength}))
            if self.drums is not None:
                t_label = self._last_onset_time if self._since <= self._anchor else t
                for label, rise_db in self.drums.step(mag):
                    strength = float(np.tanh(rise_db / 24.0))
                    events.append(FeatureEvent("onset", t_label, det, strength,
                                               {"stem": self.stem, "strength": strength, "label": label}))
            hist[:-1] = hist[1:]
            hist[-1] = odf
            # running mean over everything so far until level_tau is reached, then an EMA
            self._frames += 1
            self._level += max(self._level_a, 1.0 / self._frames) * (odf - self._level)
        return events


class LevelMeter:
    """Band levels in dBFS from the fast frames: events ``level.<band>`` every ``every`` frames."""

    def __init__(self, frontend: FrontEnd, every: int = 2) -> None:
        self.fe = frontend
        self.every = max(1, int(every))
        f = frontend.fast_freqs
        w = frontend.fast_window_fn.astype(np.float64)
        # Parseval: mean square of the windowed frame from one-sided magnitudes
        self._scale = 2.0 / (len(w) * float((w * w).sum()))
        self._masks = [(name, (f >= lo) & (f < hi)) for name, lo, hi in LEVEL_BANDS]
        self.reset()

    def reset(self) -> None:
        """Forget the stream."""
        self._count = 0

    def process(self, block: AudioBlock) -> list[FeatureEvent]:
        """Level events for the fast frames this block completes."""
        fr = self.fe.frames_for(block)
        events = []
        for mag, end in zip(fr.fast_mag, fr.fast_end):
            self._count += 1
            if self._count % self.every:
                continue
            power = mag.astype(np.float64) ** 2
            for name, mask in self._masks:
                db = 10.0 * np.log10(power[mask].sum() * self._scale + 1e-12)
                events.append(FeatureEvent(f"level.{name}", int(end), int(end), float(db)))
        return events
