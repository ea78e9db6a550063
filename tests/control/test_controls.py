"""The wiring of ``beamsync run``'s control options: shutdown sequence, SIGHUP, status log."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from engine.cli import build_parser
from engine.control.controls import Controls


class FakeEngine:
    alive = True

    def __init__(self) -> None:
        self.posted: list[tuple[str, Any]] = []

        class Status:
            def snapshot(self) -> dict[str, float]:
                return {"bpm": 124.0, "confidence": 0.9, "state": 1.0}

        self.status = Status()

    def post(self, command: str, value: Any = None) -> None:
        self.posted.append((command, value))


class FakeSource:
    def stats(self) -> Any:
        class S:
            xruns = 2
            lost_frames = 0

        return S()


def _controls(*argv: str) -> tuple[Controls, FakeEngine]:
    args = build_parser().parse_args(["run", *argv])
    engine = FakeEngine()
    return Controls(engine, FakeSource(), args), engine


def test_sigterm_without_options_stops_at_once() -> None:
    c, engine = _controls()
    try:
        assert c.tick(0.0) is False
        c.signals.stop_requested.set()
        assert c.tick(0.05) is True
        assert engine.posted == []
    finally:
        c.stop()


def test_stop_look_then_fade_then_stop() -> None:
    c, engine = _controls("--stop-look", "safe", "--stop-fade", "1.0", "--stop-hold", "1.5")
    try:
        c.tick(0.0)
        c.operator.apply("master", [0.8])
        engine.posted.clear()
        c.signals.stop_requested.set()
        done = [(t / 10, c.tick(10.0 + t / 10)) for t in range(0, 20)]
        assert engine.posted[0] == ("look", "safe")
        masters = [v for k, v in engine.posted if k == "master"]
        assert masters[0] == pytest.approx(0.8) and masters[-1] == 0.0
        assert all(a >= b for a, b in zip(masters, masters[1:]))  # a fade down, never up
        stop_at = next(t for t, d in done if d)
        assert stop_at == pytest.approx(1.5)  # held for the look's transition
    finally:
        c.stop()


def test_second_signal_skips_the_fade() -> None:
    c, engine = _controls("--stop-fade", "5")
    try:
        c.tick(0.0)
        c.signals.stop_requested.set()
        assert c.tick(1.0) is False
        c.signals.second_stop = True
        assert c.tick(1.1) is True
    finally:
        c.stop()


def test_sighup_reloads_and_status_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    c, engine = _controls("--status-interval", "5")
    try:
        with caplog.at_level(logging.INFO):
            c.tick(0.0)
            c.signals.reload_requested.set()
            c.tick(0.1)
            for t in range(1, 12):
                c.tick(float(t))
        assert engine.posted == [("reload", None)]
        status = [r for r in caplog.records if r.name == "beamsync.status"]
        assert len(status) == 2 and status[0].fields["status"]["xruns"] == 2
        assert status[0].fields["status"]["tempo"]["bpm"] == 124.0
    finally:
        c.stop()


def test_health_snapshot_reports_device_tempo_fps_errors() -> None:
    from engine.control.health import Health

    class Lost(FakeSource):
        device_name = "USB Audio"
        state = "lost"
        losses = 1
        restarts = 0
        events = ["audio input 'USB Audio' lost (exit 1); retrying"]

    class Status:
        def snapshot(self) -> dict[str, float]:
            return {"state": 1.0, "bpm": 128.04, "confidence": 0.93, "beat_in_bar": 3, "show_fps": 99.6,
                    "output_fps": 44.0, "output_errors": 7, "show_reload_errors": 1, "lost_frames": 5}

    engine = FakeEngine()
    engine.status = Status()
    clock = iter([100.0, 130.5])
    h = Health(engine, Lost(), clock=lambda: next(clock))
    h.extra["osc"] = lambda: {"applied": 3}
    h.extra["broken"] = lambda: 1 / 0
    snap = h.snapshot()
    assert snap["uptime_s"] == 30.5 and snap["engine"] == "running"
    assert snap["device"] == {"name": "USB Audio", "state": "lost", "losses": 1, "restarts": 0,
                              "events": ["audio input 'USB Audio' lost (exit 1); retrying"]}
    assert snap["tempo"]["bpm"] == 128.04 and snap["tempo"]["beat_in_bar"] == 3
    assert snap["fps"] == {"show": 99.6, "output": 44.0} and snap["xruns"] == 2 and snap["lost_frames"] == 5
    assert snap["errors"] == {"output": 7, "show_reload": 1, "show_late": 0}
    assert snap["osc"] == {"applied": 3} and "division by zero" in snap["broken"]["error"]


def test_systemd_status_line_under_the_watchdog(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket as _socket

    path = str(tmp_path / "n.sock")
    rx = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM)
    rx.bind(path)
    rx.settimeout(0.5)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "10000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    c, engine = _controls()
    got = []
    try:
        c.tick(0.0)
        c.tick(1.0)
        c.tick(5.5)
    finally:
        c.stop()
    while True:
        try:
            got.append(rx.recv(200).decode())
        except _socket.timeout:
            break
    rx.close()
    assert got[:2] == ["READY=1", "STATUS=running"]
    assert got.count("WATCHDOG=1") == 2  # at 0 and 5.5 (interval 5 s)
    status = [g for g in got if g.startswith("STATUS=124.0 BPM")]
    assert len(status) == 2 and "input running" in status[0]
    assert got[-1] == "STOPPING=1"


def test_rebind_sends_later_commands_to_the_new_engine() -> None:
    c, old = _controls()
    try:
        c.operator.apply("master", [0.5])
        new = FakeEngine()
        c.rebind(new, FakeSource())
        c.operator.apply("blackout", [True])
        assert old.posted == [("master", 0.5)] and new.posted == [("blackout", True)]
        assert c.health.engine is new and c.operator.value("master") == 0.5
    finally:
        c.stop()
