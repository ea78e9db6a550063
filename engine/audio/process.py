"""Live input in a supervised child process: survives a lost device, comes back on its own.

Why a process: PortAudio cannot be re-initialised safely in a process whose JACK server died —
stopping the stream, closing it or terminating PortAudio then aborts the whole process inside
libjack (measured: ``Fatal Python error: Aborted`` in ``Pa_Terminate`` after the server went
away). So the PortAudio stream lives in a small child process that writes the shared ring
owned here; when its device is lost it exits without touching PortAudio, and this supervisor
starts a fresh one with back-off (the device is found again by name, even under a new index).
The ring, its frame counter and every reader survive; the sample clock refits at the jump.

The main process therefore never initialises PortAudio itself (device lookups run in the child
too), which keeps it safe from the same abort at exit.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing as mp
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from engine.audio.devices import AudioDeviceError
from engine.audio.errors import AudioError
from engine.audio.ring import RingBuffer, RingLayout
from engine.audio.source import AudioSource, SourceStats
from engine.audio.stream import SUPPORTED_RATES

log = logging.getLogger("beamsync.audio")

#: Exit codes of the child.
EXIT_STOPPED, EXIT_LOST, EXIT_ERROR = 0, 3, 4


@dataclass(frozen=True)
class InputSpec:
    device: str | int | None
    sample_rate: int
    block_size: int
    channels: list[int] | None
    layout: RingLayout
    ring_name: str
    env: dict[str, str]


def _say(q: Any, *msg: str) -> None:
    """Put a message and wait until it is really in the pipe (before an ``os._exit``)."""
    q.put(msg)


def _leave(q: Any, code: int) -> None:
    q.close()
    q.join_thread()  # flush the queue's feeder thread: os._exit would drop what it holds
    os._exit(code)


def _child(spec: InputSpec, messages: Any, stop: Any) -> None:
    """The audio process: open the input, write the ring, watch for loss. Never tears down
    PortAudio after a loss (see the module docstring): it leaves with ``os._exit``."""
    os.environ.update(spec.env)
    ring = RingBuffer.attach(spec.layout, spec.ring_name)
    converter = None
    try:
        from engine.audio.stream import AudioInput

        try:
            src = AudioInput(spec.device, spec.sample_rate, spec.block_size, spec.channels, ring=ring)
        except AudioDeviceError as first:
            converter = _converter(spec, ring)
            if converter is None:
                raise
            try:
                src = AudioInput(spec.device, converter.in_rate, spec.block_size, spec.channels,
                                 ring=converter.ring, resampled=True)
            except AudioDeviceError:
                raise first from None  # the reason at the stream's rate is the one to tell
            converter.start()
        src.start()
    except AudioDeviceError as exc:
        _say(messages, "error", str(exc), exc.hint or "")
        _leave(messages, EXIT_ERROR)
    except AudioError as exc:
        _say(messages, "error", str(exc), "")
        _leave(messages, EXIT_ERROR)
    except Exception as exc:  # PortAudio errors from a half-present device
        _say(messages, "error", f"cannot open audio input: {type(exc).__name__}: {exc}", "")
        _leave(messages, EXIT_ERROR)
    name = f"{src.device.name} [{src.device.hostapi}]"
    if converter is not None:
        name += f" (resampled {converter.in_rate} → {converter.out_rate} Hz)"
    # The callback runs Python: a garbage collection that starts inside it runs inside the JACK
    # cycle. A full one over what this process imported (numpy, sounddevice: ~23,000 objects)
    # takes 3.6 ms, most of a 5.3 ms period at 256 frames; jackd named this client late 6 times
    # in a 10-minute soak. Frozen, those objects are never scanned again; what the callback
    # allocates later is still collected.
    gc.freeze()
    _say(messages, "ready", name, str(src.stream_latency))
    period = max(spec.block_size, 64) / spec.sample_rate
    last_blocks, last_change = ring.counters()["blocks"], time.monotonic()
    while not stop.wait(0.05):
        blocks = ring.counters()["blocks"]
        now = time.monotonic()
        if blocks != last_blocks:
            last_blocks, last_change = blocks, now
        elif not src.active or now - last_change > max(0.5, 20 * period) or (converter and not converter.alive):
            _say(messages, "lost", f"audio input {src.device.name} stopped delivering audio", "")
            _leave(messages, EXIT_LOST)  # no PortAudio teardown: it may abort inside libjack
    try:
        src.stop()
        if converter is not None:
            converter.stop()
    finally:
        ring.close()
    _leave(messages, EXIT_STOPPED)


def _converter(spec: InputSpec, ring: RingBuffer) -> Any:
    """A :class:`RateConverter` when the device cannot run at the stream's rate but can at its
    own default rate (then the capture runs at that rate and is resampled); else None."""
    from engine.audio.devices import find_input_device
    from engine.audio.resample import DEVICE_RATES, RateConverter

    try:
        device = find_input_device(spec.device)
    except AudioError:
        return None
    rate = int(round(device.default_samplerate))
    if rate == spec.sample_rate or rate not in DEVICE_RATES:
        return None
    return RateConverter(ring, rate, spec.sample_rate, spec.block_size)


class AudioProcess(AudioSource):
    """A live input (as :class:`~engine.audio.stream.AudioInput`) run in a supervised child process.

    Reads like any source (``read()``, ``stats()``, ``ring``); ``start()`` raises
    :class:`AudioDeviceError` (with the device list as hint) when the device does not exist or
    cannot open. After a loss the supervisor retries with back-off (0.5 s doubling to
    ``max_backoff``) until the device is back or :meth:`stop` is called; :attr:`state` and
    :attr:`restarts` tell what happened.
    """

    def __init__(self, device: str | int | None = None, sample_rate: int = 48000, block_size: int = 128,
                 channels: list[int] | None = None, capacity_seconds: float = 4.0, *, max_backoff: float = 5.0) -> None:
        if sample_rate not in SUPPORTED_RATES:
            raise AudioError(f"sample rate {sample_rate} Hz not supported; use 44100 or 48000")
        super().__init__(sample_rate, 1, None, capacity_seconds, shared=True)
        self.spec = InputSpec(device, sample_rate, block_size, channels, self.ring.layout, self.ring.shm_name or "",
                              {k: v for k, v in os.environ.items() if k.startswith("JACK_")})
        self.max_backoff = max_backoff
        self._ctx = mp.get_context("spawn")
        self._proc: Any = None
        self._stop_child: Any = None
        self._messages: Any = None
        self._supervisor: threading.Thread | None = None
        self._stopping = threading.Event()
        self.state = "stopped"  # running | lost | stopped | failed
        self.device_name = ""
        self.restarts = 0
        self.losses = 0
        self.events: list[str] = []  # one line per loss/recovery (logged once each)
        #: Why the last attempt to reopen a lost input failed (None while running); e.g. the
        #: device came back at another sample rate than the stream's.
        self.last_error: str | None = None

    def _spawn(self, timeout: float = 20.0) -> tuple[str, str, str]:
        self._messages = self._ctx.Queue()
        self._stop_child = self._ctx.Event()
        self._proc = self._ctx.Process(target=_child, args=(self.spec, self._messages, self._stop_child),
                                       name="beamsync-audio", daemon=True)
        self._proc.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return self._messages.get(timeout=0.1)
            except Exception:
                if not self._proc.is_alive():
                    return ("error", f"audio process exited with code {self._proc.exitcode}", "")
        self._proc.kill()
        return ("error", "audio input did not open within %g s" % timeout, "")

    def start(self) -> None:
        if self._supervisor is not None:
            return
        kind, text, extra = self._spawn()
        if kind != "ready":
            self.state = "failed"
            self.ring.close(unlink=True)
            raise AudioDeviceError(text, hint=extra or None)
        self.device_name = text
        self.state = "running"
        self._stopping.clear()
        self._supervisor = threading.Thread(target=self._supervise, name="beamsync-audio-supervisor", daemon=True)
        self._supervisor.start()

    def _note(self, line: str, level: int = logging.WARNING) -> None:
        self.events.append(line)
        log.log(level, line)

    def _supervise(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            self._proc.join(0.1)
            if self._proc.is_alive():
                continue
            if self._stopping.is_set():
                break
            self.state = "lost"
            self.losses += 1
            self._note(f"audio input '{self.device_name}' lost (exit {self._proc.exitcode}); retrying")
            attempts = 0
            while not self._stopping.wait(backoff):
                attempts += 1
                kind, text, _ = self._spawn()
                if kind == "ready":
                    self.restarts += 1
                    self.device_name = text
                    self.state = "running"
                    self.last_error = None
                    self._note(f"audio input back: '{text}' after {attempts} attempt(s)", logging.INFO)
                    backoff = 0.5
                    break
                if text != self.last_error:  # say why once, not at every retry
                    self.last_error = text
                    self._note(f"audio input not reopened, still retrying: {text}")
                backoff = min(self.max_backoff, backoff * 2)

    def stop(self) -> None:
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join(5)
            self._supervisor = None
        if self._proc is not None and self._proc.is_alive():
            self._stop_child.set()
            self._proc.join(5)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(2)
        self._proc = None
        self.state = "stopped"

    @property
    def active(self) -> bool:
        return self.state == "running"

    @property
    def pid(self) -> int | None:
        """The audio process's pid (None when not running)."""
        return self._proc.pid if self._proc is not None and self._proc.is_alive() else None

    def stats(self) -> SourceStats:
        return super().stats()


def probe_input_devices(timeout: float = 20.0) -> list[dict[str, Any]]:
    """The input devices, listed by PortAudio in a short-lived child process (so this process
    never initialises PortAudio); each a dict with index, name, hostapi, channels, rate."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_probe, args=(q,), daemon=True)
    p.start()
    try:
        result = q.get(timeout=timeout)
    except Exception:
        result = []
    p.join(5)
    if isinstance(result, str):
        raise AudioError(result)
    return result


def _probe(q: Any) -> None:
    try:
        from engine.audio.devices import list_input_devices

        q.put([d.__dict__ for d in list_input_devices()])
    except AudioError as exc:
        q.put(str(exc))
    _leave(q, 0)
