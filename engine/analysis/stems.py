"""Per-stem features for the show, computed on the streaming separator's stem spectra.

:class:`StemAnalyser` runs one separator (the trained ONNX model, or the DSP baseline when the
model is disabled or missing) over the input stream and publishes, per STFT frame of the
separator (hop 256 at 44.1 kHz = 5.8 ms):

* ``level.<stem>`` every ``level_every`` frames: value = RMS level in dBFS of the stem;
  ``data = {"stem", "rms", "loudness"}`` with ``loudness`` the momentary K-weighted loudness
  (ITU-R BS.1770 weighting, 400 ms mean square, in LUFS).
* ``onset`` per stem (``data = {"stem": s, "strength"}``): causal spectral flux with an
  adaptive threshold, as the mix onset detector; for the bass stem these are bass note onsets.
* on the drum stem, labelled onsets ``data = {"stem": "drums", "label": "kick"|"snare"|"hihat",
  "strength"}``: the mix onset detector's drum rules (:class:`~engine.analysis.onsets.DrumHitRules`,
  band energy rises near each band's recent peak, the band that gained the most power naming
  the drum) run on the separated drum spectrum instead of the mix's, where guitars and vocals no
  longer hide the snare's and hi-hat's rises; strength ``tanh(rise / 24 dB)`` as there. (Moving
  a label to the time of the drum stem's own flux onset up to 20 ms before it, as the mix
  detector does with the mix onset, measured slightly worse here: labels F 0.799 vs 0.807 on
  the development files, ``bench/eval_onsets.py --stems``.)
* ``vocal_presence`` with value 1.0 / 0.0 when the vocals switch on / off (hysteresis on the
  vocal-to-mix level ratio and absolute level, with hold times).

Times are input-stream frames: an onset's ``time`` is the end of the frame where it showed
minus ``time_offset``; ``detected_at`` the end of the block that revealed it. The features
use the stem *spectra*, so the analyser skips the separator's overlap-add resynthesis.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from engine.analysis.onsets import DrumHitRules, DrumRuleOptions
from engine.analysis.separation import (
    STEMS,
    SeparationError,
    StftMaskSeparator,
    make_mask_model,
    sqrt_hann,
)
from engine.audio.block import AudioBlock
from engine.features import FeatureEvent

def k_weighting_power(freqs: np.ndarray) -> np.ndarray:
    """|H(f)|² of the BS.1770 K-weighting (high shelf + high pass, 48 kHz prototype)."""
    from scipy.signal import freqz

    b1 = [1.53512485958697, -2.69169618940638, 1.19839281085285]
    a1 = [1.0, -1.69065929318241, 0.73248077421585]
    b2 = [1.0, -2.0, 1.0]
    a2 = [1.0, -1.99004745483398, 0.99007225036621]
    f = np.minimum(freqs, 23999.0)
    _, h1 = freqz(b1, a1, worN=f, fs=48000)
    _, h2 = freqz(b2, a2, worN=f, fs=48000)
    return (np.abs(h1 * h2) ** 2).astype(np.float64)


@dataclass(slots=True)
class StemOptions:
    """Tuning of :class:`StemAnalyser` (general-purpose defaults)."""

    separator: str = "auto"  # "auto" | "model" | "dsp"
    model_path: Path | None = None
    level_every: int = 4  # frames between level events (4 × 5.8 ms = 23 ms)
    compression: float = 100.0  # log10(1 + compression * magnitude) for the onset functions
    pre_max: float = 0.03  # s: an onset must be the maximum of this past
    pre_avg: float = 0.10  # s: mean of this past in the adaptive threshold
    ratio: float = 1.0
    delta: float = 0.6  # × a slow level of the onset function
    level_tau: float = 3.0  # s
    min_gap: float = 0.05  # s between onsets of one detector
    floor_db: float = -60.0  # no onset from a stem quieter than this (dBFS)
    #: the drum rules on the separated drum spectrum (the mix detector's rules and defaults)
    drums: DrumRuleOptions = field(default_factory=DrumRuleOptions)
    time_offset: float = 0.006  # s: where in the frame an onset sits when it first shows
    vocal_on_ratio_db: float = -14.0  # vocal level minus mix level to switch on
    vocal_off_ratio_db: float = -20.0
    vocal_floor_db: float = -50.0
    vocal_on_hold: float = 0.10  # s above the on-threshold before "on"
    vocal_off_hold: float = 0.30  # s below the off-threshold before "off"


class _Flux:
    """Causal onset picking on one onset-function stream (several detectors in parallel)."""

    def __init__(self, n: int, fps: float, opt: StemOptions) -> None:
        self.opt = opt
        self.pre_max = max(1, int(round(opt.pre_max * fps)))
        self.pre_avg = max(1, int(round(opt.pre_avg * fps)))
        self.hist = np.zeros((n, max(self.pre_max, self.pre_avg)))
        self.level = np.full(n, 1e-3)
        self.level_a = 1.0 / (opt.level_tau * fps)
        self.gap = max(1, int(round(opt.min_gap * fps)))
        self.since = np.full(n, 10**9)

    def step(self, odf: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        """Advance one frame; returns the strength of each detector's onset (0: none)."""
        past_max = self.hist[:, -self.pre_max :].max(1)
        past_avg = self.hist[:, -self.pre_avg :].mean(1)
        thr = self.opt.ratio * past_avg + self.opt.delta * self.level
        self.since += 1
        fire = (odf >= past_max) & (odf > thr) & (self.since > self.gap) & allowed
        self.since[fire] = 0
        strength = np.where(fire, np.tanh((odf - thr) / (4.0 * self.level + 1e-9)), 0.0)
        self.hist[:, :-1] = self.hist[:, 1:]
        self.hist[:, -1] = odf
        self.level += self.level_a * (odf - self.level)
        return strength


