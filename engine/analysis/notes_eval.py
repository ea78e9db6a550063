"""Note transcription benchmark (``beamsync bench notes``, ``bench/eval_notes.py``): streaming
Basic Pitch vs the same model offline.

Prints, per file and in total: note precision/recall/F (mir_eval, onset tolerance 50 ms,
offsets ignored) for

* ``stream``: :class:`engine.analysis.notes.NoteTranscriber` fed 1024-frame blocks at the
  file's own rate, exactly as the engine runs it (default hop, then the budget hop);
The Slakh bass stems are transcribed as stem ``"bass"`` (its decoder preset: octave ghosts
removed; ``--no-presets`` turns that off), the piano clip as ``"mix"``.

* ``offline``: the same model over the whole file in windows that overlap by 60 frames, each
  frame taken from the window where it has at least 30 frames (348 ms) of context on both
  sides, decoded by the same :class:`NoteDecoder` (``offline`` with Basic Pitch's minimum note
  length of 12 frames, ``offline-c2`` with the streaming decoder's settings);

the median detection delay (``detected_at`` of a note-on minus its onset, and minus the onset
of the reference note it matched), the CPU time of the streaming run as a percentage of one
core (``time.process_time`` over audio duration; onnxruntime on 1 thread) and the model time
per window.

``--settle`` instead measures how far from a window's right edge the model's frames settle:
for each margin ``m`` the mean and 99th percentile of the largest difference (over the 88
pitches) between the frame computed ``m`` frames before a window's edge and the same frame
computed at a window's centre.

Data: ``../shared/eval/slakh/*/Track*/`` (the Bass stem of each track and its MIDI) and the
madmom test clip ``madmom_testdata/audio/stereo_sample.wav`` (piano, with
``annotations/stereo_sample.notes``). Run from the repository root (``beamsync bench notes``
takes the same options)::

    .venv/bin/python bench/eval_notes.py            # first 60 s of each bass stem
    .venv/bin/python bench/eval_notes.py --seconds 0   # whole files
    .venv/bin/python bench/eval_notes.py --settle
    .venv/bin/python bench/eval_notes.py --harmony   # chords and key from POP909 MIDI notes
    .venv/bin/python bench/eval_notes.py --harmony --audio-songs 4   # ... from FluidSynth renders
    .venv/bin/python bench/eval_notes.py --per-stem --seconds 40   # separated bass stem vs mix
    .venv/bin/python bench/eval_notes.py --costs   # CPU of each model step per window
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]

from engine.analysis.notes import (
    BUDGET_HOP_FRAMES,
    DEFAULT_HOP_FRAMES,
    DEFAULT_MARGIN_FRAMES,
    FRAME_SAMPLES,
    MODEL_RATE,
    WINDOW_FRAMES,
    WINDOW_SAMPLES,
    BasicPitchModel,
    NoteDecoder,
    STEM_PRESETS,
    NoteTranscriber,
)
from engine.audio.block import AudioBlock
from engine.audio.file import load_audio

BLOCK = 1024
OFFLINE_CONTEXT = 30  # frames of context kept on each side of an offline window's core


@dataclass
class Clip:
    """One evaluation item: audio (mono, native rate) and reference notes (onset, offset, MIDI pitch)."""

    name: str
    audio: np.ndarray
    rate: int
    ref: np.ndarray  # (n, 3): onset s, offset s, pitch
    stem: str = "mix"  # which stem the transcriber is told it reads (decoder preset)


@dataclass
class Run:
    """Estimated notes ``(onset s, offset s, pitch)`` with their detection times, and costs."""

    notes: np.ndarray
    detected: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cpu_s: float = 0.0
    windows: int = 0


# ---------------------------------------------------------------------------------- data
def midi_notes(path: Path) -> np.ndarray:
    """Notes of a MIDI file as ``(onset s, offset s, pitch)``, tempo map applied (all tracks, drums excluded)."""
    import mido

    mid = mido.MidiFile(str(path))
    now = 0.0
    sounding: dict[tuple[int, int], list[float]] = {}
    notes: list[tuple[float, float, int]] = []
    for msg in mid:  # merged tracks, ``time`` in seconds
        now += msg.time
        if msg.type not in ("note_on", "note_off") or msg.channel == 9:
            continue
        key = (msg.channel, msg.note)
        if msg.type == "note_on" and msg.velocity > 0:
            sounding.setdefault(key, []).append(now)
        elif sounding.get(key):
            onset = sounding[key].pop(0)
            notes.append((onset, max(now, onset + 0.01), msg.note))
    return np.array(sorted(notes), dtype=np.float64).reshape(-1, 3)


def bass_stems(slakh: Path) -> list[tuple[str, Path, Path]]:
    """``(name, audio, midi)`` of every rendered Bass stem under ``slakh``."""
    from ruamel.yaml import YAML

    found = []
    for track in sorted(slakh.glob("*/Track*")):
        meta = YAML(typ="safe").load((track / "metadata.yaml").read_text())
        for stem, info in sorted(meta.get("stems", {}).items()):
            audio = track / "stems" / f"{stem}.flac"
            midi = track / "MIDI" / f"{stem}.mid"
            if info.get("inst_class") == "Bass" and audio.exists() and midi.exists():
                found.append((f"slakh/{track.name}/{stem}", audio, midi))
    return found


def load_clips(eval_dir: Path, seconds: float) -> list[Clip]:
    """The bass stems (cut to ``seconds`` when > 0) and the madmom piano clip."""
    clips = []
    for name, audio_path, midi_path in bass_stems(eval_dir / "slakh"):
        audio, rate = load_audio(audio_path)
        # Slakh's bass patches sound an octave below their MIDI note numbers (measured: the
        # spectra of Track00001/S03 and Track00049/S00 peak at D2 73.3 Hz and G2 98.2 Hz where
        # the MIDI says D3 and G3), so the reference is transposed down an octave.
        ref = midi_notes(midi_path) - np.array([0.0, 0.0, 12.0])
        if seconds > 0:
            audio = audio[: int(seconds * rate)]
            ref = ref[ref[:, 0] < seconds - 0.05]
        clips.append(Clip(name, audio, rate, ref, "bass"))
    piano = eval_dir / "madmom_testdata"
    wav, ann = piano / "audio" / "stereo_sample.wav", piano / "annotations" / "stereo_sample.notes"
    if wav.exists() and ann.exists():
        audio, rate = load_audio(wav)
        rows = np.loadtxt(ann, comments="#", ndmin=2)
        ref = np.stack([rows[:, 0], rows[:, 0] + rows[:, 2], rows[:, 1]], axis=1)
        clips.append(Clip("madmom/stereo_sample (piano)", audio, rate, ref))
    return clips


# ----------------------------------------------------------------------------- systems
def run_stream(clip: Clip, model: BasicPitchModel, hop_frames: int, **options: object) -> Run:
    """The engine's streaming transcriber over the clip in blocks of :data:`BLOCK` frames."""
    tr = NoteTranscriber(clip.rate, stem=clip.stem, hop_frames=hop_frames, model=model, **options)  # type: ignore[arg-type]
    events = []
    cpu0 = time.process_time()
    for start in range(0, len(clip.audio), BLOCK):
        events += tr.process(AudioBlock(start, clip.audio[start : start + BLOCK], clip.rate))
    cpu = time.process_time() - cpu0
    events += tr.flush(len(clip.audio))
    onsets: dict[tuple[int, int], tuple[int, int]] = {}  # (pitch, onset frame) -> (detected_at, offset)
    for ev in events:
        if ev.name == "note_on":
            onsets[(ev.data["pitch"], ev.time)] = (ev.detected_at, -1)
        elif ev.name == "note_off":
            key = (ev.data["pitch"], ev.data["onset"])
            onsets[key] = (onsets[key][0], ev.time)
    rows, detected = [], []
    for (pitch, onset), (det, off) in sorted(onsets.items(), key=lambda kv: kv[0][1]):
        off = off if off > onset else len(clip.audio)
        rows.append((onset / clip.rate, off / clip.rate, pitch))
        detected.append(det / clip.rate)
    return Run(np.array(rows, dtype=np.float64).reshape(-1, 3), np.array(detected), cpu, tr.windows_run)


