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
    assert act.tempo == 128.0 and act.beat == pytest.approx(34.25)  # session moved onto our phase
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
    session = _peer(netns, "plain", 9, 100, 5.0, 140)  # 100 BPM, then 140 BPM after 5 s
    time.sleep(1.5)  # the session exists before the follower joins (the older session wins in Link)
    follower = _peer(netns, "follow", 6)
    f, s = _result(follower), _result(session)
    assert max(n for *_, n in s["samples"]) == 1  # they saw each other
    events = f["events"]
    assert events[0][1:] == ["beat_mode", "manual"]  # the session holds the grid, not the audio
    taps = np.array([t for t, c, _ in events if c == "tap"])
    change_at = s["samples"][0][0] + 5.0 - 0.05  # the session's clock; same host, same monotonic clock
    before = np.diff(taps[taps < change_at])
    after = np.diff(taps[taps > change_at + 0.5])
    assert len(before) >= 3 and len(after) >= 3
    assert np.median(before) == pytest.approx(0.6, abs=0.01)  # 100 BPM
    assert np.median(after) == pytest.approx(60 / 140, abs=0.01)  # 140 BPM
    # a resync (downbeat) on every 4th tap: bar lines of the session
    kinds = [c for _, c, _ in events if c in ("tap", "resync")]
    first = kinds.index("resync")
    assert all(kinds[first + 1:][i] == ("resync" if i % 5 == 4 else "tap") for i in range(len(kinds) - first - 1))
    # taps land on the session's beats: compare with the session peer's beat at those times
    st = np.array([(t, b) for t, _, b, _ in s["samples"]])
    beat_at_tap = np.interp(taps, st[:, 0], st[:, 1])
    frac = (beat_at_tap + 0.5) % 1.0 - 0.5
    assert np.max(np.abs(frac[1:])) < 0.06  # within 60 ms-ish of each beat (the peer samples at 20 Hz)


def test_lead_publishes_the_engines_tempo_and_phase(netns: str) -> None:
    session = _peer(netns, "plain", 7, 90)  # another program at 90 BPM
    time.sleep(1.0)
    t0 = time.monotonic()
    leader = _peer(netns, "lead", 5, 128, t0, 0.3)  # the engine hears 128 BPM, beat 0.3 at t0
    lead, s = _result(leader), _result(session)
    assert lead["stats"]["tempo_sets"] >= 1 and lead["stats"]["beat_forces"] >= 1
    late = [(t, tempo, beat) for t, tempo, beat, n in s["samples"] if t > t0 + 3.0 and n == 1]
    assert late, "the leader never joined the session"
    for t, tempo, beat in late:
        assert tempo == pytest.approx(128.0, abs=0.06)
        ours = (t - t0) * 128 / 60 + 0.3
        assert abs(phase_error(ours, beat, 4)) < 0.06  # the session's bar is the engine's bar
