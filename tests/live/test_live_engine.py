"""The live engine end to end: audio → analysis → show → DMX → sACN packets on loopback."""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from engine.audio.filesource import FileSource
from engine.live.core import EngineCore
from engine.live.engine import EngineError, LiveEngine
from engine.show.loader import load_show

SR = 48000
BPM = 120.0

SHOW = """\
show: flash test
outputs:
  - {{type: sacn, name: test, universes: [1], destinations: [127.0.0.1], port: {port}, rate: 44}}
fixtures:
  - {{name: beatlamp, profile: generic-dimmer, universe: 1, address: 1}}
  - {{name: hitlamp, profile: generic-dimmer, universe: 1, address: 2}}
groups:
  b: [beatlamp]
  h: [hitlamp]
looks:
  main:
    - group: b
      pulse: {{trigger: beat, decay: 60ms}}
    - group: h
      {hit}
layers:
  - {{name: main, look: main}}
"""
PULSE_ON_ONSET = "pulse: {trigger: onset, decay: 60ms}"


def _click_track(seconds: float, bpm: float = BPM) -> tuple[np.ndarray, np.ndarray]:
    """Short decaying 2 kHz + noise clicks on every beat; returns samples and click times (s)."""
    n = int(seconds * SR)
    x = np.zeros(n, np.float32)
    times = np.arange(0.5, seconds - 0.2, 60.0 / bpm)
    rng = np.random.default_rng(3)
    m = int(0.03 * SR)
    env = np.exp(-np.arange(m) / (0.006 * SR))
    click = (0.6 * np.sin(2 * np.pi * 2000 * np.arange(m) / SR) + 0.3 * rng.standard_normal(m)) * env
    kick = np.sin(2 * np.pi * 60 * np.arange(int(0.12 * SR)) / SR) * np.exp(-np.arange(int(0.12 * SR)) / (0.04 * SR))
    for t in times:
        i = int(round(t * SR))
        x[i : i + m] += click[: n - i].astype(np.float32)
        x[i : i + len(kick)] += 0.8 * kick[: max(0, min(len(kick), n - i))].astype(np.float32)
    return x, times


def _write_show(tmp_path: Path, port: int, hit: str = PULSE_ON_ONSET) -> Path:
    p = tmp_path / "show.yaml"
    p.write_text(SHOW.format(port=port, hit=hit))
    return p


def _free_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _fixed_run(show_path: Path, samples: np.ndarray) -> np.ndarray:
    src = FileSource(samples=samples, sample_rate=SR, block_size=256, realtime=False)
    frames: list[tuple[int, int, int]] = []
    core = EngineCore(src, load_show(show_path), start_outputs=False,
                      on_frame=lambda f, dmx: frames.append((f, int(dmx.universe(1)[0]), int(dmx.universe(1)[1]))))
    with src:
        core.run_fixed()
    core.stop()
    return np.array(frames)


def test_fixed_step_flashes_on_onsets_and_predicted_beats_and_is_reproducible(tmp_path):
    samples, clicks = _click_track(14.0)
    show = _write_show(tmp_path, _free_port())
    a = _fixed_run(show, samples)
    b = _fixed_run(show, samples)
    np.testing.assert_array_equal(a, b)  # fixed-step: the same input gives the same frames
    t = a[:, 0] / SR
    beat_lamp, hit_lamp = a[:, 1], a[:, 2]

    def rises(values: np.ndarray) -> np.ndarray:
        up = np.flatnonzero((values[1:] >= 200) & (values[:-1] < 200)) + 1
        return t[up]

    # Onset-driven: every click lights the hit lamp in the next show frames (detection delay).
    onset_rises = rises(hit_lamp)
    for c in clicks:
        d = onset_rises[(onset_rises >= c - 0.005)]
        assert len(d) and d[0] - c < 0.035, f"no onset flash within 35 ms of click at {c:.3f} s"
    # Beat-locked: once the tracker has locked, the beat lamp lights on the clicks themselves
    # (fired from the predicted beat time, not after detection).
    beat_rises = rises(beat_lamp)
    late = [c for c in clicks if c > 5.0]
    errors = []
    for c in late:
        near = beat_rises[np.abs(beat_rises - c) < 0.1]
        assert len(near), f"no beat flash near click at {c:.3f} s"
        errors.append(near[0] - c)
    assert abs(float(np.median(errors))) <= 0.015, f"median beat flash error {np.median(errors) * 1000:.1f} ms"


