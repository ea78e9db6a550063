"""jackd's log names the client that missed a cycle (the soak tells the engine from its player)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from engine.audio.errors import AudioError
from engine.audio.jackserver import JackDummyServer

pytestmark = pytest.mark.jack


def test_a_client_that_overruns_its_cycles_is_named(tmp_path):
    if not shutil.which("jack_cpu"):
        pytest.skip("jack_cpu (Debian jackd2's example clients) not installed")
    try:
        server = JackDummyServer(rate=48000, period=256, log=tmp_path / "jackd.log")
    except AudioError as exc:
        pytest.skip(f"no JACK dummy server: {exc}")
    try:
        assert server.late_clients() == {}
        # jack_cpu burns 99% of every cycle: on a 2-core VM it overruns some of them.
        subprocess.run(["jack_cpu", "-c", "99", "-t", "2"], env=server.env(),
                       capture_output=True, timeout=30)
    finally:
        server.stop()
    late = server.late_clients()
    assert set(late) == {"jack-cpu"} and late["jack-cpu"] >= 1, late


def test_without_a_log_nothing_is_named():
    try:
        server = JackDummyServer()
    except AudioError as exc:
        pytest.skip(f"no JACK dummy server: {exc}")
    server.stop()
    assert server.late_clients() == {}