class StemAnalyser:
    """Separates the stream into stems and publishes per-stem features (see module docs).

    ``process(block) -> [events]`` and ``reset()``; feeding a file in blocks of any size gives
    the same events as one call (the separator and every detector are causal and stateful).
    """

    def __init__(self, sample_rate: int, options: StemOptions | None = None) -> None:
        self.opt = options or StemOptions()
        self.sample_rate = int(sample_rate)
        model = make_mask_model(self.sample_rate, self.opt.separator, self.opt.model_path)
        # features need the stem spectra only: no overlap-add resynthesis
        inner = StftMaskSeparator(model, synthesize=False)
        self._inner = inner
        self.kind = type(model).__name__
        sr, hop, nfft = inner.sample_rate, inner.hop, inner.n_fft
        self._ratio = self.sample_rate / sr
        self._fps = sr / hop
        freqs = np.fft.rfftfreq(nfft, 1 / sr)
        win = sqrt_hann(nfft).astype(np.float64)
        self._ms_scale = 2.0 / (nfft * float((win * win).sum()))  # Parseval, one-sided
        self._kw = k_weighting_power(freqs)
        self._loud_len = max(1, int(round(0.4 * self._fps)))
        self._drums = DrumHitRules(freqs, win, self._fps, self.opt.drums)
        self._stem_band = np.flatnonzero((freqs >= 30) & (freqs < min(16000, 0.49 * sr)))
        self._bass_band = np.flatnonzero((freqs >= 30) & (freqs < 500))
        self._offset = self.opt.time_offset * self.sample_rate
        self.reset()

    def fallback(self) -> str | None:
        """Switch to the DSP separator (after the network failed while running); None when
        already on it. The stream restarts from here (the engine's crash handling calls this)."""
        if self.kind == "DspMaskModel":
            return None
        self.__init__(self.sample_rate, replace(self.opt, separator="dsp"))  # type: ignore[misc]
        return "DSP separator"

    def reset(self) -> None:
        """Forget the stream (separator state, detector histories, vocal state)."""
        import soxr

        self._inner.reset()
        # the network runs at its own rate: resample the input (soxr "LQ": ≈4 ms delay; the
        # stream stays aligned, soxr only holds samples back, so times need no correction)
        self._up = (soxr.ResampleStream(self.sample_rate, self._inner.sample_rate, 1, dtype="float32", quality="LQ")
                    if self._inner.sample_rate != self.sample_rate else None)
        bins = self._inner.n_fft // 2 + 1
        self._prev = np.zeros((len(STEMS), bins))
        self._frames = 0
        self._stem_flux = _Flux(len(STEMS), self._fps, self.opt)
        self._drums.reset()
        self._kw_ring = np.zeros((len(STEMS) + 1, self._loud_len))
        self._vocal_on = False
        self._vocal_count = 0
        self._ratio_smooth = -60.0

    def _time(self, frame_end_model: int) -> int:
        return int(round(frame_end_model * self._ratio - self._offset))

    def process(self, block: AudioBlock) -> list[FeatureEvent]:
        """Feed one block; return the events of the separator frames it completed."""
        if block.sample_rate != self.sample_rate:
            raise SeparationError(f"stem analyser: block at {block.sample_rate} Hz, expected {self.sample_rate} Hz")
        x = np.asarray(block.samples, dtype=np.float32)
        if x.ndim != 1:
            x = x.reshape(len(x), -1).mean(axis=1).astype(np.float32)
        self._inner.process(self._up.resample_chunk(x) if self._up is not None else x)
        mags = self._inner.last_stem_mag  # [k, 4, bins]
        mix = self._inner.last_mix_mag
        events: list[FeatureEvent] = []
        det = int(block.end_frame)
        hop = self._inner.hop
        o = self.opt
        for i in range(len(mags)):
            self._frames += 1
            end_model = self._frames * hop
            m = mags[i].astype(np.float64)
            power = m * m
            ms = power.sum(axis=1) * self._ms_scale
            mix_ms = float((mix[i].astype(np.float64) ** 2).sum() * self._ms_scale)
            db = 10 * np.log10(ms + 1e-12)
            # K-weighted momentary loudness ring (stems + mix)
            j = self._frames % self._loud_len
            self._kw_ring[:-1, j] = (power * self._kw).sum(axis=1) * self._ms_scale
            self._kw_ring[-1, j] = float((mix[i].astype(np.float64) ** 2 * self._kw).sum() * self._ms_scale)
            if self._frames % o.level_every == 0:
                loud = -0.691 + 10 * np.log10(self._kw_ring.mean(axis=1) + 1e-12)
                t = self._time(end_model)
                for s, name in enumerate(STEMS):
                    events.append(FeatureEvent(f"level.{name}", t, det, float(db[s]),
                                               {"stem": name, "rms": float(np.sqrt(ms[s])),
                                                "loudness": float(loud[s])}))
            # per-stem onset functions
            logm = np.log10(1.0 + o.compression * m)
            ref = np.maximum(np.maximum(self._prev, np.roll(self._prev, 1, axis=1)), np.roll(self._prev, -1, axis=1))
            diff = np.maximum(logm - ref, 0.0)
            odf = np.array([diff[s, self._bass_band if name == "bass" else self._stem_band].mean()
                            for s, name in enumerate(STEMS)])
            if self._frames <= 2:
                odf[:] = 0.0
            self._prev = logm
            loud_enough = db > o.floor_db
            strength = self._stem_flux.step(odf, loud_enough)
            t = self._time(end_model)
            for s, name in enumerate(STEMS):
                if strength[s] > 0:
                    events.append(FeatureEvent("onset", t, det, float(strength[s]),
                                               {"stem": name, "strength": float(strength[s])}))
            # labelled drum onsets: the drum rules on the drum stem's spectrum
            for label, rise_db in self._drums.step(mags[i][0]):
                hit = float(np.tanh(rise_db / 24.0))
                events.append(FeatureEvent("onset", t, det, hit, {"stem": "drums", "label": label, "strength": hit}))
            # vocal presence with hysteresis
            vdb = float(db[2])
            ratio = vdb - 10 * np.log10(mix_ms + 1e-12)
            self._ratio_smooth += (ratio - self._ratio_smooth) * (1 - np.exp(-1 / (0.1 * self._fps)))
            if not self._vocal_on:
                cond = self._ratio_smooth > o.vocal_on_ratio_db and vdb > o.vocal_floor_db
                self._vocal_count = self._vocal_count + 1 if cond else 0
                if self._vocal_count >= o.vocal_on_hold * self._fps:
                    self._vocal_on, self._vocal_count = True, 0
                    events.append(FeatureEvent("vocal_presence", t, det, 1.0, {"stem": "vocals", "present": True}))
            else:
                cond = self._ratio_smooth < o.vocal_off_ratio_db or vdb < o.vocal_floor_db - 5
                self._vocal_count = self._vocal_count + 1 if cond else 0
                if self._vocal_count >= o.vocal_off_hold * self._fps:
                    self._vocal_on, self._vocal_count = False, 0
                    events.append(FeatureEvent("vocal_presence", t, det, 0.0, {"stem": "vocals", "present": False}))
        return events