def _receive(sock: socket.socket, seconds: float) -> list[tuple[float, bytes]]:
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            data, _ = sock.recvfrom(2048)
        except socket.timeout:
            continue
        out.append((time.monotonic(), data))
    return out


def _slots(packet: bytes) -> bytes:
    # E1.31 data packet: DMP property values start at 125 (start code), slots at 126.
    assert packet[4:16] == b"ASC-E1.17\x00\x00\x00"
    universe = struct.unpack("!H", packet[113:115])[0]
    assert universe == 1
    return packet[126:]


@pytest.mark.parametrize("mode", ["process", "thread"])
def test_live_engine_sends_sacn_and_hot_reloads(tmp_path, mode):
    port = _free_port()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    sock.settimeout(0.05)
    show = _write_show(tmp_path, port)
    samples, _ = _click_track(30.0)
    src = FileSource(samples=samples, sample_rate=SR, block_size=256, loop=True, shared=(mode == "process"))
    engine = LiveEngine(show, src, mode=mode)
    try:
        engine.start()
        got = _receive(sock, 2.5)
        assert len(got) >= 40, f"only {len(got)} sACN packets in 2.5 s"
        hit = np.array([_slots(p)[1] for _, p in got])
        # 44 packets/s sample a 60 ms linear decay: the brightest packet of a flash is >= 62% of full.
        assert hit.max() >= 150 and hit.min() <= 50, "the onset lamp never flashed"
        # Hot reload: a broken file keeps the running show; a fixed one takes over.
        show.write_text(SHOW.format(port=port, hit="pulse: {trigger: onsett, decay: 60ms}"))
        time.sleep(1.0)
        got = _receive(sock, 1.0)
        assert np.array([_slots(p)[1] for _, p in got]).max() >= 150, "broken reload stopped the show"
        msgs = engine.poll_messages()
        assert any(k == "reload" and "onsett" in text for k, text in msgs), msgs
        show.write_text(SHOW.format(port=port, hit="intensity: 0.5"))
        time.sleep(2.0)  # poll interval, background load, then the look's transition
        got = _receive(sock, 0.5)
        vals = {_slots(p)[1] for _, p in got[-10:]}
        assert vals <= {127, 128} and vals, vals
        assert engine.status["show_generation"] >= 1
        st = engine.status.snapshot()
        assert st["state"] == 1 and st["show_fps"] > 50
    finally:
        engine.close()
        sock.close()


def test_broken_show_fails_start_with_the_error(tmp_path):
    show = tmp_path / "bad.yaml"
    show.write_text("fixtures: [{name: x, profile: no-such-profile, universe: 1, address: 1}]\n")
    src = FileSource(samples=np.zeros(SR, np.float32), sample_rate=SR, realtime=True, shared=True)
    engine = LiveEngine(show, src)
    with pytest.raises(EngineError, match="no-such-profile"):
        engine.start(timeout=60)
    engine.close()