def offline_activations(audio22: np.ndarray, model: BasicPitchModel) -> tuple[np.ndarray, np.ndarray]:
    """Note and onset activations over a whole file, each frame from the centre of some window."""
    core = WINDOW_FRAMES - 2 * OFFLINE_CONTEXT
    n_frames = int(np.ceil(len(audio22) / FRAME_SAMPLES))
    padded = np.zeros(OFFLINE_CONTEXT * FRAME_SAMPLES + len(audio22) + WINDOW_SAMPLES, dtype=np.float32)
    padded[OFFLINE_CONTEXT * FRAME_SAMPLES : OFFLINE_CONTEXT * FRAME_SAMPLES + len(audio22)] = audio22
    notes, onsets = [], []
    for first in range(0, n_frames, core):
        # window row OFFLINE_CONTEXT is global frame ``first``
        begin = first * FRAME_SAMPLES
        note, onset = model.run(padded[begin : begin + WINDOW_SAMPLES])
        notes.append(note[OFFLINE_CONTEXT : OFFLINE_CONTEXT + core])
        onsets.append(onset[OFFLINE_CONTEXT : OFFLINE_CONTEXT + core])
    return np.concatenate(notes)[:n_frames], np.concatenate(onsets)[:n_frames]


def decode_offline(note: np.ndarray, onset: np.ndarray, confirm_frames: int, octave_ghost_frames: int) -> np.ndarray:
    """Notes ``(onset s, offset s, pitch)`` from whole-file activations with :class:`NoteDecoder`."""
    dec = NoteDecoder(confirm_frames=confirm_frames, octave_ghost_frames=octave_ghost_frames)
    started, ended = dec.push(note, onset)
    ended += dec.flush()
    sec = FRAME_SAMPLES / MODEL_RATE
    rows = [(n.onset * sec, n.offset * sec, n.pitch) for n in ended]
    return np.array(sorted(rows), dtype=np.float64).reshape(-1, 3)


