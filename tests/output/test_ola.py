"""OLA's olad (a receiver no one here wrote) reads beamsync's Art-Net and E1.31.

Everything runs inside a network namespace this module creates (``bs-out-<pid>``): olad's
Art-Net listens on that namespace's loopback, its E1.31 on a veth pair (OLA's E1.31 refuses
loopback), multicast stays inside, and olad's fixed ports (9090 HTTP, 9010 RPC, 6454, 5568)
cannot clash with anything on the host. The test reads slot values back from OLA's HTTP API.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from engine.output.artnet import ArtnetSender
from engine.output.config import ArtnetOutputConfig, SacnOutputConfig, UniverseRoute
from engine.output.frame import FrameBuffer
from engine.output.sacn import SacnSender

pytestmark = [pytest.mark.ola, pytest.mark.netns, pytest.mark.slow]

OLA_IP, SENDER_IP = "10.77.0.1", "10.77.0.2"
CLONE_NEWNET = 0x40000000
DISABLED_PLUGINS = (
    "dummy espnet ftdidmx gpio karate kinet milinst opendmx openpixelcontrol osc pathport renard "
    "sandnet shownet spi stageprofi uartdmx usbdmx usbserial"
).split()


def _run(*cmd: str, check: bool = True, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=timeout)


@pytest.fixture(scope="module")
def netns():
    """A private network namespace with lo up and a veth pair 10.77.0.1 <-> 10.77.0.2."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2 ('ip')")
    name = f"bs-out-{os.getpid()}"
    made = _run("ip", "netns", "add", name, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {made.stderr.strip()}")
    try:
        x = ("ip", "netns", "exec", name)
        for cmd in (
            ("ip", "link", "set", "lo", "up"),
            ("ip", "link", "add", "veth0", "type", "veth", "peer", "name", "veth1"),
            ("ip", "addr", "add", f"{OLA_IP}/24", "dev", "veth0"),
            ("ip", "addr", "add", f"{SENDER_IP}/24", "dev", "veth1"),
            ("ip", "link", "set", "veth0", "up"),
            ("ip", "link", "set", "veth1", "up"),
        ):
            r = _run(*x, *cmd, check=False)
            if r.returncode != 0:
                pytest.skip(f"cannot set up the test namespace ({' '.join(cmd)}): {r.stderr.strip()}")
        yield name
    finally:
        _run("ip", "netns", "delete", name, check=False)


def socket_in(ns: str, **opts) -> socket.socket:
    """A UDP socket created inside namespace ``ns`` (setns affects only the calling thread)."""
    libc = ctypes.CDLL(None, use_errno=True)
    box: dict = {}

    def make() -> None:
        with open(f"/var/run/netns/{ns}") as f:
            if libc.setns(f.fileno(), CLONE_NEWNET) != 0:
                box["error"] = OSError(ctypes.get_errno(), "setns failed")
                return
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if "interface" in opts:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(opts["interface"]))
        s.setblocking(False)
        box["sock"] = s

    t = threading.Thread(target=make)  # the thread ends, the socket keeps its namespace
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["sock"]


