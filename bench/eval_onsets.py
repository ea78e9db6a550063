"""Onset-only evaluation over ../shared/eval: where the onset F-measure is won and lost.

    nice -n 5 .venv/bin/python bench/eval_onsets.py [--aubio] [--no-attribution] [--stems] [--clips]

Runs :class:`engine.analysis.onsets.OnsetDetector` (front end + onsets only, no beat model, so
it takes seconds) over every annotated recording and prints, per file:

* the whole-mix onsets against all annotated drum onsets (MDB Drums classes merged within
  30 ms, as ``bench/eval_beats.py`` does; 50 ms window): precision, recall, F, the signed timing
  error of the matched onsets (median and interquartile range, ms: a constant offset shows here)
  and the detection delay (``detected_at`` − annotation, median ms);
* the kick, snare and hi-hat labels together (merged within 30 ms) against the same drum
  onsets: the band proxies used as a drum-onset detector;
* the same detector on the file's true drum stem (MedleyDB) — the score once separation is perfect;
* per drum class (kick / snare / hi-hat band proxies vs the MDB classes KD / SD / HH): P, R, F on the
  mix and on the true drum stem, and the labels' detection delay (``detected_at`` − annotation,
  median ms over the matched hits);
* false-positive attribution (``--no-attribution`` skips it): each mix onset that matched no drum
  annotation is checked against the onsets of the same detector on the true bass, other and
  vocal stems (within 30 ms), so the table says which instrument produced the extra onsets;
* madmom's annotated sample (general onsets, not drums): a check that the detector is not
  merely a drum detector;
* with ``--stems``, the stem analyser's drum-stem onsets and labels (the separation model);
  with ``--clips``, onsets and labels per second on unannotated clips, some without drums;
* the cost per fast frame (ms, one core) and, with ``--aubio``, aubio's ``default`` onset
  detector (hop 256) on the same files as a baseline (GPL: benchmark only).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.analysis.bench import merge_close  # noqa: E402
from engine.analysis.frontend import FrontEnd  # noqa: E402
from engine.analysis.onsets import OnsetDetector  # noqa: E402
from engine.audio.block import AudioBlock  # noqa: E402
from engine.audio.file import load_audio  # noqa: E402

ROOT = Path(__file__).resolve().parents[2] / "shared" / "eval"
WINDOW = 0.05
LABELS = (("kick", "KD"), ("snare", "SD"), ("hihat", "HH"))


@dataclass
class OnsetItem:
    """One annotated file: its audio, the drum onsets and, where known, per-class onsets and stems."""

    name: str
    audio: Path
    onsets: np.ndarray
    classes: dict[str, np.ndarray] = field(default_factory=dict)
    stems: dict[str, Path] = field(default_factory=dict)
    drums_only: bool = True  # False: general onsets (every instrument)


def items(root: Path) -> list[OnsetItem]:
    """The annotated recordings under ``root`` (MDB, the jazz trio excerpt, madmom's sample)."""
    out = []
    for d in sorted((root / "mdb").glob("*")):
        rows = np.genfromtxt(d / "drum_onsets_class.txt", dtype=None, encoding=None)
        times = np.array([float(r[0]) for r in rows])
        cls = np.array([str(r[1]).strip() for r in rows])
        stems = {s: d / "stems" / f"{s}.flac" for s in ("drums", "bass", "other", "vocals")
                 if (d / "stems" / f"{s}.flac").is_file()}
        out.append(OnsetItem(d.name, d / "mix.flac", merge_close(times),
                             {lab: merge_close(times[cls == c]) for lab, c in LABELS}, stems))
    jtd = root / "jtd_barron_allgodschildren_5s"
    if jtd.is_dir():
        out.append(OnsetItem("jtd_barron_5s", jtd / "mix.flac", merge_close(np.loadtxt(jtd / "drums_onsets.csv", ndmin=1))))
    mm = root / "madmom_testdata"
    if mm.is_dir():
        ref = np.loadtxt(mm / "annotations" / "sample.onsets", comments="#", ndmin=2)[:, 0]
        out.append(OnsetItem("madmom_sample (general)", mm / "audio" / "sample.wav", ref, drums_only=False))
    return out


def detect(path: Path, block: int = 512) -> tuple[dict[str | None, tuple[np.ndarray, np.ndarray]], tuple[float, float], int]:
    """Run the detector over a file in blocks: {label (None = mix): (times s, detected_at s)},
    CPU seconds spent (front end, onset detector), number of fast frames."""
    x, sr = load_audio(path)
    fe = FrontEnd(sr)
    det = OnsetDetector(fe)
    events = []
    t_fe = t_det = 0.0
    for s in range(0, len(x), block):
        b = AudioBlock(s, x[s : s + block], sr)
        t0 = time.process_time()
        fe.frames_for(b)  # the detector then gets the cached frames: its own cost is timed apart
        t1 = time.process_time()
        events.extend(det.process(b))
        t_fe += t1 - t0
        t_det += time.process_time() - t1
    spent = (t_fe, t_det)
    out: dict[str | None, tuple[np.ndarray, np.ndarray]] = {}
    for lab in (None, "kick", "snare", "hihat"):
        sel = [e for e in events if e.data.get("label") == lab]
        out[lab] = (np.array([e.time for e in sel], float) / sr, np.array([e.detected_at for e in sel], float) / sr)
    return out, spent, len(x) // fe.fast_hop


def prf(ref: np.ndarray, est: np.ndarray) -> tuple[float, float, float, list[tuple[int, int]]]:
    """mir_eval's onset P, R, F (50 ms) and the matching."""
    import mir_eval

    if len(ref) == 0 or len(est) == 0:
        return 0.0, 0.0, 0.0, []
    match = mir_eval.util.match_events(ref, est, WINDOW)
    p, r = len(match) / len(est), len(match) / len(ref)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0), match