# ----------------------------------------------------------------------------- scoring
def score(ref: np.ndarray, est: np.ndarray) -> tuple[float, float, float, list[tuple[int, int]]]:
    """Precision, recall, F (onsets within 50 ms, pitch within 50 cents, offsets ignored) and matches."""
    import mir_eval

    def hz(p: np.ndarray) -> np.ndarray:
        return 440.0 * 2.0 ** ((p - 69.0) / 12.0)

    if len(est) == 0 or len(ref) == 0:
        return 0.0, 0.0, 0.0, []
    p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(
        ref[:, :2], hz(ref[:, 2]), est[:, :2], hz(est[:, 2]), onset_tolerance=0.05, offset_ratio=None
    )
    matches = mir_eval.transcription.match_notes(
        ref[:, :2], hz(ref[:, 2]), est[:, :2], hz(est[:, 2]), onset_tolerance=0.05, offset_ratio=None
    )
    return float(p), float(r), float(f), list(matches)


def evaluate(args: argparse.Namespace) -> int:
    eval_dir = Path(args.data)
    if not eval_dir.is_dir():
        print(f"evaluation data not found at {eval_dir}; nothing measured")
        return 1
    clips = load_clips(eval_dir, args.seconds)
    model = BasicPitchModel(threads=1)
    import os

    import soxr

    print(f"model path: {model.mode} (onnxruntime, 1 thread); load average {os.getloadavg()[0]:.2f}")
    options: dict[str, object] = dict(margin_frames=args.margin, confirm_frames=args.confirm)
    if args.no_presets:
        options["octave_ghost_frames"] = 0
    systems = {
        f"stream hop {args.hop}": lambda c: run_stream(c, model, args.hop, **options),
        f"stream hop {BUDGET_HOP_FRAMES} (budget)": lambda c: run_stream(c, model, BUDGET_HOP_FRAMES, **options),
    }
    if args.whole:
        whole = BasicPitchModel(threads=1, split=False)
        systems[f"stream hop {args.hop} whole model"] = lambda c: run_stream(c, whole, args.hop, **options)
    totals: dict[str, list] = {}
    audio_s = 0.0
    print(f"{'file':30s} {'system':24s} {'ref':>5s} {'est':>5s} {'P':>6s} {'R':>6s} {'F':>6s} {'delay':>7s} {'delay/ref':>9s} {'cpu%':>6s} {'ms/win':>7s}")
    for clip in clips:
        dur = len(clip.audio) / clip.rate
        audio_s += dur
        audio22 = soxr.resample(clip.audio, clip.rate, MODEL_RATE).astype(np.float32)
        cpu0 = time.process_time()
        note, onset = offline_activations(audio22, model)
        off_cpu = time.process_time() - cpu0
        ghosts = 0 if args.no_presets else STEM_PRESETS.get(clip.stem, {}).get("octave_ghost_frames", 0)
        results = {
            "offline (min len 12)": Run(decode_offline(note, onset, 12, ghosts), cpu_s=off_cpu),
            f"offline-c{args.confirm}": Run(decode_offline(note, onset, args.confirm, ghosts), cpu_s=off_cpu),
        }
        for name, fn in systems.items():
            results[name] = fn(clip)
        for name, run in results.items():
            p, r, f, matches = score(clip.ref, run.notes)
            delays = run.detected - run.notes[:, 0] if len(run.detected) else np.zeros(0)
            ref_delays = np.array([run.detected[j] - clip.ref[i, 0] for i, j in matches]) if len(run.detected) else np.zeros(0)
            t = totals.setdefault(name, [0, 0, 0, [], [], 0.0, 0])
            t[0] += len(clip.ref)
            t[1] += len(run.notes)
            t[2] += len(matches)
            t[3].extend(delays.tolist())
            t[4].extend(ref_delays.tolist())
            t[5] += run.cpu_s
            t[6] += run.windows
            print(
                f"{clip.name[:30]:30s} {name:24s} {len(clip.ref):5d} {len(run.notes):5d} {p:6.3f} {r:6.3f} {f:6.3f} "
                f"{_ms(delays):>7s} {_ms(ref_delays):>9s} {100 * run.cpu_s / dur:6.1f} "
                f"{(1000 * run.cpu_s / run.windows) if run.windows else float('nan'):7.1f}"
            )
    print(f"\nTOTAL over {len(clips)} files, {audio_s:.1f} s of audio (F from summed counts); "
          f"load average now {os.getloadavg()[0]:.2f}")
    base_f = None
    for name, (n_ref, n_est, n_match, delays, ref_delays, cpu, windows) in totals.items():
        p = n_match / n_est if n_est else 0.0
        r = n_match / n_ref if n_ref else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        if base_f is None:
            base_f = f
        print(
            f"{name:24s} P {p:.3f} R {r:.3f} F {f:.3f} (F - offline {f - base_f:+.3f})  median delay "
            f"{_ms(np.array(delays))} ms (vs matched ref onset {_ms(np.array(ref_delays))} ms)  "
            f"cpu {100 * cpu / audio_s:.1f}% of one core"
            + (f", {1000 * cpu / windows:.1f} ms per window" if windows else "")
        )
    return 0


