"""A device that runs at another sample rate than the stream: capture at its rate, resample behind.

The stream's ring, its sample clock and every analyser are built for one rate (44.1 or 48 kHz).
When the input device can only run at another one — most often a device that comes back after a
loss at the rate another program set (JACK restarted at 44.1 kHz under a 48 kHz engine) — the
audio process captures at the device's rate into a small local ring and a :class:`RateConverter`
thread resamples it into the stream's ring. The lights keep following the music instead of
going dark until someone restarts the engine, and the operator is told (the device name says
``resampled 44100 → 48000 Hz``).

Why a thread and not the callback: a streaming resampler (soxr) returns new arrays, and the
callback must allocate nothing; the callback keeps its one copy into a preallocated ring. The
thread wakes every half block, so the conversion adds at most about half a block of latency,
plus what soxr's low-quality filter holds back: 0.5 ms from 44.1 to 48 kHz, 4.4 ms from 48 to
44.1 kHz, under 9 ms for any pair of ``DEVICE_RATES`` (its high-quality filter holds back 15 ms
from 44.1 to 48 kHz, too much for flashes; its "quick" cubic one holds back nothing but does not
filter out what would alias when downsampling; the analysis needs no more than 16-bit quality).

Timing: soxr's stream output is aligned with its input (its filter delay is trimmed), so output
frame ``j`` is input time ``j * in_rate / out_rate``; each written block's ADC time is mapped
from the newest input block's ADC time, so the stream's sample clock stays right.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from engine.audio.ring import FLAG_INPUT_OVERFLOW, META_ADC_TIME, META_FLAGS, META_FRAME, RingBuffer, RingLayout

#: Rates a device may run at behind the converter (the stream itself runs at 44.1 or 48 kHz).
DEVICE_RATES = (32000, 44100, 48000, 88200, 96000)
#: soxr quality (see the module docstring for what each holds back).
QUALITY = "LQ"


class RateConverter:
    """Resample frames written to :attr:`ring` (at ``in_rate``) into ``out`` (at ``out_rate``)."""

    def __init__(self, out: RingBuffer, in_rate: int, out_rate: int, block_size: int) -> None:
        import soxr

        self.out = out
        self.in_rate = in_rate
        self.out_rate = out_rate
        #: The capture writes here (two seconds at the device's rate).
        self.ring = RingBuffer(RingLayout(capacity=2 * in_rate, channels=1))
        self._stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality=QUALITY)
        self._buf = np.zeros((in_rate // 2, 1), np.float32)
        self._wait = max(block_size, 64) / in_rate / 2
        self._out_frames = 0  # output frames written to ``out``
        self._ref: tuple[int, float] | None = None  # (input frame, its ADC time) of the newest block
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Input frames lost because this thread fell more than the local ring behind.
        self.lost_frames = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="beamsync-resample", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.wait(self._wait):
            self.pump()

    def pump(self) -> int:
        """Convert everything the capture wrote since the last call; returns output frames written."""
        flags = 0
        for row in self.ring.read_meta():
            flags |= int(row[META_FLAGS])
            if row[META_ADC_TIME] > 0.0:
                self._ref = (int(row[META_FRAME]), float(row[META_ADC_TIME]))
        written = 0
        while True:
            lost_before = self.ring.lost_frames
            _, n = self.ring.read(self._buf)
            lost = self.ring.lost_frames - lost_before
            if n == 0 and not lost:
                return written
            x = self._buf[:n, 0]
            if lost:
                # Keep input and output time aligned: the frames this thread missed become silence.
                self.lost_frames += lost
                flags |= FLAG_INPUT_OVERFLOW
                x = np.concatenate([np.zeros(lost, np.float32), x])
            y = self._stream.resample_chunk(x)
            if len(y):
                adc = 0.0
                if self._ref is not None:
                    ref_frame, ref_time = self._ref
                    at_input = self._out_frames * self.in_rate / self.out_rate  # input frame of y[0]
                    adc = ref_time + (at_input - ref_frame) / self.in_rate
                self.out.write(y.reshape(-1, 1), adc, time.monotonic(), flags)
                self._out_frames += len(y)
                written += len(y)
                flags = 0
            if n < len(self._buf):
                return written
