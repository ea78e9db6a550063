"""``beamsync bench output``: sACN sender cost, cadence and loss, beamsync vs the ``sacn`` package.

For each universe count (default 16, 64, 256) and each sender, in one run:

* a *show* thread writes new values into every universe at 44 Hz (every universe changes every
  frame: the worst case, nothing is skipped as unchanged);
* the sender sends them to a receiver in a separate process on a private loopback address
  (127.x.y.z:5568, the ``sacn`` package cannot send to another port);
* reported: CPU % of one core of the sender thread and of the show thread (from
  ``/proc/self/task/<tid>/schedstat``, nanoseconds on CPU), the send lateness against the fixed
  cadence as the scheduler measured it (beamsync only: the package keeps no such figure), the
  interval error at the receiver ``|arrival[k+1] - arrival[k] - 1/rate|`` for universe 1
  (p50/p99/max), the achieved frame rate, and packets lost (sequence gaps at the receiver).

The ratio columns divide the package's figures by beamsync's: sender-thread CPU, sender + show
CPU, and CPU per packet delivered (the fair one when the package falls below the frame rate and
so does less work). ``--fifo PRIO`` adds a beamsync run with SCHED_FIFO sender threads;
``--audio`` runs a real audio callback (JACK dummy driver, 128 frames at 48 kHz) in the same
process and reports its interval std/p99/max under each sender (and idle, first). This is
a measurement, not a test: nothing passes or fails.
"""

from __future__ import annotations

import argparse
import atexit
import multiprocessing as mp
import os
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

SACN_PORT = 5568
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


def thread_cpu_seconds(native_id: int) -> float:
    """CPU time of one thread of this process, from the scheduler's own accounting."""
    with open(f"/proc/self/task/{native_id}/schedstat") as f:
        return int(f.read().split()[0]) / 1e9


