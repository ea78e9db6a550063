"""Every control of the monitor acts on a running engine (thread mode, demo clip, club show).

Checked where the effect shows: the sACN packets leaving on loopback, the engine's telemetry
(DMX frame and fixture attributes) and its status block. Keys are pressed as a VJ would.
"""

from __future__ import annotations

import socket
import struct
import time

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

EMITTERS = {"intensity", "red", "green", "blue", "white", "amber", "uv", "cyan", "magenta", "yellow"}


def light_slots(patch) -> dict[int, np.ndarray]:
    """0-based slots, per universe, that decide whether a fixture makes light: its master dimmer
    when it has one (colour channels may stay set under a closed dimmer), else every emitter."""
    out: dict[int, list[int]] = {}
    for f in patch.fixtures:
        dimmers = [mc for mc in f.mode.channels if mc.channel.attribute == "intensity" and mc.cell is None]
        chans = dimmers or [mc for mc in f.mode.channels if mc.channel.attribute in EMITTERS]
        for mc in chans:
            out.setdefault(f.universe, []).extend(f.address - 1 + o for o in mc.offsets)
    return {u: np.array(sorted(s)) for u, s in out.items()}


@pytest.fixture
def receiver(port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    sock.setblocking(False)
    yield sock
    sock.close()


def collect(qtbot, sock, seconds: float) -> list[tuple[int, np.ndarray]]:
    """E1.31 data packets (universe, 512 slots) arriving in the next ``seconds`` (Qt keeps running)."""
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        qtbot.wait(20)
        while True:
            try:
                data = sock.recv(2048)
            except BlockingIOError:
                break
            if data[4:16] == b"ASC-E1.17\x00\x00\x00" and len(data) >= 126 and data[125] == 0:
                universe = struct.unpack("!H", data[113:115])[0]
                slots = np.zeros(512, np.uint8)
                body = np.frombuffer(data[126:], np.uint8)
                slots[: len(body)] = body
                out.append((universe, slots))
    return out


def drain(sock) -> None:
    while True:
        try:
            sock.recv(2048)
        except BlockingIOError:
            return


def lit(packets, slots) -> int:
    """The largest light-slot value in ``packets``."""
    return max((int(p[slots[u]].max()) for u, p in packets if u in slots), default=-1)


def read_dmx(telemetry) -> dict[int, np.ndarray]:
    """The newest DMX frame (a reader can find the writer mid-frame every retry: try again)."""
    for _ in range(100):
        _, dmx = telemetry.read_dmx()
        if dmx:
            return dmx
        time.sleep(0.001)
    raise AssertionError("no complete DMX frame in telemetry")


def press(window, key, modifier=Qt.NoModifier) -> None:
    window.activateWindow()
    QTest.keyClick(window, key, modifier)


def test_blackout_key_zeroes_every_intensity_in_the_outgoing_frames(qtbot, window, live, receiver):
    slots = light_slots(window.show_obj.patch)
    before = collect(qtbot, receiver, 1.0)
    assert before, "no sACN packets arrived"
    assert lit(before, slots) > 0, "the show should light something before the blackout"

    press(window, Qt.Key_B)
    assert window.control.buttons["blackout"].isChecked()
    assert ("blackout", True) in window.feed.posted
    qtbot.wait(200)  # the command lands at the next show frame; the next packet carries it
    drain(receiver)
    during = collect(qtbot, receiver, 1.0)
    assert len(during) >= 20, "the outputs keep sending during a blackout"
    assert lit(during, slots) == 0, "a light channel stayed on during the blackout"
    dmx = read_dmx(live.telemetry)
    assert all(int(dmx[u][s].max()) == 0 for u, s in slots.items())
    assert window.stage.blackout

    press(window, Qt.Key_B)
    qtbot.wait(200)
    drain(receiver)
    assert lit(collect(qtbot, receiver, 0.6), slots) > 0


def test_master_fader_keys_scale_the_output_down_to_zero(qtbot, window, live):
    slots = light_slots(window.show_obj.patch)
    for _ in range(20):
        press(window, Qt.Key_Down)
    assert window.control.master.value() == 0
    assert window.feed.posted[-1] == ("master", 0.0)
    qtbot.wait(200)

    def dark() -> bool:
        dmx = read_dmx(live.telemetry)
        return all(int(dmx[u][s].max()) == 0 for u, s in slots.items())

    qtbot.waitUntil(dark, timeout=2000)
    for _ in range(20):
        press(window, Qt.Key_Up)
    assert window.control.master.value() == 100
    qtbot.waitUntil(lambda: not dark(), timeout=2000)


def test_tap_tempo_in_manual_mode_sets_the_tempo(qtbot, window, live):
    before = live.status["bpm"]  # 0 while the tracker has not locked yet, else near the clip's 124
    assert abs(before - 100.0) > 10.0
    press(window, Qt.Key_M)
    assert window.beat_mode == "manual" and ("beat_mode", "manual") in window.feed.posted
    t0 = time.monotonic()
    for k in range(8):  # 100 BPM: one tap every 0.6 s, on absolute deadlines (no drift)
        qtbot.wait(max(0, int(1000 * (t0 + 0.6 * k - time.monotonic()))))
        press(window, Qt.Key_Space)
    assert window.feed.posted.count(("tap", None)) == 8
    # The engine times a tap on its sample clock when its loop drains the command. On a quiet
    # machine that gives 98-102 BPM; on an overloaded one (load average 10, file source and
    # engine threads late) it was seen at 87. Either way far from where it was (0 or ~124).
    try:
        qtbot.waitUntil(lambda: abs(live.status["bpm"] - 100.0) < 15.0, timeout=4000)
    except Exception:
        raise AssertionError(f"tempo after tapping 100 BPM: {live.status['bpm']:.1f}") from None
    window.tick()
    assert window.analysis.tempo.text().strip() == f"{live.status['bpm']:5.1f} BPM".strip()
    assert window.analysis.mode.text() == "MANUAL"


def _pars(live, window) -> tuple[np.ndarray, np.ndarray]:
    idx = window.show_obj.patch.group("pars")
    v = live.telemetry.read_fixtures()
    return v.intensity[idx], v.color[idx]


def test_scene_buttons_and_number_keys_switch_looks(qtbot, window, live):
    names = list(window.control.look_buttons)
    assert names == ["groove", "build", "full", "hits"]
    assert window.control.layer.currentText() == "base"

    def full_on() -> bool:  # look 'full': every fixture at intensity 1 in the fire palette
        i, c = _pars(live, window)
        return bool(np.all(i >= 0.999) and np.all(c[:, 2] < 0.05) and np.all(c[:, 0] > 0.5))

    qtbot.mouseClick(window.control.look_buttons["full"], Qt.LeftButton)
    assert window.feed.posted[-1] == ("look", ("full", "base"))
    qtbot.waitUntil(full_on, timeout=3000)

    press(window, Qt.Key_1)  # back to 'groove': pars pump with the kick in the neon palette
    assert window.feed.posted[-1] == ("look", ("groove", "base"))
    qtbot.waitUntil(lambda: not full_on(), timeout=3000)
    press(window, Qt.Key_3)
    assert window.feed.posted[-1] == ("look", ("full", "base"))
    qtbot.waitUntil(full_on, timeout=3000)


def test_freeze_holds_the_frame_and_nudge_resync_are_sent(qtbot, window, live):
    press(window, Qt.Key_F)
    assert window.control.buttons["freeze"].isChecked()
    qtbot.wait(200)
    f1 = live.telemetry.read_fixtures().frame
    qtbot.wait(300)
    assert live.telemetry.read_fixtures().frame == f1, "frozen: no new frame is published"
    press(window, Qt.Key_F)
    qtbot.waitUntil(lambda: live.telemetry.read_fixtures().frame > f1, timeout=2000)

    press(window, Qt.Key_Comma)
    press(window, Qt.Key_Period)
    press(window, Qt.Key_R)
    assert window.feed.posted[-3:] == [("nudge", -0.010), ("nudge", 0.010), ("resync", None)]
    qtbot.wait(200)
    assert live.alive


def test_every_control_names_its_shortcut_in_its_tooltip(window):
    from engine.ui.panels import ControlPanel

    for key, button in window.control.buttons.items():
        assert f"[{ControlPanel.SHORTCUTS[key]}]" in button.toolTip()
        assert window.actions_by_name[key].shortcut().toString() == ControlPanel.SHORTCUTS[key]
    for i, b in enumerate(window.control.look_buttons.values()):
        assert f"[{i + 1}]" in b.toolTip()
    assert "[Up/Down" in window.control.master.toolTip()


def test_reload_error_shows_a_banner_with_file_and_line_and_the_show_keeps_running(qtbot, window, live, club_show):
    good = club_show.read_text()
    lines = good.splitlines()
    row = next(i for i, line in enumerate(lines) if "intensity: 0.25 + 0.75 * kick" in line)
    lines[row] = lines[row].replace("0.25 + 0.75 * kick", "0.25 + 0.75 * kik")  # unknown name
    club_show.write_text("\n".join(lines) + "\n")
    press(window, Qt.Key_R, Qt.ControlModifier)
    assert ("reload", None) in window.feed.posted
    qtbot.waitUntil(lambda: window.banner.isVisible() and "show not reloaded" in window.banner.text(), timeout=5000)
    assert f"show.yaml:{row + 1}:" in window.banner.text()
    f1 = live.telemetry.read_fixtures().frame
    qtbot.waitUntil(lambda: live.telemetry.read_fixtures().frame > f1, timeout=2000)  # last good show runs

    fixed = good.replace("layers:\n", "  solo:\n    - group: pars\n      intensity: 1\n      colour: red\n\nlayers:\n", 1)
    club_show.write_text(fixed)
    press(window, Qt.Key_R, Qt.ControlModifier)
    qtbot.waitUntil(lambda: "solo" in window.control.look_buttons, timeout=5000)
    assert not window.banner.isVisible()


def test_closing_the_window_keeps_the_outputs_running(qtbot, window, live, receiver):
    window.close()
    qtbot.wait(100)
    drain(receiver)
    packets = collect(qtbot, receiver, 0.5)
    assert live.alive and len(packets) >= 10


def test_layout_is_remembered(qtbot, live, settings):
    from engine.ui.feed import MonitorFeed
    from engine.ui.window import MonitorWindow

    win = MonitorWindow(MonitorFeed.from_engine(live), settings=settings)
    qtbot.addWidget(win)
    win.show()
    win.docks["dmx"].hide()
    win.addDockWidget(Qt.RightDockWidgetArea, win.docks["health"])  # moved from the left
    qtbot.wait(50)
    win.close()
    assert settings.value("geometry") is not None
    again = MonitorWindow(MonitorFeed.from_engine(live), settings=settings)
    qtbot.addWidget(again)
    again.show()
    qtbot.wait(50)
    assert not again.docks["dmx"].isVisible()
    assert again.docks["input"].isVisible()
    assert again.dockWidgetArea(again.docks["health"]) == Qt.RightDockWidgetArea
    assert again.dockWidgetArea(again.docks["input"]) == Qt.LeftDockWidgetArea
    again.close()


def test_switching_the_input_restarts_the_engine_on_the_new_source(qtbot, live, settings, demo):
    from engine.audio.filesource import FileSource
    from engine.ui.app import EngineHost
    from engine.ui.window import MonitorWindow

    host = EngineHost(live, live.source, "demo clip")
    swapped = []
    host.on_swap.append(lambda engine, source: swapped.append((engine, source)))
    win = MonitorWindow(host.feed(), settings=settings, list_devices=lambda: [(7, "7: pretend device")],
                        switch_device=lambda i: host.switch_source(
                            FileSource(samples=demo.samples[::-1].copy(), sample_rate=48000, loop=True), f"device {i}"))
    qtbot.addWidget(win)
    win.show()
    win.control.buttons["blackout"].click()  # operator state carries over to the new engine
    assert win.blackout
    assert win.input.devices.count() == 2 and win.input.devices.isEnabled()
    try:
        win.input.devices.activated.emit(1)
        assert host.swaps == 1 and host.engine is not live and not live.alive and host.engine.alive
        assert swapped == [(host.engine, host.source)]
        assert win.feed.source_label == "device 7"
        assert win.input.source_label.text() == "device 7"
        f1 = host.engine.telemetry.read_fixtures().frame
        qtbot.waitUntil(lambda: host.engine.telemetry.read_fixtures().frame > f1, timeout=3000)
        dmx = read_dmx(host.engine.telemetry)
        slots = light_slots(win.show_obj.patch)
        assert all(int(dmx[u][s].max()) == 0 for u, s in slots.items()), "blackout re-sent to the new engine"
        win.close()
    finally:
        host.engine.close()


def test_a_failing_device_switch_reopens_the_previous_source(qtbot, live, settings):
    from engine.audio.errors import AudioError
    from engine.audio.filesource import FileSource
    from engine.ui.app import EngineHost
    from engine.ui.window import MonitorWindow

    class VanishingDevice(FileSource):
        def start(self) -> None:
            raise AudioError("cannot open input device 'USB box': device unavailable")

    host = EngineHost(live, live.source, "demo clip")
    switch = lambda _: host.switch_source(VanishingDevice(samples=np.zeros(4800, np.float32), sample_rate=48000), "bad")  # noqa: E731
    win = MonitorWindow(host.feed(), settings=settings, list_devices=lambda: [(3, "3: USB box")], switch_device=switch)
    qtbot.addWidget(win)
    win.show()
    try:
        win.input.devices.activated.emit(1)
        assert win.banner.isVisible() and "device switch failed: cannot open input device 'USB box'" in win.banner.text()
        assert host.engine is not live and host.engine.alive and host.swaps == 0
        assert win.feed.status is host.engine.status  # the window follows the reopened engine
        f1 = host.engine.telemetry.read_fixtures().frame
        qtbot.waitUntil(lambda: host.engine.telemetry.read_fixtures().frame > f1, timeout=3000)
        win.close()
    finally:
        host.engine.close()
