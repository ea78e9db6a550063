"""Streaming stem separation: drums, bass, vocals, other.

Two mask estimators share one causal STFT engine (:class:`StftMaskSeparator`):

* :class:`OnnxMaskModel`: beamsync's own trained network (``models/separation/*.onnx``, trained by
  ``models/separation/train.py``), run with onnxruntime on one thread; its LSTM state is carried
  from call to call, so feeding a file in blocks gives the same result as one call.
* :class:`DspMaskModel`: the DSP baseline and fallback: causal harmonic/percussive separation
  (median over the past frames against median over frequency) plus band splitting.

Both give masks that sum to one over the stems, so the four stems always sum back to the input
(delayed by the latency) up to float rounding.

Timing: analysis frames of ``n_fft`` samples (sqrt-Hann) every ``hop`` samples, padded on the
left so the first frame ends at sample ``hop``. The output is the input-aligned estimate delayed
by exactly ``latency = n_fft - 1`` samples (23.2 ms for the shipped 1024-sample window at
44.1 kHz): ``process`` returns as many samples as it was given, and output sample ``t`` is the
estimate of input sample ``t - latency``. A frame's estimate is final once the frame's last
sample has arrived, so no extra look-ahead is hidden anywhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import numpy as np

from engine.errors import BeamsyncError
from engine.resources import resource_path

STEMS = ("drums", "bass", "vocals", "other")
DEFAULT_MODEL = resource_path("models", "separation", "beamsync_sep.onnx")


class SeparationError(BeamsyncError):
    """The separator cannot run (model missing or unusable, bad input), saying what and where."""


class MaskModel(Protocol):
    """Estimates one mask per stem for each new STFT frame, keeping its own state."""

    sample_rate: int
    n_fft: int
    hop: int

    def masks(self, mag: np.ndarray) -> np.ndarray:
        """``mag`` [K, bins] magnitudes of K consecutive frames → masks [K, 4, bins] (sum 1)."""
        ...

    def reset(self) -> None:
        """Forget the state (start of a new stream)."""
        ...


def sqrt_hann(n: int) -> np.ndarray:
    """Periodic sqrt-Hann window (analysis and synthesis; their product sums to n/(2 hop))."""
    return np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)


# --------------------------------------------------------------------------- mask models


class OnnxMaskModel:
    """The trained causal LSTM mask network in onnxruntime, with its state carried.

    The ONNX graph takes ``mag`` [1, T, bins], ``h`` and ``c`` [layers, 1, hidden] and returns
    ``masks`` [1, T, 4, bins], ``h_out``, ``c_out``; ``sample_rate``, ``n_fft``, ``hop`` and
    ``stems`` are read from the model's metadata.
    """

    def __init__(self, path: str | Path = DEFAULT_MODEL, threads: int = 1) -> None:
        import onnxruntime as ort

        p = Path(path)
        if not p.exists():
            raise SeparationError(f"{p}: separation model not found (train and export it with "
                                  "models/separation/train.py and export.py, or use the DSP separator)")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            self.session = ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises several unrelated types for bad files
            raise SeparationError(f"{p}: not a usable ONNX model ({exc})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        try:
            self.sample_rate = int(meta["sample_rate"])
            self.n_fft = int(meta["n_fft"])
            self.hop = int(meta["hop"])
            stems = tuple(json.loads(meta["stems"]))
        except (KeyError, ValueError) as exc:
            raise SeparationError(f"{p}: model metadata lacks {exc}") from None
        if stems != STEMS:
            raise SeparationError(f"{p}: model stems {stems} are not {STEMS}")
        shapes = {i.name: i.shape for i in self.session.get_inputs()}
        self._state_shape = tuple(int(d) for d in shapes["h"])
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros(self._state_shape, np.float32)
        self._c = np.zeros(self._state_shape, np.float32)

    def masks(self, mag: np.ndarray) -> np.ndarray:
        if len(mag) == 0:
            return np.zeros((0, len(STEMS), mag.shape[1]), np.float32)
        out, self._h, self._c = self.session.run(
            None, {"mag": mag[None].astype(np.float32, copy=False), "h": self._h, "c": self._c})
        return out[0]


class DspMaskModel:
    """DSP baseline: causal HPSS and band splitting, no training involved.

    Harmonic energy is the median of each bin over the last ``harmonic_frames`` frames (the
    past only, so it is causal and lags a little); percussive energy is the median over
    ``percussive_bins`` neighbouring bins of the current frame. Soft (Wiener-like) masks split
    the frame into harmonic and percussive parts; percussive → drums; harmonic below the
    ``bass_cutoff`` crossover → bass; harmonic in the vocal band (≈ 250 Hz–4 kHz) is shared
    between vocals and other by ``vocal_share``; the rest is other.
    """

    def __init__(self, sample_rate: int = 44100, n_fft: int = 1024, hop: int = 256,
                 harmonic_frames: int = 17, percussive_bins: int = 17, bass_cutoff: float = 160.0,
                 vocal_share: float = 0.5, power: float = 2.0) -> None:
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.hop = hop
        self.harmonic_frames = harmonic_frames
        self.percussive_bins = percussive_bins
        self.power = power
        freqs = np.fft.rfftfreq(n_fft, 1 / sample_rate)
        # smooth crossovers (logistic in log-frequency) so no bin flips hard between stems
        self._low = 1 / (1 + (freqs / bass_cutoff) ** 6)
        voc = (1 / (1 + (250 / np.maximum(freqs, 1)) ** 4)) * (1 / (1 + (freqs / 4000) ** 4))
        self._vocal = vocal_share * voc
        self.reset()

    def reset(self) -> None:
        self._history = np.zeros((self.harmonic_frames - 1, self.n_fft // 2 + 1), np.float32)

    def masks(self, mag: np.ndarray) -> np.ndarray:
        from scipy.ndimage import median_filter

        k = len(mag)
        bins = mag.shape[1]
        if k == 0:
            return np.zeros((0, len(STEMS), bins), np.float32)
        full = np.concatenate([self._history, mag.astype(np.float32)], axis=0)
        windows = np.lib.stride_tricks.sliding_window_view(full, self.harmonic_frames, axis=0)
        harm = np.median(windows, axis=-1)  # [k, bins], each over its own past frames
        self._history = full[-(self.harmonic_frames - 1):].copy()
        perc = median_filter(mag, size=(1, self.percussive_bins), mode="nearest")
        hp, pp = harm**self.power, perc**self.power
        m_perc = pp / (hp + pp + 1e-12)
        m_harm = 1.0 - m_perc
        out = np.empty((k, len(STEMS), bins), np.float32)
        out[:, 0] = m_perc
        out[:, 1] = m_harm * self._low
        rest = m_harm * (1 - self._low)
        out[:, 2] = rest * self._vocal
        out[:, 3] = rest * (1 - self._vocal)
        return out


# --------------------------------------------------------------------------- STFT engine


class StftMaskSeparator:
    """Causal STFT → masks → overlap-add, streaming, for mono or multichannel input.

    Masks are computed from the channel mean and applied to every channel, so a stereo file
    gives stereo stems that sum back to it. ``process(x)`` takes ``[n]`` or ``[n, channels]``
    samples at ``sample_rate`` and returns ``[4, n]`` or ``[4, n, channels]``, delayed by
    ``latency`` samples. After each call, ``last_mix_mag`` [K, bins] and ``last_stem_mag``
    [K, 4, bins] hold the magnitudes of the K frames completed in it (used by the per-stem
    feature analysers), and ``frames_done`` counts frames since ``reset``; frame ``j`` ends at
    input sample ``(j + 1) * hop``.
    """

    stems = STEMS

    def __init__(self, model: MaskModel, channels: int = 1, synthesize: bool = True) -> None:
        self.model = model
        #: False: only the spectra (``last_stem_mag``) are computed and ``process`` returns an
        #: empty ``[4, 0]`` array (feature analysers need no resynthesis)
        self.synthesize = synthesize
        self.sample_rate = model.sample_rate
        self.n_fft = model.n_fft
        self.hop = model.hop
        if self.n_fft % self.hop:
            raise SeparationError(f"n_fft {self.n_fft} must be a multiple of hop {self.hop}")
        self.channels = channels
        self.latency = self.n_fft - 1
        self._win = sqrt_hann(self.n_fft)
        self._norm = np.float32(2 * self.hop / self.n_fft)
        self.reset()

    def reset(self) -> None:
        """Start a new stream: zero history, zero model state."""
        self.model.reset()
        c = self.channels
        # input history: the last n_fft - hop samples before the pending ones (zeros at start)
        self._inbuf = np.zeros((c, self.n_fft - self.hop), np.float32)
        self._pending = np.zeros((c, 0), np.float32)
        # overlap-add accumulator: the n_fft - hop samples still receiving contributions
        self._ola = np.zeros((len(STEMS), c, self.n_fft - self.hop), np.float32)
        # finished output waiting to be handed out; starts with `latency` samples of silence
        # minus the n_fft - hop samples the first frames produce for the left padding
        self._out = np.zeros((len(STEMS), c, self.latency - (self.n_fft - self.hop)), np.float32)
        self.frames_done = 0
        bins = self.n_fft // 2 + 1
        self.last_mix_mag = np.zeros((0, bins), np.float32)
        self.last_stem_mag = np.zeros((0, len(STEMS), bins), np.float32)

    def process(self, x: np.ndarray) -> np.ndarray:
        """Feed samples, get the same number of stem samples back (delayed by ``latency``)."""
        x = np.asarray(x, dtype=np.float32)
        mono = x.ndim == 1
        xc = x[None, :] if mono else x.T
        if xc.shape[0] != self.channels:
            raise SeparationError(f"expected {self.channels} channel(s), got {xc.shape[0]}")
        n = xc.shape[1]
        pend = np.concatenate([self._pending, xc], axis=1)
        k = pend.shape[1] // self.hop
        if k:
            used = k * self.hop
            full = np.concatenate([self._inbuf, pend[:, :used]], axis=1)  # [c, n_fft-hop + used]
            self._inbuf = full[:, -(self.n_fft - self.hop):].copy()
            self._pending = pend[:, used:].copy()
            frames = np.lib.stride_tricks.sliding_window_view(full, self.n_fft, axis=1)[:, :: self.hop]
            spec = np.fft.rfft(frames * self._win, axis=-1)  # [c, k, bins]
            mix_mag = np.abs(spec.mean(axis=0)).astype(np.float32)
            masks = self.model.masks(mix_mag)  # [k, 4, bins]
            self.last_mix_mag = mix_mag
            self.last_stem_mag = masks * mix_mag[:, None, :]
            self.frames_done += k
            if not self.synthesize:
                return np.zeros((len(STEMS), 0), np.float32)
            est = masks[None, :, :, :] * spec[:, :, None, :]  # [c, k, 4, bins]
            y = np.fft.irfft(est, n=self.n_fft, axis=-1).astype(np.float32) * self._win  # [c,k,4,n_fft]
            y = y.transpose(2, 0, 1, 3)  # [4, c, k, n_fft]
            self._out = np.concatenate([self._out, self._overlap_add(y)], axis=2)
        else:
            self._pending = pend
            bins = self.n_fft // 2 + 1
            self.last_mix_mag = np.zeros((0, bins), np.float32)
            self.last_stem_mag = np.zeros((0, len(STEMS), bins), np.float32)
            if not self.synthesize:
                return np.zeros((len(STEMS), 0), np.float32)
        out = self._out[:, :, :n]
        self._out = self._out[:, :, n:]
        return out[:, 0, :] if mono else out.transpose(0, 2, 1)

    def _overlap_add(self, y: np.ndarray) -> np.ndarray:
        """Add k synthesis frames into the accumulator; return the k*hop finished samples."""
        s, c, k, _ = y.shape
        r = self.n_fft // self.hop
        seg = y.reshape(s, c, k, r, self.hop)
        total = np.zeros((s, c, (k + r - 1) * self.hop), np.float32)
        total[:, :, : self._ola.shape[2]] += self._ola
        for q in range(r):  # frame j's q-th segment lands at block j + q
            total[:, :, q * self.hop : (q + k) * self.hop] += seg[:, :, :, q, :].reshape(s, c, k * self.hop)
        done = total[:, :, : k * self.hop] * self._norm
        self._ola = total[:, :, k * self.hop :].copy()
        return done


class ResamplingSeparator:
    """Runs a separator at its own rate inside a stream at another rate (soxr streams).

    ``latency`` adds the two resamplers' delays, measured once with an impulse at construction.
    soxr's low-quality setting is used: its filter delay is about 5 ms where "HQ" holds back
    33 ms, and its pass band still reaches 0.9 x Nyquist.
    """

    stems = STEMS

    def __init__(self, inner: StftMaskSeparator, sample_rate: int) -> None:
        import soxr

        self.inner = inner
        self.sample_rate = sample_rate
        self.channels = inner.channels
        # soxr streams hold samples back (their filter delay); pre-fill the output queue with
        # twice that much silence so every call can hand out as many samples as it received
        probe_up = soxr.ResampleStream(sample_rate, inner.sample_rate, 1, dtype="float32", quality="LQ")
        probe_down = soxr.ResampleStream(inner.sample_rate, sample_rate, 1, dtype="float32", quality="LQ")
        z = np.zeros(sample_rate, np.float32)
        held = len(z) - len(probe_down.resample_chunk(probe_up.resample_chunk(z)))
        self._prefill = 2 * held + 2 * inner.hop
        self.latency = 0
        self.reset()
        # measure the end-to-end delay with an impulse through a DSP twin (masks sum to one)
        twin = ResamplingSeparator.__new__(ResamplingSeparator)
        twin.inner = StftMaskSeparator(DspMaskModel(inner.sample_rate, inner.n_fft, inner.hop), self.channels)
        twin.sample_rate, twin.channels, twin._prefill = sample_rate, self.channels, self._prefill
        twin.reset()
        imp = np.zeros((sample_rate // 2, self.channels), np.float32)
        imp[100] = 1.0
        y = twin._run(imp).sum(axis=0)[:, 0]
        self.latency = int(np.argmax(np.abs(y))) - 100
        self.underruns = 0

    def reset(self) -> None:
        import soxr

        self.inner.reset()
        self._up = soxr.ResampleStream(self.sample_rate, self.inner.sample_rate, self.channels, dtype="float32", quality="LQ")
        self._down = soxr.ResampleStream(self.inner.sample_rate, self.sample_rate, self.channels * len(STEMS),
                                         dtype="float32", quality="LQ")
        self._out = np.zeros((self._prefill, self.channels * len(STEMS)), np.float32)
        self.underruns = 0

    def _run(self, xc: np.ndarray) -> np.ndarray:
        up = self._up.resample_chunk(xc)
        st = self.inner.process(up)  # [4, m, c]
        flat = np.ascontiguousarray(st.transpose(1, 0, 2)).reshape(st.shape[1], len(STEMS) * self.channels)
        down = self._down.resample_chunk(flat)
        self._out = np.concatenate([self._out, down], axis=0)
        n = len(xc)
        if len(self._out) < n:  # should not happen with the prefill; counted, padded with silence
            self.underruns += 1
            self._out = np.concatenate([self._out, np.zeros((n - len(self._out), flat.shape[1]), np.float32)])
        out = self._out[:n]
        self._out = self._out[n:]
        return out.reshape(n, len(STEMS), self.channels).transpose(1, 0, 2)

    @property
    def last_stem_mag(self) -> np.ndarray:
        return self.inner.last_stem_mag

    @property
    def last_mix_mag(self) -> np.ndarray:
        return self.inner.last_mix_mag

    def process(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        mono = x.ndim == 1
        out = self._run(x[:, None] if mono else x)
        return out[:, :, 0] if mono else out


def make_mask_model(sample_rate: int, kind: str = "auto", model_path: str | Path | None = None,
                    threads: int = 1) -> MaskModel:
    """``kind``: ``"model"`` (the ONNX network at its own rate; error when missing), ``"dsp"``
    (the baseline, at ``sample_rate``), or ``"auto"`` (the network when its file exists)."""
    if kind not in ("auto", "model", "dsp"):
        raise SeparationError(f"unknown separator {kind!r} (choose auto, model or dsp)")
    path = Path(model_path) if model_path else DEFAULT_MODEL
    if kind == "dsp" or (kind == "auto" and not path.exists()):
        return DspMaskModel(sample_rate)
    return OnnxMaskModel(path, threads=threads)


def make_separator(sample_rate: int, kind: str = "auto", model_path: str | Path | None = None,
                   channels: int = 1, threads: int = 1) -> StftMaskSeparator | ResamplingSeparator:
    """The separator for a stream at ``sample_rate`` (see :func:`make_mask_model` for ``kind``);
    wrapped in a :class:`ResamplingSeparator` when the network runs at another rate."""
    model = make_mask_model(sample_rate, kind, model_path, threads)
    sep = StftMaskSeparator(model, channels)
    if model.sample_rate != sample_rate:
        return ResamplingSeparator(sep, sample_rate)
    return sep


def separate_array(sep: StftMaskSeparator, x: np.ndarray, chunk: int = 1 << 16,
                   progress=None) -> np.ndarray:  # noqa: ANN001 - progress(done, total) callable
    """Run a streaming separator over a whole signal and remove its latency.

    ``x`` is ``[n]`` or ``[n, channels]`` at the separator's rate; returns ``[4, n]`` or
    ``[4, n, channels]`` aligned with ``x``. The signal is fed in ``chunk``-sample blocks (the
    same streaming path as live use), followed by ``latency`` samples of silence to flush.
    """
    sep.reset()
    n = len(x)
    lat = sep.latency
    pad = np.zeros((lat,) + x.shape[1:], np.float32)
    xs = np.concatenate([x.astype(np.float32), pad], axis=0)
    parts = []
    for s in range(0, len(xs), chunk):
        parts.append(sep.process(xs[s : s + chunk]))
        if progress is not None:
            progress(min(s + chunk, n), n)
    y = np.concatenate(parts, axis=1)
    return y[:, lat : lat + n]
