"""``beamsync bench audio``: callback jitter and xruns under analysis load, threads vs processes.

Starts a private JACK dummy server, opens the real PortAudio input at 128-frame blocks and
measures the interval between audio callbacks (from the callback's own monotonic timestamps,
recorded in the ring's block metadata), PortAudio's xrun flags, and frames lost by the reader,
in these configurations:

- ``idle``: the callback and a light reader only;
- ``threads``: a CPU-heavy analysis load (numpy STFT and filterbank per hop, plus Python-level
  feature and show code) in threads of the same process as the callback;
- ``threads-0.5ms``: the same with ``sys.setswitchinterval(0.0005)`` (GIL handed over sooner);
- ``process``: the same load in a separate analysis process reading the ring through shared
  memory; the audio process runs only the callback.

Prints one table row per configuration. Figures depend on the machine and its other load.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import threading
import time

import numpy as np

from engine.audio.ring import META_CALLBACK_TIME, META_FLAGS, RingBuffer, RingLayout

MODES = ("idle", "threads", "threads-0.5ms", "process")


class AnalysisLoad:
    """A stand-in for the analysis stage: per 512-frame hop an STFT frame, a filterbank product
    and Python-level per-band and per-fixture work; plus a Python "show/UI" loop at ~50% duty."""

    def __init__(self, python_share: float = 0.5) -> None:
        rng = np.random.default_rng(0)
        self.window = np.hanning(2048).astype(np.float32)
        self.fb = rng.random((1025, 272)).astype(np.float32)
        self.history = np.zeros(2048, np.float32)
        self.pending = 0
        self.hops = 0
        self.python_share = python_share
        self.stop = threading.Event()

    def process(self, samples: np.ndarray) -> None:
        n = len(samples)
        self.history = np.roll(self.history, -n)
        self.history[-n:] = samples[-2048:]
        self.pending += n
        while self.pending >= 512:
            self.pending -= 512
            spec = np.abs(np.fft.rfft(self.history * self.window))
            bands = np.log1p(spec @ self.fb)
            acc = 0.0
            for v in bands.tolist():  # per-band Python work (feature bookkeeping)
                acc += v * 0.5 if v > 1.0 else v
            for i in range(500):  # per-fixture Python work (a show graph evaluated in Python)
                acc += (i * 0.001) % 1.0
            self.hops += 1

    def python_loop(self) -> None:
        """Pure-Python work that holds the GIL (show evaluation, UI code), ~python_share duty."""
        period = 0.010
        while not self.stop.is_set():
            t_end = time.perf_counter() + period * self.python_share
            x = 0
            while time.perf_counter() < t_end:
                for i in range(200):
                    x += i * i
            time.sleep(period * (1 - self.python_share))


def _consume(reader, load: AnalysisLoad | None, stop: threading.Event) -> None:
    out = np.zeros((4096, reader.layout.channels), np.float32)
    while not stop.is_set():
        _, n = reader.read(out)
        if n == 0:
            time.sleep(0.001)
            continue
        if load is not None:
            load.process(out[:n, 0])


def _analysis_process(layout: RingLayout, name: str, seconds: float, q) -> None:  # noqa: ANN001
    ring = RingBuffer.attach(layout, name)
    load = AnalysisLoad()
    stop = threading.Event()
    t_py = threading.Thread(target=load.python_loop, daemon=True)
    t_py.start()
    t_end = time.monotonic() + seconds
    out = np.zeros((4096, layout.channels), np.float32)
    while time.monotonic() < t_end:
        _, n = ring.read(out)
        if n == 0:
            time.sleep(0.001)
            continue
        load.process(out[:n, 0])
    load.stop.set()
    stop.set()
    q.put({"lost": ring.lost_frames, "hops": load.hops})
    ring.close()


def _intervals(meta_rows: list[np.ndarray]) -> tuple[np.ndarray, int]:
    rows = np.concatenate(meta_rows) if meta_rows else np.zeros((0, 5))
    t = rows[:, META_CALLBACK_TIME]
    flags = int(np.count_nonzero(rows[:, META_FLAGS]))
    return np.diff(t) * 1000.0, flags


def run_mode(mode: str, seconds: float, block: int, rate: int) -> dict:
    from engine.audio.stream import AudioInput

    shared = mode == "process"
    old_switch = sys.getswitchinterval()
    if mode == "threads-0.5ms":
        sys.setswitchinterval(0.0005)
    src = AudioInput(sample_rate=rate, block_size=block, channels=[0])
    if shared:  # the same input, writing into a shared-memory ring
        src.ring = RingBuffer.create_shared(src.ring.layout)
        src._write = src.ring.write
    meta_reader = src.ring  # metadata reads do not disturb the sample reader
    metas: list[np.ndarray] = []
    stop = threading.Event()
    load = None if mode in ("idle", "process") else AnalysisLoad()
    threads = []
    child = None
    q = None
    try:
        src.start()
        time.sleep(0.3)  # settle
        meta_reader.read_meta()
        if shared:
            ctx = mp.get_context("spawn")
            q = ctx.Queue()
            child = ctx.Process(target=_analysis_process, args=(src.ring.layout, src.ring.shm_name, seconds, q))
            child.start()
        else:
            threads.append(threading.Thread(target=_consume, args=(src.ring, load, stop), daemon=True))
            if load is not None:
                threads.append(threading.Thread(target=load.python_loop, daemon=True))
            for t in threads:
                t.start()
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end:
            time.sleep(0.25)
            metas.append(meta_reader.read_meta())
        stop.set()
        if load is not None:
            load.stop.set()
        extra = {"lost": src.ring.lost_frames, "hops": load.hops if load else 0}
        if child is not None:
            extra = q.get(timeout=30)
            child.join(10)
        counters = src.ring.counters()
    finally:
        stop.set()
        src.stop()
        sys.setswitchinterval(old_switch)
        if shared:
            src.ring.close(unlink=True)
    iv, flagged = _intervals(metas)
    return {
        "mode": mode,
        "callbacks": len(iv) + 1,
        "p50": float(np.percentile(iv, 50)),
        "p99": float(np.percentile(iv, 99)),
        "max": float(iv.max()),
        "std": float(iv.std()),
        "xruns": counters["input_overflows"] + counters["input_underflows"],
        "flagged_blocks": flagged,
        "lost": extra["lost"],
        "hops": extra["hops"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="beamsync bench audio", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=10.0, help="seconds per configuration (default 10)")
    p.add_argument("--block", type=int, default=128, help="frames per callback (default 128)")
    p.add_argument("--rate", type=int, default=48000)
    p.add_argument("--modes", default=",".join(MODES), help=f"comma-separated subset of {','.join(MODES)}")
    p.add_argument("--repeat", type=int, default=1, help="run the list of modes this many times")
    args = p.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for m in modes:
        if m not in MODES:
            p.error(f"unknown mode {m!r}")

    from engine.audio.devices import rescan
    from engine.audio.jackserver import JackDummyServer

    server = JackDummyServer(rate=args.rate, period=args.block)
    os.environ["JACK_DEFAULT_SERVER"] = server.name
    os.environ["JACK_NO_START_SERVER"] = "1"
    rescan()
    period_ms = 1000.0 * args.block / args.rate
    print(
        f"# beamsync bench audio: JACK dummy {args.rate} Hz, {args.block}-frame blocks "
        f"(period {period_ms:.3f} ms), {'SCHED_FIFO' if server.realtime else 'no-realtime'}, "
        f"{args.seconds:g} s per mode, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'mode':<15}{'callbacks':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'std ms':>9}{'xruns':>7}{'lost':>7}{'hops':>7}")
    try:
        for _ in range(args.repeat):
            for mode in modes:
                r = run_mode(mode, args.seconds, args.block, args.rate)
                print(
                    f"{r['mode']:<15}{r['callbacks']:>10}{r['p50']:>9.3f}{r['p99']:>9.3f}{r['max']:>9.3f}"
                    f"{r['std']:>9.3f}{r['xruns']:>7}{r['lost']:>7}{r['hops']:>7}",
                    flush=True,
                )
    finally:
        os.environ.pop("JACK_DEFAULT_SERVER", None)
        rescan()
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
