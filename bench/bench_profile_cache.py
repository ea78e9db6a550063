"""Show load time with and without the fixture-profile cache (``engine.fixtures.profile``).

    nice -n 10 .venv/bin/python bench/bench_profile_cache.py            # every shows/*.yaml
    .venv/bin/python bench/bench_profile_cache.py --repeat 20 shows/club-edm.yaml

For each show: ``load_show`` timed with the cache cleared before every load (each referenced
profile is read, parsed and validated again: how every load behaved before the cache) and with
the cache warm (as a hot reload or the next fuzz input sees it). Then one profile file: a
parse (miss) against a cached load (hit: the file is still read and its bytes compared).
Prints figures and ratios; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.fixtures.profile import PROJECT_FIXTURES, clear_profile_cache, load_profile, profile_cache_info  # noqa: E402
from engine.show.loader import load_show  # noqa: E402


def _times(fn, repeat: int, before=None) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(repeat):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("shows", nargs="*", type=Path, help="show files (default: shows/*.yaml)")
    ap.add_argument("--repeat", type=int, default=7, help="loads per show and mode (default 7)")
    ap.add_argument("--profile", default="spot-moving-head", help="profile key for the per-file figures")
    args = ap.parse_args(argv)
    shows = args.shows or sorted((REPO / "shows").glob("*.yaml"))
    load_show(shows[0])  # imports and compiled validators, not timed
    print(f"{'show':18} {'profiles':>8} {'uncached ms':>12} {'cached ms':>10} {'ratio':>6}   (median of {args.repeat}; min)")
    cold_all, warm_all = 0.0, 0.0
    for show in shows:
        cold = _times(lambda: load_show(show), args.repeat, clear_profile_cache)
        clear_profile_cache()
        load_show(show)  # fill the cache
        warm = _times(lambda: load_show(show), args.repeat)
        n_profiles = profile_cache_info()["entries"]
        cm, wm = statistics.median(cold) * 1e3, statistics.median(warm) * 1e3
        cold_all += cm
        warm_all += wm
        print(f"{show.name:18} {n_profiles:8d} {cm:12.1f} {wm:10.1f} {cm / wm:6.2f}   "
              f"(min {min(cold) * 1e3:.1f} / {min(warm) * 1e3:.1f})")
    print(f"{'all shows':18} {'':8} {cold_all:12.1f} {warm_all:10.1f} {cold_all / warm_all:6.2f}")

    path = PROJECT_FIXTURES / f"{args.profile}.yaml"
    miss = _times(lambda: load_profile(path), args.repeat * 5, clear_profile_cache)
    load_profile(path)
    hit = _times(lambda: load_profile(path), args.repeat * 50)
    print(f"load_profile({path.name}, {path.stat().st_size} bytes): parse {statistics.median(miss) * 1e3:.2f} ms, "
          f"cached {statistics.median(hit) * 1e6:.0f} us (read + digest), ratio {statistics.median(miss) / statistics.median(hit):.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
