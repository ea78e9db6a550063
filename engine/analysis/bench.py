"""``beamsync bench beats`` / ``bench/eval_beats.py``: beat, downbeat, tempo and onset scores.

Runs the ``analyze`` code path (the live analysers, fed in 512-frame blocks) over the
development data in ``../shared/eval`` and scores with mir_eval, side by side with baselines
run in the same process on the same audio:

* ``aubio`` (GPL, benchmark-only: ``pip install aubio``): its online ``tempo`` beat tracker
  and its ``onset`` detector (hop 512 / 256), beats taken at the time aubio reports;
* ``beatnet-pf``: BeatNet 1.1.3's own PyTorch pipeline ("online" mode: madmom features, CRNN,
  particle filter), when ``--beatnet-python`` names a Python that has BeatNet, madmom and torch
  (a separate venv, see FIELD_NOTES).

Sets: the real recordings with beat annotations (MedleyDB Music Delta, the jazz trio excerpt,
madmom's sample), FluidSynth renders of the multi-instrument MIDI files (exact beats from
the MIDI tempo map; rendered once into a cache folder) and, with ``--pop909 N``, renders of N
POP909 piano songs (no drums; a check on material unlike the development files).

Figures: beat F-measure (70 ms), CMLt, AMLt, downbeat F, onset F (50 ms, mix onsets against
all annotated drum onsets, annotations closer than 30 ms merged; also on the isolated drum stem), median signed beat timing error (ms, fired time − annotation),
median beat lead (time − detected_at: how far ahead beats were fired), median onset detection
delay (detected_at − annotation), first fired beat (s), real-time factor.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DEFAULT_EVAL = REPO.parent / "shared" / "eval"


@dataclass
class Item:
    """One evaluation file: audio and its annotations (seconds)."""

    name: str
    audio: Path
    beats: np.ndarray
    downbeats: np.ndarray
    onsets: np.ndarray | None = None
    kind: str = "real"
    drum_classes: dict[str, np.ndarray] = field(default_factory=dict)
    drums_stem: Path | None = None


def merge_close(times: np.ndarray, within: float = 0.03) -> np.ndarray:
    """Annotated onsets closer than ``within`` count as one (a kick and a hi-hat struck together
    are one onset to a detector; madmom's onset evaluation combines them the same way)."""
    times = np.unique(np.asarray(times, float))
    if len(times) == 0:
        return times
    keep = [times[0]]
    for t in times[1:]:
        if t - keep[-1] > within:
            keep.append(t)
    return np.array(keep)


def real_items(root: Path) -> list[Item]:
    """The annotated real recordings under ``root``."""
    items = []
    for d in sorted((root / "mdb").glob("*")):
        ann = np.loadtxt(d / "beats.txt", ndmin=2)
        drums = np.genfromtxt(d / "drum_onsets_class.txt", dtype=None, encoding=None)
        times = np.array([float(r[0]) for r in drums])
        classes = np.array([str(r[1]).strip() for r in drums])
        cls = {lab: np.unique(times[classes == c]) for lab, c in (("kick", "KD"), ("snare", "SD"), ("hihat", "HH"))}
        items.append(Item(d.name, d / "mix.flac", ann[:, 0], ann[ann[:, 1] == 1, 0], merge_close(times),
                          drum_classes={k: merge_close(v) for k, v in cls.items()},
                          drums_stem=d / "stems" / "drums.flac"))
    jtd = root / "jtd_barron_allgodschildren_5s"
    if jtd.is_dir():
        import csv

        with open(jtd / "beats.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        beats = np.array([float(r["beats"]) for r in rows])
        metre = np.array([float(r["metre_auto"]) for r in rows])
        items.append(Item("jtd_barron_5s", jtd / "mix.flac", beats, beats[metre == 1],
                          merge_close(np.loadtxt(jtd / "drums_onsets.csv", ndmin=1))))
    mm = root / "madmom_testdata"
    if mm.is_dir():
        ann = np.loadtxt(mm / "annotations" / "sample.beats", ndmin=2)
        items.append(Item("madmom_sample", mm / "audio" / "sample.wav", ann[:, 0], ann[ann[:, 1] == 1, 0]))
    return items


def midi_beats(path: Path, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Beat and downbeat times of a MIDI file from its tempo map and time signatures."""
    import mido

    mid = mido.MidiFile(str(path))
    tpb = mid.ticks_per_beat
    tick, tempo = 0, 500000
    tempo_map = [(0, 0.0, tempo)]  # (tick, seconds, tempo from there)
    sigs = [(0, 4, 4)]
    for msg in mido.merge_tracks(mid.tracks):
        tick += msg.time
        if msg.type == "set_tempo":
            t0, s0, tp = tempo_map[-1]
            tempo_map.append((tick, s0 + (tick - t0) * tp / tpb / 1e6, msg.tempo))
        elif msg.type == "time_signature":
            sigs.append((tick, msg.numerator, msg.denominator))

    def to_sec(t: float) -> float:
        i = max(j for j, (tk, _, _) in enumerate(tempo_map) if tk <= t)
        tk, s0, tp = tempo_map[i]
        return s0 + (t - tk) * tp / tpb / 1e6

    beats, downs = [], []
    sig_i, bar_start, beat_no = 0, 0, 0
    t = 0
    while True:
        while sig_i + 1 < len(sigs) and sigs[sig_i + 1][0] <= t:
            sig_i += 1
            bar_start, beat_no = sigs[sig_i][0], 0
        _, num, den = sigs[sig_i]
        step = tpb * 4 // den
        sec = to_sec(t)
        if sec > seconds:
            break
        beats.append(sec)
        if beat_no % num == 0:
            downs.append(sec)
        beat_no += 1
        t += step
    return np.array(beats), np.array(downs)


def last_note(path: Path) -> float:
    """Seconds at which the last note of a MIDI file ends (beats after it are not in the audio)."""
    import mido

    t, last = 0.0, 0.0
    for msg in mido.MidiFile(str(path)):  # iteration yields delta times in seconds
        t += msg.time
        if msg.type in ("note_on", "note_off"):
            last = t
    return last


def midi_items(root: Path, cache: Path, seconds: float, limit: int) -> list[Item]:
    """FluidSynth renders (first ``seconds``) of the multi-instrument MIDI files, cached."""
    import soundfile as sf

    fluidsynth = shutil.which("fluidsynth")
    sf2 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
    files = [root / "midi" / "madmom_multitrack.mid", *sorted((root / "midi" / "slakh_all_src").glob("*.mid"))]
    files = [f for f in files if f.is_file()][:limit]
    if not files or not fluidsynth or not sf2.is_file():
        print("midi renders skipped: fluidsynth or FluidR3_GM.sf2 missing", file=sys.stderr)
        return []
    cache.mkdir(parents=True, exist_ok=True)
    items = []
    for f in files:
        # the render ends with the music (+1 s of release), so no beat is scored after the last note
        length = min(seconds, last_note(f) + 1.0)
        wav = cache / f"{f.stem}.wav"
        cut = cache / f"{f.stem}_{length:.1f}s.flac"
        if not cut.is_file():
            subprocess.run([fluidsynth, "-ni", "-g", "0.6", "-F", str(wav), "-r", "44100", str(sf2), str(f)],
                           check=True, capture_output=True)
            x, sr = sf.read(str(wav), dtype="float32")
            sf.write(str(cut), x[: int(length * sr)], sr)
            wav.unlink()
        beats, downs = midi_beats(f, length - 1.5)
        items.append(Item(f"midi:{f.stem}", cut, beats, downs, kind="midi"))
    return items


def pop909_items(root: Path, cache: Path, seconds: float, limit: int) -> list[Item]:
    """FluidSynth renders (first ``seconds``) of POP909 songs (piano melody, bridge and
    accompaniment, no drums): beats and downbeats from each song's ``beat_midi.txt``. Songs are
    taken every 101st (101, 202, ...), a fixed choice made before any result was seen."""
    import soundfile as sf

    fluidsynth = shutil.which("fluidsynth")
    sf2 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
    if not fluidsynth or not sf2.is_file():
        print("pop909 renders skipped: fluidsynth or FluidR3_GM.sf2 missing", file=sys.stderr)
        return []
    cache.mkdir(parents=True, exist_ok=True)
    items = []
    for k in range(1, limit + 1):
        song = f"{101 * k:03d}"
        mid = root / "midi" / "pop909" / song / f"{song}.mid"
        ann_file = root / "midi" / "pop909" / song / "beat_midi.txt"
        if not mid.is_file() or not ann_file.is_file():
            continue
        cut = cache / f"pop909_{song}_{seconds:.1f}s.flac"
        if not cut.is_file():
            wav = cache / f"pop909_{song}.wav"
            subprocess.run([fluidsynth, "-ni", "-g", "0.6", "-F", str(wav), "-r", "44100", str(sf2), str(mid)],
                           check=True, capture_output=True)
            x, sr = sf.read(str(wav), dtype="float32")
            sf.write(str(cut), x[: int(seconds * sr)], sr)
            wav.unlink()
        length = sf.info(str(cut)).duration
        # columns: time, (half-bar marker), downbeat; beats scored up to 1.5 s before the cut
        ann = np.loadtxt(ann_file, ndmin=2)
        ann = ann[ann[:, 0] < length - 1.5]
        items.append(Item(f"pop909:{song}", cut, ann[:, 0], ann[ann[:, 2] == 1, 0], kind="pop909"))
    return items


def _match_errors(ref: np.ndarray, est: np.ndarray, window: float = 0.07) -> np.ndarray:
    if len(ref) == 0 or len(est) == 0:
        return np.zeros(0)
    idx = np.clip(np.searchsorted(ref, est), 1, len(ref) - 1)
    near = np.where(np.abs(est - ref[idx - 1]) < np.abs(est - ref[idx]), idx - 1, idx)
    err = est - ref[near]
    return err[np.abs(err) <= window]


def score(item: Item, beats: np.ndarray, downbeats: np.ndarray | None, onsets: np.ndarray | None,
          beat_lead: np.ndarray | None = None, onset_detected: np.ndarray | None = None) -> dict[str, float]:
    """mir_eval scores of one system on one item."""
    import mir_eval

    nan = float("nan")
    # mir_eval's convention skips the first 5 s; clips shorter than 10 s are scored whole
    trim = mir_eval.beat.trim_beats if item.beats[-1] >= 10.0 else (lambda b: np.asarray(b, float))
    rb = trim(item.beats)
    eb = trim(np.asarray(beats, float))
    out: dict[str, float] = {"beat_f": mir_eval.beat.f_measure(rb, eb)}
    if len(rb) >= 2 and len(eb) >= 2:
        cmlc, cmlt, amlc, amlt = mir_eval.beat.continuity(rb, eb)
    else:
        cmlt = amlt = 0.0
    out["cmlt"], out["amlt"] = cmlt, amlt
    out["down_f"] = (mir_eval.beat.f_measure(item.downbeats, np.asarray(downbeats, float))
                     if downbeats is not None and len(item.downbeats) else nan)
    err = _match_errors(item.beats, np.asarray(beats, float))
    out["err_ms"] = 1000 * float(np.median(err)) if len(err) else nan
    out["abs_err_ms"] = 1000 * float(np.median(np.abs(err))) if len(err) else nan
    out["lead_ms"] = 1000 * float(np.median(beat_lead)) if beat_lead is not None and len(beat_lead) else nan
    out["first_beat_s"] = float(beats[0] - item.beats[0]) if len(beats) else nan
    if onsets is not None and item.onsets is not None and len(item.onsets):
        out["onset_f"] = mir_eval.onset.f_measure(item.onsets, np.asarray(onsets, float), window=0.05)[0]
        if onset_detected is not None and len(onset_detected):
            delays = []
            for est_t, det in zip(onsets, onset_detected):
                j = int(np.argmin(np.abs(item.onsets - est_t)))
                if abs(item.onsets[j] - est_t) <= 0.05:
                    delays.append(det - item.onsets[j])
            out["onset_delay_ms"] = 1000 * float(np.median(delays)) if delays else nan
    return out


def run_ours(item: Item, predict: bool) -> tuple[dict[str, float], dict]:
    """Our analysers through the analyze code path."""
    from engine.analysis.analyze import analyze_file
    from engine.analysis.pipeline import AnalysisOptions

    res = analyze_file(item.audio, AnalysisOptions(predict=predict, levels=False), block=512)
    doc = res.to_json()
    beats = np.array([b["time"] for b in doc["beats"]])
    lead = np.array([b["time"] - b["detected_at"] for b in doc["beats"]])
    downs = np.array([b["time"] for b in doc["beats"] if b["position"] == 1])
    mix = [o for o in doc["onsets"] if "label" not in o]
    s = score(item, beats, downs, np.array([o["time"] for o in mix]), lead,
              np.array([o["detected_at"] for o in mix]))
    s["rtf"] = doc["realtime_factor"]
    s["cpu_rtf"] = doc["cpu_realtime_factor"]
    if predict and item.drums_stem is not None and item.drums_stem.is_file():
        # the same onset detector on the isolated drum stem: what it does once separation lands
        import mir_eval

        stem = analyze_file(item.drums_stem, AnalysisOptions(beats=False, levels=False), block=512).to_json()
        est = np.array([o["time"] for o in stem["onsets"] if "label" not in o])
        s["onset_f_stem"] = mir_eval.onset.f_measure(item.onsets, est, window=0.05)[0]
    if item.drum_classes:
        import mir_eval

        for lab, ref in item.drum_classes.items():
            est = np.array([o["time"] for o in doc["onsets"] if o.get("label") == lab])
            s[f"onset_f_{lab}"] = mir_eval.onset.f_measure(ref, est, window=0.05)[0] if len(ref) else float("nan")
    return s, doc


def run_aubio(item: Item) -> dict[str, float] | None:
    """aubio's online beat tracker and onset detector (benchmark-only baseline)."""
    try:
        import aubio
    except ImportError:
        print("aubio baseline skipped: aubio is not installed (pip install aubio; GPL, benchmark only)", file=sys.stderr)
        return None
    from engine.audio.file import load_audio

    x, sr = load_audio(item.audio)
    t0, c0 = time.perf_counter(), time.process_time()
    tempo = aubio.tempo("default", 1024, 512, sr)
    beats, lead = [], []
    for s in range(0, len(x) - 512 + 1, 512):
        if tempo(x[s : s + 512])[0]:
            b = tempo.get_last_s()
            beats.append(b)
            lead.append(b - (s + 512) / sr)
    onset = aubio.onset("default", 1024, 256, sr)
    ons, det = [], []
    for s in range(0, len(x) - 256 + 1, 256):
        if onset(x[s : s + 256])[0]:
            ons.append(onset.get_last_s())
            det.append((s + 256) / sr)
    spent = time.perf_counter() - t0
    out = score(item, np.array(beats), None, np.array(ons), np.array(lead), np.array(det))
    out["rtf"] = len(x) / sr / spent
    out["cpu_rtf"] = len(x) / sr / max(time.process_time() - c0, 1e-9)
    return out


BEATNET_SCRIPT = r"""
import sys, json, types, numpy as np
sys.modules.setdefault("pyaudio", types.ModuleType("pyaudio"))
import soundfile as sf, soxr
from BeatNet.BeatNet import BeatNet
out = {}
for path in sys.argv[1:]:
    # a fresh instance per file: the particle filter keeps its state between calls
    est = BeatNet(1, mode="online", inference_model="PF", plot=[], thread=False)
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    x = soxr.resample(x.mean(1), sr, 22050).astype(np.float32)
    r = est.process(x)
    out[path] = np.asarray(r).tolist()
print("JSON" + json.dumps(out))
"""


def run_beatnet(python: str, items: list[Item], cache: Path) -> dict[str, np.ndarray]:
    """BeatNet's own online pipeline in another interpreter; {audio path: (n, 2) beats}.

    Results are cached in ``cache/beatnet_pf.json`` per file (path, size, mtime): it is slow
    and does not change between runs of our code."""
    store = cache / "beatnet_pf.json"
    known = json.loads(store.read_text()) if store.is_file() else {}

    def key(p: Path) -> str:
        st = p.stat()
        return f"{p}|{st.st_size}|{int(st.st_mtime)}"

    todo = [i for i in items if key(i.audio) not in known]
    if todo:
        proc = subprocess.run([python, "-c", BEATNET_SCRIPT, *[str(i.audio) for i in todo]],
                              capture_output=True, text=True, timeout=3600)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("JSON")), None)
        if line is None:
            print(f"beatnet baseline failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        else:
            got = json.loads(line[4:])
            for i in todo:
                known[key(i.audio)] = got[str(i.audio)]
            cache.mkdir(parents=True, exist_ok=True)
            store.write_text(json.dumps(known))
    return {str(i.audio): np.asarray(known[key(i.audio)], float).reshape(-1, 2)
            for i in items if key(i.audio) in known}


COLUMNS = [("beat_f", "beatF", "{:.3f}"), ("cmlt", "CMLt", "{:.3f}"), ("amlt", "AMLt", "{:.3f}"),
           ("down_f", "downF", "{:.3f}"), ("onset_f", "onsetF", "{:.3f}"), ("onset_f_stem", "onsetF drum stem", "{:.3f}"), ("err_ms", "err ms", "{:+.1f}"),
           ("abs_err_ms", "|err| ms", "{:.1f}"), ("lead_ms", "lead ms", "{:+.1f}"),
           ("onset_delay_ms", "ons.delay ms", "{:.1f}"), ("first_beat_s", "1st beat s", "{:.2f}"),
           ("rtf", "RTF", "{:.0f}x"), ("cpu_rtf", "CPU RTF", "{:.0f}x")]


def _fmt(v: float | None, f: str) -> str:
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f.format(v)


def print_table(rows: list[tuple[str, str, dict[str, float]]]) -> None:
    """A markdown table: one row per (set/file, system)."""
    head = "| file | system | " + " | ".join(c[1] for c in COLUMNS) + " |"
    print(head)
    print("|" + "---|" * (len(COLUMNS) + 2))
    for name, system, s in rows:
        print(f"| {name} | {system} | " + " | ".join(_fmt(s.get(k), f) for k, _, f in COLUMNS) + " |")


def _mean(scores: list[dict[str, float]]) -> dict[str, float]:
    keys = {k for s in scores for k in s}
    out = {}
    for k in keys:
        vals = [s[k] for s in scores if k in s and not np.isnan(s[k])]
        out[k] = float(np.mean(vals)) if vals else float("nan")
    return out


def cost_per_frame(seconds: float = 20.0, rate: int = 44100) -> dict[str, float]:
    """CPU cost of each stage per 20 ms beat frame (ms), on noise, one thread. Process CPU time
    (everything runs in this thread), not wall time: on a shared machine the wall time also
    counts the time spent waiting for a core."""
    from engine.analysis.activations import DEFAULT_MODEL, DEFAULT_MODELS, BeatActivations
    from engine.analysis.frontend import FrontEnd
    from engine.analysis.onsets import OnsetDetector
    from engine.analysis.tracker import BeatTracker
    from engine.audio.block import AudioBlock

    x = (0.1 * np.random.default_rng(0).standard_normal(int(seconds * rate))).astype(np.float32)
    fe = FrontEnd(rate)
    t0 = time.process_time()
    frames = [fe.frames_for(AudioBlock(s, x[s : s + 512], rate)) for s in range(0, len(x), 512)]
    t_fe = time.process_time() - t0
    feats = np.concatenate([f.beat_features for f in frames])
    n = len(feats)

    def timed(model: BeatActivations) -> tuple[np.ndarray, float]:
        # best of three passes (the machine is shared: the minimum is the model's own cost)
        best = np.inf
        for _ in range(3):
            model.reset()
            t0 = time.process_time()
            out = model.run(feats)
            best = min(best, time.process_time() - t0)
        return out, best

    act, t_model = timed(BeatActivations())  # the three models in one graph (the default)
    separate, t_three = timed(BeatActivations(DEFAULT_MODELS))  # the same three, one session each
    _, t_single = timed(BeatActivations(DEFAULT_MODEL))  # one of the three, for the ratio
    diff = float(np.abs(act - separate).max())
    tr = BeatTracker(fe.beat_hop_input)
    t0 = time.process_time()
    for i, (b, d) in enumerate(act):
        tr.step(i, float(b), float(d), int((i + 2) * fe.beat_hop_input))
    t_track = time.process_time() - t0
    fe.reset()
    det = OnsetDetector(fe)
    t0 = time.process_time()
    for s in range(0, len(x), 512):
        det.process(AudioBlock(s, x[s : s + 512], rate))
    t_onset = time.process_time() - t0 - t_fe
    return {"frames": n, "frontend_ms": 1000 * t_fe / n, "model_ms": 1000 * t_model / n,
            "one_model_ms": 1000 * t_single / n, "three_sessions_ms": 1000 * t_three / n, "ensemble_diff": diff,
            "tracker_ms": 1000 * t_track / n, "onsets_ms": 1000 * max(t_onset, 0.0) / n}


def model_lead(rate: int = 44100) -> dict[str, float]:
    """Median (activation peak - drum onset) in ms on synthetic drum loops (96, 120, 137 BPM,
    two seeds; the loops of ``tests/analysis/conftest.py``), per shipped model and for their
    mean: the figure behind ``TrackerOptions.model_lead``."""
    import importlib.util

    from engine.analysis.activations import DEFAULT_MODELS, BeatActivations
    from engine.analysis.frontend import FrontEnd
    from engine.audio.block import AudioBlock

    spec = importlib.util.spec_from_file_location("_drums", REPO / "tests" / "analysis" / "conftest.py")
    if spec is None or spec.loader is None:
        raise SystemExit("tests/analysis/conftest.py (the drum loop generator) is missing")
    drums = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(drums)
    names = [Path(p).stem for p in DEFAULT_MODELS] + ["mean (ensemble)"]
    offsets: dict[str, list[float]] = {n: [] for n in names}
    for bpm in (96, 120, 137):
        for seed in (0, 1):
            x, beats, _ = drums.drum_track(rate, bpm, 16, seed=seed)
            fe = FrontEnd(rate)
            models = [BeatActivations(p) for p in DEFAULT_MODELS]
            idx, acts = [], []
            for s in range(0, len(x), 512):
                fr = fe.frames_for(AudioBlock(s, x[s : s + 512], rate))
                for f, i in zip(fr.beat_features, fr.beat_index):
                    idx.append(i)
                    acts.append([sum(m.step(f)) for m in models])
            a_all = np.array(acts)
            a_all = np.column_stack([a_all, a_all.mean(1)])
            t_act = (fe.origin + np.array(idx) * fe.beat_hop_input) / rate
            step = t_act[1] - t_act[0]
            for col, name in enumerate(names):
                a = a_all[:, col]
                for bt in beats[beats > 3.0]:  # after the lock-in
                    j = int(np.argmin(np.abs(t_act - bt)))
                    lo, hi = max(j - 3, 1), min(j + 4, len(a) - 1)
                    p = lo + int(np.argmax(a[lo:hi]))
                    y0, y1, y2 = a[p - 1], a[p], a[p + 1]
                    den = y0 - 2 * y1 + y2
                    frac = 0.5 * (y0 - y2) / den if den < 0 else 0.0
                    offsets[name].append(t_act[p] + frac * step - bt)
    return {n: 1000 * float(np.median(v)) for n, v in offsets.items()}


def silence_tail(items: list[Item], seconds: float = 10.0) -> list[tuple[str, float, int]]:
    """Each file followed by ``seconds`` of digital silence, through the analyze code path:
    (name, last fired beat − end of the audio in s, beats fired in the silence). The silence
    gate should stop the beats about a second after the music."""
    from engine.analysis.analyze import analyze_samples
    from engine.analysis.pipeline import AnalysisOptions
    from engine.audio.file import load_audio

    out = []
    for item in items:
        x, sr = load_audio(item.audio, mono=True)
        padded = np.concatenate([x, np.zeros(int(seconds * sr), np.float32)])
        res = analyze_samples(padded, sr, AnalysisOptions(onsets=False, levels=False), block=512)
        beats = np.array([e.time for e in res.events if e.name == "beat"], float) / sr
        end = len(x) / sr
        out.append((item.name, float(beats.max() - end) if len(beats) else float("nan"), int(np.sum(beats > end))))
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``beamsync bench beats``."""
    p = argparse.ArgumentParser(prog="beamsync bench beats", description=__doc__.splitlines()[0])
    p.add_argument("--eval", type=Path, default=DEFAULT_EVAL, help="evaluation data folder (../shared/eval)")
    p.add_argument("--midi", type=int, default=5, help="MIDI files to render (0: none)")
    p.add_argument("--midi-seconds", type=float, default=60.0, help="seconds of each MIDI render")
    p.add_argument("--pop909", type=int, default=0,
                   help="also POP909 piano renders (no drums; songs 101, 202, ...; 0: none)")
    p.add_argument("--cache", type=Path, default=Path("/tmp/beamsync-bench-cache"), help="render cache")
    p.add_argument("--beatnet-python", help="Python with BeatNet+madmom+torch for the BeatNet PF baseline")
    p.add_argument("--no-aubio", action="store_true", help="skip the aubio baseline")
    p.add_argument("--per-file", action="store_true", help="print every file, not only set means")
    p.add_argument("--json", type=Path, help="also write all scores here")
    p.add_argument("--cost", action="store_true", help="only measure the CPU cost per 20 ms frame")
    p.add_argument("--tail", type=float, default=0.0,
                   help="only: each real recording followed by this many seconds of silence; when the beats stop")
    p.add_argument("--lead", action="store_true",
                   help="only measure each model's activation peak vs drum onsets on synthetic loops")
    args = p.parse_args(argv)
    if args.cost:
        c = cost_per_frame()
        print(f"CPU time per 20 ms beat frame over {c['frames']} frames (44.1 kHz, 512-frame blocks): front end "
              f"{c['frontend_ms']:.3f} ms (both STFTs + resampler), CRNN ensemble (3 models in one ONNX graph, "
              f"onnxruntime, 1 thread, best of 3 passes) {c['model_ms']:.3f} ms (the three as separate sessions "
              f"{c['three_sessions_ms']:.3f} ms = {c['three_sessions_ms'] / c['model_ms']:.2f}x, max |difference| "
              f"{c['ensemble_diff']:.1e}; one model alone {c['one_model_ms']:.3f} ms), "
              f"tracker {c['tracker_ms']:.3f} ms, onsets {c['onsets_ms']:.3f} ms; total "
              f"{sum(c[k] for k in ('frontend_ms', 'model_ms', 'tracker_ms', 'onsets_ms')):.3f} ms = "
              f"{sum(c[k] for k in ('frontend_ms', 'model_ms', 'tracker_ms', 'onsets_ms')) / 20 * 100:.1f}% of real time")
        return 0
    if args.lead:
        for name, ms in model_lead().items():
            print(f"{name}: activation peak - drum onset, median {ms:+.1f} ms")
        return 0
    if not args.eval.is_dir():
        print(f"no evaluation data at {args.eval}", file=sys.stderr)
        return 2
    if args.tail:
        print(f"| file | last beat after the end of the music (s) | beats fired in {args.tail:g} s of silence |")
        print("|---|---|---|")
        for name, last, n in silence_tail(real_items(args.eval), args.tail):
            print(f"| {name} | {last:+.2f} | {n} |")
        return 0
    items = real_items(args.eval) + (midi_items(args.eval, args.cache, args.midi_seconds, args.midi) if args.midi else [])
    items += pop909_items(args.eval, args.cache, 45.0, args.pop909) if args.pop909 else []
    beatnet = run_beatnet(args.beatnet_python, items, args.cache) if args.beatnet_python else {}
    rows: list[tuple[str, str, dict[str, float]]] = []
    per_system: dict[tuple[str, str], list[dict[str, float]]] = {}
    for item in items:
        results = [("beamsync", run_ours(item, True)[0]), ("beamsync --no-predict", run_ours(item, False)[0])]
        if not args.no_aubio:
            a = run_aubio(item)
            if a is not None:
                results.append(("aubio", a))
        if str(item.audio) in beatnet:
            b = beatnet[str(item.audio)]
            results.append(("BeatNet PF (torch)", score(item, b[:, 0], b[b[:, 1] == 1, 0], None)))
        for system, s in results:
            rows.append((item.name, system, s))
            per_system.setdefault((item.kind, system), []).append(s)
    summary = [(f"mean {kind} ({len(v)})", system, _mean(v)) for (kind, system), v in per_system.items()]
    print_table((rows if args.per_file else []) + sorted(summary, key=lambda r: r[0]))
    drum = [(n, s) for n, sys_, s in rows if sys_ == "beamsync" and "onset_f_kick" in s]
    if drum:
        print("\nonset F per drum class (band proxies vs MDB classes):")
        for n, s in drum:
            print(f"  {n}: kick {s['onset_f_kick']:.3f}  snare {s['onset_f_snare']:.3f}  hihat {s['onset_f_hihat']:.3f}")
    if args.json:
        args.json.write_text(json.dumps([{"file": n, "system": sy, **s} for n, sy, s in rows], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
