"""Procedural multitrack generator for training the beamsync stem separator.

Renders a *pool* of single-stem clips (drums, bass, vocals, other) to a scratch folder; the
trainer then builds mixtures by picking a random crop from each stem pool, augmenting each stem
on its own and summing them, so every training mixture is exactly the sum of its stems.

Sources (all fetched or generated here; nothing from ``../shared/eval/mdb``):

* drums: real one-shot samples from Debian packages (``hydrogen-drumkits``, ``hydrogen-data``,
  ``sonic-pi-samples``, ``lmms-common``) played by genre pattern generators with humanised
  timing/velocity; real breakbeat loops (time-stretched by resampling); General MIDI drum renders
  with FluidSynth through the AVL acoustic kits and three GM soundfonts.
* bass: GM bass programs through FluidSynth; subtractive synth bass and 808-style sub; sampled
  slap and synth bass one-shots re-pitched.
* vocals: vocadito solo singing (pitch-shifted), a formant singing synthesiser with vibrato,
  vowel glides and consonant noise, and GM voice programs.
* other: POP909 piano/bridge/melody MIDI (MIT) and procedural chords/arps through FluidSynth with
  random GM programs; Karoryfer guitar notes (CC0) as strummed chords and riffs with amp
  distortion; lmms instrument one-shots.

Usage (from the repository root)::

    nice -n 19 .venv/bin/python -m models.separation.datagen \
        --out /work/scratch/separation/pool --seed 1 --clips 120

The Debian packages are fetched by ``fetch_packages`` with ``apt-get download`` and unpacked with
``dpkg-deb -x`` into the scratch folder (no installation needed).
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from scipy import signal

SR = 44100
STEMS = ("drums", "bass", "vocals", "other")
REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
TRAIN_AUDIO = SHARED / "train_audio"
DEBIAN_PACKAGES = [
    "hydrogen-drumkits",
    "hydrogen-data",
    "sonic-pi-samples",
    "lmms-common",
    "avldrums.lv2-soundfont",
    "musescore-general-soundfont-small",
    "timgm6mb-soundfont",
]


def fetch_packages(scratch: Path) -> Path:
    """Download and unpack the sample packages into ``scratch/pkgs`` (idempotent)."""
    pkgs = scratch / "pkgs"
    marker = pkgs / ".unpacked"
    if marker.exists():
        return pkgs
    debs = scratch / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", *DEBIAN_PACKAGES], cwd=debs, check=True)
    pkgs.mkdir(parents=True, exist_ok=True)
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(pkgs)], check=True)
    marker.touch()
    return pkgs


# --------------------------------------------------------------------------- sample library


def load_mono(path: str | Path, sr: int = SR) -> np.ndarray:
    """Read any soundfile-readable file as float32 mono at ``sr`` (unreadable: empty)."""
    try:
        x, fs = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError):
        return np.zeros(0, np.float32)
    x = x.mean(axis=1)
    if fs != sr:
        x = soxr.resample(x, fs, sr).astype(np.float32)
    return x


def drum_class(name: str) -> str | None:
    """Map an instrument or file name to kick/snare/hihat/cymbal/tom/perc (None: skip)."""
    n = name.lower().replace("-", " ").replace("_", " ")
    toks = set(re.split(r"[^a-z0-9]+", n))
    if "empty" in n or "fx" in toks or "zap" in n:
        return None
    if "kick" in n or "bassdrum" in n or "bass drum" in n or toks & {"bd", "k", "kd"}:
        return "kick"
    if "drum bass" in n:
        return "kick"
    if "hat" in n or toks & {"hh", "chh", "ohh", "hihat"} or "cymbal closed" in n or "cymbal pedal" in n:
        return "hihat"
    if "snare" in n or "clap" in n or "rim" in n or "stick" in n or toks & {"sn", "sd"}:
        return "snare"
    if any(k in n for k in ("crash", "ride", "china", "splash", "cymbal", "cra ")):
        return "cymbal"
    if "tom" in n:
        return "tom"
    if any(k in n for k in ("shaker", "cowbell", "clave", "tamb", "conga", "bongo", "djembe",
                            "cajon", "maraca", "wood", "snap", "tabla", "block", "sangban",
                            "dununba", "kenkeni", "perc")):
        return "perc"
    return None


@dataclass
class Kit:
    """One drum kit: per class, a list of instruments, each a list of velocity layers."""

    name: str
    parts: dict[str, list[list[np.ndarray]]] = field(default_factory=dict)


def _hydrogen_kits(pkgs: Path) -> list[Kit]:
    kits = []
    for xml in sorted(glob.glob(str(pkgs / "usr/share/hydrogen/data/drumkits/*/drumkit.xml"))):
        kdir = Path(xml).parent
        kit = Kit(kdir.name)
        root = ET.parse(xml).getroot()
        for ins in root.iter():
            if not ins.tag.endswith("instrument"):
                continue
            names = [c.text or "" for c in ins if c.tag.endswith("name")]
            layers = []
            for lay in ins.iter():
                if not lay.tag.endswith("layer"):
                    continue
                fn = [c.text for c in lay if c.tag.endswith("filename")]
                mn = [c.text for c in lay if c.tag.endswith("min")]
                if fn and fn[0]:
                    layers.append((float(mn[0]) if mn else 0.0, fn[0]))
            if not layers:  # older kit format: a bare filename
                layers = [(0.0, c.text) for c in ins if c.tag.endswith("filename") and c.text]
            if not names or not layers:
                continue
            cls = drum_class(names[0]) or drum_class(layers[0][1])
            if cls is None:
                continue
            audio = []
            for _, fn in sorted(layers):
                p = kdir / fn
                if not p.exists():
                    continue
                try:
                    a = load_mono(p)
                except Exception:  # a broken sample is skipped, not fatal
                    continue
                if len(a) > 64 and np.abs(a).max() > 1e-3:
                    audio.append(a[: SR * 3] / (np.abs(a).max() + 1e-9))
            if audio:
                kit.parts.setdefault(cls, []).append(audio)
        if "kick" in kit.parts or "perc" in kit.parts:
            kits.append(kit)
    return kits


def _loose_oneshots(pkgs: Path) -> dict[str, list[np.ndarray]]:
    out: dict[str, list[np.ndarray]] = {}
    files = glob.glob(str(pkgs / "usr/share/sonic-pi/samples/*.flac"))
    files += glob.glob(str(pkgs / "usr/share/lmms/samples/drums/*.ogg"))
    for f in sorted(files):
        stem = Path(f).stem
        if stem.startswith(("loop_", "ambi_", "bass_", "guit_", "vinyl", "misc_", "mehackit",
                            "glitch", "elec_b", "elec_p", "elec_t", "elec_ch", "elec_w",
                            "nasty_bass")):
            continue
        if stem.startswith("drum_cymbal_open") or stem.startswith("drum_cymbal_hard"):
            cls = "cymbal"
        else:
            cls = drum_class(stem.replace("drum_bass", "kick"))
        if cls is None:
            continue
        a = load_mono(f)[: SR * 3]
        if len(a) > 64 and np.abs(a).max() > 1e-3:
            out.setdefault(cls, []).append(a / np.abs(a).max())
    return out


def _loops(pkgs: Path) -> list[np.ndarray]:
    names = ["loop_amen", "loop_amen_full", "loop_breakbeat", "loop_compus", "loop_industrial",
             "loop_mika", "loop_perc1", "loop_perc2", "loop_safari", "loop_tabla"]
    files = [pkgs / f"usr/share/sonic-pi/samples/{n}.flac" for n in names]
    files += [Path(p) for p in glob.glob(str(pkgs / "usr/share/lmms/samples/beats/*.ogg"))]
    loops = [load_mono(f) for f in files if f.exists()]
    return [x for x in loops if len(x) > SR // 2]


NOTE_RE = re.compile(r"_([a-g])(s|#)?(\d)_")
NOTE_BASE = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}


def _guitar_notes() -> list[tuple[int, str, np.ndarray]]:
    out = []
    for f in sorted(glob.glob(str(TRAIN_AUDIO / "guitars_karoryfer/*/*/*.flac"))):
        m = NOTE_RE.search(Path(f).name)
        if not m:
            continue
        midi = 12 * (int(m.group(3)) + 1) + NOTE_BASE[m.group(1)] + (1 if m.group(2) else 0)
        art = Path(f).parent.name
        if art == "rel":  # release noises alone are not notes
            continue
        a = load_mono(f)
        if len(a) > 64:
            out.append((midi, art, a / (np.abs(a).max() + 1e-9)))
    return out


def _pitched_oneshots(pkgs: Path, kind: str) -> list[np.ndarray]:
    if kind == "bass":
        files = glob.glob(str(pkgs / "usr/share/sonic-pi/samples/bass_*.flac"))
        files += glob.glob(str(pkgs / "usr/share/lmms/samples/basses/*.ogg"))
        files += glob.glob(str(pkgs / "usr/share/lmms/samples/instruments/bassslap*.ogg"))
    else:
        files = glob.glob(str(pkgs / "usr/share/lmms/samples/instruments/*.ogg"))
        files = [f for f in files if "bassslap" not in f]
        files += glob.glob(str(pkgs / "usr/share/sonic-pi/samples/guit_*.flac"))
        files += glob.glob(str(pkgs / "usr/share/sonic-pi/samples/ambi_piano.flac"))
    out = []
    for f in sorted(files):
        a = load_mono(f)[: SR * 4]
        if len(a) > 64 and np.abs(a).max() > 1e-3:
            out.append(a / np.abs(a).max())
    return out


class Library:
    """Every real sample the generator plays, loaded once."""

    def __init__(self, pkgs: Path) -> None:
        self.pkgs = pkgs
        self.kits = _hydrogen_kits(pkgs)
        self.loose = _loose_oneshots(pkgs)
        self.loops = _loops(pkgs)
        self.guitar = _guitar_notes()
        self.bass_shots = _pitched_oneshots(pkgs, "bass")
        self.inst_shots = _pitched_oneshots(pkgs, "other")
        self.vocals = [load_mono(f) for f in sorted(glob.glob(str(TRAIN_AUDIO / "vocals_vocadito/*.wav")))]
        choir = pkgs / "usr/share/sonic-pi/samples/ambi_choir.flac"
        self.choir = load_mono(choir) if choir.exists() else None
        sfs = ["/usr/share/sounds/sf2/FluidR3_GM.sf2",
               str(pkgs / "usr/share/sounds/sf2/TimGM6mb.sf2"),
               str(pkgs / "usr/share/sounds/sf3/MuseScore_General_Lite.sf3")]
        self.soundfonts = [s for s in sfs if os.path.exists(s)]
        avl = sorted(glob.glob(str(pkgs / "usr/share/sounds/sf2/*_LV2.sf2")))
        self.drum_soundfonts = avl + self.soundfonts

    def summary(self) -> str:
        kinds = {k: len(v) for k, v in self.loose.items()}
        return (f"{len(self.kits)} kits, loose {kinds}, {len(self.loops)} loops, "
                f"{len(self.guitar)} guitar notes, {len(self.bass_shots)} bass shots, "
                f"{len(self.inst_shots)} instrument shots, {len(self.vocals)} vocal files, "
                f"soundfonts {len(self.soundfonts)}+{len(self.drum_soundfonts)}")


# --------------------------------------------------------------------------- small DSP helpers


def repitch(x: np.ndarray, semitones: float) -> np.ndarray:
    """Shift pitch (and duration) by resampling, like a sampler does."""
    ratio = 2.0 ** (semitones / 12.0)
    if abs(ratio - 1) < 1e-3:
        return x
    return soxr.resample(x, SR, SR / ratio, quality="LQ").astype(np.float32)


def place(out: np.ndarray, x: np.ndarray, pos: int, gain: float) -> None:
    """Add ``x * gain`` into ``out`` at sample ``pos`` (clipped to the buffer)."""
    if pos >= len(out) or pos + len(x) <= 0:
        return
    if pos < 0:
        x, pos = x[-pos:], 0
    n = min(len(x), len(out) - pos)
    out[pos : pos + n] += gain * x[:n]


def biquad(kind: str, f0: float, q: float, gain_db: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """RBJ cookbook biquad coefficients (b, a) at SR."""
    a_ = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * min(f0, SR * 0.45) / SR
    alpha = np.sin(w0) / (2 * q)
    c = np.cos(w0)
    if kind == "peak":
        b = [1 + alpha * a_, -2 * c, 1 - alpha * a_]
        a = [1 + alpha / a_, -2 * c, 1 - alpha / a_]
    elif kind == "lowpass":
        b = [(1 - c) / 2, 1 - c, (1 - c) / 2]
        a = [1 + alpha, -2 * c, 1 - alpha]
    elif kind == "highpass":
        b = [(1 + c) / 2, -(1 + c), (1 + c) / 2]
        a = [1 + alpha, -2 * c, 1 - alpha]
    elif kind == "bandpass":
        b = [alpha, 0, -alpha]
        a = [1 + alpha, -2 * c, 1 - alpha]
    elif kind in ("lowshelf", "highshelf"):
        s = 2 * np.sqrt(a_) * alpha
        if kind == "lowshelf":
            b = [a_ * ((a_ + 1) - (a_ - 1) * c + s), 2 * a_ * ((a_ - 1) - (a_ + 1) * c),
                 a_ * ((a_ + 1) - (a_ - 1) * c - s)]
            a = [(a_ + 1) + (a_ - 1) * c + s, -2 * ((a_ - 1) + (a_ + 1) * c),
                 (a_ + 1) + (a_ - 1) * c - s]
        else:
            b = [a_ * ((a_ + 1) + (a_ - 1) * c + s), -2 * a_ * ((a_ - 1) + (a_ + 1) * c),
                 a_ * ((a_ + 1) + (a_ - 1) * c - s)]
            a = [(a_ + 1) - (a_ - 1) * c + s, 2 * ((a_ - 1) - (a_ + 1) * c),
                 (a_ + 1) - (a_ - 1) * c - s]
    else:
        raise ValueError(kind)
    b, a = np.asarray(b), np.asarray(a)
    return b / a[0], a / a[0]


def random_eq(x: np.ndarray, rng: np.random.Generator, bands: int = 2) -> np.ndarray:
    """A random tilt/peak EQ (what mixing engineers and rooms do to a stem)."""
    y = x
    for _ in range(bands):
        kind = rng.choice(["peak", "lowshelf", "highshelf"])
        f0 = float(np.exp(rng.uniform(np.log(60), np.log(12000))))
        b, a = biquad(kind, f0, rng.uniform(0.4, 2.0), rng.uniform(-9, 9))
        y = signal.lfilter(b, a, y)
    return y.astype(np.float32)


def saturate(x: np.ndarray, drive_db: float) -> np.ndarray:
    """Soft-clip distortion with output level restored."""
    g = 10 ** (drive_db / 20)
    peak = np.abs(x).max() + 1e-9
    y = np.tanh(g * x / peak) / np.tanh(g)
    return (y * peak).astype(np.float32)


def amp_distortion(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Guitar-amp-like chain: pre-EQ, hard drive, cabinet low-pass."""
    b, a = biquad("highpass", rng.uniform(80, 300), 0.7)
    y = signal.lfilter(b, a, x)
    y = saturate(y, rng.uniform(15, 35))
    b, a = biquad("lowpass", rng.uniform(2500, 6000), 0.9)
    y = signal.lfilter(b, a, y)
    b, a = biquad("peak", rng.uniform(600, 2000), 1.0, rng.uniform(-6, 6))
    return signal.lfilter(b, a, y).astype(np.float32)


