"""Start and stop a private JACK server on the dummy driver (for tests and benchmarks).

The dummy driver gives a real, paced PortAudio callback on machines without a sound card. The
server gets a unique name (``jackd -n``) and callers point PortAudio at it with
``JACK_DEFAULT_SERVER``, so several runs on one machine never share a server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

from engine.audio.errors import AudioError


class JackDummyServer:
    """A running ``jackd -d dummy`` (SCHED_FIFO when permitted, else ``--no-realtime``)."""

    def __init__(self, rate: int = 48000, period: int = 128, name: str | None = None) -> None:
        if not shutil.which("jackd"):
            raise AudioError("jackd not installed (Debian package jackd2)")
        self.name = name or f"beamsync-{os.getpid()}-{time.monotonic_ns() % 1_000_000}"
        self.rate = rate
        self.period = period
        self.realtime = True
        self.proc = self._start(["-R", "-P", "70"])
        if self.proc is None:
            self.realtime = False
            self.proc = self._start(["--no-realtime"])
        if self.proc is None:
            raise AudioError("jackd (dummy driver) failed to start")

    def env(self) -> dict[str, str]:
        """Environment that points libjack (and so PortAudio) at this server."""
        return dict(os.environ, JACK_DEFAULT_SERVER=self.name, JACK_NO_START_SERVER="1")

    def _start(self, mode: list[str]) -> subprocess.Popen | None:
        cmd = ["jackd", "-n", self.name, *mode, "-d", "dummy", "-r", str(self.rate), "-p", str(self.period)]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return None
            r = subprocess.run(["jack_lsp", "-s", self.name], capture_output=True, text=True, env=self.env())
            if r.returncode == 0 and "system:capture_1" in r.stdout:
                return proc
            time.sleep(0.1)
        proc.kill()
        proc.wait()
        return None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> "JackDummyServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
