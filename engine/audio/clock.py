"""The sample clock: maps stream frame indices to monotonic time and back.

Every sample has a frame index. PortAudio tells, per callback, the ADC time of the block's first
sample in the stream's own time base (``time_info.inputBufferAdcTime``); the callback also records
``time.monotonic()``. The clock fits ``time = t0 + (frame - f0) / rate`` over recent blocks with a
least-squares line (so the device's true rate, which differs from nominal by a few ppm, and the
offset between the stream time base and ``time.monotonic`` are both estimated), which later
stages use to say when a sound arrived and to schedule light output against it.

Host APIs that report no ADC time (some ALSA plugins report 0) fall back to the callback's
monotonic time minus the block duration and the stream's input latency.
"""

from __future__ import annotations

import numpy as np

from engine.audio import ring as _ring


class SampleClock:
    """Frame ↔ ``time.monotonic()`` mapping, fitted from block metadata.

    Feed it the rows of :meth:`RingBuffer.read_meta` with :meth:`update`. ``stream_to_monotonic``
    is the offset between the stream's time base and ``time.monotonic`` (0 when the stream's
    times already are monotonic, e.g. for the file source). ``input_latency`` (s) is used only
    when a host API reports no ADC time.
    """

    def __init__(self, sample_rate: float, window: int = 512, input_latency: float = 0.0) -> None:
        self.nominal_rate = float(sample_rate)
        self.input_latency = input_latency
        self.stream_to_monotonic = 0.0
        self._frames = np.zeros(window)
        self._times = np.zeros(window)
        self._n = 0
        self._window = window
        self._f0 = 0.0
        self._t0: float | None = None
        self._rate = float(sample_rate)
        self.max_residual = 0.0
        #: Jumps in the frame→time line (an xrun or a restarted device): the fit starts again.
        self.discontinuities = 0
        #: A point further than this from the fitted line starts a new fit (seconds).
        self.jump_threshold = 0.004

    def reset(self) -> None:
        self._n = 0
        self._t0 = None
        self._rate = self.nominal_rate
        self.max_residual = 0.0

    @property
    def rate(self) -> float:
        """Estimated true sample rate in frames per monotonic second."""
        return self._rate

    @property
    def ready(self) -> bool:
        return self._t0 is not None

    def update(self, meta: np.ndarray) -> None:
        """Add block metadata rows (columns as in :mod:`engine.audio.ring`) and refit."""
        if len(meta) == 0:
            return
        frames = meta[:, _ring.META_FRAME]
        adc = meta[:, _ring.META_ADC_TIME] + self.stream_to_monotonic
        cb = meta[:, _ring.META_CALLBACK_TIME]
        # No ADC time reported: first sample ≈ callback time - block length - input latency.
        missing = meta[:, _ring.META_ADC_TIME] <= 0.0
        if missing.any():
            est = cb - meta[:, _ring.META_FRAMES] / self.nominal_rate - self.input_latency
            adc = np.where(missing, est, adc)
        for f, t in zip(frames, adc):
            if self._t0 is not None and self._n >= 8:
                predicted = self._t0 + (f - self._f0) / self._rate
                if abs(t - predicted) > self.jump_threshold:
                    # Samples were lost before us (xrun) or the stream restarted: the old line
                    # no longer holds. Keep the rate estimate, refit from this point on.
                    self.discontinuities += 1
                    self._n = 0
                    self._f0, self._t0 = float(f), float(t)
            i = self._n % self._window
            self._frames[i] = f
            self._times[i] = t
            self._n += 1
        self._fit()

    def _fit(self) -> None:
        k = min(self._n, self._window)
        f = self._frames[:k]
        t = self._times[:k]
        f0 = f.mean()
        t0 = t.mean()
        if k >= 8:
            df = f - f0
            var = float(np.dot(df, df))
            if var > 0:
                slope = float(np.dot(df, t - t0)) / var  # seconds per frame
                rate = 1.0 / slope if slope > 0 else self.nominal_rate
                # Trust the fit only within 1% of nominal (a stalled device must not skew it).
                if abs(rate / self.nominal_rate - 1.0) < 0.01:
                    self._rate = rate
        self._f0 = float(f0)
        self._t0 = float(t0)
        pred = self._t0 + (f - self._f0) / self._rate
        self.max_residual = float(np.max(np.abs(t - pred))) if k else 0.0

    def frame_to_time(self, frame: float) -> float:
        """Monotonic time (s) at which ``frame`` was sampled (ADC)."""
        if self._t0 is None:
            raise RuntimeError("sample clock has no data yet")
        return self._t0 + (frame - self._f0) / self._rate

    def time_to_frame(self, t: float) -> float:
        """Frame index sampled at monotonic time ``t`` (fractional; may lie in the future)."""
        if self._t0 is None:
            raise RuntimeError("sample clock has no data yet")
        return self._f0 + (t - self._t0) * self._rate
