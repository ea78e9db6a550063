"""Evaluate the live structure analyser (drops, breakdowns, build-ups, phrases, silence).

Test set: annotated arrangements from :mod:`engine.analysis.structure_synth` (random plans,
tempi, keys and levels; a few DJ mixes with a tempo/key change), plus the real recordings in
``../shared/eval`` (``mdb`` mixes and ``librosa_clips``), which contain no drops: every drop
found there is a false alarm.

The analyser runs exactly as live: blocks of ``--block`` frames through the front end, the
BeatNet beat tracker and :class:`~engine.analysis.structure.StructureAnalyser`
(``--oracle-beats`` feeds the true beat grid instead of the tracker, to separate structure
errors from beat-tracking errors).

Printed: per event kind precision / recall / F with a one-bar tolerance; for drops the time
error (event time − true downbeat) and the detection delay (detected_at − true downbeat), and
the share of drops placed within 50 ms of the true downbeat and decided within 50 ms of it;
the drop.bars_until prediction one bar before each drop; false drops per hour and other
events per hour on the real recordings; CPU cost of the structure analyser.

    .venv/bin/python bench/eval_structure.py              # 12 arrangements + 3 DJ mixes
    .venv/bin/python bench/eval_structure.py --quick      # 4 + 1, for development
    beamsync bench structure [--quick ...]                # the same
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.analysis.beats import BeatAnalyser
from engine.analysis.frontend import FrontEnd
from engine.analysis.structure import StructureAnalyser
from engine.analysis.structure_synth import Arrangement, render_arrangement, render_dj_mix
from engine.audio.block import AudioBlock
from engine.features import FeatureEvent

REPO = Path(__file__).resolve().parents[2]

SHARED_EVAL = REPO.parent / "shared" / "eval"
SCORED = ("music_start", "silence", "breakdown_start", "breakdown_end", "buildup", "drop", "phrase",
          "track_change")


@dataclass
class RunResult:
    """Events of one file and the time spent."""

    events: list[FeatureEvent]
    seconds_audio: float
    seconds_beats: float
    seconds_structure: float


def oracle_beat_events(arr: Arrangement, lead: float = 0.01) -> list[FeatureEvent]:
    """Beat events on the true grid, announced ``lead`` s ahead (as the tracker fires them)."""
    sr = arr.sample_rate
    downs = set(np.round(arr.downbeats * sr).astype(int).tolist())
    out = []
    beats = np.sort(arr.beats)
    for i, t in enumerate(beats):
        f = int(round(t * sr))
        bpm = 60.0 / (beats[i] - beats[i - 1]) if i else arr.bpm
        out.append(FeatureEvent("beat", f, max(0, f - int(lead * sr)), 1.0,
                                {"position": 1 if f in downs else 2, "beats_per_bar": 4, "bpm": bpm}))
    return out


def run(samples: np.ndarray, sr: int, block: int, oracle: list[FeatureEvent] | None = None) -> RunResult:
    """Feed ``samples`` through the beat analyser (or oracle beats) and the structure analyser."""
    fe = FrontEnd(sr)
    beats = None if oracle is not None else BeatAnalyser(fe)
    st = StructureAnalyser(fe)
    events: list[FeatureEvent] = []
    tb = ts = 0.0
    oi = 0
    x = np.asarray(samples, np.float32)
    for start in range(0, len(x), block):
        blk = AudioBlock(start, x[start : start + block], sr)
        t0 = time.perf_counter()
        fe.frames_for(blk)
        if beats is not None:
            bev = beats.process(blk)
        else:
            bev = []
            while oi < len(oracle) and oracle[oi].detected_at < blk.end_frame:
                bev.append(oracle[oi])
                oi += 1
        t1 = time.perf_counter()
        sev = st.process(blk, bev)
        t2 = time.perf_counter()
        tb += t1 - t0
        ts += t2 - t1
        events.extend(bev)
        events.extend(sev)
    return RunResult(events, len(x) / sr, tb, ts)


@dataclass
class Tally:
    """Matches per event kind."""

    tp: dict[str, int] = field(default_factory=lambda: {k: 0 for k in SCORED})
    fp: dict[str, int] = field(default_factory=lambda: {k: 0 for k in SCORED})
    fn: dict[str, int] = field(default_factory=lambda: {k: 0 for k in SCORED})
    drop_time_err: list[float] = field(default_factory=list)
    drop_delay: list[float] = field(default_factory=list)
    drop_true: int = 0
    bars_until_ok: int = 0
    bars_until_n: int = 0
    misses: list[str] = field(default_factory=list)


def match(true: np.ndarray, det: list[FeatureEvent], sr: int, tol: float) -> list[tuple[float, FeatureEvent]]:
    """Greedy one-to-one matching of detections to true times within ``tol`` seconds."""
    pairs = sorted(((abs(e.time / sr - t), i, j) for i, t in enumerate(true) for j, e in enumerate(det)
                    if abs(e.time / sr - t) <= tol), key=lambda p: p[0])
    used_t, used_d, out = set(), set(), []
    for _, i, j in pairs:
        if i in used_t or j in used_d:
            continue
        used_t.add(i)
        used_d.add(j)
        out.append((float(true[i]), det[j]))
    return out


def score(arr: Arrangement, res: RunResult, tally: Tally, name: str) -> None:
    """Add one arrangement's matches to ``tally``."""
    sr = arr.sample_rate
    bar = 4 * 60.0 / arr.bpm
    sections = [e for e in res.events if e.name == "section"]
    for kind in SCORED:
        true = arr.times(kind)
        det = [e for e in sections if e.data["kind"] == kind]
        m = match(true, det, sr, bar + 1e-3)
        tally.tp[kind] += len(m)
        tally.fp[kind] += len(det) - len(m)
        tally.fn[kind] += len(true) - len(m)
        if kind in ("drop", "breakdown_start", "buildup", "breakdown_end") and (len(det) != len(m) or len(true) != len(m)):
            got = sorted(round(e.time / sr, 2) for e in det)
            tally.misses.append(f"{name} {kind}: true {np.round(true, 2).tolist()} got {got}")
        if kind == "drop":
            tally.drop_true += len(true)
            for t, e in m:
                tally.drop_time_err.append(e.time / sr - t)
                tally.drop_delay.append(e.detected_at / sr - t)
    # drop prediction: the last drop.bars_until value announced before one bar ahead of the drop
    pred = [e for e in res.events if e.name == "drop.bars_until"]
    for t in arr.times("drop"):
        before = [e for e in pred if e.detected_at / sr <= t - bar + 0.05 and e.time / sr >= t - 2 * bar]
        tally.bars_until_n += 1
        if before:
            e = before[-1]
            expected_drop = e.time / sr + e.value * bar
            tally.bars_until_ok += abs(expected_drop - t) <= 0.5 * 60.0 / arr.bpm
    return None