def aubio_onsets(path: Path) -> np.ndarray | None:
    """aubio's default onset detector (hop 256), the times it reports."""
    try:
        import aubio
    except ImportError:
        print("aubio baseline skipped: aubio is not installed (GPL, benchmark only)", file=sys.stderr)
        return None
    x, sr = load_audio(path)
    o = aubio.onset("default", 1024, 256, sr)
    got = []
    for s in range(0, len(x) - 256 + 1, 256):
        if o(np.ascontiguousarray(x[s : s + 256]))[0]:
            got.append(o.get_last_s())
    return np.array(got)


def stem_scores(its: list[OnsetItem]) -> None:
    """The stem analyser (separation model, else the DSP separator) over each mix: its drum-stem
    onsets, its drum labels together, and per class, against the same annotations."""
    from engine.analysis.stems import StemAnalyser

    print("\nstem analyser (`--stems`): onsets of the separated drum stem")
    print("| file | separator | drum-stem onsets F | drum labels F | kick F | snare F | hihat F |")
    print("|---|---|---|---|---|---|---|")
    rows: list[list[float]] = []
    for it in its:
        if not it.drums_only:
            continue
        x, sr = load_audio(it.audio)
        an = StemAnalyser(sr)
        events = []
        for s in range(0, len(x), 512):
            events.extend(an.process(AudioBlock(s, x[s : s + 512], sr)))
        drums = [e for e in events if e.name == "onset" and e.data.get("stem") == "drums"]
        plain = np.array([e.time for e in drums if "label" not in e.data], float) / sr
        by = {lab: np.array([e.time for e in drums if e.data.get("label") == lab], float) / sr for lab, _ in LABELS}
        labelled = merge_close(np.concatenate(list(by.values())))
        cls = [f"{prf(it.classes[lab], by[lab])[2]:.3f}" if lab in it.classes else "-" for lab, _ in LABELS]
        row = [prf(it.onsets, plain)[2], prf(it.onsets, labelled)[2],
               *[prf(it.classes[lab], by[lab])[2] if lab in it.classes else np.nan for lab, _ in LABELS]]
        rows.append(row)
        print(f"| {it.name} | {an.kind} | {row[0]:.3f} | {row[1]:.3f} | " + " | ".join(cls) + " |")
    if rows:
        means = np.nanmean(np.array(rows), axis=0)
        print(f"| mean ({len(rows)} files; classes over the MDB files) | | " + " | ".join(f"{m:.3f}" for m in means) + " |")


