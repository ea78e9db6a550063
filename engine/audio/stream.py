"""Live audio input through PortAudio (python-sounddevice), on any host API."""

from __future__ import annotations

import time

import numpy as np

from engine.audio.devices import AudioDeviceError, InputDevice, _sd, check_input_settings, find_input_device
from engine.audio.errors import AudioError
from engine.audio.resample import DEVICE_RATES
from engine.audio.ring import FLAG_INPUT_OVERFLOW, FLAG_INPUT_UNDERFLOW, RingBuffer
from engine.audio.source import AudioSource

SUPPORTED_RATES = (44100, 48000)
MAX_CALLBACK_FRAMES = 16384
MIN_BLOCK = 64


class AudioInput(AudioSource):
    """A sounddevice input stream feeding the ring buffer.

    ``device``: index, name or unique part of a name (None = default input).
    ``channels``: 0-based device channels mixed to mono (default: the first two, or one).
    ``block_size``: frames per callback (64 or more; 0 lets the host API choose).
    ``ring``: write into this (mono) ring instead of a new one — e.g. a shared ring created by
    the process that supervises this input (:mod:`engine.audio.process`).
    ``resampled``: the ring is resampled to the stream's rate by its reader
    (:mod:`engine.audio.resample`), so the device may run at any of its ``DEVICE_RATES``.

    The callback mixes the selected channels to mono into a preallocated buffer, so the ring
    always holds one channel whatever the device has.
    """

    def __init__(
        self,
        device: str | int | None = None,
        sample_rate: int = 48000,
        block_size: int = 128,
        channels: list[int] | None = None,
        capacity_seconds: float = 4.0,
        latency: str | float = "low",
        shared: bool = False,
        ring: RingBuffer | None = None,
        resampled: bool = False,
    ) -> None:
        if sample_rate not in (DEVICE_RATES if resampled else SUPPORTED_RATES):
            raise AudioError(f"sample rate {sample_rate} Hz not supported; use 44100 or 48000")
        if block_size and block_size < MIN_BLOCK:
            raise AudioError(f"block size {block_size} too small; the minimum is {MIN_BLOCK} frames")
        self.device: InputDevice = find_input_device(device)
        if channels is None:
            channels = list(range(min(2, self.device.max_input_channels)))
        if not channels or min(channels) < 0:
            raise AudioError(f"invalid channel selection {channels}")
        open_channels = max(channels) + 1
        if open_channels > self.device.max_input_channels:
            raise AudioDeviceError(
                f"input device '{self.device.name}' has {self.device.max_input_channels} channel(s); "
                f"channel {max(channels) + 1} (1-based) was selected"
            )
        check_input_settings(self.device, sample_rate, open_channels)
        if ring is not None and ring.layout.channels != 1:
            raise ValueError("AudioInput writes a mono ring")
        super().__init__(sample_rate, 1, None, capacity_seconds, shared=shared, ring=ring)
        self.open_channels = open_channels
        self.block_size = block_size
        self.latency = latency
        self._stream = None
        self._setup_callback(self.ring, channels)

    def _setup_callback(self, ring: RingBuffer, channels: list[int]) -> None:
        """Everything the callback touches, allocated once."""
        self._write = ring.write
        self._monotonic = time.monotonic
        self._first = channels[0]
        self._rest = tuple(channels[1:])
        self._scale = np.float32(1.0 / len(channels))
        self._mix = np.zeros((MAX_CALLBACK_FRAMES, 1), dtype=np.float32)
        self._mix_col = self._mix[:, 0]

    def _callback(self, indata, frames, time_info, status) -> None:  # noqa: ANN001 - PortAudio's signature
        """Realtime: copy the block into the ring with its ADC time and status flags; nothing else.

        No allocation of buffers, no lock, no logging. The ADC time is expressed on the
        ``time.monotonic`` clock: the callback's own monotonic time minus how long ago, in the
        stream's time base, the block's first sample was captured.
        """
        now = self._monotonic()
        adc = time_info.inputBufferAdcTime
        adc_mono = now - (time_info.currentTime - adc) if adc > 0.0 else 0.0
        flags = 0
        if status:
            if status.input_overflow:
                flags |= FLAG_INPUT_OVERFLOW
            if status.input_underflow:
                flags |= FLAG_INPUT_UNDERFLOW
        if frames > MAX_CALLBACK_FRAMES:  # never seen in practice; keep the newest frames
            indata = indata[frames - MAX_CALLBACK_FRAMES :]
            frames = MAX_CALLBACK_FRAMES
        col = self._mix_col[:frames]
        np.copyto(col, indata[:, self._first])
        if self._rest:
            for c in self._rest:
                np.add(col, indata[:, c], out=col)
            np.multiply(col, self._scale, out=col)
        self._write(self._mix[:frames], adc_mono, now, flags)

    def start(self) -> None:
        sd = _sd()
        if self._stream is not None:
            return
        try:
            self._stream = sd.InputStream(
                device=self.device.index,
                samplerate=self.sample_rate,
                blocksize=self.block_size,
                channels=self.open_channels,
                dtype="float32",
                latency=self.latency,
                callback=self._callback,
            )
            self.clock.input_latency = float(self._stream.latency)
            self._stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            self._stream = None
            raise AudioDeviceError(f"cannot open input device '{self.device.name}': {exc}") from None

    def stop(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
            finally:
                stream.close()

    @property
    def active(self) -> bool:
        """True while PortAudio runs the stream (False after the device went away)."""
        return self._stream is not None and bool(self._stream.active)

    @property
    def stream_latency(self) -> float:
        """PortAudio's reported input latency in seconds (0 before start)."""
        return float(self._stream.latency) if self._stream is not None else 0.0