def test_telemetry_carries_dmx_fixtures_and_events(tmp_path):
    from engine.live.telemetry import BEAT, E_KIND, ONSET, Telemetry

    samples, _ = _click_track(10.0)
    tel = Telemetry(shared=False)
    src = FileSource(samples=samples, sample_rate=SR, block_size=256, realtime=False)
    core = EngineCore(src, load_show(_write_show(tmp_path, _free_port())), start_outputs=False, telemetry=tel)
    with src:
        core.run_fixed()
    core.stop()
    frame, dmx = tel.read_dmx()
    assert frame > 9 * SR and set(dmx) == {1} and len(dmx[1]) == 512
    fx = tel.read_fixtures()
    assert len(fx.intensity) == 2 and fx.color.shape == (2, 3)
    rows = tel.read_events()
    kinds = rows[:, E_KIND]
    assert (kinds == ONSET).sum() >= 15 and (kinds == BEAT).sum() >= 8
    assert len(tel.read_events()) == 0  # each reader sees each event once


def test_operator_commands_blackout_master_look_freeze(tmp_path):
    show = tmp_path / "ops.yaml"
    show.write_text(
        "outputs: [{type: sacn, name: t, universes: [1], destinations: [127.0.0.1], port: %d}]\n"
        "fixtures: [{name: d, profile: generic-dimmer, universe: 1, address: 1}]\n"
        "groups: {all: [d]}\n"
        "settings: {transition: 0 ms}\n"
        "looks:\n  half: [{group: all, intensity: 0.5}]\n  full: [{group: all, intensity: 1}]\n"
        "layers: [{name: base, look: half}]\n" % _free_port()
    )
    src = FileSource(samples=np.zeros(SR * 3, np.float32), sample_rate=SR, realtime=False)
    core = EngineCore(src, load_show(show), start_outputs=False)

    def level(frame: int) -> int:
        return int(core.show_frame(frame).universe(1)[0])

    assert level(0) in (127, 128)
    core.post("master", 0.5)
    assert level(480) in (63, 64)
    core.post("master", 1.0)
    core.post("blackout", True)
    assert level(960) == 0
    core.post("blackout", False)
    core.post("look", "full")
    assert level(1440) == 255
    core.post("freeze", True)
    core.post("look", "half")
    assert level(1920) == 255  # frozen: the last frame stays
    core.post("freeze", False)
    assert level(2400) in (127, 128)
    assert core.operator_look("no-such-look") is False
    src.close()


class _SlowAnalyser:
    """Costs ~1.5x real time until degraded, then nothing."""

    def __init__(self) -> None:
        self.cheap = False

    def process(self, block):
        if not self.cheap:
            time.sleep(1.5 * len(block.samples) / block.sample_rate)
        return []

    def reset(self) -> None:
        pass

    def degrade(self):
        if self.cheap:
            return None
        self.cheap = True
        return "cheap mode"


def test_engine_cheapens_a_too_slow_analyser_and_never_overflows(tmp_path):
    samples, _ = _click_track(12.0)
    src = FileSource(samples=samples, sample_rate=SR, block_size=512, realtime=True)
    core = EngineCore(src, load_show(_write_show(tmp_path, _free_port())), start_outputs=False)
    slow = _SlowAnalyser()
    core.pipeline.analysers.append(slow)
    core._costs.append(0.0)
    core.budget_window = 2.0
    t_end = time.monotonic() + 7.0
    with src:
        core.run_live(lambda: time.monotonic() > t_end)
    assert slow.cheap and core.degraded == ["_SlowAnalyser: cheap mode"]
    assert src.stats().lost_frames == 0  # the backlog never reached the ring's end
    assert core.stats.analysis_lag_frames < SR  # and caught up
    # While the slow analyser ran, the backlog passed max_lag once: old audio was skipped
    # deliberately (counted) so the show followed the music.
    assert core.stats.skipped_frames == src.ring.skipped_frames


