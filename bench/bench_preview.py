"""How long ``beamsync render`` takes for a 3-minute song, as a ratio to real time.

The song is the built-in demo clip looped to 180 s (deterministic; no file needed), or any
audio file given with ``--audio``. Prints the wall time of: the engine alone (analysis + show,
recording the timeline), the timeline picture, and the full video render (engine + drawing +
H.264 encoding + audio mux), each with its ratio to real time (below 1 = faster).

    .venv/bin/python bench/bench_preview.py [--show shows/club-edm.yaml] [--size 1280x720] [--fps 30]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--show", default="shows/club-edm.yaml")
    ap.add_argument("--audio", help="audio file (default: the demo clip looped to --seconds)")
    ap.add_argument("--seconds", type=float, default=180.0)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--keep", help="folder to keep the video and timeline in")
    args = ap.parse_args()

    import soundfile as sf

    from engine.audio.demo import demo_clip
    from engine.preview.commands import render_preview
    from engine.preview.frames import parse_size
    from engine.preview.record import load_audio_mono, run_preview
    from engine.preview.timeline import render_timeline
    from engine.show.loader import load_show

    out = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-preview-"))
    out.mkdir(parents=True, exist_ok=True)
    if args.audio:
        audio = Path(args.audio)
    else:
        clip = demo_clip()
        n = int(args.seconds * clip.sample_rate)
        x = np.tile(clip.samples, int(np.ceil(n / len(clip.samples))))[:n]
        audio = out / "demo-loop.wav"
        sf.write(audio, x, clip.sample_rate)
    samples, rate = load_audio_mono(audio)
    seconds = len(samples) / rate
    print(f"machine: {os.cpu_count()} CPUs; audio {audio.name}: {seconds:.1f} s at {rate} Hz; show {args.show}")

    import resource

    def cpu_split() -> tuple[float, float]:
        """CPU seconds of this process, and of its finished children (the ffmpeg encoder)."""
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime

    def cpu() -> float:
        return sum(cpu_split())

    show = load_show(args.show)
    t0, c0 = time.perf_counter(), cpu()
    rec = run_preview(show, samples, rate)
    engine, engine_cpu = time.perf_counter() - t0, cpu() - c0
    t0 = time.perf_counter()
    render_timeline(rec, out / "timeline.png")
    timeline = time.perf_counter() - t0
    print(f"engine alone (analysis + show, {rec.show_frames} show frames): {engine:6.1f} s = {engine / seconds:.3f}x real time"
          f" (CPU {engine_cpu:.1f} s = {engine_cpu / seconds:.3f}x)")
    print(f"timeline picture:                                  {timeline:6.1f} s")

    size = parse_size(args.size)
    c0 = cpu_split()
    summary = render_preview(args.show, audio, video=out / "preview.mp4", size=size, fps=args.fps)
    c1 = cpu_split()
    own_cpu, ffmpeg_cpu = c1[0] - c0[0], c1[1] - c0[1]
    full_cpu = own_cpu + ffmpeg_cpu
    print(f"full video {size[0]}x{size[1]} @ {args.fps:g} fps ({summary.frames} frames, with audio): "
          f"{summary.seconds:6.1f} s = {summary.realtime_ratio:.3f}x real time "
          f"(drawing + encoding ≈ {summary.seconds - engine:.1f} s, {1000 * (summary.seconds - engine) / max(1, summary.frames):.1f} ms/frame)")
    print(f"  CPU: engine + drawing {own_cpu:.1f} s, ffmpeg encoder {ffmpeg_cpu:.1f} s; "
          f"together {full_cpu:.1f} s = {full_cpu / seconds:.3f}x real time; "
          f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"files: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