def _receiver(address: str, n_universes: int, ready: Any, stop: Any, conn: Any) -> None:
    """Count packets and sequence gaps per universe; timestamp universe 1's arrivals in the kernel.

    Kernel receive timestamps (SO_TIMESTAMPNS) leave out this process's own scheduling delay,
    so the intervals show the sender's cadence, not the receiver's.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.bind((address, SACN_PORT))
    sock.settimeout(0.2)
    buf = bytearray(1024)
    last_seq = np.full(n_universes + 1, -1, dtype=np.int64)
    lost = received = 0
    arrivals: list[tuple[float, float]] = []  # (kernel realtime stamp, monotonic now)
    ready.set()
    while not stop.is_set():
        try:
            n, anc, _flags, _addr = sock.recvmsg_into([buf], 64)
        except socket.timeout:
            continue
        if n < 126 or buf[18:22] != b"\x00\x00\x00\x04":
            continue  # not an E1.31 data packet (sync, discovery)
        universe = (buf[113] << 8) | buf[114]
        if not 1 <= universe <= n_universes:
            continue
        received += 1
        seq = buf[111]
        prev = last_seq[universe]
        if prev >= 0:
            lost += (seq - prev - 1) % 256
        last_seq[universe] = seq
        if universe == 1:
            stamp = float("nan")
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", data[:16])
                    stamp = sec + nsec / 1e9
            arrivals.append((stamp, time.monotonic()))
    sock.close()
    conn.send((received, lost, arrivals))
    conn.close()


class AudioProbe:
    """A real audio callback (JACK dummy server, 128 frames at 48 kHz) timing itself.

    The callback only stores ``time.monotonic()`` into a preallocated array; the benchmark
    reads the intervals of one window to see what a sender in the same process does to it.
    """

    def __init__(self) -> None:
        from engine.audio.jackserver import JackDummyServer

        self.server = JackDummyServer(rate=48000, period=128)
        # registered before sounddevice's own exit handler, so it runs after PortAudio let go
        atexit.register(self.server.stop)
        os.environ.update(self.server.env())  # before sounddevice loads PortAudio
        import sounddevice as sd

        device = next(
            (i for i, d in enumerate(sd.query_devices())
             if d["max_input_channels"] > 0 and "JACK" in sd.query_hostapis(d["hostapi"])["name"]),
            None,
        )  # fmt: skip
        if device is None:
            self.server.stop()
            raise RuntimeError("PortAudio lists no JACK input device")
        self.times = np.zeros(1 << 20)
        self.count = 0
        self.stream = sd.InputStream(device=device, channels=1, samplerate=48000, blocksize=128, callback=self._callback)
        self.stream.start()
        self.realtime = self.server.realtime

    def _callback(self, indata: Any, frames: int, time_info: Any, status: Any) -> None:
        i = self.count
        if i < self.times.size:
            self.times[i] = time.monotonic()
            self.count = i + 1

    def intervals_ms(self, first: int, last: int) -> np.ndarray:
        """Callback intervals (ms) between callback numbers ``first`` and ``last``."""
        return np.diff(self.times[first:last]) * 1e3

    def close(self) -> None:
        """Stop the stream; the JACK server stops at exit, after PortAudio has terminated."""
        self.stream.stop()
        self.stream.close()


@dataclass
class Result:
    sender: str
    universes: int
    seconds: float
    sender_cpu: float
    show_cpu: float
    late_p50: float | None
    late_p99: float | None
    late_max: float | None
    rx_p50: float
    rx_p99: float
    rx_max: float
    fps: float
    received: int
    lost: int
    window_packets: int
    audio: tuple[float, float, float] | None = None  # callback interval std / p99 / max (ms)

    @property
    def us_per_packet(self) -> float:
        """Sender + show CPU per packet received (us): fair when a sender falls below the rate."""
        cpu = (self.sender_cpu + self.show_cpu) / 100 * self.seconds
        return 1e6 * cpu / max(self.window_packets, 1)


def _show_thread(rate: float, stop: threading.Event, write: Callable[[int], None], ids: list[int]) -> threading.Thread:
    def run() -> None:
        ids.append(threading.get_native_id())
        period = 1.0 / rate
        t0 = time.monotonic()
        k = 0
        while not stop.is_set():
            write(k)
            k += 1
            delay = t0 + k * period - time.monotonic()
            if delay > 0:
                stop.wait(delay)

    return threading.Thread(target=run, name="bench-show", daemon=True)


def _run_one(
    kind: str, n: int, seconds: float, rate: float, fifo: int | None = None, audio: AudioProbe | None = None
) -> Result:
    ctx = mp.get_context("spawn")  # no fork of a process that may run JACK/PortAudio threads
    address = f"127.{random.randint(64, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"
    ready, stop_rx = ctx.Event(), ctx.Event()
    parent, child = ctx.Pipe(duplex=False)
    rx = ctx.Process(target=_receiver, args=(address, n, ready, stop_rx, child), daemon=True)
    rx.start()
    ready.wait(10)
    stop = threading.Event()
    show_ids: list[int] = []
    late: np.ndarray | None = None
    values = np.zeros((n, 512), dtype=np.uint8)

    if kind == "beamsync":
        from engine.output.config import SacnOutputConfig, UniverseRoute
        from engine.output.frame import FrameBuffer
        from engine.output.sacn import SacnSender
        from engine.output.scheduler import OutputScheduler

        buf = FrameBuffer(range(1, n + 1))
        routes = tuple(UniverseRoute(u, u, ((address, SACN_PORT),), 100) for u in range(1, n + 1))
        sender = SacnSender(SacnOutputConfig(name="bench", rate=rate, routes=routes), buf, cid=bytes(16))
        sched = OutputScheduler([sender])

        def write(k: int) -> None:
            buf.back.data[:] = values
            buf.back.data[:, 0] = k & 0xFF
            buf.back.data[:, 1] = np.arange(n) & 0xFF
            buf.publish()

        before = set(threading.enumerate())
        show = _show_thread(rate, stop, write, show_ids)
        show.start()
        sched.start(realtime_priority=fifo)
        time.sleep(0.05)
        sender_threads = [t for t in threading.enumerate() if t not in before and t is not show]
    else:
        import sacn

        pkg = sacn.sACNsender(bind_address="0.0.0.0", bind_port=0, fps=int(rate), universeDiscovery=False, cid=tuple(range(16)))
        for u in range(1, n + 1):
            pkg.activate_output(u)
            pkg[u].multicast = False
            pkg[u].destination = address

        def write(k: int) -> None:
            # the package takes bytes (or ints) per universe; this is the show-side cost it asks for
            values[:, 0] = k & 0xFF
            values[:, 1] = np.arange(n) & 0xFF
            for u in range(1, n + 1):
                pkg[u].dmx_data = values[u - 1].tobytes()

        before = set(threading.enumerate())
        show = _show_thread(rate, stop, write, show_ids)
        show.start()
        pkg.start()
        time.sleep(0.05)
        sender_threads = [t for t in threading.enumerate() if t not in before and t is not show]

    ids = [t.native_id for t in sender_threads if t.native_id is not None]
    cpu0 = sum(thread_cpu_seconds(i) for i in ids)
    show0 = thread_cpu_seconds(show_ids[0])
    w0 = time.monotonic()
    a0 = audio.count if audio else 0
    time.sleep(seconds)
    wall = time.monotonic() - w0
    a1 = audio.count if audio else 0
    cpu = sum(thread_cpu_seconds(i) for i in ids) - cpu0
    show_cpu = thread_cpu_seconds(show_ids[0]) - show0
    stop.set()
    show.join(2)
    if kind == "beamsync":
        late = sender.stats.lateness() * 1e3
        sched.stop()
    else:
        pkg.stop()
    time.sleep(0.3)
    stop_rx.set()
    received, lost, arrivals = parent.recv()
    rx.join(5)
    stamps = np.asarray(arrivals).reshape(-1, 2)
    keep = (stamps[:, 1] >= w0) & (stamps[:, 1] <= w0 + wall)  # measured window: no start-up, no termination
    a = stamps[keep, 0]
    err = np.abs(np.diff(a) - 1.0 / rate) * 1e3 if len(a) > 2 else np.zeros(1)
    fps = (len(a) - 1) / (a[-1] - a[0]) if len(a) > 2 else 0.0
    lp = (float(np.percentile(late, 50)), float(np.percentile(late, 99)), float(late.max())) if late is not None and late.size else (None, None, None)
    return Result(
        kind, n, wall, 100 * cpu / wall, 100 * show_cpu / wall, *lp,
        float(np.percentile(err, 50)), float(np.percentile(err, 99)), float(err.max()), fps, received, lost,
        len(a) * n,  # every universe changes every frame: one packet per universe per frame in the window
        _audio_summary(audio, a0, a1),
    )  # fmt: skip


def _audio_summary(audio: AudioProbe | None, first: int, last: int) -> tuple[float, float, float] | None:
    if audio is None or last - first < 3:
        return None
    iv = audio.intervals_ms(first, last)
    return float(iv.std()), float(np.percentile(iv, 99)), float(iv.max())


def _idle_audio(audio: AudioProbe, seconds: float) -> tuple[float, float, float] | None:
    first = audio.count
    time.sleep(seconds)
    return _audio_summary(audio, first, audio.count)


def _fmt(x: float | None, spec: str = "6.3f") -> str:
    return "     -" if x is None else format(x, spec)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one table (see the module docstring)."""
    p = argparse.ArgumentParser(prog="beamsync bench output", description=__doc__.split("\n\n")[0])
    p.add_argument("--universes", type=int, nargs="+", default=[16, 64, 256])
    p.add_argument("--seconds", type=float, default=30.0, help="measured seconds per run (default 30)")
    p.add_argument("--rate", type=float, default=44.0, help="frames per second (default 44)")
    p.add_argument("--no-sacn", action="store_true", help="skip the sacn package (beamsync only)")
    p.add_argument("--fifo", type=int, default=None, metavar="PRIO",
                   help="also run beamsync with its sender thread at SCHED_FIFO PRIO (needs root/CAP_SYS_NICE)")
    p.add_argument("--audio", action="store_true",
                   help="run a JACK dummy-driver audio callback (128 frames, 48 kHz) in the same process "
                        "and report its interval std/p99/max under each sender")
    args = p.parse_args(argv)
    kinds = ["beamsync"] + (["beamsync-rt"] if args.fifo else []) + ([] if args.no_sacn else ["sacn-pkg"])
    print(f"sACN senders, {args.rate:g} Hz, every universe changing every frame, {args.seconds:g} s per run, "
          f"{os.cpu_count()} CPUs, receiver in a separate process on loopback")  # fmt: skip
    audio = AudioProbe() if args.audio else None
    head = "sender    univ  cpu%  show%  late p50/p99/max ms      rx-interval err p50/p99/max ms  fps     recv    lost  us/pkt"
    if audio:
        print(f"audio callback: JACK dummy driver, 128 frames at 48 kHz (2.667 ms), "
              f"{'SCHED_FIFO 70' if audio.realtime else 'no realtime'}; columns: interval std/p99/max ms")  # fmt: skip
        head += "  audio std/p99/max ms     "
    print(head + "  sacn/beamsync: cpu sender / sender+show / per packet")
    try:
        if audio:
            std, p99, mx = _idle_audio(audio, min(args.seconds, 10.0)) or (0.0, 0.0, 0.0)
            print(f"{'(idle)':9s}    -     -      -" + " " * 103 + f"{std:5.3f}/{p99:5.3f}/{mx:6.3f}", flush=True)
        for n in args.universes:
            results = {
                k: _run_one("beamsync" if k.startswith("beamsync") else k, n, args.seconds, args.rate,
                            args.fifo if k == "beamsync-rt" else None, audio)  # fmt: skip
                for k in kinds
            }
            for k, r in results.items():
                ratio = ""
                base = results["beamsync"]
                if k == "sacn-pkg" and base.sender_cpu > 0:
                    total = (r.sender_cpu + r.show_cpu) / (base.sender_cpu + base.show_cpu)
                    per_packet = r.us_per_packet / base.us_per_packet
                    ratio = f"{r.sender_cpu / base.sender_cpu:4.1f}x / {total:4.1f}x / {per_packet:4.1f}x"
                au = ""
                if audio:
                    au = "  " + ("{:5.3f}/{:5.3f}/{:6.3f}".format(*r.audio) if r.audio else "-".ljust(19)) + "     "
                print(
                    f"{k:9s} {n:4d} {r.sender_cpu:5.1f} {r.show_cpu:6.1f}  "
                    f"{_fmt(r.late_p50)}/{_fmt(r.late_p99)}/{_fmt(r.late_max)}  "
                    f"{r.rx_p50:6.3f}/{r.rx_p99:6.3f}/{r.rx_max:7.3f}          "
                    f"{r.fps:6.2f} {r.received:8d} {r.lost:6d}  {r.us_per_packet:6.1f}{au}  {ratio}",
                    flush=True,
                )
    finally:
        if audio:
            audio.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
