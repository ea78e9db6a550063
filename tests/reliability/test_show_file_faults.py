"""The show file under a running engine (process mode, hot reload on): deleted, replaced by a
broken one, replaced by one larger than the loader accepts, then fixed.

Expected at every step: the last good show keeps going out on the wire frame after frame, the
operator gets one clear message naming the file (and line:column where there is one), the
status counts the failed reload; a good file takes over at once.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import numpy as np

from engine.audio.filesource import FileSource
from engine.config import MAX_CONFIG_BYTES
from engine.live.engine import LiveEngine

SR = 48000
SHOW = """\
outputs: [{{type: sacn, name: t, universes: [1], destinations: [127.0.0.1], port: {port}, rate: 44, keepalive_ms: 100}}]
fixtures: [{{name: d, profile: generic-dimmer, universe: 1, address: 1}}]
groups: {{all: [d]}}
settings: {{transition: 0 ms}}
looks: {{main: [{{group: all, intensity: {level}}}]}}
layers: [{{name: base, look: main}}]
"""


def test_deleted_broken_and_oversized_show_files_keep_the_last_good_show_on_the_wire(tmp_path: Path, wait_until) -> None:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(0.05)
    port = rx.getsockname()[1]
    show = tmp_path / "show.yaml"
    show.write_text(SHOW.format(port=port, level=0.5))
    src = FileSource(samples=np.zeros(SR * 2, np.float32), sample_rate=SR, block_size=256, loop=True, shared=True)
    engine = LiveEngine(show, src)
    messages: list[tuple[str, str]] = []

    def slot_values(seconds: float) -> list[int]:
        out, end = [], time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                out.append(rx.recv(2048)[126])
            except socket.timeout:
                pass
        return out

    def reload_message(needle: str) -> str | None:
        messages.extend(engine.poll_messages())
        return next((t for k, t in messages if k == "reload" and needle in t), None)

    try:
        engine.start()
        assert set(slot_values(0.5)) == {128}
        faults = [
            ("deleted", lambda: show.unlink(), "file not found"),
            ("broken", lambda: show.write_text("looks: {main: [{group: all, intensity: 0.5}\nlayers: [\n"), "show.yaml:"),
            ("oversized", lambda: show.write_text(SHOW.format(port=port, level=1.0) + "#" * (MAX_CONFIG_BYTES + 10)),
             "file too large"),
        ]
        for k, (what, damage, needle) in enumerate(faults, start=1):
            damage()
            assert wait_until(lambda: reload_message(needle) is not None, 10), (what, messages)
            assert str(show) in reload_message(needle) or "show.yaml" in reload_message(needle), (what, messages)
            values = slot_values(0.5)
            assert len(values) >= 3 and set(values) == {128}, (what, values)  # the last good show, still sent
            assert engine.status["show_reload_errors"] >= 1 and engine.status["show_generation"] == 0
            assert engine.alive
        frames = engine.status["show_frames"]
        show.write_text(SHOW.format(port=port, level=1.0))  # fixed: takes over
        assert wait_until(lambda: engine.status["show_generation"] == 1, 10)
        assert wait_until(lambda: slot_values(0.2)[-1:] == [255], 5)
        assert engine.status["show_reload_errors"] == 0
        assert engine.status["show_frames"] > frames
    finally:
        engine.close()
        rx.close()
