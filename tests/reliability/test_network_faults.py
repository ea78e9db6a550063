"""Network faults on a real link: the interface to the lighting network goes down and comes back.

Two network namespaces joined by a veth pair: the engine's namespace (10.78.x.1 on ``veth0``)
and the node's (10.78.x.2, where the receivers listen). The engine is built in a thread that
entered the engine's namespace, so its output sockets live there. Taking ``veth0`` down
removes the route: every ``sendto`` fails with ENETUNREACH. Expected: the show keeps
rendering, every failed send is counted on its output (the reason kept for the UI), no
exception reaches the engine loop; when the link is back, packets reach the node again and
the error counts stop growing. Needs root (``ip netns``); skipped with the reason otherwise.
"""

from __future__ import annotations

import ctypes
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from engine.audio.filesource import FileSource
from engine.live.core import EngineCore
from engine.show.loader import load_show

CLONE_NEWNET = 0x40000000
SR = 48000


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True)


@pytest.fixture
def link():
    """Two namespaces and a veth pair between them; yields (engine ns, node ns, subnet prefix)."""
    tag = f"{os.getpid() % 100000}-{time.monotonic_ns() % 1000}"
    eng, node = f"bs-rel-eng-{tag}", f"bs-rel-node-{tag}"
    net = f"10.78.{os.getpid() % 250}"
    made: list[str] = []
    try:
        for ns in (eng, node):
            r = _ip("netns", "add", ns)
            if r.returncode != 0:
                pytest.skip(f"cannot create a network namespace (needs root): {r.stderr.strip()}")
            made.append(ns)
        for cmd in (
            ("-n", eng, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns", node),
            ("-n", eng, "addr", "add", f"{net}.1/24", "dev", "veth0"),
            ("-n", node, "addr", "add", f"{net}.2/24", "dev", "veth1"),
            ("-n", eng, "link", "set", "veth0", "up"),
            ("-n", node, "link", "set", "veth1", "up"),
            ("-n", eng, "link", "set", "lo", "up"),
            ("-n", node, "link", "set", "lo", "up"),
        ):
            r = _ip(*cmd)
            if r.returncode != 0:
                pytest.skip(f"cannot set up the test link ({' '.join(cmd)}): {r.stderr.strip()}")
        yield eng, node, net
    finally:
        for ns in made:
            _ip("netns", "delete", ns)


def _in_namespace(ns: str, build):  # noqa: ANN001, ANN202
    """Run ``build()`` in a thread that entered namespace ``ns``; sockets it makes stay there."""
    libc = ctypes.CDLL(None, use_errno=True)
    box: dict = {}

    def run() -> None:
        with open(f"/var/run/netns/{ns}") as f:
            if libc.setns(f.fileno(), CLONE_NEWNET) != 0:
                box["error"] = OSError(ctypes.get_errno(), f"setns into {ns} failed")
                return
        try:
            box["value"] = build()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


class _Counter(threading.Thread):
    def __init__(self, sock: socket.socket) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.sock.settimeout(0.1)
        self.count = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                self.sock.recv(2048)
                self.count += 1
            except socket.timeout:
                pass
            except OSError:
                return


def test_link_down_counts_send_errors_show_goes_on_and_link_up_recovers(link, tmp_path: Path, wait_until) -> None:
    eng_ns, node_ns, net = link

    def receiver() -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((f"{net}.2", 0))
        return s

    rx_sacn, rx_art = _in_namespace(node_ns, receiver), _in_namespace(node_ns, receiver)
    show = tmp_path / "net.yaml"
    # keepalive 100 ms: every universe goes out at least ten times a second even when static
    show.write_text(
        "outputs:\n"
        f"  - {{type: sacn, name: s, universes: 1-2, destinations: ['{net}.2'], port: {rx_sacn.getsockname()[1]}, "
        "rate: 44, keepalive_ms: 100}\n"
        f"  - {{type: artnet, name: a, universes: 3-4, destinations: ['{net}.2'], port: {rx_art.getsockname()[1]}, "
        "rate: 44, keepalive_ms: 100}\n"
        "fixtures: [{name: d, profile: generic-dimmer, universe: 1, address: 1, count: 4}, "
        "{name: e, profile: generic-dimmer, universe: 3, address: 1}]\n"
        "groups: {all: [d 1, d 2, d 3, d 4, e]}\n"
        "looks: {main: [{group: all, intensity: 0.5}]}\n"
        "layers: [{name: base, look: main}]\n"
    )
    samples = (0.1 * np.random.default_rng(1).standard_normal(SR * 4)).astype(np.float32)
    src = FileSource(samples=samples, sample_rate=SR, block_size=256, loop=True)
    core: EngineCore = _in_namespace(eng_ns, lambda: EngineCore(src, load_show(show)))
    counters = [_Counter(rx_sacn), _Counter(rx_art)]
    for c in counters:
        c.start()
    stop = threading.Event()
    loop_error: list[BaseException] = []

    def run() -> None:
        try:
            core.run_live(stop.is_set)
        except BaseException as exc:  # the assertion below reports it
            loop_error.append(exc)

    def errors() -> list[int]:
        return [s.errors for s in core.scheduler.snapshot()]

    src.start()
    core.start()
    loop = threading.Thread(target=run, daemon=True)
    loop.start()
    try:
        assert wait_until(lambda: min(c.count for c in counters) >= 10, 10), "no packets reached the node"
        assert errors() == [0, 0]

        assert _ip("-n", eng_ns, "link", "set", "veth0", "down").returncode == 0
        frames_at_down = core.stats.show_frames
        assert wait_until(lambda: min(errors()) >= 20, 10), f"send errors not counted: {errors()}"
        snaps = core.scheduler.snapshot()
        assert all("ENETUNREACH" in (s.last_error or "") for s in snaps), [s.last_error for s in snaps]
        assert core.stats.show_frames > frames_at_down + 50  # the show kept rendering
        assert loop.is_alive() and not loop_error

        assert _ip("-n", eng_ns, "link", "set", "veth0", "up").returncode == 0
        back = [c.count for c in counters]
        assert wait_until(lambda: all(c.count >= b + 10 for c, b in zip(counters, back)), 10), "no packets after link up"
        settled = errors()
        time.sleep(0.5)
        assert errors() == settled, "errors still growing with the link up"
        assert loop.is_alive() and not loop_error
    finally:
        stop.set()
        loop.join(5)
        core.stop()
        src.stop()
        src.close()
        for c in counters:
            c.halt.set()
            c.join(2)
        rx_sacn.close()
        rx_art.close()
    assert not loop_error, loop_error
