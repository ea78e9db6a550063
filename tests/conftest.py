"""Fixtures shared by the whole suite. Area-specific fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def _no_jack(exc: Exception) -> None:
    import shutil

    if shutil.which("jackd") is None:
        pytest.skip(f"no JACK dummy server: {exc} (scripts/setup.sh installs jackd2)")
    pytest.fail(f"jackd is installed but the dummy server did not start: {exc}")


@pytest.fixture(scope="session")
def no_jack():
    """``no_jack(exc)``: a JACK dummy server did not start; skip when jackd is not installed,
    else fail (an installed jackd that cannot start is a real problem, e.g. JACK's server
    registry full of killed servers, not a reason to skip every audio-path test)."""
    return _no_jack


def _wait_until(cond, timeout: float) -> bool:  # noqa: ANN001
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="session")
def wait_until():
    """``wait_until(cond, timeout)``: poll ``cond()`` every 50 ms; True once it holds, False
    when ``timeout`` seconds pass first (for processes and sockets that settle in their time)."""
    return _wait_until


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The development data folder ``../shared``; tests that need it skip when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"development data not present at {SHARED}")
    return SHARED


@pytest.fixture
def own_jack():
    """A private JACK dummy server that a test may stop and restart (``holder["server"]``).

    Only child processes (the engine's audio process) talk to it through PortAudio: the test
    process never initialises PortAudio against it, since libjack aborts a process whose
    server died under an open client.
    """
    from engine.audio.errors import AudioError
    from engine.audio.jackserver import JackDummyServer

    try:
        server = JackDummyServer()
    except AudioError as exc:
        _no_jack(exc)
    old = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    os.environ.update(JACK_DEFAULT_SERVER=server.name, JACK_NO_START_SERVER="1")
    holder = {"server": server}
    try:
        yield holder
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        holder["server"].stop()
