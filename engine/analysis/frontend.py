"""The shared streaming feature front end: one STFT per hop, computed once for all analysers.

Two causal frame streams come out of the input audio:

* **fast frames** at the input rate (Hann window of ``fast_window`` samples, hop ``fast_hop``,
  5.3–5.8 ms at 48/44.1 kHz): magnitude spectra for onsets and band levels. A frame is
  emitted as soon as its last sample arrives; its time is that last sample's frame + 1.
* **beat frames** at 50 frames/s on audio resampled to 22,050 Hz (:class:`StreamResampler`,
  0.6 ms latency; ``soxr.ResampleStream`` was measured to release output 10–40 ms late):
  the madmom-style log-filtered spectrogram plus its positive first difference that BeatNet's
  CRNN was trained on (Hann window 1411, hop 441, 24 bands/octave 30 Hz–17 kHz → 136 bands,
  ``log10(1 + S)``, 136 + 136 = 272 values). BeatNet computed these with *centred* windows, so
  frame ``i`` (centre at 22,050 Hz sample ``441 i``, input frame ``i * 0.02 * rate``) is
  complete only 705 samples (32 ms) later: that is the model's look-ahead, which the beat
  tracker compensates by predicting.

Analysers hold a reference to one :class:`FrontEnd` and call :meth:`FrontEnd.frames_for`
with the block they were given; the first caller for a block computes the frames, the others
get the cached result. Chunked processing equals whole-file processing exactly: frames depend
only on the sample stream, not on how it was cut into blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.analysis.resample import StreamResampler
from engine.audio.block import AudioBlock
from engine.errors import BeamsyncError

BEAT_RATE = 22050
BEAT_WINDOW = 1411  # int(0.064 * 22050), as BeatNet
BEAT_HOP = 441  # int(0.020 * 22050): 50 frames per second
BEAT_FPS = 50.0
BEAT_BANDS_PER_OCTAVE = 24
BEAT_FMIN = 30.0
BEAT_FMAX = 17000.0
BEAT_FEATURES = 272


class AnalysisError(BeamsyncError):
    """Analysis cannot run on this input (unsupported rate, bad block), saying what and why."""


def log_frequencies(bands_per_octave: int, fmin: float, fmax: float, fref: float = 440.0) -> np.ndarray:
    """Frequencies spaced ``bands_per_octave`` per octave, aligned to ``fref``, within [fmin, fmax]."""
    left = np.floor(np.log2(fmin / fref) * bands_per_octave)
    right = np.ceil(np.log2(fmax / fref) * bands_per_octave)
    freqs = fref * 2.0 ** (np.arange(left, right) / bands_per_octave)
    freqs = freqs[np.searchsorted(freqs, fmin) :]
    return freqs[: np.searchsorted(freqs, fmax, "right")]


def log_filterbank(bin_freqs: np.ndarray, bands_per_octave: int, fmin: float, fmax: float) -> np.ndarray:
    """Triangular filters on a logarithmic frequency axis, each normalised to unit area.

    Returns a ``(len(bin_freqs), bands)`` matrix. Each filter spans three consecutive distinct
    FFT bins nearest to consecutive log-spaced frequencies (start, centre, stop); where two
    filters overlap the larger weight is kept. This is the layout of madmom's
    ``LogarithmicFilterbank`` with ``norm_filters=True, unique_filters=True``, which the
    BeatNet weights expect (checked numerically in tests/analysis).
    """
    freqs = log_frequencies(bands_per_octave, fmin, fmax)
    idx = np.clip(np.searchsorted(bin_freqs, freqs), 1, len(bin_freqs) - 1)
    left, right = bin_freqs[idx - 1], bin_freqs[idx]
    idx = idx - (freqs - left < right - freqs)  # nearest bin
    bins = np.unique(idx)
    bank = np.zeros((len(bin_freqs), len(bins) - 2), dtype=np.float64)
    for band in range(len(bins) - 2):
        start, centre, stop = (int(b) for b in bins[band : band + 3])
        if stop - start < 2:  # too narrow for a triangle: a single bin
            centre, stop = start, start + 1
        weights = np.zeros(stop - start)
        rise = centre - start
        weights[:rise] = np.linspace(0.0, 1.0, rise, endpoint=False)
        weights[rise:] = np.linspace(1.0, 0.0, stop - centre, endpoint=False)
        weights /= weights.sum()
        stop = min(stop, len(bin_freqs))
        seg = bank[start:stop, band]
        np.maximum(seg, weights[: stop - start], out=seg)
    return bank


@dataclass(slots=True)
class FrontEndFrames:
    """Frames completed by one block. Arrays are fresh copies the caller may keep.

    ``fast_mag``: ``(n, fast_window // 2 + 1)`` magnitudes; ``fast_end``: ``(n,)`` input frame
    one past each frame's last sample (also when it became available). ``beat_features``:
    ``(m, 272)``; ``beat_index``: ``(m,)`` beat-frame numbers (centre at input frame
    ``origin + beat_index * beat_hop_input``); ``beat_ready``: ``(m,)`` input frame one past the
    last sample each beat frame depended on (the earliest moment it could be computed).
    """

    fast_mag: np.ndarray
    fast_end: np.ndarray
    beat_features: np.ndarray
    beat_index: np.ndarray
    beat_ready: np.ndarray


class FrontEnd:
    """Causal STFT front end shared by the analysers of one input stream (see module docstring)."""

    def __init__(self, sample_rate: int, *, fast_window: int = 1024, fast_hop: int | None = None) -> None:
        if not 8000 <= int(sample_rate) <= 192000:
            raise AnalysisError(f"unsupported sample rate {sample_rate} Hz (expected 8000–192000)")
        self.sample_rate = int(sample_rate)
        self.fast_window = int(fast_window)
        self.fast_hop = int(fast_hop) if fast_hop else (256 if self.sample_rate >= 32000 else 128)
        self.fast_window_fn = np.hanning(self.fast_window).astype(np.float32)
        self.fast_freqs = np.fft.rfftfreq(self.fast_window, 1.0 / self.sample_rate)
        #: input frames per beat frame (882 at 44.1 kHz, 960 at 48 kHz)
        self.beat_hop_input = BEAT_HOP * self.sample_rate / BEAT_RATE
        # madmom's STFT of an odd 1411 window keeps 705 bins and labels bin k with
        # k * sr / 1410 (its fft_frequencies); the filterbank is laid on those labels.
        self.beat_bins = BEAT_WINDOW >> 1
        bin_freqs = np.fft.fftfreq(self.beat_bins * 2, 1.0 / BEAT_RATE)[: self.beat_bins]
        self.beat_filterbank = log_filterbank(bin_freqs, BEAT_BANDS_PER_OCTAVE, BEAT_FMIN, BEAT_FMAX).astype(np.float32)
        self.beat_bands = self.beat_filterbank.shape[1]
        if 2 * self.beat_bands != BEAT_FEATURES:
            raise AnalysisError(f"filterbank has {self.beat_bands} bands, the beat model needs {BEAT_FEATURES // 2}")
        self.beat_window_fn = np.hanning(BEAT_WINDOW)
        self.reset()

    def reset(self) -> None:
        """Forget the stream: the next block may start anywhere (its frame index is the new origin)."""
        self._resampler = None if self.sample_rate == BEAT_RATE else StreamResampler(self.sample_rate, BEAT_RATE)
        # Input-rate history for the fast STFT: the last fast_window samples.
        self._fast_buf = np.zeros(self.fast_window, dtype=np.float32)
        self._fast_pending = 0  # samples received since the last fast frame
        self._origin: int | None = None
        self._in_count = 0  # input samples received since the origin
        # 22,050 Hz history: starts with 705 zeros, madmom's left padding of frame 0.
        self._beat_buf = np.zeros(BEAT_WINDOW, dtype=np.float32)
        self._beat_fill = BEAT_WINDOW >> 1
        self._beat_next = 0  # next beat frame to emit
        self._prev_logspec = None
        self._cache_key: tuple[int, int] | None = None
        self._cache: FrontEndFrames | None = None

    @property
    def origin(self) -> int:
        """Input frame index of the first sample seen since the last reset (0 before any)."""
        return self._origin or 0

    def beat_frame_time(self, index: float) -> float:
        """Input stream frame of a beat frame's centre (fractional indices allowed)."""
        return self.origin + index * self.beat_hop_input

    def beat_ready(self, index: np.ndarray) -> np.ndarray:
        """Input frame one past the last sample beat frame ``index`` depends on."""
        last = np.asarray(index, dtype=np.int64) * BEAT_HOP + (BEAT_WINDOW >> 1)  # last 22,050 Hz sample
        if self._resampler is None:
            return self.origin + last + 1
        return self.origin + np.array([self._resampler.ready_at(int(j)) for j in last], dtype=np.int64)

    def frames_for(self, block: AudioBlock) -> FrontEndFrames:
        """Frames completed by ``block``; computed once per block and shared by all callers."""
        key = (block.start_frame, block.end_frame)
        if self._cache is not None and key == self._cache_key:
            return self._cache
        if block.sample_rate != self.sample_rate:
            raise AnalysisError(f"block at {block.sample_rate} Hz given to a {self.sample_rate} Hz analysis front end")
        x = np.asarray(block.samples, dtype=np.float32)
        if x.ndim != 1:
            raise AnalysisError(f"analysis needs mono blocks, got shape {x.shape}")
        if self._origin is None:
            self._origin = block.start_frame
        fast_mag, fast_end = self._fast(x)
        beat_feats, beat_idx = self._beat(x)
        self._in_count += len(x)
        out = FrontEndFrames(fast_mag, fast_end, beat_feats, beat_idx, self.beat_ready(beat_idx))
        self._cache_key, self._cache = key, out
        return out

    # -- fast STFT at the input rate ------------------------------------------------------
    def _fast(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hop, win = self.fast_hop, self.fast_window
        n_frames = (self._fast_pending + len(x)) // hop
        mags = np.empty((n_frames, win // 2 + 1), dtype=np.float32)
        ends = np.empty(n_frames, dtype=np.int64)
        pos = 0
        for j in range(n_frames):
            take = hop - self._fast_pending
            chunk = x[pos : pos + take]
            self._fast_buf[:-take] = self._fast_buf[take:]
            self._fast_buf[-take:] = chunk
            pos += take
            self._fast_pending = 0
            mags[j] = np.abs(np.fft.rfft(self._fast_buf * self.fast_window_fn))
            ends[j] = self.origin + self._in_count + pos
        rest = x[pos:]
        if len(rest):
            self._fast_buf[: -len(rest)] = self._fast_buf[len(rest) :]
            self._fast_buf[-len(rest) :] = rest
            self._fast_pending += len(rest)
        return mags, ends

    # -- beat features at 22,050 Hz --------------------------------------------------------
    def _beat(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = x if self._resampler is None else self._resampler.process(x)
        feats: list[np.ndarray] = []
        idx: list[int] = []
        pos = 0
        while True:
            # frame _beat_next needs the buffer filled to BEAT_WINDOW samples
            need = BEAT_WINDOW - self._beat_fill
            avail = len(y) - pos
            if avail < need:
                self._beat_buf[self._beat_fill : self._beat_fill + avail] = y[pos:]
                self._beat_fill += avail
                break
            self._beat_buf[self._beat_fill :] = y[pos : pos + need]
            pos += need
            feats.append(self._beat_frame())
            idx.append(self._beat_next)
            self._beat_next += 1
            # slide by one hop
            self._beat_buf[:-BEAT_HOP] = self._beat_buf[BEAT_HOP:]
            self._beat_fill = BEAT_WINDOW - BEAT_HOP
        if feats:
            return np.stack(feats), np.asarray(idx, dtype=np.int64)
        return np.empty((0, BEAT_FEATURES), np.float32), np.empty(0, np.int64)

    def _beat_frame(self) -> np.ndarray:
        spec = np.abs(np.fft.rfft(self._beat_buf * self.beat_window_fn)[: self.beat_bins]).astype(np.float32)
        logspec = np.log10(spec @ self.beat_filterbank + 1.0)
        if self._prev_logspec is None:  # madmom's difference of the first frame is zero
            diff = np.zeros_like(logspec)
        else:
            diff = np.maximum(logspec - self._prev_logspec, 0.0)
        self._prev_logspec = logspec
        return np.concatenate([logspec, diff]).astype(np.float32)
