"""Long fuzz run: N inputs per target, counted (accepted / refused / crashes / hangs), timed.

    nice -n 10 .venv/bin/python bench/fuzz.py                      # 100,000 inputs per target
    .venv/bin/python bench/fuzz.py --targets show,qxf -n 2000 --seed 7 --deadline 2 --jobs 2

Targets and their correct outcomes are defined in ``tests/fuzz/targets.py`` (the CI tests run
the same generators through hypothesis). Input ``k`` of a run is made by ``Random(f"{seed}:{k}")``,
so ``--replay TARGET:K`` re-runs exactly one input and prints its traceback. A crash is any
exception other than the target's refusal type (or a wrong outcome); a hang is an input that
ran past ``--deadline`` seconds. ``--save DIR`` writes each failing input there.
"""

from __future__ import annotations

import argparse
import pickle
import random
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzz.targets import Hang, RunStats, run_one, targets  # noqa: E402


def rnd_for(seed: int, k: int) -> random.Random:
    return random.Random(f"{seed}:{k}")


def run_target(name: str, n: int, seed: int, limit_s: float, save: Path | None, progress: float,
               jobs: int = 1) -> RunStats:
    """Inputs ``0..n-1`` of one target; with ``jobs`` > 1, split into contiguous ranges run by
    worker processes (the counts do not depend on the split)."""
    if jobs <= 1:
        return _run_range(name, 0, n, seed, limit_s, save, progress)
    import multiprocessing as mp

    bounds = [n * j // jobs for j in range(jobs + 1)]
    t0 = time.perf_counter()
    with mp.get_context("fork").Pool(jobs) as pool:
        parts = pool.starmap(_run_range, [(name, bounds[j], bounds[j + 1], seed, limit_s, save, progress)
                                          for j in range(jobs)])
    stats = RunStats(name)
    for p in parts:
        for f in ("inputs", "accepted", "refused", "crashes", "hangs"):
            setattr(stats, f, getattr(stats, f) + getattr(p, f))
        if p.slowest_s > stats.slowest_s:
            stats.slowest_s, stats.slowest_k = p.slowest_s, p.slowest_k
        stats.failures += p.failures
    stats.wall_s = time.perf_counter() - t0
    return stats


def _run_range(name: str, start: int, stop: int, seed: int, limit_s: float, save: Path | None,
               progress: float) -> RunStats:
    target = targets()[name]
    stats = RunStats(name)
    with tempfile.TemporaryDirectory(prefix=f"beamsync-fuzz-{name}-") as tmp:
        workdir = Path(tmp)
        target.setup(workdir)
        try:  # warm-up, not counted: the first call pays for imports and caches
            run_one(target, target.make(rnd_for(seed, -1)), workdir, 60.0)
        except Exception:  # noqa: BLE001 - input -1 is not part of the run
            pass
        t0 = time.perf_counter()
        next_report = t0 + progress
        for k in range(start, stop):
            try:
                item = target.make(rnd_for(seed, k))
                outcome, dt = run_one(target, item, workdir, limit_s)
            except KeyboardInterrupt:  # Ctrl-C / kill -INT: stop here and report what ran
                stats.interrupted = True
                break
            except Hang as exc:
                stats.hangs += 1
                stats.failures.append((k, f"hang: {exc}"))
            except Exception as exc:  # noqa: BLE001 - counting every kind is the point
                stats.crashes += 1
                where = traceback.extract_tb(exc.__traceback__)[-1]
                stats.failures.append((k, f"{type(exc).__name__}: {str(exc)[:160]} ({Path(where.filename).name}:{where.lineno})"))
            else:
                if dt > stats.slowest_s:
                    stats.slowest_s, stats.slowest_k = dt, k
                if outcome == "accepted":
                    stats.accepted += 1
                else:
                    stats.refused += 1
            stats.inputs += 1
            if stats.failures and stats.failures[-1][0] == k and save is not None:
                save.mkdir(parents=True, exist_ok=True)
                (save / f"{name}-{seed}-{k}.pickle").write_bytes(pickle.dumps(item))
            if progress and time.perf_counter() >= next_report:
                next_report += progress
                el = time.perf_counter() - t0
                print(f"  {name}[{start}:{stop}]: {stats.inputs} inputs, {stats.crashes} crashes, {stats.hangs} hangs, "
                      f"{stats.inputs / el:.0f}/s", file=sys.stderr, flush=True)
        stats.wall_s = time.perf_counter() - t0
    return stats


def replay(spec: str, seed: int, limit_s: float) -> int:
    name, _, k = spec.partition(":")
    target = targets()[name]
    item = target.make(rnd_for(seed, int(k)))
    print(f"input {name}:{k} (seed {seed}): {repr(item)[:2000]}")
    with tempfile.TemporaryDirectory() as tmp:
        target.setup(Path(tmp))
        try:
            outcome, dt = run_one(target, item, Path(tmp), limit_s)
        except BaseException:  # noqa: BLE001
            traceback.print_exc()
            return 1
    print(f"{outcome} in {dt * 1000:.1f} ms")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", default="show,ofl,qxf,osc,audio", help="comma-separated (default: all)")
    ap.add_argument("-n", type=int, default=100_000, help="inputs per target (default 100000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--deadline", type=float, default=2.0, help="seconds per input before it counts as a hang")
    ap.add_argument("--save", type=Path, default=None, help="write failing inputs (pickled) to this folder")
    ap.add_argument("--progress", type=float, default=60.0, help="seconds between progress lines (0: none)")
    ap.add_argument("--show-failures", type=int, default=10, help="failures listed per target")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes per target (default 1)")
    ap.add_argument("--replay", metavar="TARGET:K", help="run one input and print its traceback")
    args = ap.parse_args(argv)
    # Started in the background by a shell, SIGINT arrives ignored: restore it, and let SIGTERM
    # stop the run the same way, so `kill PID` still prints the counts of what ran.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if args.replay:
        return replay(args.replay, args.seed, args.deadline)
    names = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(names) - set(targets())
    if unknown:
        ap.error(f"unknown target(s): {', '.join(sorted(unknown))}; known: {', '.join(targets())}")
    print(f"beamsync fuzz: {args.n} inputs per target, seed {args.seed}, deadline {args.deadline:g} s/input, "
          f"{args.jobs} job(s)", flush=True)
    print(f"{'target':8} {'inputs':>8} {'accepted':>9} {'refused':>8} {'crashes':>8} {'hangs':>6} "
          f"{'wall s':>8} {'inputs/s':>9} {'slowest ms':>11} {'(input)':>8}")
    total_bad = 0
    interrupted = False
    for name in names:
        if interrupted:
            break
        s = run_target(name, args.n, args.seed, args.deadline, args.save, args.progress, args.jobs)
        total_bad += s.crashes + s.hangs
        print(f"{name:8} {s.inputs:8d} {s.accepted:9d} {s.refused:8d} {s.crashes:8d} {s.hangs:6d} "
              f"{s.wall_s:8.1f} {s.rate:9.1f} {s.slowest_s * 1000:11.1f} {s.slowest_k:8d}"
              + ("  (interrupted)" if s.interrupted else ""), flush=True)
        for k, what in s.failures[: args.show_failures]:
            print(f"    {name}:{k}  {what}", flush=True)
        interrupted = s.interrupted
    return 1 if total_bad else 0


if __name__ == "__main__":
    sys.exit(main())
