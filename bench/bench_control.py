"""OSC control throughput: how many control messages a second the server takes, parsed and
posted, on its own (handle_datagram) and over loopback UDP through its thread; and the cost of
malformed packets. Prints figures and ratios (no pass/fail).

    .venv/bin/python bench/bench_control.py [--messages 20000]
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.control.operator import Operator  # noqa: E402
from engine.control.osc import OscControlServer, encode  # noqa: E402


class _NullSocket:
    def sendto(self, data: bytes, addr: tuple[str, int]) -> int:
        return len(data)

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", 0)

    def close(self) -> None:
        pass


def in_process(packets: list[bytes]) -> float:
    posted = []
    srv = OscControlServer(Operator(lambda c, v: posted.append(v)), sock=_NullSocket())
    t0 = time.perf_counter()
    for p in packets:
        srv.handle_datagram(p, ("127.0.0.1", 5000), 1.0)
    return len(packets) / (time.perf_counter() - t0)


def over_loopback(packets: list[bytes]) -> tuple[float, int]:
    """Messages handled per second from the first send until the queue is drained, and how
    many the kernel dropped (its receive queue full: the sender outran the server)."""
    posted = []
    srv = OscControlServer(Operator(lambda c, v: posted.append(v)), port=0)
    srv.start()
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        t0 = time.perf_counter()
        for p in packets:
            client.sendto(p, srv.address)
        sent = len(packets)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            # the kernel reports drops with the next datagram it queues: keep one coming
            client.sendto(encode("/beamsync/ping"), srv.address)
            sent += 1
            time.sleep(0.01)
            if srv.counters.packets + srv.counters.kernel_drops >= sent:
                break
        dt = time.perf_counter() - t0
        return len(posted) / dt, srv.counters.kernel_drops
    finally:
        client.close()
        srv.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=20000)
    n = ap.parse_args().messages
    faders = [encode("/beamsync/fader/sweep", i / n) for i in range(n)]
    junk = [b"/beamsync/master\x00\x00\x00\x00,f\x00\x00"] * n  # truncated float: malformed
    bad_args = [encode("/beamsync/master", "loud")] * n
    r_good = in_process(faders)
    r_junk = in_process(junk)
    r_bad = in_process(bad_args)
    r_udp, dropped = over_loopback(faders)
    print(f"OSC control, {n} messages each:")
    print(f"  fader messages, in process:        {r_good:10,.0f} msg/s ({1e6 / r_good:.1f} µs each)")
    print(f"  malformed packets, in process:     {r_junk:10,.0f} msg/s ({r_junk / r_good:.1f}x the fader rate)")
    print(f"  wrong-type arguments, in process:  {r_bad:10,.0f} msg/s ({r_bad / r_good:.1f}x; error replies rate-limited)")
    print(f"  fader messages over loopback UDP:  {r_udp:10,.0f} msg/s handled, {dropped} of {n} dropped by the "
          f"kernel (queue full) ({r_udp / r_good:.2f}x in-process)")


if __name__ == "__main__":
    main()
