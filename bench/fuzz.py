"""Long fuzz run: N inputs per target, counted (accepted / refused / crashes / hangs), timed.

    nice -n 10 .venv/bin/python bench/fuzz.py                      # 100,000 inputs per target
    .venv/bin/python bench/fuzz.py --targets show,qxf -n 2000 --seed 7 --deadline 2 --jobs 2
    .venv/bin/python bench/fuzz.py --targets show --start 40000 -n 100000   # inputs 40,000..99,999

Targets and their correct outcomes are defined in ``tests/fuzz/targets.py`` (the CI tests run
the same generators through hypothesis). Input ``k`` of a run is made by ``Random(f"{seed}:{k}")``,
so ``--replay TARGET:K`` re-runs exactly one input and prints its traceback, and a long run can
be done in parts (``--start K`` runs inputs ``K..n-1``; an interrupted run prints how many ran). A crash is any
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
               jobs: int = 1, start: int = 0) -> RunStats:
    """Inputs ``start..n-1`` of one target; with ``jobs`` > 1, split into contiguous ranges run
    by worker processes (the counts do not depend on the split)."""
    if jobs <= 1:
        return _run_range(name, start, n, seed, limit_s, save, progress)
    import multiprocessing as mp
    import os
    import queue

    ctx = mp.get_context("fork")
    results = ctx.Queue()
    bounds = [start + (n - start) * j // jobs for j in range(jobs + 1)]
    t0 = time.perf_counter()
    workers = [ctx.Process(target=_part, args=(results, j, name, bounds[j], bounds[j + 1], seed, limit_s, save,
                                                progress), daemon=True) for j in range(jobs)]
    for w in workers:
        w.start()
    parts: dict[int, RunStats] = {}
    forwarded = False
    while len(parts) < jobs:
        try:
            j, part = results.get(timeout=1.0)
            parts[j] = part
        except queue.Empty:
            if not any(w.is_alive() for w in workers):
                break  # a worker died without a result (killed): report the others
        except KeyboardInterrupt:  # stop the workers; each reports what it ran
            if not forwarded:
                forwarded = True
                for w in workers:
                    if w.is_alive() and w.pid is not None:
                        os.kill(w.pid, signal.SIGTERM)
    for w in workers:
        w.join(timeout=10)
    stats = RunStats(name)
    for j in range(jobs):
        p = parts.get(j)
        if p is None:
            print(f"  {name}[{bounds[j]}:{bounds[j + 1]}]: worker gave no result", file=sys.stderr, flush=True)
            stats.interrupted = True
            continue
        if p.interrupted or p.inputs < bounds[j + 1] - bounds[j]:
            print(f"  {name}[{bounds[j]}:{bounds[j + 1]}]: ran inputs {bounds[j]}..{bounds[j] + p.inputs - 1}",
                  file=sys.stderr, flush=True)
        for f in ("inputs", "accepted", "refused", "crashes", "hangs"):
            setattr(stats, f, getattr(stats, f) + getattr(p, f))
        if p.slowest_s > stats.slowest_s:
            stats.slowest_s, stats.slowest_k = p.slowest_s, p.slowest_k
        stats.failures += p.failures
        stats.interrupted |= p.interrupted
    stats.wall_s = time.perf_counter() - t0
    return stats


_IN_WORKER = False


def _part(results: object, j: int, name: str, start: int, stop: int, seed: int, limit_s: float,
          save: Path | None, progress: float) -> None:
    """One worker process of a ``--jobs`` run: its range's stats go back through ``results``."""
    global _IN_WORKER
    _IN_WORKER = True
    try:
        stats = _run_range(name, start, stop, seed, limit_s, save, progress)
    except KeyboardInterrupt:  # stopped during set-up, before any input ran
        stats = RunStats(name, interrupted=True)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    results.put((j, stats))  # type: ignore[attr-defined]


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
            except KeyboardInterrupt:  # Ctrl-C / kill -INT / kill: stop here and report what ran
                if _IN_WORKER:  # Ctrl-C reaches a worker directly and through the parent: once is enough
                    signal.signal(signal.SIGINT, signal.SIG_IGN)
                    signal.signal(signal.SIGTERM, signal.SIG_IGN)
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
    ap.add_argument("--start", type=int, default=0, help="first input index (default 0): runs inputs start..n-1")
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
    if not 0 <= args.start <= args.n:
        ap.error("--start must be between 0 and -n")
    span = f"inputs {args.start}..{args.n - 1}" if args.start else f"{args.n} inputs"
    print(f"beamsync fuzz: {span} per target, seed {args.seed}, deadline {args.deadline:g} s/input, "
          f"{args.jobs} job(s)", flush=True)
    print(f"{'target':8} {'inputs':>8} {'accepted':>9} {'refused':>8} {'crashes':>8} {'hangs':>6} "
          f"{'wall s':>8} {'inputs/s':>9} {'slowest ms':>11} {'(input)':>8}")
    total_bad = 0
    interrupted = False
    for name in names:
        if interrupted:
            break
        s = run_target(name, args.n, args.seed, args.deadline, args.save, args.progress, args.jobs, args.start)
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
