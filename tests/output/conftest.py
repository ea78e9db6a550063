"""Fixtures for the output tests: fake sockets, free ports, UDP collectors."""

from __future__ import annotations

import errno
import socket
import time
from typing import Any

import pytest


class FakeSocket:
    """Records ``sendto`` calls; raises ``fail`` (an OSError) for destinations in ``refuse``."""

    def __init__(self, refuse: set[str] | None = None, fail: int = errno.ENETUNREACH) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []
        self.refuse = refuse or set()
        self.fail = fail
        self.closed = False

    def sendto(self, data: Any, dest: tuple[str, int]) -> int:
        if dest[0] in self.refuse:
            raise OSError(self.fail, "Network is unreachable")
        payload = bytes(data)
        self.sent.append((payload, dest))
        return len(payload)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_socket() -> FakeSocket:
    return FakeSocket()


@pytest.fixture
def make_fake_socket():
    """The :class:`FakeSocket` class (tests import nothing from conftest directly)."""
    return FakeSocket


def free_udp_port() -> int:
    """A UDP port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class UdpCollector:
    """A bound loopback UDP socket that gathers every datagram it receives."""

    def __init__(self, port: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.5)

    def collect(self, count: int, timeout: float = 3.0) -> list[bytes]:
        out: list[bytes] = []
        end = time.monotonic() + timeout
        while len(out) < count and time.monotonic() < end:
            try:
                out.append(self.sock.recv(4096))
            except socket.timeout:
                continue
        return out

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def free_port():
    """A function returning a free loopback UDP port."""
    return free_udp_port


@pytest.fixture
def udp_collector():
    c = UdpCollector()
    yield c
    c.close()


@pytest.fixture(autouse=True)
def _private_config_dir(tmp_path, monkeypatch):
    """Senders store the sACN CID in the user config dir: keep tests out of the real one."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
