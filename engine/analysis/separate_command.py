"""``beamsync separate AUDIO -o DIR``: write drums/bass/vocals/other stems of a file.

Runs the very same streaming separator the live engine uses (block by block, state carried),
then removes its latency, so ``DIR/<stem>.wav`` are time-aligned with the input, at the input's
sample rate and channel count (masks are estimated on the channel mean and applied to every
channel). With the network, a file at another rate is resampled to the network's rate and the
stems back (soxr, whole file, no added delay); the stems then sum to the input up to that
resampling (content above the network's Nyquist frequency goes to no stem).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from engine.analysis.separation import (
    STEMS,
    SeparationError,
    StftMaskSeparator,
    make_mask_model,
    separate_array,
)


class ProgressBar:
    """A one-line text progress bar on a stream (stderr), redrawn at most 10 times a second."""

    def __init__(self, label: str, stream=None, width: int = 30) -> None:  # noqa: ANN001
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.t0 = time.monotonic()
        self._last = -1.0

    def __call__(self, done: int, total: int, rate: int | None = None) -> None:
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        frac = done / total if total else 1.0
        bar = "#" * int(frac * self.width)
        speed = ""
        if rate and now > self.t0:
            speed = f"  {done / rate / (now - self.t0):.0f}x real time"
        self.stream.write(f"\r{self.label} [{bar:<{self.width}}] {frac * 100:5.1f}%{speed}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def separate_file(audio: str | Path, out_dir: str | Path, kind: str = "auto",
                  model_path: str | Path | None = None, progress: bool = True,
                  threads: int = 1) -> dict:
    """Separate ``audio`` into ``out_dir/<stem>.wav``; returns a summary dict."""
    import soundfile as sf
    import soxr

    from engine.audio.file import load_audio

    x, rate = load_audio(audio, mono=False)  # [n, channels]
    n, channels = x.shape
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SeparationError(f"{out}: cannot create the output folder ({exc.strerror})") from None
    model = make_mask_model(rate, kind, model_path, threads=threads)
    sep = StftMaskSeparator(model, channels)
    work = x if model.sample_rate == rate else soxr.resample(x, rate, model.sample_rate).astype(np.float32)
    bar = ProgressBar(f"separating {Path(audio).name}") if progress else None
    t0 = time.monotonic()
    cpu0 = time.process_time()
    stems = separate_array(sep, work, progress=(lambda d, t: bar(d, t, model.sample_rate)) if bar else None)
    if model.sample_rate != rate:
        back = []
        for s in stems:
            y = soxr.resample(s, model.sample_rate, rate).astype(np.float32)
            y = y[:n] if len(y) >= n else np.concatenate([y, np.zeros((n - len(y), channels), np.float32)])
            back.append(y)
        stems = np.stack(back)
    wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
    written = []
    for name, s in zip(STEMS, stems):
        path = out / f"{name}.wav"
        try:
            sf.write(str(path), s if channels > 1 else s[:, 0], rate, subtype="FLOAT")
        except (OSError, RuntimeError) as exc:
            raise SeparationError(f"{path}: cannot write ({exc})") from None
        written.append(str(path))
    return {"files": written, "seconds": n / rate, "sample_rate": rate, "channels": channels,
            "separator": type(model).__name__, "wall_s": wall, "cpu_s": cpu,
            "latency_samples": sep.latency, "model_rate": model.sample_rate}


def _run(args: argparse.Namespace) -> int:
    info = separate_file(args.audio, args.output, args.separator, args.model, progress=not args.quiet,
                         threads=args.threads)
    speed = info["seconds"] / info["wall_s"] if info["wall_s"] > 0 else float("inf")
    print(f"wrote {', '.join(Path(f).name for f in info['files'])} to {args.output} "
          f"({info['seconds']:.1f} s, {info['channels']} ch, {info['sample_rate']} Hz; "
          f"{info['separator']}, {speed:.0f}x real time)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``separate`` to the CLI."""
    p = sub.add_parser("separate", help="split an audio file into drums, bass, vocals and other",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("audio", help="input audio file (WAV, FLAC, OGG, MP3)")
    p.add_argument("-o", "--output", required=True, help="folder for drums.wav, bass.wav, vocals.wav, other.wav")
    p.add_argument("--separator", choices=["auto", "model", "dsp"], default="auto",
                   help="the trained network, the DSP baseline, or the network when installed (default)")
    p.add_argument("--model", default=None, help="path of another separation .onnx")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime threads (default 1)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)