def _ms(values: np.ndarray) -> str:
    return f"{1000 * float(np.median(values)):.0f}" if len(values) else "-"


def settle(args: argparse.Namespace) -> int:
    """Print how the model's frames change with their distance from the window's right edge."""
    eval_dir = Path(args.data)
    clips = load_clips(eval_dir, 0)
    model = BasicPitchModel(threads=1)
    import soxr

    max_margin, stride = 30, 3
    diffs: dict[int, list[tuple[float, float]]] = {m: [] for m in range(max_margin + 1)}
    for clip in clips:
        start = int(min(30.0, len(clip.audio) / clip.rate / 3) * clip.rate)
        seg = clip.audio[start : start + int(args.settle_seconds * clip.rate)]
        audio22 = soxr.resample(seg, clip.rate, MODEL_RATE).astype(np.float32)
        padded = np.concatenate([np.zeros(WINDOW_SAMPLES, np.float32), audio22, np.zeros(WINDOW_SAMPLES, np.float32)])
        n_frames = len(padded) // FRAME_SAMPLES
        cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

        def window(k: int) -> tuple[np.ndarray, np.ndarray]:
            if k not in cache:
                cache[k] = model.run(padded[k * FRAME_SAMPLES : k * FRAME_SAMPLES + WINDOW_SAMPLES])
            return cache[k]

        centre = WINDOW_FRAMES // 2
        for frame in range(WINDOW_FRAMES, n_frames - WINDOW_FRAMES, stride):
            ref_note, ref_onset = (a[centre] for a in window(frame - centre))
            for m in range(max_margin + 1):
                k = frame - (WINDOW_FRAMES - 1 - m)
                note, onset = (a[WINDOW_FRAMES - 1 - m] for a in window(k))
                diffs[m].append((float(np.abs(note - ref_note).max()), float(np.abs(onset - ref_onset).max())))
        print(f"# {clip.name}: {len(range(WINDOW_FRAMES, n_frames - WINDOW_FRAMES, stride))} frames", file=sys.stderr)
    print("margin  ms      note mean  note p99  onset mean  onset p99   (max |frame at margin - frame at centre| over 88 pitches)")
    for m, rows in diffs.items():
        a = np.array(rows)
        print(
            f"{m:6d} {1000 * m * FRAME_SAMPLES / MODEL_RATE:6.1f}   {a[:, 0].mean():9.4f} {np.percentile(a[:, 0], 99):9.4f}"
            f" {a[:, 1].mean():11.4f} {np.percentile(a[:, 1], 99):10.4f}"
        )
    return 0


