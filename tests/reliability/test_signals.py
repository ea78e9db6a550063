"""Signals to ``beamsync run``: SIGHUP while the show file is broken, then SIGINT (Ctrl-C).

(SIGTERM with a good show, and SIGHUP picking up a good edit, are tested in
tests/control/test_service.py.) Expected: SIGHUP re-reads the file; a broken file is reported
in one message and the running show stays on the wire unchanged; SIGINT stops cleanly: the
outputs send their E1.31 stream-terminated packets and the process exits 0 with its summary.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]
SHOW = """\
outputs: [{{type: sacn, name: t, universes: [1], destinations: [127.0.0.1], port: {port}, rate: 44, keepalive_ms: 100}}]
fixtures: [{{name: d, profile: generic-dimmer, universe: 1, address: 1}}]
groups: {{all: [d]}}
settings: {{transition: 0 ms}}
looks: {{main: [{{group: all, intensity: 0.5}}]}}
layers: [{{name: base, look: main}}]
"""


def test_sighup_with_a_broken_show_keeps_the_show_and_sigint_stops_cleanly(tmp_path: Path) -> None:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(0.1)
    show = tmp_path / "show.yaml"
    show.write_text(SHOW.format(port=rx.getsockname()[1]))
    sf.write(tmp_path / "noise.wav", (0.05 * np.random.default_rng(2).standard_normal(48000 * 2)).astype(np.float32),
             48000)
    env = dict(os.environ, PYTHONUNBUFFERED="1", JACK_NO_START_SERVER="1")
    env.pop("DISPLAY", None)
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "run", str(show), "--headless", "--audio",
                             str(tmp_path / "noise.wav"), "--loop"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: "queue.Queue[str]" = queue.Queue()
    seen: list[str] = []
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stderr], daemon=True).start()

    def wait_line(needle: str, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                seen.append(lines.get(timeout=0.1))
            except queue.Empty:
                continue
            if needle in seen[-1]:
                return True
        return False

    def slot_values(seconds: float) -> list[int]:
        out, end = [], time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                pkt = rx.recv(2048)
            except socket.timeout:
                continue
            if not pkt[112] & 0x40:
                out.append(pkt[126])
        return out

    try:
        assert wait_line("status ", 60), seen
        assert set(slot_values(0.5)) == {128}
        show.write_text("looks: {main: [{group: all, intensity: 0.5}\n")  # a broken save (hot reload reports it)
        assert wait_line("show not reloaded", 10), seen
        proc.send_signal(signal.SIGHUP)  # the operator asks for a reload anyway
        assert wait_line("show not reloaded", 10), seen
        assert sum("show not reloaded" in x for x in seen) == 2
        assert set(slot_values(0.5)) == {128} and proc.poll() is None
        proc.send_signal(signal.SIGINT)
        terminated, end = 0, time.monotonic() + 20
        while time.monotonic() < end and proc.poll() is None:
            try:
                pkt = rx.recv(2048)
            except socket.timeout:
                continue
            terminated += bool(pkt[112] & 0x40)
        rc = proc.wait(20)
        assert wait_line("beamsync: done after", 5) or any("done after" in x for x in seen), seen
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        rx.close()
    assert rc == 0, seen[-20:]
    assert terminated == 3  # E1.31 6.2.6: three stream-terminated packets
    assert not any("Traceback" in x for x in seen), seen
