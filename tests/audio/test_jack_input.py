"""Real PortAudio input on a JACK dummy server: frames, order, timestamps, clicks, xruns."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from engine.audio.ring import META_FLAGS, META_FRAME, META_FRAMES
from engine.audio.stream import AudioInput

pytestmark = pytest.mark.jack

RAMP_PERIOD = 1 << 16


def _ramp(n: int) -> np.ndarray:
    # Exactly representable in float32 and never zero: every frame is identifiable.
    return ((np.arange(n) % RAMP_PERIOD) + 1).astype(np.float32) / (1 << 17)


def _capture(src: AudioInput, seconds: float, player=None):
    """Read everything for `seconds` (or until the player ends + 0.3 s); return samples, starts, metas."""
    chunks, starts = [], []
    deadline = time.monotonic() + seconds
    ended_at = None
    while time.monotonic() < deadline:
        block = src.read()
        if block is None:
            time.sleep(0.002)
        else:
            starts.append((block.start_frame, len(block.samples)))
            chunks.append(block.samples.copy())
        if player is not None and ended_at is None and player.poll() is not None:
            ended_at = time.monotonic()
        if ended_at is not None and time.monotonic() - ended_at > 0.3:
            break
    return np.concatenate(chunks) if chunks else np.zeros(0, np.float32), starts


def _player_report(player) -> dict:
    out, err = player.communicate(timeout=20)
    assert player.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def _play_clean(jack_server, tmp_path, signal: np.ndarray, attempts: int = 3):
    """Play ``signal`` into a fresh input; retry when JACK reported an xrun while it played.

    A JACK xrun drops a whole period between the player and us upstream of PortAudio, which no
    code here controls (these are shared VMs); the exactness checks need a run without one.
    Returns the capture, block starts, the source and the player's report of the clean run.
    """
    seen = []
    for _ in range(attempts):
        src = AudioInput(sample_rate=48000, block_size=128, channels=[0])
        with src:
            player = jack_server.play(signal, tmp_path)
            got, starts = _capture(src, 8.0 + len(signal) / 48000, player)
        report = _player_report(player)
        seen.append(report["xruns"])
        if report["xruns"] == 0:
            return got, starts, src, report
    pytest.fail(f"JACK reported xruns in every run: {seen}")


def test_every_frame_arrives_in_order_with_monotonic_timestamps(jack_server, tmp_path):
    n = 48000 * 2
    got, starts, src, report = _play_clean(jack_server, tmp_path, _ramp(n))
    assert "JACK" in src.device.hostapi
    # Block frame indices are contiguous from 0.
    assert starts[0][0] == 0
    for (a, la), (b, _) in zip(starts, starts[1:]):
        assert b == a + la
    nz = np.flatnonzero(got)
    assert len(nz) == n, f"expected {n} non-silent frames, got {len(nz)}"
    first = nz[0]
    np.testing.assert_array_equal(got[first : first + n], _ramp(n))
    assert np.all(got[first + n :] == 0)
    # ADC timestamps on the sample clock are strictly increasing, one block period apart.
    assert src.clock.ready
    t = [src.clock.frame_to_time(f) for f in (0, 48000, 96000)]
    assert t[0] < t[1] < t[2]
    assert abs((t[1] - t[0]) - 1.0) < 0.001
    assert report["frames"] == n


def test_clicks_found_at_their_sample_positions(jack_server, tmp_path):
    positions = np.array([0, 4800, 9731, 20000, 20001, 33333, 47999, 60000, 77777])
    sig = np.zeros(80000, np.float32)
    sig[positions] = 0.9
    got, _, _, _ = _play_clean(jack_server, tmp_path, sig)
    found = np.flatnonzero(got > 0.5)
    assert len(found) == len(positions)
    np.testing.assert_array_equal(found - found[0], positions - positions[0])
    np.testing.assert_array_equal(got[found], np.float32(0.9))


def _ten_second_run(jack_server, tmp_path):
    """Play 10 s of ramp; return the capture, the stats, the player's report and the PortAudio
    xrun flags of the blocks that carried the signal (connecting a client to the JACK graph may
    flag an xrun before the signal starts; that is not part of the 10 s run)."""
    src = AudioInput(sample_rate=48000, block_size=128, channels=[0])
    metas = []
    src.on_meta = metas.append
    with src:
        player = jack_server.play(_ramp(48000 * 10), tmp_path, lead_in=0.2)
        got, _ = _capture(src, 15.0, player)
        stats = src.stats()
    report = _player_report(player)
    rows = np.concatenate(metas)
    nz = np.flatnonzero(got)
    in_signal = (rows[:, META_FRAME] + rows[:, META_FRAMES] > nz[0]) & (rows[:, META_FRAME] <= nz[-1])
    flagged = int(np.count_nonzero(rows[in_signal, META_FLAGS]))
    return got, stats, report, flagged


def _gaps(got: np.ndarray) -> tuple[list[int], int]:
    """The frames of the ramp missing from a capture: (lengths of the forward jumps, interior zeros).

    Raises AssertionError when a frame repeats or comes out of order: that is never allowed.
    """
    nz = np.flatnonzero(got)
    index = np.rint(got[nz] * (1 << 17)).astype(np.int64) - 1  # position in the ramp, mod its period
    step = np.diff(index) % RAMP_PERIOD
    assert np.all(step >= 1), "a frame repeated or came out of order"
    jumps = [int(s) - 1 for s in step[step != 1]]
    interior_zeros = int(nz[-1] - nz[0] + 1 - len(nz))
    return jumps, interior_zeros


def test_ten_seconds_without_xruns_or_lost_frames(jack_server, tmp_path):
    """A 10 s run at 128-frame blocks: no lost frames, and no xrun in PortAudio's flags or JACK's.

    These machines are shared virtual machines: a JACK cycle can miss its deadline because the
    host did not schedule the VM in time, or other jobs on the machine held the CPU, which no code
    here controls (measured: a lone Python JACK client sees 2–13 xruns per 10 s on a saturated
    2-core VM, 0 on a quiet one). So the run may be repeated; one of five 10 s runs must be
    entirely clean. Every run must lose nothing in our ring and keep every frame in order; a run
    with an xrun may miss whole JACK periods upstream of us (the player's or our client's cycle
    that JACK dropped), never part of one, and a run without any xrun must miss nothing.
    """
    period = jack_server.period
    attempts = []
    for _ in range(5):
        got, stats, report, flagged = _ten_second_run(jack_server, tmp_path)
        assert stats.lost_frames == 0
        assert stats.frames_read >= 48000 * 10
        jumps, zeros = _gaps(got)
        missing = sum(jumps) + zeros
        assert all(j % period == 0 for j in jumps), f"partial periods skipped: {jumps}"
        assert zeros % period == 0, f"{zeros} frames of silence inside the signal"
        if flagged == 0 and report["xruns"] == 0:
            assert missing == 0, f"{missing} frames missing in a run without any xrun"
            assert np.count_nonzero(got) == 48000 * 10
        attempts.append((flagged, report["xruns"], missing))
        if attempts[-1] == (0, 0, 0):
            break
    assert attempts[-1] == (0, 0, 0), (
        f"xruns (PortAudio flags, JACK) and frames missing upstream per 10 s run: {attempts}"
    )


def test_killed_servers_do_not_use_up_jacks_server_registry():
    """JACK's registry holds 8 servers; a killed one keeps its slot until its name is reused.

    Ten servers killed with SIGKILL in a row (as device-loss tests do) must not stop the next
    one from starting: the pool of names makes each start reclaim a dead server's slot.
    """
    import shutil

    from engine.audio.errors import AudioError
    from engine.audio.jackserver import JackDummyServer

    if not shutil.which("jackd"):
        pytest.skip("jackd not installed (scripts/setup.sh installs jackd2)")
    for _ in range(10):
        try:
            server = JackDummyServer()
        except AudioError as exc:
            pytest.fail(f"jackd refused to start after killed servers: {exc}")
        server.proc.kill()
        server.proc.wait()
    server = JackDummyServer()
    assert server.running
    server.stop()
