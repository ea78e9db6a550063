"""Service operation: systemd notify/watchdog, signals, JSON logs with rotation, and a real
``beamsync run`` stopped by SIGTERM (stream-terminated sACN packets on loopback)."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from pythonosc.osc_message import OscMessage

from engine.control.osc import encode
from engine.control.service import JsonFormatter, Signals, StatusLog, Watchdog, sd_notify, setup_logging

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def _notify_socket(tmp_path: Path) -> tuple[socket.socket, str]:
    path = str(tmp_path / "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(0.2)
    return s, path


def test_sd_notify_path_and_abstract_sockets(tmp_path: Path) -> None:
    s, path = _notify_socket(tmp_path)
    with s:
        assert sd_notify("READY=1", env={"NOTIFY_SOCKET": path})
        assert s.recv(100) == b"READY=1"
    name = f"beamsync-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as a:
        a.bind("\0" + name)
        assert sd_notify("STATUS=x", env={"NOTIFY_SOCKET": "@" + name})
        assert a.recv(100) == b"STATUS=x"
    assert not sd_notify("READY=1", env={})  # not under systemd: nothing to do


def test_watchdog_pings_at_half_the_interval_only_while_healthy() -> None:
    sent: list[str] = []
    wd = Watchdog(env={"WATCHDOG_USEC": "2000000"}, notify=lambda s: sent.append(s) or True)
    assert wd.interval == 1.0
    for i in range(31):  # 3 s of a 10 Hz loop
        wd.tick(100.0 + i * 0.1)
    assert sent == ["WATCHDOG=1"] * 4  # at 100.0, 101.0, 102.0, 103.0
    wd.tick(105.0, healthy=False)  # the engine died: no ping, systemd will restart us
    assert len(sent) == 4
    assert not Watchdog(env={"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}, notify=lambda s: True).active
    assert not Watchdog(env={}, notify=lambda s: True).active


def test_signals_set_flags_and_restore() -> None:
    before = signal.getsignal(signal.SIGHUP)
    sig = Signals()
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        os.kill(os.getpid(), signal.SIGTERM)
        assert sig.reload_requested.is_set() and sig.stop_requested.is_set()
        assert sig.received == [signal.SIGHUP, signal.SIGTERM]
    finally:
        sig.restore()
    assert signal.getsignal(signal.SIGHUP) is before


def test_json_log_lines_and_rotation(tmp_path: Path) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    log_file = tmp_path / "beamsync.log"
    try:
        setup_logging(json_lines=True, file=log_file, max_bytes=2000, backups=2)
        for i in range(100):
            logging.getLogger("beamsync.test").info("line %d", i, extra={"fields": {"n": i}})
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
            h.close()
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["beamsync.log", "beamsync.log.1", "beamsync.log.2"]
    assert all(p.stat().st_size <= 2000 for p in tmp_path.iterdir())
    last = [json.loads(x) for x in log_file.read_text().splitlines()]
    assert last[-1]["msg"] == "line 99" and last[-1]["n"] == 99 and last[-1]["level"] == "info"
    assert last[-1]["logger"] == "beamsync.test" and last[-1]["ts"].endswith("+00:00")


def test_json_formatter_keeps_exceptions() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        rec = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    out = json.loads(JsonFormatter().format(rec))
    assert out["msg"] == "failed" and "ValueError: boom" in out["exc"]


def test_status_log_every_interval(caplog: pytest.LogCaptureFixture) -> None:
    sl = StatusLog(lambda: {"tempo": {"bpm": 124.0}, "fps": {"show": 60.0, "output": 44.0}, "xruns": 2,
                            "errors": {"output": 0}, "uptime_s": 30.0}, interval=10.0)
    with caplog.at_level(logging.INFO, logger="beamsync.status"):
        for t in np.arange(0.0, 35.0, 0.05):
            sl.tick(float(t))
    assert sl.logged == 3  # at 10, 20, 30 s
    rec = caplog.records[0]
    assert "124.0 BPM" in rec.getMessage() and rec.fields["status"]["xruns"] == 2


# -- a real run, stopped by SIGTERM ---------------------------------------------------------
SHOW = """\
show: sigterm test
outputs:
  - {{type: sacn, name: t, universes: [1], destinations: [127.0.0.1], port: {port}, rate: 30}}
fixtures:
  - {{name: lamp, profile: generic-dimmer, universe: 1, address: 1}}
groups:
  all: [lamp]
looks:
  main:
    - group: all
      pulse: {{trigger: beat, decay: 100ms}}
layers:
  - {{name: main, look: main}}