PC_SPELLING = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MIREX_SUFFIX = {"maj": "maj", "min": "min", "7": "7", "maj7": "maj7", "min7": "min7", "dim": "dim", "sus4": "sus4"}


def _key_pc(label: str) -> tuple[int, str] | None:
    """``"Gb:maj"`` -> (6, "major"); None for labels without a tonic."""
    import mir_eval

    try:
        root, mode = label.split(":")[:2]
        pc = mir_eval.chord.pitch_class_to_semitone(root)
    except (ValueError, mir_eval.chord.InvalidChordException):
        return None
    return pc % 12, ("minor" if mode.startswith("min") else "major")


def harmony(args: argparse.Namespace) -> int:
    """Chord and key of :class:`HarmonyTracker` fed POP909 MIDI notes, against POP909's labels.

    The notes of every track (melody, bridge, piano) become note events whose ``detected_at``
    lies ``--lag`` seconds after their times (the transcriber's delay); the tracker is updated
    every 10 ms and its current chord sampled then. Chords: mir_eval's duration-weighted root /
    majmin / sevenths accuracy against ``chord_midi.txt``. Key: the fraction of the song's time
    (after the first 10 s) in which the current key equals the annotated key (``key_audio.txt``
    segments; enharmonic spellings equal).
    """
    from engine.analysis.harmony import HarmonyTracker
    from engine.features import FeatureEvent

    songs = sorted(Path(args.data, "midi", "pop909").glob("[0-9][0-9][0-9]"))[: args.songs]
    if not songs:
        print(f"no POP909 songs under {args.data}/midi/pop909; nothing measured")
        return 1
    rate, step = 44100, 441
    totals: dict[str, list[float]] = {"root": [], "majmin": [], "sevenths": [], "key": [], "weight": [], "key_weight": []}
    for lag in args.lag:
        for name in totals:
            totals[name].clear()
        for song in songs:
            notes = midi_notes(song / f"{song.name}.mid")
            ref = [line.split() for line in (song / "chord_midi.txt").read_text().splitlines() if line.strip()]
            ref_iv = np.array([[float(a), float(b)] for a, b, _ in ref])
            ref_lab = [lab for _, _, lab in ref]
            keys = [line.split() for line in (song / "key_audio.txt").read_text().splitlines() if line.strip()]
            evs = []
            for onset, offset, pitch in notes:
                data = {"pitch": int(pitch), "velocity": 0.7, "stem": "mix"}
                evs.append(FeatureEvent("note_on", int(onset * rate), int((onset + lag) * rate), 0.7, data))
                evs.append(FeatureEvent("note_off", int(offset * rate), int((offset + lag) * rate), 0.7, data))
            evs.sort(key=lambda e: e.detected_at)
            tracker = HarmonyTracker(rate)
            end = int(ref_iv[-1, 1] * rate)
            i = 0
            est_lab, key_hits, key_n = [], 0, 0
            for now in range(0, end, step):
                batch = []
                while i < len(evs) and evs[i].detected_at <= now:
                    batch.append(evs[i])
                    i += 1
                tracker.update(batch, now)
                est_lab.append(_chord_label(tracker.chord))
                t = now / rate
                if t >= 10.0:
                    ann = next((_key_pc(lab) for a, b, lab in keys if float(a) <= t < float(b)), None)
                    if ann is not None:
                        key_n += 1
                        k = tracker.key
                        key_hits += int(k is not None and (k.tonic, k.mode) == ann)
            scores = _chord_scores(ref_iv, ref_lab, est_lab, step / rate)
            times = np.arange(len(est_lab) + 1) * step / rate
            weight = float(times[-1])
            for name in ("root", "majmin", "sevenths"):
                totals[name].append(scores[name] * weight)
            totals["weight"].append(weight)
            totals["key"].append(key_hits)
            totals["key_weight"].append(key_n)
        w = sum(totals["weight"])
        print(
            f"POP909 {len(songs)} songs, lag {1000 * lag:.0f} ms: chord root {sum(totals['root']) / w:.3f}  "
            f"majmin {sum(totals['majmin']) / w:.3f}  sevenths {sum(totals['sevenths']) / w:.3f}  "
            f"key agreement {sum(totals['key']) / max(1, sum(totals['key_weight'])):.3f} (time-weighted, after 10 s)"
        )
    return 0


def _chord_label(chord: object) -> str:
    root = getattr(chord, "root")
    return "N" if root is None else f"{PC_SPELLING[root]}:{MIREX_SUFFIX[getattr(chord, 'quality')]}"


