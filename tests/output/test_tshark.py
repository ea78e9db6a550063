"""tshark (Wireshark's dissectors, written by others) decodes a capture of beamsync's packets."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from engine.output.artnet import ArtnetSender, encode_artpoll
from engine.output.config import ArtnetOutputConfig, OscOutputConfig, SacnOutputConfig, UniverseRoute
from engine.output.frame import FrameBuffer
from engine.output.osc import OscSender
from engine.output.sacn import SacnSender
from engine.features import FeatureEvent

pytestmark = pytest.mark.slow


@pytest.fixture
def capture(tmp_path, free_port):
    """Start tshark on lo for three private UDP ports; yields (ports, stop() -> pcap path)."""
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed (Debian package 'tshark')")
    ports = {"sacn": free_port(), "artnet": free_port(), "osc": free_port(), "console": free_port()}
    pcap = tmp_path / "cap.pcapng"
    flt = " or ".join(f"udp dst port {p}" for p in ports.values())
    proc = subprocess.Popen(
        ["tshark", "-i", "lo", "-f", flt, "-w", str(pcap), "-F", "pcapng"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, start_new_session=True,
    )  # fmt: skip  (own process group: tshark's dumpcap child is stopped with it)
    line = ""
    deadline = time.monotonic() + 20
    # "Capturing on" comes before the capture really runs; "Capture started" after it does
    while "Capture started" not in line and time.monotonic() < deadline and proc.poll() is None:
        line = proc.stderr.readline()
    if "Capture started" not in line:
        _stop_group(proc)
        pytest.skip(f"tshark cannot capture on lo here: {line.strip() or proc.stderr.read()[-300:]}")

    def stop():
        time.sleep(0.5)
        _stop_group(proc)
        return pcap

    yield ports, stop
    if proc.poll() is None:
        _stop_group(proc)


def _stop_group(proc: subprocess.Popen) -> None:
    """Stop tshark and its dumpcap child (SIGTERM to the group, SIGKILL if it lingers)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def decode(pcap, ports, fields: list[str], display: str) -> list[list[str]]:
    cmd = [
        "tshark", "-r", str(pcap), "--enable-heuristic", "acn", "-o", "acn.dmx_enable:TRUE",
        "--enable-heuristic", "osc_udp", "-d", f"udp.port=={ports['artnet']},artnet",
        "-d", f"udp.port=={ports['console']},artnet",
        "-Y", display, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,",
    ]  # fmt: skip
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60).stdout
    return [line.split("\t") for line in out.splitlines() if line.strip()]


def slots(display: str) -> list[int]:
    """Slot values from Wireshark's E1.31 data display (hex, '..' for zero, rows of 20)."""
    values: list[int] = []
    for row in display.split(",")[1:]:
        for tok in row.partition(":")[2].replace("|", " ").split():
            values.append(0 if tok == ".." else int(tok, 16))
    return values


def test_tshark_decodes_e131_artnet_and_osc(capture, free_port) -> None:
    ports, stop = capture
    buf = FrameBuffer([1, 2])
    routes = tuple(UniverseRoute(u, u + 100, (("127.0.0.1", ports["sacn"]),), 100 + 50 * u) for u in (1, 2))
    sacn = SacnSender(SacnOutputConfig(name="s", rate=44.0, routes=routes, source_name="beamsync tshark"), buf)
    art_routes = (UniverseRoute(1, 0x123, (("127.0.0.1", ports["artnet"]),)),)
    listen = free_port()
    art = ArtnetSender(ArtnetOutputConfig(name="a", rate=44.0, routes=art_routes, sync=True, poll_reply=True,
                                          listen_port=listen, short_name="bs-tshark"), buf)  # fmt: skip
    console = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a console polling for nodes
    console.bind(("127.0.0.1", ports["console"]))
    console.sendto(encode_artpoll(), ("127.0.0.1", listen))
    time.sleep(0.05)
    osc = OscSender(OscOutputConfig(name="o", rate=60.0, port=ports["osc"]))
    for k in range(3):
        buf.back.universe(1)[:3] = [k, 200, 13]
        buf.back.universe(2)[0] = 77
        buf.publish()
        sacn.send(k / 44)
        art.send(k / 44)
    osc.post(FeatureEvent("note", 0, 0, 64, {"pitch": 64, "velocity": 0.5}))
    osc.set_value("scene", 4, name="drop")
    osc.send(0.0)
    sacn.close()
    art.close()
    osc.close()
    console.close()
    pcap = stop()

    e131 = decode(pcap, ports, ["acn.dmx.universe", "acn.dmx.priority", "acn.dmx.seq_number", "acn.dmx.source_name",
                                "acn.dmx.options", "acn.dmx.data"], "acn.dmx.universe")  # fmt: skip
    rows = [(int(u), int(p), int(s), name, int(o, 0)) for u, p, s, name, o, _ in e131]
    # three frames of both universes, then three stream-terminated packets each (options 0x40);
    # universe 102 never changes: sent on the first frame and its two loss-insurance repeats
    for u, prio in ((101, 150), (102, 200)):
        assert [r for r in rows if r[0] == u] == [(u, prio, k, "beamsync tshark", 0) for k in (1, 2, 3)] + [
            (u, prio, k, "beamsync tshark", 0x40) for k in (4, 5, 6)
        ]
    first = [slots(d) for u, *_, d in e131 if u == "101"]
    assert [f[:3] for f in first[:3]] == [[k, 200, 13] for k in range(3)] and len(first[0]) == 512
    assert slots(e131[1][5])[:2] == [77, 0]

    artnet = decode(pcap, ports, ["artnet.header.opcode", "artnet.output.sequence", "artnet.output.universe",
                                  "artnet.output.length"], "artnet && !artnet.poll_reply")  # fmt: skip
    assert [(int(op, 0), seq) for op, seq, *_ in artnet] == [(0x5000, "1"), (0x5200, ""), (0x5000, "2"), (0x5200, ""),
                                                             (0x5000, "3"), (0x5200, "")]  # fmt: skip
    assert {(int(r[2], 0), int(r[3])) for r in artnet if r[2]} == {(0x123, 512)}
    replies = decode(pcap, ports, ["artnet.poll_reply.short_name", "artnet.poll_reply.num_ports",
                                   "artnet.poll_reply.netswitch", "artnet.poll_reply.subswitch"],
                     "artnet.poll_reply")  # fmt: skip
    assert [(r[0], int(r[1]), int(r[2], 0), int(r[3], 0)) for r in replies] == [("bs-tshark", 1, 0x1, 0x2)]

    osc_rows = decode(pcap, ports, ["osc.message.header.path", "osc.message.header.format"], "osc")
    assert sorted(tuple(r) for r in osc_rows) == [("/beamsync/note", ",if"), ("/beamsync/scene", ",si")]