"""


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _osc(sock: socket.socket, port: int, address: str, *args, want: str, timeout: float = 10.0) -> list:
    sock.sendto(encode(address, *args), ("127.0.0.1", port))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = OscMessage(sock.recv(65536))
        except socket.timeout:
            continue
        if msg.address == want:
            return list(msg.params)
    raise AssertionError(f"no {want} reply")


def test_sigterm_sends_stream_terminated_and_exits_cleanly(tmp_path: Path) -> None:
    sacn_port, osc_port = _free_udp_port(), _free_udp_port()
    show = tmp_path / "show.yaml"
    show.write_text(SHOW.format(port=sacn_port))
    sr = 48000
    x = np.zeros(sr * 2, np.float32)
    x[:: sr // 2] = 0.9  # clicks at 120 BPM
    sf.write(tmp_path / "clicks.wav", x, sr)
    dmx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dmx.bind(("127.0.0.1", sacn_port))
    dmx.settimeout(0.1)
    notify, notify_path = _notify_socket(tmp_path)
    osc = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    osc.bind(("127.0.0.1", 0))
    osc.settimeout(0.2)
    env = dict(os.environ, NOTIFY_SOCKET=notify_path, WATCHDOG_USEC="400000", PYTHONUNBUFFERED="1")
    log_file = tmp_path / "run.log"
    proc = subprocess.Popen(
        [PYTHON, "-m", "engine.cli", "run", str(show), "--headless", "--audio", str(tmp_path / "clicks.wav"),
         "--loop", "--osc-port", str(osc_port), "--log-json", "--log-file", str(log_file),
         "--status-interval", "0.5"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    notes: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while "READY=1" not in notes and time.monotonic() < deadline and proc.poll() is None:
            try:
                notes.append(notify.recv(200).decode())
            except socket.timeout:
                pass
        assert "READY=1" in notes, proc.stdout.read().decode() if proc.poll() is not None else notes
        # steer it and ask for its health over OSC
        assert _osc(osc, osc_port, "/beamsync/master", 0.5, want="/beamsync/master") == [0.5]
        status = json.loads(_osc(osc, osc_port, "/beamsync/status", want="/beamsync/status")[0])
        assert status["engine"] == "running" and status["device"]["state"] == "running"
        assert status["osc"]["applied"] >= 1 and "xruns" in status and status["uptime_s"] >= 0
        gen = status["show_generation"]
        os.kill(proc.pid, signal.SIGHUP)  # reload the show
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            status = json.loads(_osc(osc, osc_port, "/beamsync/status", want="/beamsync/status")[0])
            if status["show_generation"] > gen:
                break
        assert status["show_generation"] == gen + 1
        # DMX is flowing; then SIGTERM
        got = 0
        while got < 5:
            try:
                dmx.recv(1024)
                got += 1
            except socket.timeout:
                pass
        while True:  # wait for a few watchdog pings
            try:
                notes.append(notify.recv(200).decode())
            except socket.timeout:
                break
            if notes.count("WATCHDOG=1") >= 3:
                break
        proc.send_signal(signal.SIGTERM)
        terminated = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                pkt = dmx.recv(1024)
            except socket.timeout:
                if proc.poll() is not None:
                    break
                continue
            if len(pkt) > 114 and pkt[112] & 0x40:
                terminated.append(int.from_bytes(pkt[113:115], "big"))
        rc = proc.wait(10)
        out = proc.stdout.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for s in (dmx, osc):
            s.close()
    while True:
        try:
            notes.append(notify.recv(200).decode())
        except socket.timeout:
            break
    notify.close()
    assert rc == 0, out
    assert terminated == [1, 1, 1]  # E1.31 6.2.6: three stream-terminated packets
    assert notes.count("WATCHDOG=1") >= 3 and "STOPPING=1" in notes
    records = [json.loads(x) for x in log_file.read_text().splitlines()]
    events = [r.get("event") for r in records]
    assert "ready" in events and "reload" in events and "stopping" in events
    assert any(r["logger"] == "beamsync.status" and "tempo" in r["status"] for r in records)


def test_systemd_unit_is_notify_with_watchdog_and_its_command_line_parses() -> None:
    import shlex

    from engine.cli import build_parser

    text = (REPO / "docs" / "beamsync.service").read_text()
    lines = [ln for ln in text.replace("\\\n", " ").splitlines() if ln and not ln.startswith("#")]
    keys = dict(ln.split("=", 1) for ln in lines if "=" in ln and not ln.startswith("["))
    assert keys["Type"] == "notify" and int(keys["WatchdogSec"]) > 0
    assert keys["KillMode"] == "mixed"  # SIGTERM to the main process only: it shuts the outputs down cleanly
    assert keys["ExecReload"].endswith("-HUP $MAINPID")
    argv = shlex.split(keys["ExecStart"])
    args = build_parser().parse_args(argv[1:])
    assert args.headless and args.log_json and args.osc_port == 9000 and args.osc_bind == "127.0.0.1"
