"""Multi-band spectral-flux onsets and band levels on the front end's fast frames.

Onset function per band: the positive increase of the log-compressed magnitude against the
frame ``lag`` hops earlier, maximum-filtered over 3 bins (SuperFlux's trick against vibrato),
averaged over the band's bins. An onset fires on the first frame where the function is at
least the maximum of the previous ``pre_max`` frames and exceeds an adaptive threshold
(``ratio`` × the mean of the last ``pre_avg`` seconds + ``delta`` × a slow level of the
function, so the threshold follows loudness), and at least ``min_gap`` after the previous
onset in that band. There is no look-ahead: the onset is reported by the frame in which it
shows, at most one hop (5.8 ms at 44.1 kHz) after its audio enters the window.

Bands: ``mix`` (30 Hz–16 kHz, every onset), and the drum proxies ``kick`` (30–150 Hz),
``snare`` (200–4000 Hz) and ``hihat`` (6–16 kHz) until stem separation provides drums.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.analysis.frontend import FrontEnd
from engine.audio.block import AudioBlock
from engine.features import FeatureEvent

#: (label, low Hz, high Hz); label None = the whole mix
ONSET_BANDS: tuple[tuple[str | None, float, float], ...] = (
    (None, 30.0, 16000.0),
    ("kick", 30.0, 150.0),
    ("snare", 200.0, 4000.0),
    ("hihat", 6000.0, 16000.0),
)
LEVEL_BANDS: tuple[tuple[str, float, float], ...] = (
    ("mix", 20.0, 20000.0),
    ("low", 20.0, 250.0),
    ("mid", 250.0, 4000.0),
    ("high", 4000.0, 20000.0),
)


@dataclass(slots=True)
class OnsetOptions:
    """Tuning of :class:`OnsetDetector` (general-purpose defaults)."""

    compression: float = 100.0  # log10(1 + compression * magnitude)
    lag: int = 2  # frames between compared spectra
    pre_max: float = 0.03  # seconds
    pre_avg: float = 0.10  # seconds
    ratio: float = 1.0
    delta: float = 1.0
    level_tau: float = 3.0  # seconds, slow level of the onset function
    min_gap: float = 0.05  # seconds between onsets of one band (mix: half of it)
    peak_share: float = 0.25  # drum-proxy threshold floor: share of the recent onset peak
    peak_half_life: float = 1.0  # seconds
    narrow_bins: int = 16  # bands with fewer bins use band-magnitude flux
    # A narrow band's onset must also raise its magnitude at least this much (log10: 0.6 = x4,
    # 12 dB): a kick drum jumps 30+ dB in its band, bass notes and snare leakage far less.
    narrow_min_rise: float = 0.6
    # Where in the window an onset is when it first shows: the reported time is the frame's
    # end minus this (calibrated on synthetic clicks, see tests/analysis/test_onsets.py).
    time_offset: float = 0.006  # seconds


class OnsetDetector:
    """Causal multi-band onset detector: ``process(block) -> [onset events]``, ``reset()``."""

    def __init__(self, frontend: FrontEnd, options: OnsetOptions | None = None, *, stem: str = "mix",
                 band_proxies: bool = True) -> None:
        """``band_proxies=False``: only the whole-mix onset (when stem separation provides the
        real kick/snare/hi-hat labels)."""
        self.fe = frontend
        self.opt = options or OnsetOptions()
        #: the stem this detector listens to ("mix", or a separated stem fed through its own front end)
        self.stem = stem
        f = frontend.fast_freqs
        self._bands = []
        for label, lo, hi in ONSET_BANDS if band_proxies else ONSET_BANDS[:1]:
            sel = np.flatnonzero((f >= lo) & (f < min(hi, 0.49 * frontend.sample_rate)))
            self._bands.append((label, sel))
        fps = frontend.sample_rate / frontend.fast_hop
        self._fps = fps
        self._pre_max = max(1, int(round(self.opt.pre_max * fps)))
        self._pre_avg = max(1, int(round(self.opt.pre_avg * fps)))
        self._hist_len = max(self._pre_max, self._pre_avg)
        self._level_a = 1.0 / (self.opt.level_tau * fps)
        # the peak floor is for the drum proxies only: the mix band must keep quiet onsets
        self._peak_share = np.array([0.0 if lab is None else self.opt.peak_share for lab, _ in self._bands])
        # (bins, bands) averaging matrix and which bands are narrow
        self._band_avg = np.zeros((len(f), len(self._bands)), np.float32)
        for b, (_, sel) in enumerate(self._bands):
            if len(sel):
                self._band_avg[sel, b] = 1.0 / len(sel)
        self._narrow = np.array([len(sel) < self.opt.narrow_bins for _, sel in self._bands])
        self._floor = np.array([self.opt.narrow_min_rise if len(sel) < self.opt.narrow_bins else 0.0
                                for _, sel in self._bands])
        self._peak_decay = 0.5 ** (1.0 / (self.opt.peak_half_life * fps))
        self._gap = [int(round((0.5 if lab is None else 1.0) * self.opt.min_gap * fps)) for lab, _ in self._bands]
        self._offset = int(round(self.opt.time_offset * frontend.sample_rate))
        self.reset()

    def reset(self) -> None:
        """Forget the stream."""
        nb = len(self._bands)
        self._spec_hist = np.zeros((self.opt.lag, len(self.fe.fast_freqs)), np.float32)
        self._band_hist = np.zeros((self.opt.lag, len(self._bands)))
        self._n = 0
        self._odf = np.zeros((nb, self._hist_len), np.float64)  # ring of the onset function
        self._level = np.zeros(nb)
        self._peak = np.zeros(nb)
        self._frames = 0
        self._since = np.full(nb, 10**9)

    def onset_function(self, mag: np.ndarray) -> np.ndarray:
        """Advance one fast frame: the onset function value per band."""
        logmag = np.log10(1.0 + self.opt.compression * mag)
        prev = self._spec_hist[self._n % self.opt.lag]
        ref = np.maximum(np.maximum(prev, np.roll(prev, 1)), np.roll(prev, -1))
        diff = np.maximum(logmag - ref, 0.0) if self._n >= self.opt.lag else np.zeros_like(logmag)
        # Narrow bands (few bins, e.g. the kick band) use the flux of their summed magnitude:
        # per-bin flux over 3-4 bins is too noisy to threshold. Band means are one product with
        # a (bins, bands) averaging matrix.
        band_log = np.log10(1.0 + self.opt.compression * (mag @ self._band_avg))
        slot = self._n % self.opt.lag
        band_flux = np.maximum(band_log - self._band_hist[slot], 0.0)
        self._band_hist[slot] = band_log
        self._spec_hist[slot] = logmag
        started = self._n >= self.opt.lag
        self._n += 1
        if not started:
            return np.zeros(len(self._bands))
        return np.where(self._narrow, band_flux, diff @ self._band_avg)

    def process(self, block: AudioBlock) -> list[FeatureEvent]:
        """Onset events for the fast frames this block completes."""
        fr = self.fe.frames_for(block)
        events: list[FeatureEvent] = []
        o = self.opt
        for mag, end in zip(fr.fast_mag, fr.fast_end):
            odf = self.onset_function(mag)
            hist = self._odf
            past_max = hist[:, -self._pre_max :].max(1)
            past_avg = hist[:, -self._pre_avg :].mean(1)
            # the threshold also stays above a share of recent onset peaks (decaying), which
            # keeps noisy narrow bands from firing on their own fluctuations
            self._peak *= self._peak_decay
            thr = np.maximum(np.maximum(o.ratio * past_avg + o.delta * self._level, self._peak_share * self._peak),
                             self._floor)
            self._since += 1
            for b, (label, _) in enumerate(self._bands):
                if (odf[b] >= past_max[b] and odf[b] > thr[b] and self._since[b] > self._gap[b]
                        and self._frames >= self._pre_avg):
                    self._since[b] = 0
                    self._peak[b] = max(self._peak[b], odf[b])
                    strength = float(np.tanh((odf[b] - thr[b]) / (4.0 * self._level[b] + 1e-9)))
                    data = {"stem": self.stem, "strength": strength}
                    if label:
                        data["label"] = label
                    events.append(FeatureEvent("onset", int(end) - self._offset, int(end), strength, data))
            hist[:, :-1] = hist[:, 1:]
            hist[:, -1] = odf
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
