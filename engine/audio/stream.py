"""Live audio input through PortAudio (python-sounddevice), on any host API."""

from __future__ import annotations

import time

from engine.audio.devices import AudioDeviceError, InputDevice, _sd, check_input_settings, find_input_device
from engine.audio.errors import AudioError
from engine.audio.ring import FLAG_INPUT_OVERFLOW, FLAG_INPUT_UNDERFLOW
from engine.audio.source import AudioSource

SUPPORTED_RATES = (44100, 48000)
MIN_BLOCK = 64


class AudioInput(AudioSource):
    """A sounddevice input stream feeding the ring buffer.

    ``device``: index, name or unique part of a name (None = default input).
    ``channels``: 0-based device channels mixed to mono (default: the first two, or one).
    ``block_size``: frames per callback (64 or more; 0 lets the host API choose).
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
    ) -> None:
        if sample_rate not in SUPPORTED_RATES:
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
        super().__init__(sample_rate, open_channels, channels, capacity_seconds, shared=shared)
        self.block_size = block_size
        self.latency = latency
        self._stream = None
        self._write = self.ring.write
        self._monotonic = time.monotonic
        self.callback_errors = 0

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
        self._write(indata, adc_mono, now, flags)

    def start(self) -> None:
        sd = _sd()
        if self._stream is not None:
            return
        try:
            self._stream = sd.InputStream(
                device=self.device.index,
                samplerate=self.sample_rate,
                blocksize=self.block_size,
                channels=self.ring.layout.channels,
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
