"""A JACK dummy server started by the tests themselves, and a player that feeds its ports.

The server gets a unique name (``jackd -n``) and ``JACK_DEFAULT_SERVER`` points PortAudio at
it, so parallel test runs on one machine never share a server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

PLAYER = Path(__file__).with_name("jack_player.py")


def _wait_for_server(name: str, proc: subprocess.Popen, timeout: float = 10.0) -> bool:
    env = dict(os.environ, JACK_DEFAULT_SERVER=name, JACK_NO_START_SERVER="1")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        r = subprocess.run(["jack_lsp", "-s", name], capture_output=True, text=True, env=env)
        if r.returncode == 0 and "system:capture_1" in r.stdout:
            return True
        time.sleep(0.1)
    return False


class JackServer:
    """A running ``jackd -d dummy`` (realtime when permitted, else --no-realtime)."""

    def __init__(self, rate: int = 48000, period: int = 128) -> None:
        if not shutil.which("jackd"):
            pytest.skip("jackd not installed (Debian package jackd2; scripts/setup.sh installs it)")
        self.name = f"bs-test-{os.getpid()}-{time.monotonic_ns() % 100000}"
        self.rate = rate
        self.period = period
        self.realtime = True
        self.proc = self._start(["-R", "-P", "70"])
        if self.proc is None:
            self.realtime = False
            self.proc = self._start(["--no-realtime"])
        if self.proc is None:
            pytest.skip("jackd (dummy driver) failed to start on this machine")

    def _start(self, mode: list[str]) -> subprocess.Popen | None:
        cmd = ["jackd", "-n", self.name, *mode, "-d", "dummy", "-r", str(self.rate), "-p", str(self.period)]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if _wait_for_server(self.name, proc):
            return proc
        proc.kill()
        proc.wait()
        return None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def play(self, signal: np.ndarray, tmp_path: Path, *, target: str = "PortAudio:in_.*", lead_in: float = 0.3):
        """Start a subprocess JACK client that connects to ``target`` and plays ``signal`` once.

        Returns the Popen; its stdout (JSON) reports the JACK xruns it saw and when it started.
        """
        path = tmp_path / f"signal-{time.monotonic_ns()}.npy"
        np.save(path, signal.astype(np.float32))
        env = dict(os.environ, JACK_DEFAULT_SERVER=self.name, JACK_NO_START_SERVER="1")
        return subprocess.Popen(
            [sys.executable, str(PLAYER), str(path), target, str(lead_in)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )


@pytest.fixture(scope="module")
def jack_server():
    """A JACK dummy server at 48 kHz / 128 frames, visible to PortAudio for this module."""
    from engine.audio.devices import rescan

    server = JackServer()
    old = os.environ.get("JACK_DEFAULT_SERVER")
    os.environ["JACK_DEFAULT_SERVER"] = server.name
    os.environ["JACK_NO_START_SERVER"] = "1"
    rescan()
    try:
        yield server
    finally:
        # Let PortAudio drop its JACK client while the server still runs: libjack aborts the
        # process when a client is closed after its server died.
        if old is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = old
        rescan()
        server.stop()