def clip_rates(folder: Path, seconds: float = 60.0, stems: bool = False) -> None:
    """Onsets and drum labels per second on clips without annotations. Several have no drums
    (string orchestra, celesta, solo trumpet): every drum label there is a false one. With
    ``stems``, also the stem analyser's drum labels (on the separated drum stem)."""
    print("\nonsets per second on the librosa clips (no annotations; first 60 s):")
    extra = " stem kick | stem snare | stem hihat |" if stems else ""
    print("| clip | s | mix | kick | snare | hihat |" + extra)
    print("|---|---|---|---|---|---|" + ("---|---|---|" if stems else ""))
    for p in sorted(folder.glob("*.ogg")):
        x, sr = load_audio(p)
        x = x[: int(seconds * sr)]
        det = OnsetDetector(FrontEnd(sr))
        events = []
        for s in range(0, len(x), 2048):
            events.extend(det.process(AudioBlock(s, x[s : s + 2048], sr)))
        dur = len(x) / sr
        rate = [sum(e.data.get("label") == lab for e in events) / dur for lab in (None, "kick", "snare", "hihat")]
        if stems:
            from engine.analysis.stems import StemAnalyser

            an = StemAnalyser(sr)
            st = []
            for s in range(0, len(x), 2048):
                st.extend(e for e in an.process(AudioBlock(s, x[s : s + 2048], sr)) if e.name == "onset")
            rate += [sum(e.data.get("label") == lab for e in st) / dur for lab in ("kick", "snare", "hihat")]
        print(f"| {p.stem[:48]} | {dur:.0f} | " + " | ".join(f"{r:.2f}" for r in rate) + " |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=ROOT)
    ap.add_argument("--aubio", action="store_true", help="also score aubio's onset detector (benchmark only)")
    ap.add_argument("--no-attribution", action="store_true", help="skip the false-positive attribution by stems")
    ap.add_argument("--stems", action="store_true",
                    help="also score the stem analyser's drum onsets and labels (what `--stems` publishes)")
    ap.add_argument("--clips", action="store_true",
                    help="also count onsets and drum labels per second on the unannotated librosa clips (first 60 s)")
    a = ap.parse_args(argv)
    if not a.root.is_dir():
        print(f"no evaluation data at {a.root}", file=sys.stderr)
        return 1
    ms = lambda v: f"{1000 * v:+.1f}" if np.isfinite(v) else "-"  # noqa: E731
    print("| file | P | R | F | n ref / est | err median ms | err IQR ms | delay ms | F drum labels | F true drum stem | aubio F |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    fs, label_fs, stem_fs, aub_fs, class_rows, attributions = [], [], [], [], [], []
    delays: dict[str, tuple[list[float], list[float]]] = {}
    fe_all = det_all = 0.0
    frames_all = 0
    for it in items(a.root):
        got, spent, frames = detect(it.audio)
        fe_all += spent[0]
        det_all += spent[1]
        frames_all += frames
        est, det = got[None]
        p, r, f, match = prf(it.onsets, est)
        err = np.array([est[j] - it.onsets[i] for i, j in match])
        delay = np.array([det[j] - it.onsets[i] for i, j in match])
        iqr = np.subtract(*np.percentile(err, [75, 25])) if len(err) else np.nan
        # the kick, snare and hi-hat labels together (merged within 30 ms) as a drum-onset detector
        labelled = merge_close(np.concatenate([got[lab][0] for lab, _ in LABELS]))
        label_f = prf(it.onsets, labelled)[2]
        stem_f = np.nan
        if "drums" in it.stems:
            stem_got, _, _ = detect(it.stems["drums"])
            stem_f = prf(it.onsets, stem_got[None][0])[2]
            for lab, ref in it.classes.items():
                pm, rm, fm, _ = prf(ref, got[lab][0])
                ps, rs, fstem, mstem = prf(ref, stem_got[lab][0])
                e_stem = [stem_got[lab][0][j] - ref[i] for i, j in mstem]
                # detection delay of the labels: detected_at - annotation, matched hits
                d_mix = [got[lab][1][j] - ref[i] for i, j in prf(ref, got[lab][0])[3]]
                d_stem = [stem_got[lab][1][j] - ref[i] for i, j in mstem]
                class_rows.append((it.name, lab, len(ref), pm, rm, fm, ps, rs, fstem,
                                   ms(np.median(e_stem) if e_stem else np.nan),
                                   ms(np.median(d_mix) if d_mix else np.nan), ms(np.median(d_stem) if d_stem else np.nan)))
                delays.setdefault(lab, ([], []))
                delays[lab][0].extend(d_mix)
                delays[lab][1].extend(d_stem)
            stem_fs.append(stem_f)
        aub = aubio_onsets(it.audio) if a.aubio else None
        aub_f = prf(it.onsets, aub)[2] if aub is not None else np.nan
        if it.drums_only:
            fs.append(f)
            label_fs.append(label_f)
            if aub is not None:
                aub_fs.append(aub_f)
        print(f"| {it.name} | {p:.3f} | {r:.3f} | {f:.3f} | {len(it.onsets)} / {len(est)} | {ms(np.median(err) if len(err) else np.nan)} "
              f"| {1000 * iqr:.1f} | {ms(np.median(delay) if len(delay) else np.nan)} | {label_f:.3f} "
              f"| {'-' if np.isnan(stem_f) else f'{stem_f:.3f}'} | {'-' if np.isnan(aub_f) else f'{aub_f:.3f}'} |")
        if not a.no_attribution and {"bass", "other"} <= set(it.stems):
            matched = {j for _, j in match}
            fp = np.array([t for j, t in enumerate(est) if j not in matched])
            by_stem = {s: detect(pth)[0][None][0] for s, pth in it.stems.items() if s != "drums"}
            if "drums" in it.stems:
                by_stem["drums"] = stem_got[None][0]
            counts: dict[str, int] = {}
            for t in fp:
                near = [s for s, e in by_stem.items() if len(e) and np.min(np.abs(e - t)) < 0.03]
                key = "+".join(near) if near else "none"
                counts[key] = counts.get(key, 0) + 1
            attributions.append((it.name, len(fp), counts))
    print(f"| mean of the drum-annotated files ({len(fs)}) | | | {np.mean(fs):.3f} | | | | | {np.mean(label_fs):.3f} | "
          f"{np.mean(stem_fs) if stem_fs else float('nan'):.3f} | {np.mean(aub_fs) if aub_fs else float('nan'):.3f} |")
    if class_rows:
        print("\nper drum class (band proxies vs MDB classes KD/SD/HH; mix | true drum stem):")
        print("| file | class | n ref | mix P | mix R | mix F | stem P | stem R | stem F | stem err median ms "
              "| mix delay ms | stem delay ms |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for row in class_rows:
            print("| {} | {} | {} | {:.2f} | {:.2f} | {:.3f} | {:.2f} | {:.2f} | {:.3f} | {} | {} | {} |".format(*row))
        for lab, _ in LABELS:
            mf = np.mean([r[5] for r in class_rows if r[1] == lab])
            sf = np.mean([r[8] for r in class_rows if r[1] == lab])
            dm, dst = delays.get(lab, ([], []))
            print(f"| mean | {lab} | | | | {mf:.3f} | | | {sf:.3f} | | "
                  f"{ms(np.median(dm)) if dm else '-'} (all hits) | {ms(np.median(dst)) if dst else '-'} (all hits) |")
    if attributions:
        print("\nfalse positives of the mix onsets, by the true stems that have an onset within 30 ms:")
        for name, n, counts in attributions:
            parts = ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
            print(f"  {name}: {n} false positives: {parts}")
    if a.stems:
        stem_scores(items(a.root))
    if a.clips:
        clip_rates(a.root / "librosa_clips", stems=a.stems)
    n = max(frames_all, 1)
    print(f"\ncost per fast frame (CPU, over {frames_all} frames of the mixes): front end STFT "
          f"{1000 * fe_all / n:.3f} ms, onset detector {1000 * det_all / n:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