def real_files(limit: int | None = None) -> list[Path]:
    """The real recordings used for false alarms."""
    files = sorted(SHARED_EVAL.glob("mdb/*/mix.flac")) + sorted(SHARED_EVAL.glob("librosa_clips/*.ogg"))
    return files[:limit] if limit else files


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation and print the table."""
    ap = argparse.ArgumentParser(prog="beamsync bench structure", description=__doc__.split("\n\n")[0])
    ap.add_argument("--arrangements", type=int, default=12)
    ap.add_argument("--mixes", type=int, default=3)
    ap.add_argument("--seed", type=int, default=100, help="first seed (the set is seeds seed..seed+n-1)")
    ap.add_argument("--block", type=int, default=512)
    ap.add_argument("--quick", action="store_true", help="4 arrangements, 1 mix, 3 real files")
    ap.add_argument("--oracle-beats", action="store_true", help="true beat grid instead of the tracker")
    ap.add_argument("--no-real", action="store_true", help="skip the real recordings")
    ap.add_argument("--verbose", action="store_true", help="list missed and extra events")
    args = ap.parse_args(argv)
    n_arr, n_mix, n_real = (4, 1, 3) if args.quick else (args.arrangements, args.mixes, None)
    sr = 44100
    tally = Tally()
    audio_s = beats_s = struct_s = 0.0
    items = [("arr", args.seed + i) for i in range(n_arr)] + [("mix", args.seed + 500 + i) for i in range(n_mix)]
    for kind, seed in items:
        arr = render_arrangement(seed, sr) if kind == "arr" else render_dj_mix(seed, sr)
        res = run(arr.samples, sr, args.block, oracle_beat_events(arr) if args.oracle_beats else None)
        score(arr, res, tally, f"{kind}{seed}")
        audio_s += res.seconds_audio
        beats_s += res.seconds_beats
        struct_s += res.seconds_structure
        print(f"  {kind} seed {seed}: {res.seconds_audio:6.1f} s, {arr.bpm:5.1f} BPM, plan "
              + " ".join(f"{k}{b}" for k, b in arr.plan), flush=True)
    print(f"\nGenerated set: {n_arr} arrangements + {n_mix} DJ mixes, {audio_s / 60:.1f} min, "
          f"beats from {'the true grid (oracle)' if args.oracle_beats else 'the live beat tracker'}, "
          f"block {args.block}, tolerance one bar")
    print(f"{'kind':16s} {'true':>5s} {'found':>5s} {'TP':>4s} {'prec':>6s} {'recall':>6s} {'F':>6s}")
    for k in SCORED:
        tp, fp, fn = tally.tp[k], tally.fp[k], tally.fn[k]
        p = tp / (tp + fp) if tp + fp else float("nan")
        r = tp / (tp + fn) if tp + fn else float("nan")
        f = 2 * p * r / (p + r) if tp else 0.0
        print(f"{k:16s} {tp + fn:5d} {tp + fp:5d} {tp:4d} {p:6.2f} {r:6.2f} {f:6.2f}")
    te = np.array(tally.drop_time_err) * 1000
    dl = np.array(tally.drop_delay) * 1000
    if len(te):
        on_time = int(np.sum((np.abs(te) <= 50) & (dl <= 50)))
        print(f"\nDrops: {tally.drop_true} true, {len(te)} found within a bar")
        print(f"  time error (event time - true downbeat): median {np.median(te):+.1f} ms, "
              f"|err| <= 50 ms: {np.mean(np.abs(te) <= 50) * 100:.0f}%")
        print(f"  detection delay (detected_at - true downbeat): median {np.median(dl):.1f} ms, "
              f"max {dl.max():.1f} ms")
        print(f"  on the downbeat within 50 ms and decided within 50 ms: {on_time}/{tally.drop_true} "
              f"= {100 * on_time / max(tally.drop_true, 1):.0f}% (goal >= 80%)")
    print(f"  drop.bars_until one bar ahead pointed at the drop's downbeat: "
          f"{tally.bars_until_ok}/{tally.bars_until_n}")
    if args.verbose:
        for line in tally.misses:
            print("   ", line)
    if not args.no_real:
        files = real_files(n_real)
        if not files:
            print(f"\n(real recordings not found under {SHARED_EVAL}: skipped)")
        else:
            from engine.audio.file import load_audio

            counts = {k: 0 for k in SCORED}
            total = 0.0
            for path in files:
                x, rate = load_audio(path, mono=True)
                res = run(x, rate, args.block)
                total += res.seconds_audio
                beats_s += res.seconds_beats
                struct_s += res.seconds_structure
                audio_s += res.seconds_audio
                got = [e for e in res.events if e.name == "section"]
                drops = [round(e.time / rate, 1) for e in got if e.data["kind"] == "drop"]
                for e in got:
                    counts[e.data["kind"]] += 1
                print(f"  {path.parent.name}/{path.name}: {res.seconds_audio:.1f} s, drops at {drops}")
            hours = total / 3600
            print(f"\nReal recordings without drops: {len(files)} files, {total / 60:.1f} min")
            print(f"  false drops: {counts['drop']} = {counts['drop'] / hours:.1f} per hour")
            print("  other events per hour: " + ", ".join(f"{k} {counts[k] / hours:.0f}" for k in SCORED
                                                         if k != "drop"))
    print(f"\nCPU (this machine, 1 process): structure analyser {struct_s / audio_s * 1000:.2f} ms per "
          f"second of audio ({audio_s / max(struct_s, 1e-9):.0f}x real time); front end + beat tracker "
          f"{beats_s / audio_s * 1000:.1f} ms per second ({audio_s / max(beats_s, 1e-9):.0f}x real time)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
