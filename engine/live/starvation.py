"""``beamsync bench starvation``: the engine with the other core saturated and its analysis overloaded.

Runs the soak set-up (``engine/live/soak.py``: JACK dummy server at 256 frames with looping
music, the 64-universe show, sACN + Art-Net receivers on loopback) in several conditions, one
after the other, ``--seconds`` each:

1. ``baseline``: nothing else added by this benchmark (whatever else the machine runs, noted
   as its load average);
2. ``hog``: a busy-loop process pinned with ``os.sched_setaffinity`` to the last CPU (normal
   priority, like any other job on the machine);
3. ``hog+load``: the hog, plus a synthetic analyser in the engine that costs ``--load`` of
   real time in Python (holding the worker's GIL, the worst kind of analysis work for any
   sender thread that shares that process) and offers ``degrade()`` (halves its cost each
   time), so the engine's graceful degradation must shed it.

For each it prints the output cadence error (p99 of how late sends start against their fixed
grid, the worst output, last 4096 sends), cadence slots missed, xruns (PortAudio and JACK),
audio lost or skipped, late show frames, analysis load and what was degraded.
Goal (docs/reliability.md): p99 cadence error < 2 ms and no xruns, analysis shed first.
``--normal-priority`` runs the worker without the priority lift the engine applies by default
(nice -10 for the worker's threads, SCHED_FIFO 5 for its engine loop; see
``engine.live.engine._lift_priority``), to compare.

By default the DMX senders run in their own process (``engine.output.process.OutputProcess``:
its own interpreter, lanes at SCHED_FIFO 10, nice -10), reading the frames from shared memory,
so the synthetic load cannot hold their lock. ``--in-process-senders`` puts them back into the
worker as threads (``BEAMSYNC_OUTPUT_PROCESS=0``), which is how the engine ran before, to compare.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from typing import Any

from engine.audio.block import AudioBlock
from engine.features import FeatureEvent


class SyntheticLoad:
    """An analyser that burns ``share`` of real time in Python per block and can cheapen itself.

    ``degrade()`` halves the share (down to nothing after four steps) and says so, as a real
    analyser's cheaper mode would.
    """

    def __init__(self, sample_rate: int, share: float = 0.9) -> None:
        self.sample_rate = sample_rate
        self.share = share
        self.steps = 0

    def process(self, block: AudioBlock) -> list[FeatureEvent]:
        end = time.perf_counter() + self.share * len(block.samples) / self.sample_rate
        x = 0
        while time.perf_counter() < end:  # pure Python: holds the GIL like bookkeeping-heavy analysis
            x += 1
        return []

    def reset(self) -> None:
        pass

    def degrade(self) -> str | None:
        if self.steps >= 4:
            return None
        self.steps += 1
        self.share = 0.0 if self.steps >= 4 else self.share / 2
        return f"synthetic load at {self.share:.0%} of real time"


def load_from_env(sample_rate: int) -> SyntheticLoad:
    """Factory for the worker (``engine.live.starvation:load_from_env``): share from $BEAMSYNC_SYNTHETIC_LOAD."""
    return SyntheticLoad(sample_rate, float(os.environ.get("BEAMSYNC_SYNTHETIC_LOAD", "0.9")))


def _spin() -> None:
    while True:
        pass


class CpuHog:
    """A busy-loop process pinned to one CPU (the last one by default): "the other core saturated"."""

    def __init__(self, cpu: int | None = None) -> None:
        self.cpu = (os.cpu_count() or 1) - 1 if cpu is None else cpu
        self.proc: Any = None

    def start(self) -> None:
        self.proc = mp.get_context("spawn").Process(target=_spin, name="beamsync-cpu-hog", daemon=True)
        self.proc.start()
        os.sched_setaffinity(self.proc.pid, {self.cpu})

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.join(5)
            self.proc = None

    def __enter__(self) -> "CpuHog":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_condition(name: str, seconds: float, *, source: str = "jack", block: int = 256, load: float = 0.9,
                  lift_priority: bool = True, output_process: bool = True) -> dict[str, Any]:
    """One condition (``baseline``, ``hog`` or ``hog+load``); returns the soak summary plus extras.

    ``output_process=False`` runs the DMX senders as threads of the worker instead of in their
    own process.
    """
    from engine.live.soak import run_soak

    hog = CpuHog() if name.startswith("hog") else None
    extra = ["engine.live.starvation:load_from_env"] if name.endswith("+load") else None
    os.environ["BEAMSYNC_SYNTHETIC_LOAD"] = str(load)  # the spawned worker inherits it
    before = os.environ.get("BEAMSYNC_OUTPUT_PROCESS")
    os.environ["BEAMSYNC_OUTPUT_PROCESS"] = "1" if output_process else "0"  # read by LiveEngine
    load0 = os.getloadavg()[0]
    try:
        if hog is not None:
            hog.start()
        r = run_soak(seconds / 60.0, source=source, block=block, sample_every=max(1.0, seconds / 15),
                     warmup_minutes=0.0, extra_analysers=extra, lift_priority=lift_priority)
    finally:
        if hog is not None:
            hog.stop()
        if before is None:
            os.environ.pop("BEAMSYNC_OUTPUT_PROCESS", None)
        else:
            os.environ["BEAMSYNC_OUTPUT_PROCESS"] = before
    s = r.summary()
    s["name"] = name
    s["load_start"] = load0
    s["realtime"] = r.realtime
    s["degraded_what"] = [t for k, t in r.messages if "of real time" in t]
    s["failed"] = r.failed
    # the soak samples the worker's output process as "output" (absent with in-process senders)
    s["output_process_cpu_percent"] = s.get("processes", {}).get("output", {}).get("cpu_percent")
    return s


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="beamsync bench starvation", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=120.0,
                   help="length of each condition (default 120: the cadence figure then leaves out the start-up)")
    p.add_argument("--source", choices=["jack", "file"], default="jack", help="audio source (default jack)")
    p.add_argument("--block", type=int, default=256, help="frames per audio callback (default 256)")
    p.add_argument("--load", type=float, default=0.9, help="synthetic analysis load, share of real time (default 0.9)")
    p.add_argument("--normal-priority", action="store_true",
                   help="leave the worker at normal priority (default: nice -10, engine loop SCHED_FIFO 5)")
    p.add_argument("--in-process-senders", action="store_true",
                   help="DMX senders as threads of the worker (default: their own process), to compare")
    p.add_argument("--only", choices=["baseline", "hog", "hog+load"], action="append",
                   help="run only this condition (repeatable)")
    args = p.parse_args(argv)
    names = args.only or ["baseline", "hog", "hog+load"]
    print(f"# beamsync bench starvation: {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {args.source} {args.block} frames, "
          f"{args.seconds:g} s per condition, hog pinned to CPU {(os.cpu_count() or 1) - 1}, synthetic load "
          f"{args.load:.0%}, worker {'at normal priority' if args.normal_priority else 'nice -10, loop SCHED_FIFO 5'}, "
          f"DMX senders {'in the worker' if args.in_process_senders else 'in their own process'}; "
          f"cadence p99 over each output's last 4096 sends", flush=True)
    rows = []
    for name in names:
        s = run_condition(name, args.seconds, source=args.source, block=args.block, load=args.load,
                          lift_priority=not args.normal_priority, output_process=not args.in_process_senders)
        rows.append(s)
        if s.get("failed"):
            print(f"{name}: FAILED: {s['failed']}", flush=True)
            continue
        print(f"{name:9s} load {s['load_start']:4.2f}->{s['load1_mean']:4.2f} | cadence p99 "
              f"{s['output_jitter_p99_ms_max']:6.2f} ms, missed {s['output_missed']:3d} of {s['output_frames']} | xruns PA "
              f"{s['xruns']} JACK {s['jack_xruns']} | lost {s['lost_frames']} skipped {s['skipped_frames']} | show late "
              f"{s['show_late']} of {s['show_frames']} | analysis {s['analysis_load_mean']:.2f} s/s, degraded "
              f"{s['degraded']} | worker CPU {s['processes'].get('worker', {}).get('cpu_percent', 0):.0f}%"
              + (f", output process CPU {s['output_process_cpu_percent']:.0f}%"
                 if s.get("output_process_cpu_percent") is not None else ""),
              flush=True)
        for line in s["degraded_what"]:
            print(f"    {line}")
    return 1 if any(r.get("failed") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
