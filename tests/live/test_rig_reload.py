"""Hot reload that changes the rig: new destinations and universes take effect, old outputs stop."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import numpy as np

from engine.audio.filesource import FileSource
from engine.live.core import EngineCore
from engine.show.loader import load_show

SR = 48000
SHOW = """\
show: rig {name}
outputs:
  - {{type: sacn, name: out, universes: {universes}, destinations: [127.0.0.1], port: {port}, rate: 40}}
fixtures:
  - {{name: lamp, profile: generic-dimmer, universe: {universe}, address: 1}}
looks:
  main:
    - {{group: lamp, intensity: {level}}}
layers:
  - {{name: main, look: main}}
"""


def _listener() -> tuple[socket.socket, int]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.05)
    return s, s.getsockname()[1]


def _packets(sock: socket.socket) -> list[tuple[int, int, int]]:
    """(universe, options byte, first slot) of every E1.31 data packet waiting on ``sock``."""
    out = []
    while True:
        try:
            data = sock.recv(1024)
        except (socket.timeout, BlockingIOError):
            return out
        if len(data) >= 126 and data[4:16] == b"ASC-E1.17\x00\x00\x00":
            out.append((int.from_bytes(data[113:115], "big"), data[112], data[126] if len(data) > 126 else 0))


def test_reload_with_new_destination_and_universe_switches_outputs(tmp_path: Path):
    old_sock, old_port = _listener()
    new_sock, new_port = _listener()
    a = tmp_path / "a.yaml"
    a.write_text(SHOW.format(name="a", universes="[1]", port=old_port, universe=1, level=0.5))
    b = tmp_path / "b.yaml"
    b.write_text(SHOW.format(name="b", universes="[1, 2]", port=new_port, universe=2, level=1.0))
    src = FileSource(samples=np.zeros(SR * 3, np.float32), sample_rate=SR, block_size=256, realtime=False)
    core = EngineCore(src, load_show(a), start_outputs=False)
    try:
        with src:
            core.run_fixed(until_frame=SR // 2, tick_outputs=True)
            before = _packets(old_sock)
            assert (1, 0, 128) in before  # half intensity on universe 1, the old port
            old_outputs = core.outputs

            core.swap_show(load_show(b))
            assert core.rig_reloads == 1
            for i in range(12):
                t = 1.0 + i / 40
                core.show_frame(int(t * SR), stamp=t)
                core.scheduler.tick(t)
            assert core.outputs is not old_outputs
            assert 2 in core.buffer.back
            after = _packets(new_sock)
            assert (2, 0, 255) in after, after  # the new universe, full, on the new port
            deadline = time.monotonic() + 5
            ended: list[tuple[int, int, int]] = []
            while time.monotonic() < deadline and not any(opt & 0x40 for _, opt, _ in ended):
                ended += _packets(old_sock)
            # The old output said goodbye (E1.31 stream-terminated bit) and sends nothing more.
            assert any(u == 1 and opt & 0x40 for u, opt, _ in ended), ended

            # A reload that keeps the rig keeps the outputs.
            b.write_text(SHOW.format(name="b2", universes="[1, 2]", port=new_port, universe=2, level=0.25))
            current = core.outputs
            core.swap_show(load_show(b))
            core.show_frame(int(1.5 * SR), stamp=1.5)
            assert core.outputs is current and core.rig_reloads == 1
    finally:
        core.stop()
        old_sock.close()
        new_sock.close()
