"""Ableton Link: the lead decisions (pure), and follow/lead between two real peers inside a
network namespace this test creates (Link multicasts; never enabled outside the namespace)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from itertools import count
from pathlib import Path

import numpy as np
import pytest

from engine.control.link import Leader, phase_error

REPO = Path(__file__).resolve().parents[2]
PEER = Path(__file__).with_name("link_peer.py")
_ns_counter = count()


def test_phase_error_wraps_within_the_quantum() -> None:
    assert phase_error(1.0, 1.1, 4) == pytest.approx(0.1)
    assert phase_error(1.0, 0.9, 4) == pytest.approx(-0.1)
    assert phase_error(3.95, 8.05, 4) == pytest.approx(0.1)  # across a bar line
    assert phase_error(0.0, 2.0, 4) == pytest.approx(2.0)
    assert phase_error(0.0, 2.01, 4) == pytest.approx(-1.99)


def test_leader_publishes_confident_tempo_and_realigns_phase_at_most_once_a_second() -> None:
    ld = Leader(4.0)
    act = ld.step(0.0, (10.25, 128.0), 0.9, 33.0, 120.0)
    assert act.tempo == 128.0 and act.beat is None  # the tempo first; the phase measured at it
    act = ld.step(0.1, (10.25, 128.0), 0.9, 33.0, 128.0)
    assert act.tempo is None and act.beat == pytest.approx(34.25)  # session moved onto our phase
    assert phase_error(10.25, act.beat, 4) == pytest.approx(0.0)
    act = ld.step(0.5, (10.25, 128.0), 0.9, 33.5, 128.0)  # drifted again, but within hold time
    assert act.tempo is None and act.beat is None
    act = ld.step(1.5, (10.25, 128.0), 0.9, 34.27, 128.02)  # small errors: left alone
    assert act.tempo is None and act.beat is None
    act = ld.step(2.0, (10.25, 128.0), 0.3, 30.0, 90.0)  # not confident: no change
    assert act.tempo is None and act.beat is None
    assert ld.step(2.0, None, 1.0, 30.0, 90.0).tempo is None


# -- two peers in a private network namespace -----------------------------------------------
@pytest.fixture
def netns():
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("Link peers need a private network namespace: root and iproute2 required")
    name = f"bs-link-{os.getpid()}-{next(_ns_counter)}"
    if subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode != 0:
        pytest.skip("cannot create a network namespace here (ip netns add failed)")
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True)


def _peer(ns: str, *args: object) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, str(PEER), *map(str, args)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(p: subprocess.Popen) -> dict:
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    return json.loads(out)


def test_follow_takes_tempo_and_bars_from_the_session(netns: str) -> None:
    session = _peer(netns, "plain", 12, 100, 7.0, 140)  # 100 BPM, then 140 BPM after 7 s
    time.sleep(1.5)  # the session exists before the follower joins (the older session wins in Link)
    follower = _peer(netns, "follow", 9)
    f, s = _result(follower), _result(session)
    assert max(n for *_, n in s["samples"]) == 1  # they saw each other
    events = f["events"]
    assert events[0][1:] == ["beat_mode", "manual"]  # the session holds the grid, not the audio
    taps = np.array([t for t, c, _ in events if c == "tap"])
    change_at = s["samples"][0][0] + 7.0 - 0.05  # the session's clock; same host, same monotonic clock
    before = np.diff(taps[taps < change_at])
    after = np.diff(taps[taps > change_at + 0.5])
    assert len(before) >= 3 and len(after) >= 3
    assert np.median(before) == pytest.approx(0.6, abs=0.03)  # 100 BPM
    assert np.median(after) == pytest.approx(60 / 140, abs=0.03)  # 140 BPM
    # a resync (downbeat) on every 4th tap: bar lines of the session
    kinds = [c for _, c, _ in events if c in ("tap", "resync")]
    first = kinds.index("resync")
    assert all(kinds[first + 1:][i] == ("resync" if i % 5 == 4 else "tap") for i in range(len(kinds) - first - 1))
    # taps land on the session's beats: compare with the session peer's beat at those times
    st = np.array([(t, b) for t, _, b, _ in s["samples"]])
    steady = taps[np.abs(taps - change_at) > 1.0]  # the session's beat is interpolated: not across the change
    beat_at_tap = np.interp(steady, st[:, 0], st[:, 1])
    frac = (beat_at_tap + 0.5) % 1.0 - 0.5
    # On the beat: typically within 0.02 beat. A tap can come late when the machine is loaded
    # (seen here: one in ten 0.3 beat late at load average 9 on 2 cores), so: most taps close.
    assert float(np.median(np.abs(frac))) < 0.02
    assert float(np.mean(np.abs(frac) < 0.1)) >= 0.8, frac


def test_lead_publishes_the_engines_tempo_and_phase(netns: str) -> None:
    session = _peer(netns, "plain", 11, 90)  # another program at 90 BPM
    time.sleep(1.0)
    t0 = time.monotonic()
    leader = _peer(netns, "lead", 9, 128, t0, 0.3)  # the engine hears 128 BPM, beat 0.3 at t0
    lead, s = _result(leader), _result(session)
    assert lead["stats"]["tempo_sets"] >= 1  # (a beat force only when the phases differ by > 0.05)
    late = [(t, tempo, beat) for t, tempo, beat, n in s["samples"] if t > t0 + 4.0 and n == 1]
    assert late, "the leader never joined the session"
    errs = []
    for t, tempo, beat in late:
        assert tempo == pytest.approx(128.0, abs=0.06)
        err = phase_error((t - t0) * 128 / 60 + 0.3, beat, 4)
        errs.append(abs((err + 0.5) % 1.0 - 0.5))
        assert errs[-1] < 0.1  # the session's beat is the engine's beat (45 ms at 128 BPM, loaded machine)
        if t > t0 + 6.0:  # and its bar (set with the first correction after joining)
            assert abs(err) < 0.1
    assert float(np.median(errs)) < 0.06  # the leader corrects offsets over 0.05 beat


# -- two beamsync instances (the multi-node setup of docs/multi-node.md) in one namespace ----
SHOW = """\
show: link node
outputs:
  - {{type: sacn, name: t, universes: [{universe}], destinations: [127.0.0.1], port: {port}}}
