"""Evaluate the stem separator: SDR per stem, drum-onset F, CPU cost; model vs DSP baseline.

Run from the repository root::

    .venv/bin/python bench/eval_separation.py            # everything found
    .venv/bin/python bench/eval_separation.py --no-renders --model other.onnx

* Real recordings: ``../shared/eval/mdb/*`` (``mix.flac`` = the sum of ``stems/*.flac``).
  SDR = 10·log10(‖s‖² / ‖s − ŝ‖²) over the whole track, per stem; stems that are silent in a
  track (Zeppelin has no vocals) are skipped. Rows: the network, the DSP baseline, and two
  references: "mix/4" (every stem estimated as a quarter of the mix) and "oracle" (the ideal
  ratio mask with the same causal STFT: the ceiling of any mask this STFT can apply).
* Held-out renders: mixtures built from ``/work/scratch/separation/pool_val`` (generated with
  a seed the trainer never uses), when that folder exists.
* Drum onsets on the real recordings: ``onset`` events with ``stem: drums`` and label
  kick/snare/hihat from :class:`engine.analysis.stems.StemAnalyser` (fed 512-sample blocks)
  against ``drum_onsets_class.txt`` (KD, SD, HH), F-measure with a 50 ms window (mir_eval).
* CPU cost: process time per second of audio of the streaming separator with resynthesis
  (512-sample blocks, one onnxruntime thread) and of the feature analyser; 15 % = the goal.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.analysis.separation import (  # noqa: E402
    DEFAULT_MODEL,
    STEMS,
    DspMaskModel,
    OnnxMaskModel,
    StftMaskSeparator,
    separate_array,
    sqrt_hann,
)

SHARED = ROOT.parent / "shared"
LABELS = {"kick": "KD", "snare": "SD", "hihat": "HH"}


def sdr(ref: np.ndarray, est: np.ndarray) -> float:
    return float(10 * np.log10((np.sum(ref**2) + 1e-12) / (np.sum((ref - est) ** 2) + 1e-12)))


def load_track(d: Path, seconds: float | None) -> tuple[np.ndarray, dict[str, np.ndarray], int]:
    from engine.audio.file import load_audio

    mix, sr = load_audio(d / "mix.flac")
    stems = {s: load_audio(d / "stems" / f"{s}.flac", sr)[0] for s in STEMS}
    n = min([len(mix)] + [len(v) for v in stems.values()])
    if seconds:
        n = min(n, int(seconds * sr))
    return mix[:n], {s: v[:n] for s, v in stems.items()}, sr


def oracle(mix: np.ndarray, stems: dict[str, np.ndarray], n_fft: int, hop: int) -> np.ndarray:
    """Ideal ratio masks (|S|/Σ|S|) through the same causal STFT and overlap-add."""
    class Oracle:
        sample_rate, masks_list = 44100, []

        def __init__(self) -> None:
            self.n_fft, self.hop = n_fft, hop
            win = sqrt_hann(n_fft)
            pad = n_fft - hop
            mags = []
            for s in STEMS:
                x = np.concatenate([np.zeros(pad, np.float32), stems[s]])
                fr = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
                mags.append(np.abs(np.fft.rfft(fr * win, axis=-1)))
            m = np.stack(mags, axis=1)
            self.all = m / (m.sum(axis=1, keepdims=True) + 1e-9)
            self.i = 0

        def reset(self) -> None:
            self.i = 0

        def masks(self, mag: np.ndarray) -> np.ndarray:
            k = len(mag)
            out = np.full((k, len(STEMS), mag.shape[1]), 0.25, np.float32)
            avail = self.all[self.i : self.i + k]
            out[: len(avail)] = avail
            self.i += k
            return out

    return separate_array(StftMaskSeparator(Oracle()), mix)


def drum_onset_f(analyser, mix: np.ndarray, sr: int, ref_file: Path) -> dict[str, float]:  # noqa: ANN001
    import mir_eval

    from engine.audio.block import AudioBlock

    analyser.reset()
    events = []
    for s in range(0, len(mix), 512):
        events += analyser.process(AudioBlock(s, mix[s : s + 512], sr))
    ref = {}
    for line in ref_file.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2:
            ref.setdefault(parts[1], []).append(float(parts[0]))
    end = len(mix) / sr
    out = {}
    for label, code in LABELS.items():
        est = np.array(sorted(e.time / sr for e in events if e.name == "onset"
                              and e.data.get("stem") == "drums" and e.data.get("label") == label))
        r = np.array(sorted(t for t in ref.get(code, []) if t < end))
        if len(r) == 0:
            continue
        f, _, _ = mir_eval.onset.f_measure(r, est, window=0.05)
        out[label] = float(f)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--seconds", type=float, default=None, help="only the first N seconds of each track")
    ap.add_argument("--renders", type=Path, default=Path("/work/scratch/separation/pool_val"))
    ap.add_argument("--no-renders", action="store_true")
    ap.add_argument("--render-count", type=int, default=24)
    args = ap.parse_args(argv)

    from engine.analysis.stems import StemAnalyser, StemOptions

    systems = {}
    if args.model.exists():
        systems["model"] = lambda: OnnxMaskModel(args.model)
    else:
        print(f"(no model at {args.model}: baseline only)")
    systems["dsp"] = lambda: DspMaskModel(44100)

    tracks = sorted(p for p in (SHARED / "eval" / "mdb").glob("*") if (p / "mix.flac").exists())
    rows: dict[str, dict[str, list[float]]] = {k: {s: [] for s in STEMS} for k in [*systems, "mix/4", "oracle"]}
    onset_rows: dict[str, dict[str, list[float]]] = {k: {lab: [] for lab in LABELS} for k in systems}
    print(f"real recordings: {len(tracks)} tracks from {SHARED / 'eval' / 'mdb'}")
    for d in tracks:
        mix, stems, sr = load_track(d, args.seconds)
        line = [f"  {d.name:<22}"]
        for name, mk in systems.items():
            est = separate_array(StftMaskSeparator(mk()), mix)
            for i, s in enumerate(STEMS):
                if np.sum(stems[s] ** 2) > 1e-3:
                    rows[name][s].append(sdr(stems[s], est[i]))
            f = drum_onset_f(StemAnalyser(sr, StemOptions(separator="model" if name == "model" else "dsp",
                                                          model_path=args.model)), mix, sr,
                             d / "drum_onsets_class.txt")
            for lab, v in f.items():
                onset_rows[name][lab].append(v)
            line.append(f"{name}: " + " ".join(f"{s[:3]} {rows[name][s][-1]:5.2f}" for s in STEMS
                                               if np.sum(stems[s] ** 2) > 1e-3)
                        + "  F " + " ".join(f"{lab} {v:.2f}" for lab, v in f.items()))
        ora = oracle(mix, stems, 1024, 256)
        for i, s in enumerate(STEMS):
            if np.sum(stems[s] ** 2) > 1e-3:
                rows["mix/4"][s].append(sdr(stems[s], mix / 4))
                rows["oracle"][s].append(sdr(stems[s], ora[i]))
        print(" | ".join(line), flush=True)

    synth_rows: dict[str, dict[str, list[float]]] = {k: {s: [] for s in STEMS} for k in systems}
    if not args.no_renders and args.renders.exists():
        sys.path.insert(0, str(ROOT))
        from models.separation.train import Pool, make_example

        pool = Pool(args.renders)
        rng = np.random.default_rng(2024)
        for _ in range(args.render_count):
            ex = make_example(pool, 6 * 44100, rng, aug=True)
            mix = ex.sum(0)
            for name, mk in systems.items():
                est = separate_array(StftMaskSeparator(mk()), mix)
                for i, s in enumerate(STEMS):
                    if np.sum(ex[i] ** 2) > 1e-6:
                        synth_rows[name][s].append(sdr(ex[i], est[i]))

    def fmt(vals: list[float]) -> str:
        return f"{np.mean(vals):6.2f}" if vals else "     -"

    print("\nSDR (dB), mean over tracks; 'mean' = mean of the four stem means")
    print(f"{'set':<16}{'system':<8}" + "".join(f"{s:>8}" for s in STEMS) + f"{'mean':>8}")
    for name in [*systems, "mix/4", "oracle"]:
        means = [np.mean(rows[name][s]) for s in STEMS if rows[name][s]]
        print(f"{'mdb (real)':<16}{name:<8}" + "".join(f"{fmt(rows[name][s]):>8}" for s in STEMS)
              + f"{np.mean(means):8.2f}")
    for name in systems:
        if any(synth_rows[name].values()):
            means = [np.mean(synth_rows[name][s]) for s in STEMS if synth_rows[name][s]]
            print(f"{'renders (held)':<16}{name:<8}" + "".join(f"{fmt(synth_rows[name][s]):>8}" for s in STEMS)
                  + f"{np.mean(means):8.2f}")
    print("\ndrum onset F (50 ms), mean over tracks, separated drum stem")
    print(f"{'system':<8}" + "".join(f"{lab:>8}" for lab in LABELS))
    for name in systems:
        print(f"{name:<8}" + "".join(f"{fmt(onset_rows[name][lab]):>8}" for lab in LABELS))

    print("\nCPU cost (process time per second of audio, 44.1 kHz, 512-sample blocks, 1 thread)")
    for name, mk in systems.items():
        seconds = 20.0
        rng = np.random.default_rng(0)
        x = (rng.standard_normal(int(seconds * 44100)) * 0.1).astype(np.float32)
        sep = StftMaskSeparator(mk())
        t = time.process_time()
        for s in range(0, len(x), 512):
            sep.process(x[s : s + 512])
        full = (time.process_time() - t) / seconds
        from engine.audio.block import AudioBlock

        an = StemAnalyser(44100, StemOptions(separator="model" if name == "model" else "dsp", model_path=args.model))
        t = time.process_time()
        for s in range(0, len(x), 512):
            an.process(AudioBlock(s, x[s : s + 512], 44100))
        feat = (time.process_time() - t) / seconds
        print(f"{name:<8} separator+resynthesis {full * 100:5.1f} % of a core   "
              f"stem features {feat * 100:5.1f} % of a core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