def _chord_scores(ref_iv: np.ndarray, ref_lab: list[str], est_lab: list[str], step_s: float) -> dict[str, float]:
    """mir_eval chord scores of labels sampled every ``step_s`` seconds from 0."""
    import mir_eval

    edges = np.arange(len(est_lab) + 1) * step_s
    starts = [0] + [j for j in range(1, len(est_lab)) if est_lab[j] != est_lab[j - 1]]
    est_iv = np.array([[edges[a], edges[b]] for a, b in zip(starts, starts[1:] + [len(est_lab)])])
    ref_iv, ref_lab = mir_eval.util.adjust_intervals(ref_iv, list(ref_lab), 0.0, edges[-1], "N", "N")
    return dict(mir_eval.chord.evaluate(ref_iv, ref_lab, est_iv, [est_lab[a] for a in starts]))


def harmony_audio(args: argparse.Namespace) -> int:
    """End to end on POP909 songs rendered with FluidSynth (General MIDI, FluidR3): the mix-preset
    transcriber and the harmony tracker over the audio; note F against the MIDI notes, chord
    scores against ``chord_midi.txt`` (chord sampled after every 1024-frame block)."""
    import shutil
    import subprocess
    import tempfile

    from engine.analysis.harmony import HarmonyAnalyser, HarmonyTracker

    sf2 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
    if shutil.which("fluidsynth") is None or not sf2.exists():
        print("fluidsynth or /usr/share/sounds/sf2/FluidR3_GM.sf2 missing; nothing measured")
        return 1
    songs = sorted(Path(args.data, "midi", "pop909").glob("[0-9][0-9][0-9]"))[: args.audio_songs]
    model = BasicPitchModel(threads=1)
    counts = [0, 0, 0]
    chord_tot: dict[str, float] = {"root": 0.0, "majmin": 0.0, "sevenths": 0.0}
    total_s = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for song in songs:
            wav = Path(tmp) / f"{song.name}.wav"
            subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", "44100", "-F", str(wav), str(sf2),
                            str(song / f"{song.name}.mid")], check=True, capture_output=True)
            audio, rate = load_audio(wav)
            audio = audio[: int(args.seconds * rate)] if args.seconds > 0 else audio
            dur = len(audio) / rate
            ref = midi_notes(song / f"{song.name}.mid")
            ref = ref[ref[:, 0] < dur - 0.05]
            analyser = HarmonyAnalyser(NoteTranscriber(rate, model=model, octave_ghost_frames=args.ghosts), HarmonyTracker(rate))
            events, labels = [], []
            for start in range(0, len(audio), BLOCK):
                events += analyser.process(AudioBlock(start, audio[start : start + BLOCK], rate))
                labels.append(_chord_label(analyser.tracker.chord))
            events += analyser.flush(len(audio))
            est = np.array(sorted((e.time / rate, e.time / rate + 0.1, e.data["pitch"]) for e in events if e.name == "note_on")).reshape(-1, 3)
            p, r, f, matches = score(ref, est)
            counts[0] += len(ref)
            counts[1] += len(est)
            counts[2] += len(matches)
            rows = [line.split() for line in (song / "chord_midi.txt").read_text().splitlines() if line.strip()]
            rows = [(float(a), float(b), lab) for a, b, lab in rows if float(a) < dur]
            ref_iv = np.array([[a, min(b, dur)] for a, b, _ in rows])
            scores = _chord_scores(ref_iv, [lab for _, _, lab in rows], labels, BLOCK / rate)
            for name in chord_tot:
                chord_tot[name] += scores[name] * dur
            total_s += dur
            print(f"POP909 {song.name} ({dur:.0f} s): notes P {p:.3f} R {r:.3f} F {f:.3f}  chord root {scores['root']:.3f} "
                  f"majmin {scores['majmin']:.3f}")
    n_ref, n_est, n_match = counts
    p, r = n_match / max(1, n_est), n_match / max(1, n_ref)
    print(f"TOTAL {len(songs)} renders, {total_s:.0f} s: notes P {p:.3f} R {r:.3f} F {2 * p * r / max(1e-9, p + r):.3f}  "
          + "  ".join(f"chord {k} {v / total_s:.3f}" for k, v in chord_tot.items()))
    return 0


