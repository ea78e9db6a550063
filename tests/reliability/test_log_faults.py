"""Disk full for the log file: the engine keeps running, says so once, and recovers.

``beamsync run --log-file /dev/full`` (every write fails with ENOSPC) must run its show to the
end with clean counters and one line on stderr instead of a traceback per record; on a real,
tiny tmpfs the handler counts what it dropped and says so when space is back.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.control.service import JsonFormatter, LogFileHandler

REPO = Path(__file__).resolve().parents[2]


def test_run_with_its_log_on_a_full_device_keeps_the_show_going_and_says_it_once() -> None:
    env = dict(os.environ, JACK_NO_START_SERVER="1")
    env.pop("JACK_DEFAULT_SERVER", None)
    env.pop("DISPLAY", None)
    r = subprocess.run([sys.executable, "-m", "engine.cli", "run", "--headless", "--duration", "5",
                        "--log-file", "/dev/full", "--status-interval", "0.5"],
                       capture_output=True, text=True, env=env, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr[-2000:]
    said = [line for line in r.stderr.splitlines() if "cannot write the log file /dev/full" in line]
    assert len(said) == 1 and "No space left on device" in said[0], r.stderr[-2000:]
    assert "Logging error" not in r.stderr and "Traceback" not in r.stderr
    status = [line for line in r.stderr.splitlines() if line.startswith("status ")]
    assert len(status) >= 3  # the terminal status lines kept coming
    last = dict(kv.split("=", 1) for kv in status[-1].split()[1:])
    assert last["lost"] == "0" and last["errors"] == "0" and int(last["packets"]) > 0


@pytest.fixture
def tiny_fs(tmp_path: Path):
    mnt = tmp_path / "logs"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_log_handler_on_a_filled_tmpfs_drops_and_counts_then_recovers(tiny_fs: Path, capsys) -> None:
    handler = LogFileHandler(tiny_fs / "beamsync.log", maxBytes=0, backupCount=0, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("beamsync.test.logfull")
    log.propagate = False
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    filler = tiny_fs / "filler"
    try:
        log.info("before the disk filled up")
        with open(filler, "wb", buffering=0) as f:  # take every free block
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError:
                pass
        k = 0
        while not handler.failing and k < 1000:  # the log file's last page still takes a few
            log.info("record %d while full", k)
            k += 1
        for j in range(20):
            log.info("record %d while full", k + j)
        assert handler.failing and handler.dropped >= 21
        err = capsys.readouterr().err
        assert err.count("cannot write the log file") == 1 and "No space left on device" in err
        filler.unlink()
        log.info("after space came back")
        err = capsys.readouterr().err
        assert not handler.failing
        assert f"writable again; {handler.dropped} record(s) were dropped" in err
        assert "after space came back" in (tiny_fs / "beamsync.log").read_text()
    finally:
        log.removeHandler(handler)
        handler.close()
