"""The soak in CI: the whole engine for about 40 s; counters sane, no resource trend.

The long run is ``beamsync bench soak --minutes 60`` (figures in docs/reliability.md). Here
only deterministic outcomes are asserted: nothing lost or skipped, no send errors, no missed
cadence slots, every universe on the wire, file descriptors and threads flat after the
warm-up, and memory growth far below a leak (a generous bound; the slope is a bench figure).
Timing figures (jitter, xruns under a loaded CI machine) are printed, not asserted.
"""

from __future__ import annotations

import shutil

from engine.live.soak import report, run_soak


def test_short_soak_on_jack_at_256_frames_keeps_every_counter_clean(capsys) -> None:
    source = "jack" if shutil.which("jackd") else "file"
    result = run_soak(0.6, source=source, block=256, sample_every=2.0, warmup_minutes=0.2)
    with capsys.disabled():
        print("\n" + report(result))
    assert result.failed is None, result.failed
    s = result.summary()
    assert s["seconds"] >= 35 and len(result.samples) >= 18
    # Audio: nothing dropped between the callback and the analysis.
    assert s["lost_frames"] == 0 and s["skipped_frames"] == 0
    assert s["analyser_crashes"] == 0
    # Show and outputs: frames at the show's rate (plus onset/beat frames), every cadence slot
    # served, no send error, all 64 universes seen by the receivers.
    assert s["show_fps"] > 80
    assert s["output_missed"] == 0 and s["output_errors"] == 0
    assert s["universes_sacn"] == 32 and s["universes_artnet"] == 32
    assert s["packets_sacn"] > 32 * 30 and s["packets_artnet"] > 32 * 30
    # Resources after the warm-up: descriptors and threads do not creep, memory does not run away.
    after = [x for x in result.samples if x.t >= result.warmup_s]
    for proc in ("main", "worker") + (("audio",) if source == "jack" else ()):
        fds = [x.procs[proc]["fds"] for x in after]
        threads = [x.procs[proc]["threads"] for x in after]
        rss = [x.procs[proc]["rss_mb"] for x in after]
        assert max(fds) - min(fds) <= 2, (proc, fds)
        assert max(threads) - min(threads) <= 2, (proc, threads)
        assert rss[-1] - rss[0] < 25.0, (proc, rss)  # a leak of a frame per show frame would be > 100 MB
