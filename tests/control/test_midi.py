"""MIDI: mapping file, message → control, LED feedback, clock in/out, learn; and real virtual
ports (JACK MIDI on a private dummy server: this machine has no ALSA sequencer)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import mido
import pytest

from engine.config import ConfigError
from engine.control.beat import BeatPosition
from engine.control.commands import learn, parse_target, write_map
from engine.control.errors import ControlError
from engine.control.midi import PPQN, ClockIn, ClockOut, MidiController, load_map, parse_map
from engine.control.operator import Operator

MAP = """\
# my controller
midi:
  input: ctl
  clock_out: true
controls:
  - {cc: 0, control: master}
  - {cc: 16, control: fader.strobe, min: 0.2, max: 0.6}
  - {note: 41, control: blackout}
  - {cc: 45, control: freeze}
  - {note: 42, control: tap, channel: 10}
  - {note: 43, control: look, look: drop}
  - {note: 44, control: look, look: calm, layer: back}
  - {note: 45, control: nudge, amount: -0.02}
  - {note: 46, control: button.hit}
"""


def _map(tmp_path: Path, text: str = MAP):
    p = tmp_path / "map.yaml"
    p.write_text(text)
    return load_map(p)


def _operator() -> tuple[Operator, list[tuple[str, Any]]]:
    posted: list[tuple[str, Any]] = []
    return Operator(lambda c, v: posted.append((c, v))), posted


def test_messages_map_to_controls(tmp_path: Path) -> None:
    m = _map(tmp_path)
    assert m.settings.input == "ctl" and m.settings.output == "ctl" and m.settings.clock_out
    cases = [
        (mido.Message("control_change", control=0, value=127), [("master", [1.0])]),
        (mido.Message("control_change", control=16, value=0), [("fader.strobe", [0.2])]),
        (mido.Message("note_on", note=41, velocity=100), [("blackout", [])]),  # a pad toggles
        (mido.Message("note_off", note=41), []),
        (mido.Message("control_change", control=45, value=127), [("freeze", [True])]),
        (mido.Message("control_change", control=45, value=0), [("freeze", [False])]),
        (mido.Message("note_on", note=42, velocity=90, channel=9), [("tap", [])]),
        (mido.Message("note_on", note=42, velocity=90, channel=0), []),  # wrong channel
        (mido.Message("note_on", note=43, velocity=1), [("look", ["drop"])]),
        (mido.Message("note_on", note=44, velocity=1), [("look", ["calm", "back"])]),
        (mido.Message("note_on", note=43, velocity=0), []),  # note-on with velocity 0 is a release
        (mido.Message("note_on", note=45, velocity=1), [("nudge", [-0.02])]),
        (mido.Message("note_on", note=46, velocity=1), [("button.hit", [])]),
        (mido.Message("note_on", note=99, velocity=1), []),
        (mido.Message("program_change", program=3), []),
    ]
    for msg, want in cases:
        assert m.controls_for(msg) == want, msg


def test_controller_posts_and_lights_leds(tmp_path: Path) -> None:
    m = _map(tmp_path)
    op, posted = _operator()
    ctl = MidiController(m, op, lambda: {})
    sent: list[Any] = []

    class Out:
        def send(self, msg: Any) -> None:
            sent.append(msg)

    ctl.outport = Out()
    op.listeners.append(ctl.on_change)
    ctl.on_message(mido.Message("note_on", note=41, velocity=127))
    ctl.on_message(mido.Message("note_on", note=43, velocity=127))
    ctl.on_message(mido.Message("control_change", control=16, value=127))
    op.apply("blackout", [False])  # e.g. from OSC: the pad's LED follows
    assert posted == [("blackout", True), ("look", "drop"), ("fader.strobe", 0.6), ("blackout", False)]
    assert [(s.type, getattr(s, "note", getattr(s, "control", None)), getattr(s, "velocity", getattr(s, "value", None)))
            for s in sent] == [
        ("note_on", 41, 127),
        ("note_on", 43, 127), ("note_on", 44, 0),  # scene pads: the selected one lit, the others dark
        ("control_change", 16, 127),
        ("note_on", 41, 0),
    ]
    assert ctl.stats()["applied"] == 3 and ctl.stats()["feedback"] == 5


@pytest.mark.parametrize("text,where,what", [
    ("controls:\n  - {cc: 200, control: master}\n", "2:10", "'cc' must be a whole number 0..127"),
    ("controls:\n  - {cc: 1, control: mastre}\n", "2:22", "did you mean 'master'"),
    ("controls:\n  - {cc: 1, note: 2, control: tap}\n", "2:5", "exactly one of 'note' or 'cc'"),
    ("controls:\n  - {note: 1, control: look}\n", "2:5", "needs 'look: NAME'"),
    ("midi:\n  api: coreMIDI\n", "2:8", "'api' must be one of alsa, jack"),
    ("midi:\n  inptu: x\n", "2:3", "did you mean 'input'"),
    ("controls:\n  - {note: 1, control: tap, chanel: 2}\n", "2:29", "did you mean 'channel'"),
    ("control:\n  - {note: 1, control: tap}\n", "1:1", "did you mean 'controls'"),
])
def test_mapping_errors_name_file_line_column(tmp_path: Path, text: str, where: str, what: str) -> None:
    with pytest.raises(ConfigError) as err:
        _map(tmp_path, text)
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path / 'map.yaml'}:{where}:") and what in msg, msg


def test_clock_out_starts_on_a_bar_line_and_follows_the_beat_without_bursts() -> None:
    co = ClockOut(beats_per_bar=4)
    bpm = 120.0
    pos = 5.3
    assert co.pulses(pos) == 0 and not co.started
    assert co.next_due(pos, bpm) == pytest.approx((8.0 - 5.3) * 0.5)  # waits for the bar at beat 8
    assert co.pulses(7.99) == 0
    assert co.pulses(8.001) == 1 and co.started  # Start, then the downbeat pulse
    t, sent, pos = 0.0, 0, 8.001
    while t < 10.0:  # 10 s at 120 BPM: 20 beats = 480 pulses
        dt = co.next_due(pos, bpm)
        t += dt
        pos += dt * bpm / 60
        sent += co.pulses(pos)
    assert abs(sent - 20 * PPQN) <= 1
    # a tap moves the grid by a quarter beat: re-aligned silently, no burst of 6 pulses
    n = co.pulses(pos + 0.25 + 0.6)
    assert n == 0 and co.realigned == 1


def test_clock_in_gives_tempo_and_a_tap_per_quarter() -> None:
    ci = ClockIn()
    taps = []
    ci.feed("start", 0.0)
    period = 60.0 / 128.0 / PPQN
    for i in range(24 * 8):
        if ci.feed("clock", 1.0 + i * period):
            taps.append(i)
    assert taps == [24 * k for k in range(8)]
    assert ci.bpm == pytest.approx(128.0, abs=0.01)
    ci.feed("stop", 10.0)
    assert not any(ci.feed("clock", 10.0 + i * period) for i in range(48))


def test_beat_position_unwraps_status_phase() -> None:
    bp = BeatPosition()
    assert bp.read({"bpm": 0.0}, 0.0) is None
    got = []
    for k in range(40):  # status every 0.2 s at 120 BPM (2 beats/s): phase wraps every 0.5 s
        hb = 100.0 + 0.2 * k
        beats = 2.0 * 0.2 * k + 0.1
        st = {"bpm": 120.0, "beat_phase": beats % 1.0, "beat_in_bar": int(beats) % 4 + 1, "heartbeat": hb}
        got.append(bp.read(st, hb + 0.05)[0])
    assert got == pytest.approx([0.1 + 0.4 * k + 0.1 for k in range(40)])
    # a resync moves the bar: the position jumps to the new place in the bar, keeping the beat
    bp.read({"bpm": 120.0, "beat_phase": 0.5, "beat_in_bar": 3, "heartbeat": 200.0}, 200.0)
    pos, _ = bp.read({"bpm": 120.0, "beat_phase": 0.9, "beat_in_bar": 1, "heartbeat": 200.2}, 200.2)
    assert pos % 4 == pytest.approx(0.9)


def test_learn_takes_the_first_note_or_cc_per_control_and_writes_the_map(tmp_path: Path) -> None:
    incoming = iter([mido.Message("clock"), mido.Message("control_change", control=7, value=3, channel=1),
                     mido.Message("note_off", note=36), mido.Message("note_on", note=36, velocity=99),
                     mido.Message("note_on", note=40, velocity=99)])
    targets = [parse_target(t) for t in ("master", "blackout", "look:drop")]
    learned = learn(targets, lambda deadline: next(incoming, None), timeout=1.0, say=lambda s: None)
    assert learned == [{"cc": 7, "channel": 2, "control": "master"},
                       {"note": 36, "channel": 1, "control": "blackout"},
                       {"note": 40, "channel": 1, "control": "look", "look": "drop"}]
    path = tmp_path / "map.yaml"
    path.write_text("# keep me\nmidi: {input: nano}\ncontrols:\n  - {note: 1, control: master}\n  - {note: 2, control: tap}\n")
    write_map(path, learned, port="nano", api="alsa")
    text = path.read_text()
    assert "# keep me" in text
    m = load_map(path)
    assert [(b.control, b.note, b.cc) for b in m.bindings] == [
        ("tap", 2, None), ("master", None, 7), ("blackout", 36, None), ("look", 40, None)]
    with pytest.raises(ControlError, match="nothing received for 'tap'"):
        learn([parse_target("tap")], lambda deadline: None, timeout=0.1, say=lambda s: None)
    with pytest.raises(ControlError, match="not a control"):
        parse_target("volume")


# -- real ports: JACK MIDI on a private dummy server -----------------------------------------
@pytest.fixture
def jack_midi(monkeypatch: pytest.MonkeyPatch):
    if not shutil.which("jackd"):
        pytest.skip("jackd (Debian jackd2) is not installed: no MIDI ports to test with")
    from engine.audio.jackserver import JackDummyServer

    server = JackDummyServer()
    monkeypatch.setenv("JACK_DEFAULT_SERVER", server.name)
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    try:
        yield mido.Backend("mido.backends.rtmidi/UNIX_JACK")
    finally:
        server.stop()


def _wait(cond, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not cond():
        time.sleep(0.01)
    return cond()


def test_controller_on_virtual_ports(jack_midi, tmp_path: Path) -> None:
    from engine.control.midi import start_midi

    tag = f"bsctl{os.getpid()}"
    # the "controller": a virtual output (its knobs) and a virtual input (its LEDs)
    knobs = jack_midi.open_output(f"{tag}-knobs", virtual=True)
    leds = jack_midi.open_input(f"{tag}-leds", virtual=True)
    (tmp_path / "map.yaml").write_text(
        f"midi: {{input: {tag}-knobs, output: {tag}-leds, api: jack}}\n"
        "controls:\n  - {cc: 7, control: master}\n  - {note: 36, control: blackout}\n")
    op, posted = _operator()
    ctl = start_midi(tmp_path / "map.yaml", op, lambda: {})
    try:
        # JACK makes the connection asynchronously: probe with an unmapped note until it is up.
        assert _wait(lambda: knobs.send(mido.Message("note_on", note=1, velocity=1)) or ctl.counts["messages"] > 0)
        knobs.send(mido.Message("control_change", control=7, value=127))
        knobs.send(mido.Message("note_on", note=36, velocity=100))
        assert _wait(lambda: len(posted) == 2), posted
        assert posted == [("master", 1.0), ("blackout", True)]
        got: list[Any] = []
        assert _wait(lambda: got.extend(leds.iter_pending()) or len(got) >= 2), got
        assert [(m.type, m.bytes()) for m in got[:2]] == [("control_change", [0xB0, 7, 127]),
                                                           ("note_on", [0x90, 36, 127])]
    finally:
        ctl.stop()
        knobs.close()
        leds.close()


def test_clock_out_on_a_virtual_port(jack_midi, tmp_path: Path) -> None:
    tag = f"bsclk{os.getpid()}"
    sink = jack_midi.open_input(f"{tag}-sink", virtual=True)
    m = parse_map({"midi": {"input": None, "output": f"{tag}-sink", "api": "jack", "clock_out": True}})
    op, _ = _operator()
    knobs = jack_midi.open_output(f"{tag}-src", virtual=True)  # something to use as input
    m.settings.input = f"{tag}-src"
    t0 = time.monotonic()  # the engine's beat: 120 BPM, bar lines every 2 s from t0 + 1 s
    ctl = MidiController(m, op, lambda: {}, beat_position=lambda: ((time.monotonic() - t0) * 2.0 + 2.0, 120.0))
    ctl.open()
    got: list[Any] = []
    try:
        assert _wait(lambda: got.extend(sink.iter_pending()) or sum(x.type == "clock" for x in got) >= 48, 10.0)
        ctl.stop()  # sends Stop
        assert _wait(lambda: got.extend(sink.iter_pending()) or got[-1].type == "stop", 5.0)
    finally:
        ctl.stop()
        sink.close()
        knobs.close()
    clocks = [x for x in got if x.type == "clock"]
    assert got[0].type == "start" and len(clocks) >= 48  # Start at the bar line, then the pulses
    assert got[-1].type == "stop"


def test_midi_learn_command_on_a_virtual_port(jack_midi, tmp_path: Path) -> None:
    import subprocess
    import sys

    tag = f"bslearn{os.getpid()}"
    knobs = jack_midi.open_output(f"{tag}-knobs", virtual=True)
    path = tmp_path / "learned.yaml"
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "midi", "learn", str(path), "master", "look:drop",
                             "--api", "jack", "--port", f"{tag}-knobs", "--timeout", "20"],
                            cwd=repo, env=dict(os.environ), stderr=subprocess.PIPE, text=True)
    import queue
    import threading

    lines: "queue.Queue[str]" = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stderr], daemon=True).start()

    def until(text: str, msg: Any = None, timeout: float = 20.0) -> None:
        """Wait for a line containing ``text``; meanwhile send ``msg`` every 0.2 s (JACK connects
        the learn command's port asynchronously, so a first message may precede the connection)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if msg is not None:
                knobs.send(msg)
            try:
                while True:
                    if text in lines.get(timeout=0.2):
                        return
            except queue.Empty:
                continue
        raise AssertionError(f"no '{text}' from beamsync midi learn")

    try:
        until("control for 'master'")
        until("'master' = CC 21", mido.Message("control_change", control=21, value=64, channel=2))
        until("control for 'look drop'")
        until("'look drop' = note 60", mido.Message("note_on", note=60, velocity=100))
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        knobs.close()
    m = load_map(path)
    assert m.settings.input == f"{tag}-knobs" and m.settings.api == "jack"
    assert [(b.control, b.cc, b.note, b.channel, b.look) for b in m.bindings] == [
        ("master", 21, None, 2, None), ("look", None, 60, 0, "drop")]