fixtures:
  - {{name: lamp, profile: generic-dimmer, universe: {universe}, address: 1}}
groups:
  all: [lamp]
looks:
  main:
    - group: all
      pulse: {{trigger: beat, decay: 100ms}}
layers:
  - {{name: main, look: main}}
"""


def _clicks(path: Path, bpm: float, seconds: float = 8.0, sr: int = 48000) -> Path:
    import soundfile as sf

    step = 60.0 / bpm
    # A whole number of beats, so that the looped file (``run --loop``) has no seam in its beat.
    seconds = round(seconds / step) * step
    x = np.zeros(int(round(sr * seconds)), np.float32)
    for t in 0.25 + step * np.arange(round(seconds / step)):
        i = int(t * sr)
        n = min(int(0.02 * sr), len(x) - i)
        x[i:i + n] += (0.8 * np.sin(2 * np.pi * 1500 * np.arange(n) / sr) * np.exp(-np.arange(n) / 200)).astype(np.float32)
    sf.write(path, x, sr)
    return path


def test_two_beamsync_instances_share_the_leaders_tempo(netns: str, tmp_path: Path) -> None:
    procs = []
    for name, bpm, mode, universe in (("lead", 126, "lead", 1), ("follow", 90, "follow", 2)):
        show = tmp_path / f"{name}.yaml"
        show.write_text(SHOW.format(universe=universe, port=40000 + universe))
        audio = _clicks(tmp_path / f"{name}.wav", bpm)
        cmd = [sys.executable, "-m", "engine.cli", "run", str(show), "--headless", "--audio", str(audio), "--loop",
               "--link", mode, "--log-json", "--log-file", str(tmp_path / f"{name}.log"), "--status-interval", "1",
               "--duration", "24"]
        procs.append(subprocess.Popen(["ip", "netns", "exec", netns, *cmd], cwd=REPO,
                                      env=dict(os.environ, PYTHONPATH=str(REPO)),
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        time.sleep(3.0)  # the leader's session first
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs

    def statuses(name: str) -> list[dict]:
        lines = (tmp_path / f"{name}.log").read_text().splitlines()
        return [r["status"] for r in map(json.loads, lines) if r["logger"] == "beamsync.status"]

    lead, follow = statuses("lead"), statuses("follow")
    assert lead[-1]["tempo"]["bpm"] == pytest.approx(126, abs=0.5) and lead[-1]["link"]["tempo_sets"] >= 1
    together = [s for s in follow if s["link"]["peers"] >= 1]
    assert len(together) >= 12  # the follower saw the leader for most of the run
    tail = together[-8:]
    # Both machines share one Link tempo: the leader's detected one.
    assert all(s["link"]["tempo"] == pytest.approx(126, abs=0.5) for s in tail), [s["link"] for s in tail]
    # The follower hears 90 BPM but its beat clock runs at the leader's 126 (the session's own
    # start tempo is 120). Taps reach its tracker at show-frame times, so its tempo wobbles
    # with the show frame rate: on this 2-core machine running two engines it fell to 10-30
    # fps and the tempo read 115-148 at times (median 125). Hence the tolerance, which still
    # tells following (126) from the follower's own audio (90) and from the session start (120).
    bpms = [s["tempo"]["bpm"] for s in tail]
    assert float(np.median(bpms)) == pytest.approx(126, abs=4.0), bpms


def test_leader_ignores_jitter_but_corrects_a_steady_offset() -> None:
    rng = np.random.default_rng(1)
    ld = Leader(4.0, tempo_step=0.15, max_phase_error=0.08, hold_s=2.0, window=10, bar_window=40)
    forces = tempos = 0
    for k in range(300):  # 30 s at 10 Hz: engine beat with ±0.05 beat and ±0.1 BPM jitter, session exact
        t = k * 0.1
        ours = t * 2.1 + rng.uniform(-0.05, 0.05)
        act = ld.step(t, (ours, 126.0 + rng.uniform(-0.1, 0.1)), 0.9, t * 2.1, 126.0)
        forces += act.beat is not None
        tempos += act.tempo is not None
    assert forces == 0 and tempos == 0
    for k in range(300, 330):  # the music shifts by a fifth of a beat: corrected once
        t = k * 0.1
        act = ld.step(t, (t * 2.1 + 0.2, 126.0), 0.9, t * 2.1, 126.0)
        if act.beat is not None:
            forces += 1
            assert phase_error(t * 2.1 + 0.2, act.beat, 4) == pytest.approx(0.0, abs=1e-9)
            break
    assert forces == 1


def test_leader_moves_the_bar_only_when_the_engines_downbeat_holds() -> None:
    ld = Leader(4.0, max_phase_error=0.08, hold_s=0.0, window=5, bar_window=20)
    forces = []
    for k in range(100):  # the engine's downbeat guess flips between two positions every second
        t = k * 0.1
        shift = 1.0 if (k // 10) % 2 else 0.0
        act = ld.step(t, (t * 2 + shift, 120.0), 0.9, t * 2, 120.0)
        if act.beat is not None:
            forces.append(act.beat)
    assert forces == []
    moved = 0.0  # what the forces did to the session
    for k in range(100, 160):  # now it stays one beat later: one bar move, then nothing
        t = k * 0.1
        act = ld.step(t, (t * 2 + 1.0, 120.0), 0.9, t * 2 + moved, 120.0)
        if act.beat is not None:
            forces.append(phase_error(t * 2 + 1.0, act.beat, 4))
            moved = act.beat - t * 2
    assert len(forces) == 1 and forces[0] == pytest.approx(0.0, abs=1e-9)


def test_first_correction_after_joining_sets_the_bar_too() -> None:
    ld = Leader(4.0, max_phase_error=0.05, hold_s=0.0, window=5, bar_window=20)
    acts = [ld.step(k * 0.1, (k * 0.2 + 2.3, 120.0), 0.9, k * 0.2, 120.0) for k in range(6)]
    forced = [(k, a.beat) for k, a in enumerate(acts) if a.beat is not None]
    assert len(forced) == 1
    k, beat = forced[0]
    assert phase_error(k * 0.2 + 2.3, beat, 4) == pytest.approx(0.0, abs=1e-9)  # phase and bar at once