def compress(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Feed-forward RMS compressor with make-up gain (vectorised, attack≈release)."""
    win = int(SR * rng.uniform(0.005, 0.05))
    env = np.sqrt(signal.lfilter([1.0 / win], [1, -(1 - 1.0 / win)], x.astype(np.float64) ** 2) + 1e-12)
    thr = np.percentile(env, rng.uniform(40, 80)) + 1e-9
    ratio = rng.uniform(2, 8)
    over = np.maximum(env / thr, 1.0)
    g = over ** (1.0 / ratio - 1.0)
    y = x * g
    return (y * (np.abs(x).max() / (np.abs(y).max() + 1e-9))).astype(np.float32)


def reverb_ir(rng: np.random.Generator) -> np.ndarray:
    """Synthetic room: exponentially decaying, low-passed noise with a direct path."""
    t60 = rng.uniform(0.2, 2.0)
    n = int(SR * min(t60, 1.2))
    t = np.arange(n) / SR
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / t60)
    b, a = biquad("lowpass", rng.uniform(3000, 10000), 0.7)
    ir = signal.lfilter(b, a, ir)
    ir[: int(SR * rng.uniform(0.005, 0.03))] = 0
    ir = ir / np.sqrt(np.sum(ir**2)) * rng.uniform(0.1, 0.6)
    ir[0] = 1.0
    return ir.astype(np.float32)


def add_reverb(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    y = signal.fftconvolve(x, reverb_ir(rng))[: len(x)]
    return (y * (np.abs(x).max() / (np.abs(y).max() + 1e-9))).astype(np.float32)


# --------------------------------------------------------------------------- MIDI + FluidSynth


@dataclass
class Note:
    """A note in seconds: start, duration, MIDI pitch, velocity (1..127)."""

    start: float
    dur: float
    pitch: int
    vel: int


@dataclass
class Part:
    """One monophonic-channel part to render: notes and controller events."""

    program: int
    notes: list[Note]
    drums: bool = False
    vibrato: tuple[float, float] | None = None  # (rate Hz, depth semitones) via pitch bend


def render_fluidsynth(parts: list[Part], length: float, soundfont: str, gap: float = 2.0,
                      reverb: bool = True) -> list[np.ndarray]:
    """Render each part as its own segment of one MIDI file in a single FluidSynth run.

    Loading a soundfont dominates short renders, so many parts share one run; a gap of silence
    (with all-notes-off) between segments keeps their tails apart.
    """
    import mido

    tpb = 960
    tempo = 500000  # 120 BPM: 1 s = 2 beats = 1920 ticks
    tps = tpb * 2
    mid = mido.MidiFile(ticks_per_beat=tpb)
    events: list[tuple[int, int, mido.Message]] = []  # (tick, order, msg)
    seg = length + gap
    for i, part in enumerate(parts):
        ch = 9 if part.drums else (i % 15 if i % 15 < 9 else i % 15 + 1)
        t0 = i * seg
        if not part.drums:
            events.append((int(t0 * tps), 0, mido.Message("program_change", channel=ch, program=part.program)))
            events.append((int(t0 * tps), 0, mido.Message("control_change", channel=ch, control=101, value=0)))
            events.append((int(t0 * tps), 0, mido.Message("control_change", channel=ch, control=100, value=0)))
            events.append((int(t0 * tps), 0, mido.Message("control_change", channel=ch, control=6, value=2)))
        else:
            events.append((int(t0 * tps), 0, mido.Message("program_change", channel=ch, program=part.program)))
        for n in part.notes:
            if n.start >= length:
                continue
            s = t0 + n.start
            e = t0 + min(n.start + n.dur, length)
            p = int(np.clip(n.pitch, 0, 127))
            events.append((int(s * tps), 2, mido.Message("note_on", channel=ch, note=p, velocity=int(np.clip(n.vel, 1, 127)))))
            events.append((max(int(e * tps), int(s * tps) + 1), 1, mido.Message("note_off", channel=ch, note=p, velocity=0)))
        if part.vibrato and not part.drums:
            rate, depth = part.vibrato
            for k in range(int(length * 50)):
                t = k / 50
                v = int(8192 + 8191 * np.clip(depth / 2 * np.sin(2 * np.pi * rate * t) * min(1, t % 2), -1, 1))
                events.append((int((t0 + t) * tps), 0, mido.Message("pitchwheel", channel=ch, pitch=v - 8192)))
        end = int((t0 + length + 0.05) * tps)
        events.append((end, 0, mido.Message("control_change", channel=ch, control=123, value=0)))
        events.append((end, 0, mido.Message("pitchwheel", channel=ch, pitch=0)))
    events.sort(key=lambda e: (e[0], e[1]))
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=tempo))
    last = 0
    for tick, _, msg in events:
        track.append(msg.copy(time=tick - last))
        last = tick
    mid.tracks.append(track)
    with tempfile.TemporaryDirectory() as td:
        mpath, wpath = os.path.join(td, "p.mid"), os.path.join(td, "o.wav")
        mid.save(mpath)
        cmd = ["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", str(SR), "-F", wpath, "-T", "wav",
               "-o", "synth.polyphony=128", "-R", "1" if reverb else "0", "-C", "0",
               soundfont, mpath]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        y, fs = sf.read(wpath, dtype="float32", always_2d=True)
    y = y.mean(axis=1)
    n = int(length * SR)
    outs = []
    for i in range(len(parts)):
        s = int(i * seg * SR)
        clip = np.zeros(n, np.float32)
        c = y[s : s + n]
        clip[: len(c)] = c
        outs.append(clip)
    return outs


# --------------------------------------------------------------------------- musical content

GENRES = ("house", "techno", "hiphop", "rock", "dnb", "pop", "reggae", "funk", "halftime", "shuffle")
GENRE_TEMPO = {"house": (118, 130), "techno": (125, 145), "hiphop": (70, 100), "rock": (90, 160),
               "dnb": (160, 180), "pop": (90, 130), "reggae": (70, 95), "funk": (90, 120),
               "halftime": (130, 175), "shuffle": (80, 140)}


def drum_pattern(genre: str, rng: np.random.Generator) -> dict[str, list[tuple[int, float]]]:
    """One bar on a 16-step grid: per class, (step, velocity 0..1) hits."""
    p: dict[str, list[tuple[int, float]]] = {"kick": [], "snare": [], "hihat": [], "hihat_open": [], "perc": []}
    hat_div = rng.choice([2, 4]) if genre not in ("funk", "dnb") else rng.choice([1, 2])
    if genre in ("house", "techno"):
        p["kick"] = [(s, 1.0) for s in (0, 4, 8, 12)]
        p["snare"] = [(4, 0.9), (12, 0.9)] if rng.random() < 0.7 else []
        p["hihat"] = [(s, 0.7) for s in range(2, 16, 4)] if rng.random() < 0.5 else [(s, 0.5 + 0.3 * (s % 4 == 2)) for s in range(16)]
        if rng.random() < 0.5:
            p["hihat_open"] = [(s, 0.7) for s in range(2, 16, 4)]
    elif genre == "hiphop":
        p["kick"] = [(0, 1.0), (7, 0.8), (10, 0.9)] + ([(15, 0.6)] if rng.random() < 0.3 else [])
        p["snare"] = [(4, 1.0), (12, 1.0)]
        p["hihat"] = [(s, 0.6 + 0.2 * (s % 4 == 0)) for s in range(0, 16, hat_div)]
    elif genre in ("rock", "pop"):
        p["kick"] = [(0, 1.0), (8, 0.9)] + ([(10, 0.8)] if rng.random() < 0.5 else []) + ([(6, 0.7)] if rng.random() < 0.3 else [])
        p["snare"] = [(4, 1.0), (12, 1.0)]
        p["hihat"] = [(s, 0.6 + 0.3 * (s % 4 == 0)) for s in range(0, 16, hat_div)]
    elif genre == "dnb":
        p["kick"] = [(0, 1.0), (10, 0.9)]
        p["snare"] = [(4, 1.0), (12, 1.0)] + ([(7, 0.4), (15, 0.4)] if rng.random() < 0.5 else [])
        p["hihat"] = [(s, 0.5 + 0.2 * (s % 2 == 0)) for s in range(0, 16, hat_div)]
    elif genre == "reggae":
        p["kick"] = [(8, 1.0)] + ([(0, 0.8)] if rng.random() < 0.3 else [])
        p["snare"] = [(8, 0.9)]
        p["hihat"] = [(s, 0.6) for s in range(0, 16, 2)]
    elif genre == "funk":
        p["kick"] = [(0, 1.0), (3, 0.7), (6, 0.8), (10, 0.9)]
        p["snare"] = [(4, 1.0), (12, 1.0)] + [(s, 0.25) for s in (7, 9, 14) if rng.random() < 0.5]
        p["hihat"] = [(s, 0.4 + 0.3 * (s % 2 == 0)) for s in range(16)]
    elif genre == "halftime":
        p["kick"] = [(0, 1.0), (3, 0.7)] + ([(11, 0.8)] if rng.random() < 0.5 else [])
        p["snare"] = [(8, 1.0)]
        p["hihat"] = [(s, 0.5 + 0.3 * (s % 4 == 0)) for s in range(0, 16, hat_div)]
    else:  # shuffle: triplet feel approximated by swing later
        p["kick"] = [(0, 1.0), (8, 0.9)]
        p["snare"] = [(4, 1.0), (12, 1.0)]
        p["hihat"] = [(s, 0.6) for s in range(0, 16, 2)]
    # random variations so the net does not learn fixed grooves
    for cls in ("kick", "snare", "hihat", "perc"):
        for s in range(16):
            if rng.random() < {"kick": 0.04, "snare": 0.03, "hihat": 0.05, "perc": 0.08}[cls]:
                p[cls].append((s, rng.uniform(0.3, 0.9)))
    if rng.random() < 0.3:
        p["hihat"] = []  # ride or nothing instead of hats
        p["perc"] += [(s, 0.6) for s in range(0, 16, 2)]
    return p


def chord_progression(rng: np.random.Generator, bars: int) -> tuple[int, list[list[int]]]:
    """A key root (MIDI pitch class + 48) and one triad/seventh per bar."""
    key = int(rng.integers(0, 12))
    minor = rng.random() < 0.4
    scale = [0, 2, 3, 5, 7, 8, 10] if minor else [0, 2, 4, 5, 7, 9, 11]
    degs = rng.choice([[0, 5, 3, 4], [0, 3, 4, 4], [0, 4, 5, 3], [5, 3, 0, 4], [0, 0, 3, 4],
                       [1, 4, 0, 0], [0, 6, 5, 4]])
    chords = []
    for b in range(bars):
        d = int(degs[b % len(degs)])
        n = 3 + int(rng.random() < 0.3)
        chord = [48 + key + scale[(d + 2 * k) % 7] + 12 * ((d + 2 * k) // 7) for k in range(n)]
        chords.append(chord)
    return key, chords


def humanise(t: float, rng: np.random.Generator, ms: float) -> float:
    return t + rng.normal(0, ms / 1000)


class Generator:
    """Renders single-stem clips of ``length`` seconds."""

    def __init__(self, lib: Library, length: float, rng: np.random.Generator) -> None:
        self.lib = lib
        self.length = length
        self.rng = rng

    # ---- timing
    def _grid(self) -> tuple[float, float, str]:
        genre = str(self.rng.choice(GENRES))
        lo, hi = GENRE_TEMPO[genre]
        bpm = float(self.rng.uniform(max(70, lo), min(180, hi)))
        swing = self.rng.uniform(0, 0.3) if genre in ("hiphop", "shuffle", "funk", "reggae") else self.rng.uniform(0, 0.05)
        return bpm, swing, genre

    def _step_time(self, bar: int, step: int, bpm: float, swing: float) -> float:
        sixteenth = 60.0 / bpm / 4
        t = (bar * 16 + step) * sixteenth
        if step % 2 == 1:
            t += swing * sixteenth
        return t

    def drum_hits(self, rng: np.random.Generator) -> list[tuple[float, str, float]]:
        bpm, swing, genre = self._grid()
        bars = int(np.ceil(self.length / (240.0 / bpm))) + 1
        offset = -rng.uniform(0, 240.0 / bpm)
        hits = []
        pat = drum_pattern(genre, rng)
        for bar in range(bars):
            if rng.random() < 0.25:
                pat = drum_pattern(genre, rng)
            fill = rng.random() < 0.15
            for cls, steps in pat.items():
                for s, v in steps:
                    if fill and s >= 8 and cls != "hihat":
                        continue
                    t = humanise(offset + self._step_time(bar, s, bpm, swing), rng, 6)
                    hits.append((t, cls, float(np.clip(v * rng.uniform(0.75, 1.1), 0.05, 1))))
            if fill:
                for s in range(8, 16, int(rng.choice([1, 2]))):
                    hits.append((offset + self._step_time(bar, s, bpm, swing), str(rng.choice(["tom", "snare"])), rng.uniform(0.5, 1)))
            if rng.random() < 0.2:
                hits.append((offset + self._step_time(bar, 0, bpm, swing), "cymbal", rng.uniform(0.6, 1)))
        return hits

    # ---- drums
    def drums_samples(self) -> np.ndarray:
        rng = self.rng
        n = int(self.length * SR)
        out = np.zeros(n, np.float32)
        if rng.random() < 0.7 and self.lib.kits:
            kit = self.lib.kits[int(rng.integers(len(self.lib.kits)))]
            parts = dict(kit.parts)
        else:
            parts = {}
        # fill missing classes from the loose one-shots; sometimes mix kits freely
        for cls, shots in self.lib.loose.items():
            if cls not in parts or rng.random() < 0.2:
                parts[cls] = [[s] for s in shots]
        choice = {cls: parts[cls][int(rng.integers(len(parts[cls])))] for cls in parts}
        if "hihat" in choice and "hihat_open" not in choice:
            choice["hihat_open"] = choice["hihat"]
        tune = {cls: rng.uniform(-2, 2) for cls in choice}
        cache: dict[tuple[str, int], np.ndarray] = {}
        for t, cls, v in self.drum_hits(rng):
            if cls not in choice:
                cls = "snare" if cls == "tom" and "snare" in choice else cls
                if cls not in choice:
                    continue
            layers = choice[cls]
            li = min(int(v * len(layers)), len(layers) - 1)
            key = (cls, li)
            if key not in cache:
                cache[key] = repitch(layers[li], tune[cls])
            place(out, cache[key], int(t * SR), v ** 1.3 * {"hihat": 0.5, "hihat_open": 0.4, "perc": 0.5, "cymbal": 0.5}.get(cls, 1.0))
        return out

    def drums_loop(self) -> np.ndarray:
        rng = self.rng
        loop = self.lib.loops[int(rng.integers(len(self.lib.loops)))]
        loop = repitch(loop, rng.uniform(-4, 4))
        n = int(self.length * SR)
        reps = int(np.ceil((n + len(loop)) / len(loop))) + 1
        y = np.tile(loop, reps)
        s = int(rng.integers(0, len(loop)))
        return y[s : s + n].astype(np.float32)

    def drums_midi_parts(self) -> Part:
        rng = self.rng
        gm = {"kick": [35, 36], "snare": [38, 40, 37, 39], "hihat": [42, 44], "hihat_open": [46],
              "cymbal": [49, 51, 57, 52], "tom": [41, 43, 45, 47, 48, 50], "perc": [54, 56, 69, 70, 75, 63, 64]}
        notes = [Note(max(0.0, t), 0.1, int(rng.choice(gm[c])), int(20 + 107 * v)) for t, c, v in self.drum_hits(rng) if t >= 0]
        return Part(program=int(rng.choice([0, 0, 8, 16, 24, 25, 32, 40])), notes=notes, drums=True)

    # ---- bass
    def bass_line(self) -> list[Note]:
        rng = self.rng
        bpm, swing, genre = self._grid()
        beat = 60 / bpm
        bars = int(np.ceil(self.length / (4 * beat))) + 1
        key, chords = chord_progression(rng, bars)
        style = rng.choice(["roots", "eighths", "octaves", "synco", "walk", "long", "offbeat"])
        base = int(rng.choice([28, 31, 33, 36, 38]))
        notes = []
        for b, ch in enumerate(chords):
            root = base + (ch[0] - base) % 12
            t0 = b * 4 * beat
            if style == "roots":
                pts = [(0, 1), (1, 1), (2, 1), (3, 1)]
            elif style == "eighths":
                pts = [(i / 2, 0.5) for i in range(8)]
            elif style == "octaves":
                pts = [(i / 2, 0.5, 12 * (i % 2)) for i in range(8)]
            elif style == "synco":
                pts = [(0, 0.75), (0.75, 0.75), (1.5, 0.5), (2.5, 0.5), (3, 0.5), (3.5, 0.5)]
            elif style == "walk":
                pts = [(i, 1, int(rng.choice([0, 2, 4, 5, 7, -1, 3]))) for i in range(4)]
            elif style == "offbeat":
                pts = [(i + 0.5, 0.4) for i in range(4)]
            else:
                pts = [(0, 4)]
            for pt in pts:
                st, du = pt[0], pt[1]
                iv = pt[2] if len(pt) > 2 else (0 if rng.random() < 0.8 else int(rng.choice([7, 5, 12, 3])))
                if rng.random() < 0.08:
                    continue
                dur = du * beat * rng.uniform(0.5, 0.98)
                notes.append(Note(humanise(t0 + st * beat, rng, 8), dur, root + iv, int(rng.integers(70, 127))))
        return [n for n in notes if n.start >= 0]

    def bass_synth(self) -> np.ndarray:
        rng = self.rng
        n = int(self.length * SR)
        out = np.zeros(n, np.float32)
        wave = rng.choice(["saw", "square", "sine808", "fm"])
        cutoff = rng.uniform(200, 2500)
        for note in self.bass_line():
            f = 440 * 2 ** ((note.pitch - 69) / 12)
            length = int(note.dur * SR) if wave != "sine808" else int(rng.uniform(0.3, 1.0) * SR)
            t = np.arange(length) / SR
            if wave == "saw":
                ph = (f * t) % 1.0
                x = 2 * ph - 1
            elif wave == "square":
                x = np.sign(np.sin(2 * np.pi * f * t))
            elif wave == "fm":
                x = np.sin(2 * np.pi * f * t + rng.uniform(0.5, 3) * np.exp(-t * 8) * np.sin(2 * np.pi * f * t))
            else:
                fsweep = f * (1 + 2 * np.exp(-t * 40))
                x = np.sin(2 * np.pi * np.cumsum(fsweep) / SR)
            env = np.minimum(1, t / 0.005) * np.exp(-t * rng.uniform(0.5, 6))
            rel = np.minimum(1, (length - np.arange(length)) / (0.01 * SR))
            x = x * env * rel
            if wave in ("saw", "square"):
                b, a = biquad("lowpass", cutoff * (1 + 3 * rng.random()), rng.uniform(0.7, 4))
                x = signal.lfilter(b, a, x)
            place(out, x.astype(np.float32), int(note.start * SR), note.vel / 127)
        return out

    def bass_shots(self) -> np.ndarray:
        rng = self.rng
        n = int(self.length * SR)
        out = np.zeros(n, np.float32)
        shot = self.lib.bass_shots[int(rng.integers(len(self.lib.bass_shots)))]
        cache: dict[int, np.ndarray] = {}
        notes = self.bass_line()
        ref = int(np.median([x.pitch for x in notes])) if notes else 36
        for note in notes:
            st = int(np.clip(note.pitch - ref, -12, 12))
            if st not in cache:
                cache[st] = repitch(shot, st)
            x = cache[st][: int(note.dur * SR) + int(0.02 * SR)].copy()
            x[-int(0.02 * SR):] *= np.linspace(1, 0, int(0.02 * SR))[: len(x[-int(0.02 * SR):])]
            place(out, x, int(note.start * SR), note.vel / 127)
        return out

    def bass_part(self) -> Part:
        prog = int(self.rng.choice([32, 33, 33, 34, 34, 35, 36, 37, 38, 39, 43, 87]))
        return Part(program=prog, notes=self.bass_line())

    # ---- vocals
    def melody(self, lo: int, hi: int) -> list[Note]:
        """A sung-style melody: steps and small leaps, phrases with rests."""
        rng = self.rng
        bpm, _, _ = self._grid()
        beat = 60 / bpm
        t = rng.uniform(0, 1.0)
        key = int(rng.integers(0, 12))
        scale = np.array([0, 2, 4, 5, 7, 9, 11]) if rng.random() < 0.6 else np.array([0, 2, 3, 5, 7, 8, 10])
        pitches = [p for p in range(lo, hi + 1) if (p - key) % 12 in scale]
        idx = len(pitches) // 2
        notes = []
        while t < self.length:
            phrase = int(rng.integers(3, 12))
            for _ in range(phrase):
                dur = beat * float(rng.choice([0.5, 0.5, 1, 1, 1.5, 2, 3]))
                idx = int(np.clip(idx + rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3]), 0, len(pitches) - 1))
                notes.append(Note(t, dur * rng.uniform(0.85, 1.0), pitches[idx], int(rng.integers(60, 120))))
                t += dur
            t += beat * float(rng.choice([0.5, 1, 2, 4]))
        return notes

    def vocal_synth(self) -> np.ndarray:
        """Formant singing: harmonic source at a gliding, vibrato f0 through vowel formants."""
        rng = self.rng
        n = int(self.length * SR)
        female = rng.random() < 0.5
        notes = self.melody(55, 79) if female else self.melody(43, 67)
        ctrl = 64  # control-rate step
        m = n // ctrl + 2
        f0 = np.zeros(m)
        amp = np.zeros(m)
        tc = np.arange(m) * ctrl / SR
        for nt in notes:
            a, b = int(nt.start * SR / ctrl), int((nt.start + nt.dur) * SR / ctrl)
            if a >= m:
                break
            b = min(b, m)
            f0[a:b] = 440 * 2 ** ((nt.pitch - 69) / 12)
            seg = np.arange(b - a) * ctrl / SR
            att = np.minimum(1, seg / rng.uniform(0.02, 0.1))
            rel = np.minimum(1, (seg[-1] - seg + 1e-3) / 0.05) if len(seg) else seg
            amp[a:b] = att * rel * (nt.vel / 127)
        # glide (portamento) between notes and fill gaps with the previous pitch
        last = 200.0
        for i in range(m):
            if f0[i] == 0:
                f0[i] = last
            last = f0[i]
        f0 = signal.lfilter([0.15], [1, -0.85], f0, zi=[f0[0] * 0.85])[0]
        vib_rate = rng.uniform(4.5, 6.5)
        vib_depth = rng.uniform(0.1, 0.6)  # semitones
        onset_delay = np.minimum(1, np.maximum(0, (tc % 2) - 0.2))
        f0 = f0 * 2 ** (vib_depth / 12 * np.sin(2 * np.pi * vib_rate * tc) * onset_delay)
        f0 *= 2 ** (rng.normal(0, 0.05, m) / 12)  # jitter
        # vowel formants (F1..F4, Hz) by gender, interpolated over time
        vowels_m = [(730, 1090, 2440, 3400), (530, 1840, 2480, 3500), (270, 2290, 3010, 3600),
                    (570, 840, 2410, 3400), (300, 870, 2240, 3300), (660, 1720, 2410, 3450)]
        scale_f = 1.17 if female else 1.0
        k = int(self.length * rng.uniform(1, 4)) + 2
        vt = np.sort(rng.uniform(0, self.length, k))
        vidx = rng.integers(0, len(vowels_m), k)
        forms = np.array([[np.interp(tc, vt, [vowels_m[v][j] * scale_f for v in vidx])] for j in range(4)])[:, 0]
        bws = np.array([80, 100, 140, 200])[:, None] * rng.uniform(0.8, 1.5)
        nh = int(min(60, 16000 / 100))
        h = np.arange(1, nh + 1)[:, None]
        fh = h * f0[None, :]
        tilt = h.astype(float) ** -rng.uniform(0.8, 1.4)
        env = np.zeros_like(fh)
        for j in range(4):
            env += (1.0 / (j + 1)) / (1 + ((fh - forms[j][None, :]) / bws[j]) ** 2)
        harm_amp = tilt * env * (fh < SR * 0.45)
        # upsample to audio rate
        ts = np.arange(n) / SR
        f0s = np.interp(ts, tc, f0)
        phase = 2 * np.pi * np.cumsum(f0s) / SR
        y = np.zeros(n)
        for i in range(nh):
            ai = np.interp(ts, tc, harm_amp[i] * amp)
            if ai.max() < 1e-4:
                continue
            y += ai * np.sin((i + 1) * phase)
        # breath noise and consonant bursts at note onsets
        noise = rng.standard_normal(n) * np.interp(ts, tc, amp) * rng.uniform(0.005, 0.03)
        for nt in notes:
            if rng.random() < 0.5:
                s = int(nt.start * SR)
                ln = int(rng.uniform(0.02, 0.08) * SR)
                if s + ln < n:
                    noise[s : s + ln] += rng.standard_normal(ln) * rng.uniform(0.05, 0.3) * np.hanning(ln)
        b, a = biquad("highpass", rng.uniform(2000, 5000), 0.7)
        y = y + signal.lfilter(b, a, noise)
        return (y / (np.abs(y).max() + 1e-9)).astype(np.float32)

    def vocal_real(self) -> np.ndarray:
        rng = self.rng
        n = int(self.length * SR)
        src = self.lib.vocals[int(rng.integers(len(self.lib.vocals)))]
        x = repitch(src, rng.uniform(-5, 5))
        out = np.zeros(n, np.float32)
        pos = 0
        while pos < n:
            ln = int(rng.uniform(1.0, 4.0) * SR)
            s = int(rng.integers(0, max(1, len(x) - ln)))
            seg = x[s : s + ln].copy()
            fade = min(len(seg) // 2, 2000)
            if fade:
                seg[:fade] *= np.linspace(0, 1, fade)
                seg[-fade:] *= np.linspace(1, 0, fade)
            place(out, seg, pos, 1.0)
            pos += len(seg) + int(rng.uniform(0, 0.8) * SR)
        return out

    def vocal_part(self) -> Part:
        rng = self.rng
        female = rng.random() < 0.5
        notes = self.melody(55, 79) if female else self.melody(43, 67)
        return Part(program=int(rng.choice([52, 53, 54, 85, 52, 53])), notes=notes,
                    vibrato=(rng.uniform(4.5, 6.5), rng.uniform(0.2, 0.6)))

    # ---- other
    def chord_parts(self) -> list[Note]:
        rng = self.rng
        bpm, swing, genre = self._grid()
        beat = 60 / bpm
        bars = int(np.ceil(self.length / (4 * beat))) + 1
        _, chords = chord_progression(rng, bars)
        style = rng.choice(["block", "stabs", "arp", "strum", "offbeat"])
        shift = int(rng.choice([-12, 0, 0, 12]))
        notes = []
        for b, ch in enumerate(chords):
            t0 = b * 4 * beat
            ch = [p + shift for p in ch]
            if style == "block":
                for p in ch:
                    notes.append(Note(humanise(t0, rng, 5), 4 * beat * 0.95, p, int(rng.integers(50, 100))))
            elif style == "stabs" or style == "offbeat":
                for i in range(8):
                    if (style == "offbeat" and i % 2 == 0) or (style == "stabs" and rng.random() < 0.5):
                        continue
                    for p in ch:
                        notes.append(Note(t0 + i * beat / 2, beat * 0.3, p, int(rng.integers(60, 110))))
            elif style == "arp":
                seq = ch + [ch[0] + 12]
                for i in range(16):
                    notes.append(Note(t0 + i * beat / 4, beat / 4 * 0.9, seq[i % len(seq)], int(rng.integers(60, 110))))
            else:
                for i in range(4):
                    for j, p in enumerate(ch):
                        notes.append(Note(t0 + i * beat + j * 0.015, beat * 0.9, p, int(rng.integers(50, 110))))
        return [n for n in notes if n.start >= 0]

    OTHER_PROGRAMS = [0, 1, 2, 4, 5, 6, 7, 8, 11, 12, 16, 17, 18, 19, 24, 25, 26, 27, 28, 29, 30,
                      31, 40, 41, 42, 44, 45, 46, 48, 49, 50, 51, 56, 57, 60, 61, 62, 64, 65, 66,
                      68, 71, 73, 80, 81, 82, 84, 88, 89, 90, 91, 92, 94, 95, 99, 104, 105]

    def other_part(self, pop909: list[str]) -> Part:
        rng = self.rng
        prog = int(rng.choice(self.OTHER_PROGRAMS))
        if pop909 and rng.random() < 0.6:
            notes = pop909_notes(pop909[int(rng.integers(len(pop909)))], self.length, rng)
            if notes:
                return Part(program=prog, notes=notes)
        if rng.random() < 0.3:
            return Part(program=prog, notes=self.melody(60, 84))
        return Part(program=prog, notes=self.chord_parts())

    def guitar(self) -> np.ndarray:
        rng = self.rng
        n = int(self.length * SR)
        out = np.zeros(n, np.float32)
        notes = self.chord_parts() if rng.random() < 0.6 else self.melody(45, 76)
        arts = sorted({a for _, a, _ in self.lib.guitar})
        art = str(rng.choice(arts))
        pool = [(p, a) for p, ar, a in self.lib.guitar if ar == art] or [(p, a) for p, _, a in self.lib.guitar]
        pitches = np.array([p for p, _ in pool])
        for nt in notes:
            i = int(np.argmin(np.abs(pitches - nt.pitch)))
            p, a = pool[i]
            x = repitch(a, nt.pitch - p) if nt.pitch != p else a
            ln = min(len(x), int((nt.dur + 0.05) * SR))
            x = x[:ln].copy()
            f = min(ln, int(0.03 * SR))
            x[-f:] *= np.linspace(1, 0, f)
            place(out, x, int(nt.start * SR), nt.vel / 127)
        if rng.random() < 0.55:
            out = amp_distortion(out, rng)
        return out

    def inst_shots(self) -> np.ndarray:
        rng = self.rng
        n = int(self.length * SR)
        out = np.zeros(n, np.float32)
        shot = self.lib.inst_shots[int(rng.integers(len(self.lib.inst_shots)))]
        notes = self.chord_parts()
        ref = int(np.median([x.pitch for x in notes])) if notes else 60
        cache: dict[int, np.ndarray] = {}
        for nt in notes:
            st = int(np.clip(nt.pitch - ref, -12, 12))
            if st not in cache:
                cache[st] = repitch(shot, st)
            x = cache[st][: int((nt.dur + 0.05) * SR)].copy()
            f = min(len(x), int(0.03 * SR))
            x[-f:] *= np.linspace(1, 0, f)
            place(out, x, int(nt.start * SR), nt.vel / 127)
        return out


def pop909_notes(path: str, length: float, rng: np.random.Generator) -> list[Note]:
    """Notes of one POP909 track (melody, bridge or piano) from a random start, in seconds."""
    import mido

    try:
        mid = mido.MidiFile(path)
    except Exception:
        return []
    tracks = [t for t in mid.tracks if t.name in ("MELODY", "BRIDGE", "PIANO")]
    if not tracks:
        return []
    tr = tracks[int(rng.integers(len(tracks)))]
    tempo = 500000
    for msg in mid.tracks[0]:
        if msg.type == "set_tempo":
            tempo = msg.tempo
            break
    stretch = rng.uniform(0.7, 1.4)
    sec_per_tick = tempo / 1e6 / mid.ticks_per_beat * stretch
    t = 0
    on: dict[int, tuple[float, int]] = {}
    notes = []
    for msg in tr:
        t += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            on[msg.note] = (t * sec_per_tick, msg.velocity)
        elif msg.type in ("note_off", "note_on") and msg.note in on:
            s, v = on.pop(msg.note)
            notes.append(Note(s, t * sec_per_tick - s, msg.note, v))
    if not notes:
        return []
    total = max(n.start + n.dur for n in notes)
    s0 = rng.uniform(0, max(0.0, total - length))
    shift = int(rng.integers(-5, 6))
    return [Note(n.start - s0, n.dur, n.pitch + shift, n.vel) for n in notes if s0 <= n.start < s0 + length]


# --------------------------------------------------------------------------- pool writer


def render_batch(gen: Generator, lib: Library, pop909: list[str], batch: int) -> dict[str, list[np.ndarray]]:
    """Render ``batch`` clips per stem (FluidSynth parts share one run per soundfont)."""
    rng = gen.rng
    out: dict[str, list[np.ndarray]] = {s: [] for s in STEMS}
    sf_main = lib.soundfonts[int(rng.integers(len(lib.soundfonts)))]
    sf_drum = lib.drum_soundfonts[int(rng.integers(len(lib.drum_soundfonts)))]
    midi_parts: list[tuple[str, Part]] = []
    drum_parts: list[Part] = []
    for _ in range(batch):
        r = rng.random()
        if r < 0.55:
            out["drums"].append(gen.drums_samples())
        elif r < 0.75:
            out["drums"].append(gen.drums_loop())
        else:
            drum_parts.append(gen.drums_midi_parts())
        r = rng.random()
        if r < 0.5:
            midi_parts.append(("bass", gen.bass_part()))
        elif r < 0.8:
            out["bass"].append(gen.bass_synth())
        else:
            out["bass"].append(gen.bass_shots())
        r = rng.random()
        if r < 0.35:
            out["vocals"].append(gen.vocal_real())
        elif r < 0.75:
            out["vocals"].append(gen.vocal_synth())
        else:
            midi_parts.append(("vocals", gen.vocal_part()))
        # "other" holds one to three instruments
        k = int(rng.integers(1, 4))
        acc = np.zeros(int(gen.length * SR), np.float32)
        pending = 0
        for _ in range(k):
            r = rng.random()
            if r < 0.3:
                acc += gen.guitar() * rng.uniform(0.4, 1.0)
            elif r < 0.4:
                acc += gen.inst_shots() * rng.uniform(0.4, 1.0)
            else:
                pending += 1
        midi_parts.append(("other:%d" % pending, Part(program=0, notes=[])))
        out.setdefault("_other_acc", []).append(acc)  # type: ignore[arg-type]
        for _ in range(pending):
            midi_parts.append(("otherpart", gen.other_part(pop909)))
    # render FluidSynth material
    real_parts = [p for tag, p in midi_parts if tag in ("bass", "vocals", "otherpart")]
    rendered = render_fluidsynth(real_parts, gen.length, sf_main, reverb=rng.random() < 0.6) if real_parts else []
    it = iter(rendered)
    accs = iter(out.pop("_other_acc"))  # type: ignore[arg-type]
    i = 0
    while i < len(midi_parts):
        tag, _ = midi_parts[i]
        if tag in ("bass", "vocals"):
            out[tag].append(next(it))
            i += 1
        elif tag.startswith("other:"):
            pending = int(tag.split(":")[1])
            acc = next(accs).copy()
            for j in range(pending):
                acc += next(it) * rng.uniform(0.4, 1.0)
            out["other"].append(acc)
            i += 1 + pending
        else:
            raise AssertionError(tag)
    if drum_parts:
        out["drums"] += render_fluidsynth(drum_parts, gen.length, sf_drum, reverb=rng.random() < 0.5)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("/work/scratch/separation/pool"))
    ap.add_argument("--scratch", type=Path, default=Path("/work/scratch/separation"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--clips", type=int, default=120, help="clips per stem to add")
    ap.add_argument("--length", type=float, default=8.0, help="clip length in seconds")
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args(argv)
    pkgs = fetch_packages(args.scratch)
    lib = Library(pkgs)
    print(lib.summary(), flush=True)
    pop909 = sorted(glob.glob(str(SHARED / "eval/midi/pop909/*/*.mid")))
    rng = np.random.default_rng(args.seed)
    gen = Generator(lib, args.length, rng)
    for s in STEMS:
        (args.out / s).mkdir(parents=True, exist_ok=True)
    made = 0
    while made < args.clips:
        batch = render_batch(gen, lib, pop909, args.batch)
        for stem, clips in batch.items():
            for c in clips:
                c = np.nan_to_num(c)
                peak = np.abs(c).max()
                if peak < 1e-4:
                    continue
                c = c / peak * 0.5
                name = f"s{args.seed}_{made:05d}_{rng.integers(1 << 30):08x}.npy"
                np.save(args.out / stem / name, c.astype(np.float16))
        made += args.batch
        print(f"{made}/{args.clips} clips per stem", flush=True)


if __name__ == "__main__":
    main()