@pytest.fixture(scope="module")
def olad(netns, tmp_path_factory):
    """olad inside the namespace (as nobody: it refuses root) with only Art-Net and E1.31."""
    if shutil.which("olad") is None or shutil.which("setpriv") is None:
        pytest.skip("OLA (Debian package 'ola') or setpriv is not installed")
    conf = tmp_path_factory.mktemp("ola")
    for plugin in DISABLED_PLUGINS:
        (conf / f"ola-{plugin}.conf").write_text("enabled = false\n")
    (conf / "ola-artnet.conf").write_text(
        "enabled = true\nip = 127.0.0.1\nuse_loopback = true\nnet = 0\nsubnet = 0\noutput_ports = 4\n"
        "always_broadcast = false\nuse_limited_broadcast = false\nshort_name = ola\nlong_name = ola test\n"
    )
    (conf / "ola-e131.conf").write_text(
        f"enabled = true\nip = {OLA_IP}\ninput_ports = 8\noutput_ports = 0\nignore_preview = true\n"
        "draft_discovery = false\nprepend_hostname = false\nrevision = 0.46\ndscp = 0\n"
    )
    os.chown(conf, 65534, 65534)
    for f in conf.iterdir():
        os.chown(f, 65534, 65534)
    log = open(conf / "olad.log", "w")
    x = ["ip", "netns", "exec", netns]
    proc = subprocess.Popen(
        [*x, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "olad", "-c", str(conf),
         "--no-register-with-dns-sd", "-l", "3"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        devices = ""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.skip(f"olad exited: {(conf / 'olad.log').read_text()[-500:]}")
            r = _run(*x, "ola_dev_info", check=False)
            if "E1.31" in r.stdout and "ArtNet" in r.stdout:
                devices = r.stdout
                break
            time.sleep(0.3)
        else:
            pytest.skip("olad did not come up with ArtNet and E1.31 devices within 20 s")
        yield {"ns": netns, "devices": devices, "exec": x, "log": conf / "olad.log"}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def device_id(devices: str, name: str) -> str:
    for line in devices.splitlines():
        if line.startswith("Device ") and name in line:
            return line.split()[1].rstrip(":")
    raise AssertionError(f"no {name} device in:\n{devices}")


def patch(ola, device: str, port: int, universe: int) -> None:
    _run(*ola["exec"], "ola_patch", "-d", device, "-p", str(port), "-i", "-u", str(universe))


def get_dmx(ola, universe: int) -> list[int]:
    fetch = (
        "import sys, urllib.request\n"
        f"sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:9090/get_dmx?u={universe}', timeout=5).read().decode())"
    )
    r = _run(*ola["exec"], sys.executable, "-c", fetch, check=False)
    if r.returncode != 0 or not r.stdout.strip():
        return []
    return json.loads(r.stdout).get("dmx", [])


def wait_for(ola, universe: int, expect_prefix: list[int], keep_sending, timeout: float = 8.0) -> list[int]:
    deadline = time.monotonic() + timeout
    got: list[int] = []
    while time.monotonic() < deadline:
        keep_sending()
        got = get_dmx(ola, universe)
        if got[: len(expect_prefix)] == expect_prefix:
            return got
        time.sleep(0.1)
    return got


def test_ola_reads_artnet_on_loopback(olad) -> None:
    art = device_id(olad["devices"], "ArtNet")
    patch(olad, art, 0, 3)  # OLA listens on Art-Net universe (net 0, sub-net 0, 3 mod 16)
    buf = FrameBuffer([1])
    routes = (UniverseRoute(1, 3, (("127.0.0.1", 6454),)),)
    cfg = ArtnetOutputConfig(name="a", rate=44.0, routes=routes, poll_reply=False)
    sender = ArtnetSender(cfg, buf, sock=socket_in(olad["ns"]))
    values = [(i * 7) % 256 for i in range(512)]
    buf.back.universe(1)[:] = values
    buf.publish()
    clock = iter(range(10_000))
    got = wait_for(olad, 3, values[:16], lambda: sender.send(next(clock) * 0.5))
    sender.close()
    sender.sock.close()
    assert got == values, f"OLA log tail: {olad['log'].read_text()[-800:]}"
    assert sender.stats.errors == 0


def test_ola_reads_e131_multicast_and_unicast_in_namespace(olad) -> None:
    e131 = device_id(olad["devices"], "E1.31")
    patch(olad, e131, 0, 11)
    patch(olad, e131, 1, 12)
    buf = FrameBuffer([1, 2])
    routes = (
        UniverseRoute(1, 11, (), 100),  # multicast only
        UniverseRoute(2, 12, ((OLA_IP, 5568),), 100),  # unicast to olad
    )
    cfg = SacnOutputConfig(name="s", rate=44.0, routes=routes, multicast=True, sync_universe=7000)
    sender = SacnSender(cfg, buf, sock=socket_in(olad["ns"], interface=SENDER_IP), cid=bytes(range(16)))
    one = [255 - (i % 256) for i in range(512)]
    two = [0] * 511 + [42]
    buf.back.universe(1)[:] = one
    buf.back.universe(2)[:] = two
    buf.publish()
    clock = iter(range(10_000))
    tick = lambda: sender.send(next(clock) * 1.1)  # noqa: E731 (always past keep-alive: resend)
    got_one = wait_for(olad, 11, one[:16], tick)
    got_two = wait_for(olad, 12, [0] * 16, tick)
    deadline = time.monotonic() + 5
    while got_two[-1:] != [42] and time.monotonic() < deadline:
        tick()
        got_two = get_dmx(olad, 12)
        time.sleep(0.1)
    sender.close()
    sender.sock.close()
    assert got_one == one, f"OLA log tail: {olad['log'].read_text()[-800:]}"
    assert got_two == two
    assert sender.stats.errors == 0


def test_unreachable_destination_in_namespace_is_counted(netns) -> None:
    buf = FrameBuffer([1])
    routes = (UniverseRoute(1, 1, (("10.99.0.1", 5568), (OLA_IP, 5568)), 100),)
    sender = SacnSender(SacnOutputConfig(name="s", rate=44.0, routes=routes), buf, sock=socket_in(netns),
                        cid=bytes(16))  # fmt: skip
    buf.publish()
    for k in range(3):
        sender.send(k * 1.1)
    sender.close()
    sender.sock.close()
    assert sender.stats.errors == 6 and sender.stats.packets == 6  # 3 sends + 3 terminations, each way
    assert "ENETUNREACH" in (sender.stats.last_error or "")
