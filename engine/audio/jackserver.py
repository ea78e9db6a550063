"""Start and stop a private JACK server on the dummy driver (for tests and benchmarks).

The dummy driver gives a real, paced PortAudio callback on machines without a sound card. The
server gets its own name (``jackd -n``) and callers point PortAudio at it with
``JACK_DEFAULT_SERVER``, so several runs on one machine never share a server.

Names come from a small fixed pool, not a fresh one per run. JACK keeps at most 8 servers in its
shared-memory registry (``/dev/shm/jack-shm-registry``) and frees a slot when its server exits
cleanly, or when a new server *of the same name* finds the old one dead. A server that was
killed (a device-loss test, a crashed run) therefore leaves its slot taken for good if its name
is never used again: after eight of those, ``jackd`` refuses to start ("Too many servers already
active"). Reusing pool names reclaims those slots; a name a live server holds is skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

from engine.audio.errors import AudioError


#: Server names tried in order (see the module docstring for why a pool).
NAME_POOL = tuple(f"beamsync-dummy-{i}" for i in range(6))


class JackDummyServer:
    """A running ``jackd -d dummy`` (SCHED_FIFO when permitted, else ``--no-realtime``)."""

    def __init__(self, rate: int = 48000, period: int = 128, name: str | None = None,
                 log: str | Path | None = None) -> None:
        """``log``: a file for jackd's messages (see :meth:`late_clients`); none by default."""
        if not shutil.which("jackd"):
            raise AudioError("jackd not installed (Debian package jackd2)")
        self.rate = rate
        self.period = period
        self.log = Path(log) if log is not None else None
        self.proc: subprocess.Popen | None = None
        for candidate in ([name] if name else NAME_POOL):
            self.name = candidate
            self.realtime = True
            self.proc = self._start(["-R", "-P", "70"])
            if self.proc is None:
                self.realtime = False
                self.proc = self._start(["--no-realtime"])
            if self.proc is not None:
                break
        if self.proc is None:
            raise AudioError("jackd (dummy driver) failed to start")

    def env(self) -> dict[str, str]:
        """Environment that points libjack (and so PortAudio) at this server."""
        return dict(os.environ, JACK_DEFAULT_SERVER=self.name, JACK_NO_START_SERVER="1")

    def _start(self, mode: list[str]) -> subprocess.Popen | None:
        if self._answers():  # a live server (another run) has this name: try the next one
            return None
        cmd = ["jackd", "-n", self.name, *mode, "-d", "dummy", "-r", str(self.rate), "-p", str(self.period)]
        if self.log is not None:
            with open(self.log, "wb") as out:  # jackd keeps its own copy of the descriptor
                proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        else:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return None
            if self._answers():
                # Another run may have taken the name an instant before ours: ours then exits at
                # once, so only a server that is still ours after a moment counts.
                time.sleep(0.2)
                if proc.poll() is None:
                    return proc
                return None
            time.sleep(0.1)
        proc.kill()
        proc.wait()
        return None

    def _answers(self) -> bool:
        """True when a JACK server of this name is up and has its dummy ports."""
        r = subprocess.run(["jack_lsp", "-s", self.name], capture_output=True, text=True, env=self.env())
        return r.returncode == 0 and "system:capture_1" in r.stdout

    def late_clients(self) -> Counter[str]:
        """How many cycles each client did not finish in time, from jackd's log (needs ``log``).

        jackd names the client it was waiting for when a cycle missed its deadline
        (``JackEngine::XRun: client = NAME was not finished``), which tells the engine's own
        input (``PortAudio``) from a test's player; xruns that no such line names were the
        server's own (its driver thread woke late).
        """
        if self.log is None or not self.log.exists():
            return Counter()
        text = self.log.read_text(errors="replace")
        return Counter(re.findall(r"JackEngine::XRun: client = (.+?) was not finished", text))

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