def test_demo_runs_headless_for_20_seconds_without_xruns_or_overflow():
    """The README's main job: the demo show on the built-in clip, headless, 20 s."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, JACK_NO_START_SERVER="1")
    env.pop("JACK_DEFAULT_SERVER", None)
    env.pop("DISPLAY", None)
    r = subprocess.run([sys.executable, "-m", "engine.cli", "run", "--headless", "--duration", "20"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "demo clip" in r.stderr
    status = [line for line in r.stderr.splitlines() if line.startswith("status ")]
    assert len(status) >= 15
    last = dict(kv.split("=", 1) for kv in status[-1].split()[1:])
    assert last["xruns"] == "0" and last["lost"] == "0" and last["errors"] == "0"
    assert float(last["show_fps"]) > 50 and int(last["packets"]) > 0
    assert 118.0 <= float(last["bpm"]) <= 130.0  # the demo clip is 124 BPM
    assert "0 xruns, 0 frames lost" in r.stderr


def test_flash_limit_caps_a_20_hz_full_field_strobe(tmp_path):
    show = tmp_path / "strobe.yaml"
    show.write_text(
        "outputs: [{type: sacn, name: t, universes: [1], destinations: [127.0.0.1], port: %d}]\n"
        "fixtures: [{name: d, profile: generic-dimmer, universe: 1, address: 1, count: 4}]\n"
        "groups: {all: [d 1, d 2, d 3, d 4]}\n"
        "looks: {s: [{group: all, intensity: 1, strobe: {rate: 20}}]}\n"
        "layers: [{name: base, look: s}]\n" % _free_port()
    )
    src = FileSource(samples=np.zeros(SR * 4, np.float32), sample_rate=SR, realtime=False)

    def flashes(limit: float) -> int:
        core = EngineCore(src, load_show(show), start_outputs=False)
        core.set_flash_limit(limit)
        levels = [int(core.show_frame(int(k * SR / 100)).universe(1)[0]) for k in range(300)]
        return sum(1 for a, b in zip(levels, levels[1:]) if b - a >= 26)  # rises of 10% or more

    assert flashes(0) >= 40  # unguarded: far more than 3 a second over 3 s
    assert flashes(3) <= 3 * 3 + 1
    src.close()


def test_stems_option_replaces_band_proxies_with_separated_drum_labels():
    from engine.analysis.pipeline import AnalysisOptions, AnalysisPipeline
    from engine.audio.block import AudioBlock
    from engine.audio.demo import demo_clip

    clip = demo_clip(48000)
    x = clip.samples[: 48000 * 12]
    pipe = AnalysisPipeline(48000, AnalysisOptions(stems=True, structure=False))
    events = []
    for start in range(0, len(x), 1024):
        events += pipe.process(AudioBlock(start, x[start : start + 1024], 48000))
    onsets = [e.data for e in events if e.name == "onset"]
    mix_labels = {d.get("label") for d in onsets if d.get("stem") == "mix"}
    drum_labels = {d.get("label") for d in onsets if d.get("stem") == "drums"}
    assert mix_labels == {None}  # no band proxies when stems run
    assert "kick" in drum_labels and "hihat" in drum_labels
    assert any(e.name == "level.drums" for e in events)


class _CrashingAnalyser:
    def __init__(self) -> None:
        self.calls = 0
        self.resets = 0

    def process(self, block):
        self.calls += 1
        raise RuntimeError("analyser bug")

    def reset(self) -> None:
        self.resets += 1


def test_a_crashing_analyser_is_restarted_then_switched_off_and_the_show_goes_on(tmp_path):
    samples, clicks = _click_track(8.0)
    src = FileSource(samples=samples, sample_rate=SR, block_size=256, realtime=False)
    frames = []
    core = EngineCore(src, load_show(_write_show(tmp_path, _free_port())), start_outputs=False,
                      on_frame=lambda f, d: frames.append(int(d.universe(1)[1])))
    bad = _CrashingAnalyser()
    core.pipeline.analysers.insert(0, bad)
    core._costs.insert(0, 0.0)
    with src:
        core.run_fixed()
    assert bad.resets == 2 and bad.calls == 3  # restarted twice, then switched off
    assert core.disabled_analysers == {0} and core.analyser_crashes == 3
    assert max(frames) >= 200  # the onset lamp still flashed: the other analysers kept running