def per_stem(args: argparse.Namespace) -> int:
    """Bass notes from the separated bass stem (:class:`StemHarmonyAnalyser`) vs from the mix.

    The mix of each Slakh track is the sum of its rendered stems (first ``--seconds``), scaled
    to a peak of 0.7; the reference is the bass MIDI (an octave down, see :func:`load_clips`).
    ``mix``: the mix transcriber's notes up to G3 (MIDI 55, the top of a bass's usual range)
    count as bass notes; ``mix-bass``: a mix transcriber with the bass stem's decoder preset
    (octave ghosts dropped) and pitches up to G3; ``stems``: the bass-stem transcriber's notes
    up to G3. Also printed:
    the CPU of each (one core) and how many notes each stem gave (Slakh has no vocals: the
    "vocals" notes are separation leakage).
    """
    from ruamel.yaml import YAML

    from engine.analysis.harmony import HarmonyAnalyser, HarmonyTracker, StemHarmonyAnalyser

    model = BasicPitchModel(threads=1)
    totals: dict[str, list[float]] = {}
    for track in sorted(Path(args.data, "slakh").glob("*/Track*")):
        meta = YAML(typ="safe").load((track / "metadata.yaml").read_text())
        mix, ref, rate = None, None, 44100
        for stem, info in sorted(meta.get("stems", {}).items()):
            path = track / "stems" / f"{stem}.flac"
            if not path.exists():
                continue
            audio, rate = load_audio(path)
            audio = audio[: int(args.seconds * rate)] if args.seconds > 0 else audio
            mix = audio.copy() if mix is None else mix[: len(audio)] + audio[: len(mix)]
            if info.get("inst_class") == "Bass":
                ref = midi_notes(track / "MIDI" / f"{stem}.mid") - np.array([0.0, 0.0, 12.0])
        if mix is None or ref is None:
            continue
        dur = len(mix) / rate
        ref = ref[ref[:, 0] < dur - 0.05]
        mix = (0.7 * mix / max(1e-9, float(np.abs(mix).max()))).astype(np.float32)
        for name in ("mix", "mix-bass", "stems"):
            if name == "stems":
                analyser: object = StemHarmonyAnalyser(rate, separator=args.separator, model=model)
            else:  # "mix-bass": a second mix transcriber with the bass preset, notes up to G3
                preset = dict(stem="bass", max_pitch=55) if name == "mix-bass" else {}
                analyser = HarmonyAnalyser(NoteTranscriber(rate, model=model, **preset), HarmonyTracker(rate))  # type: ignore[arg-type]
            events = []
            cpu0 = time.process_time()
            for start in range(0, len(mix), BLOCK):
                events += analyser.process(AudioBlock(start, mix[start : start + BLOCK], rate))  # type: ignore[attr-defined]
            cpu = time.process_time() - cpu0
            ons = [e for e in events if e.name == "note_on"]
            bass = [e for e in ons if e.data["pitch"] <= 55 and e.data["stem"] in ("mix", "bass")]
            est = np.array([(e.time / rate, e.time / rate + 0.1, e.data["pitch"]) for e in bass]).reshape(-1, 3)
            p, r, f, matches = score(ref, est)
            per = {s: sum(e.data["stem"] == s for e in ons) for s in ("bass", "vocals", "other")} if name == "stems" else {}
            t = totals.setdefault(name, [0, 0, 0, 0.0, 0.0])
            t[0] += len(ref)
            t[1] += len(est)
            t[2] += len(matches)
            t[3] += cpu
            t[4] += dur
            print(f"{track.name} {name:8s} bass notes P {p:.3f} R {r:.3f} F {f:.3f}  cpu {100 * cpu / dur:.1f}%"
                  + (f"  notes per stem {per}" if per else ""))
    for name, (n_ref, n_est, n_match, cpu, dur) in totals.items():
        p, r = n_match / max(1, n_est), n_match / max(1, n_ref)
        print(f"TOTAL {name:8s} bass notes P {p:.3f} R {r:.3f} F {2 * p * r / max(1e-9, p + r):.3f}  "
              f"cpu {100 * cpu / dur:.1f}% of one core")
    return 0


