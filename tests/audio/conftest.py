"""A JACK dummy server started by the tests themselves, and a player that feeds its ports.

The server gets a unique name (``jackd -n``) and ``JACK_DEFAULT_SERVER`` points PortAudio at
it, so parallel test runs on one machine never share a server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.audio.errors import AudioError
from engine.audio.jackserver import JackDummyServer



class JackServer(JackDummyServer):
    """The engine's JACK dummy server, plus a player that feeds PortAudio's input ports."""

    def play(self, signal: np.ndarray, tmp_path: Path, *, target: str = "PortAudio:in_.*", lead_in: float = 0.3):
        """Start a subprocess JACK client that connects to ``target`` and plays ``signal`` once.

        Returns the Popen; its stdout (JSON) reports the JACK xruns it saw and when it started.
        """
        path = tmp_path / f"signal-{time.monotonic_ns()}.npy"
        np.save(path, signal.astype(np.float32))
        env = self.env()
        return subprocess.Popen(
            [sys.executable, "-m", "engine.audio.jackplayer", str(path), target, str(lead_in)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )


@pytest.fixture(scope="module")
def jack_server(no_jack):
    """A JACK dummy server at 48 kHz / 128 frames, visible to PortAudio for this module."""
    from engine.audio.devices import rescan

    try:
        server = JackServer()
    except AudioError as exc:
        no_jack(exc)
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