def costs(args: argparse.Namespace) -> int:
    """CPU per model window of each step, on one core (``time.process_time``, median of 5 runs
    over the same windows): the whole graph, its ONNX front and the incremental numpy front at
    the default hop, and the back on the frames one hop keeps (plus context) and on all 172."""
    import os

    from engine.analysis.notes import TAIL_CONTEXT_FRAMES, CqtFront

    clips = load_clips(Path(args.data), 30.0)
    if not clips:
        print(f"no evaluation audio under {args.data}; nothing measured")
        return 1
    import soxr

    audio = soxr.resample(clips[0].audio, clips[0].rate, MODEL_RATE).astype(np.float32)
    hop = args.hop * FRAME_SAMPLES
    starts = list(range(0, len(audio) - WINDOW_SAMPLES, hop))[:100]
    whole, split = BasicPitchModel(threads=1, split=False), BasicPitchModel(threads=1)
    tail = args.margin + args.hop + TAIL_CONTEXT_FRAMES
    feats = [split._front.run(None, {split._front.get_inputs()[0].name: audio[a : a + WINDOW_SAMPLES][None, :, None]})[0]
             for a in starts[:10]]

    def timed(step: object, n: int) -> float:
        runs = []
        for _ in range(5):
            t0 = time.process_time()
            step()  # type: ignore[operator]
            runs.append((time.process_time() - t0) / n * 1000)
        return float(np.median(runs))

    def incremental() -> None:
        front = split.new_front()
        assert front is not None
        for a in starts:
            CqtFront.normalise(front.update(audio[a : a + WINDOW_SAMPLES], a), tail)

    rows = {
        "whole graph (172 frames)": timed(lambda: [whole.run(audio[a : a + WINDOW_SAMPLES]) for a in starts[:20]], 20),
        "ONNX front (CQT, normalisation)": timed(
            lambda: [split._front.run(None, {split._front.get_inputs()[0].name: audio[a : a + WINDOW_SAMPLES][None, :, None]})
                     for a in starts[:20]], 20),
        f"incremental front, hop {args.hop}": timed(incremental, len(starts)),
        f"back on {tail} frames": timed(lambda: [split._back.run(None, {split._cut: f[:, -tail:]}) for f in feats], len(feats)),
        "back on 172 frames": timed(lambda: [split._back.run(None, {split._cut: f}) for f in feats[:4]], 4),
    }
    print(f"{clips[0].name}, {len(starts)} windows at hop {args.hop}; load average {os.getloadavg()[0]:.2f}")
    for name, ms in rows.items():
        print(f"{name:34s} {ms:7.2f} ms per window  ({100 * ms / (1000 * hop / MODEL_RATE):5.1f}% of a core at this hop)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``beamsync bench notes`` and of this script."""
    ap = argparse.ArgumentParser(prog="beamsync bench notes", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "eval"), help="evaluation data folder")
    ap.add_argument("--seconds", type=float, default=60.0, help="seconds of each bass stem to use (0: whole files)")
    ap.add_argument("--hop", type=int, default=DEFAULT_HOP_FRAMES, help="streaming hop in model frames (11.6 ms)")
    ap.add_argument("--margin", type=int, default=DEFAULT_MARGIN_FRAMES, help="settled-frame margin in model frames")
    ap.add_argument("--confirm", type=int, default=2, help="frames a note must last before its note-on")
    ap.add_argument("--no-presets", action="store_true", help="decode bass stems with the mix settings")
    ap.add_argument("--whole", action="store_true",
                    help="also stream through the whole, unsplit model (every window's 172 frames: the cost before splitting)")
    ap.add_argument("--settle", action="store_true", help="measure frame settling vs distance from the window edge")
    ap.add_argument("--settle-seconds", type=float, default=8.0, help="seconds per file for --settle")
    ap.add_argument("--harmony", action="store_true", help="chord/key accuracy of the harmony tracker on POP909 MIDI")
    ap.add_argument("--songs", type=int, default=40, help="POP909 songs for --harmony")
    ap.add_argument("--audio-songs", type=int, default=0,
                    help="with --harmony: render this many POP909 songs with FluidSynth and run the whole chain on the audio")
    ap.add_argument("--ghosts", type=int, default=None,
                    help="with --audio-songs: octave_ghost_frames for the renders (default: the mix preset, off)")
    ap.add_argument("--lag", type=float, nargs="+", default=[0.0, 0.2], help="note detection delays (s) for --harmony")
    ap.add_argument("--per-stem", action="store_true",
                    help="bass notes from the separated bass stem vs from the mix (Slakh stems summed)")
    ap.add_argument("--separator", default="auto", help="with --per-stem: auto, model or dsp")
    ap.add_argument("--costs", action="store_true", help="CPU per window of each model step (whole, front, back)")
    args = ap.parse_args(argv)
    if args.costs:
        return costs(args)
    if args.per_stem:
        return per_stem(args)
    if args.harmony:
        return harmony(args) if args.audio_songs == 0 else harmony_audio(args)
    return settle(args) if args.settle else evaluate(args)

