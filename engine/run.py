"""``beamsync run``: the main job.

Live input (or a file, or the embedded demo clip when no sound card is present) through the
realtime input path, with live figures. Later stages (analysis, show, outputs) join here.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time

import numpy as np

from engine.audio.errors import AudioError

log = logging.getLogger("beamsync.run")


def _parse_channels(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        chans = [int(x) - 1 for x in text.split(",") if x.strip()]
    except ValueError:
        raise AudioError(f"--channels expects 1-based channel numbers like '1,2', got '{text}'") from None
    if not chans or min(chans) < 0:
        raise AudioError(f"--channels expects 1-based channel numbers like '1,2', got '{text}'")
    return chans


def open_source(args: argparse.Namespace):
    """The audio source the arguments ask for; the demo clip when nothing is asked and no input exists."""
    from engine.audio.filesource import FileSource

    if args.audio:
        return FileSource(args.audio, args.rate, block_size=args.block_size, loop=args.loop), f"file {args.audio}"
    from engine.audio.devices import list_input_devices
    from engine.audio.stream import AudioInput

    if args.input is not None or list_input_devices():
        src = AudioInput(args.input, args.rate or 48000, args.block_size, _parse_channels(args.channels))
        return src, f"input '{src.device.name}' [{src.device.hostapi}]"
    from engine.audio.demo import demo_clip

    clip = demo_clip(args.rate or 48000)
    src = FileSource(samples=clip.samples, sample_rate=clip.sample_rate, block_size=args.block_size, loop=args.loop)
    return src, f"no sound card: playing the built-in demo clip ({clip.bpm:g} BPM, {len(clip.samples) / clip.sample_rate:.0f} s)"


def _db(x: float) -> float:
    return 20 * math.log10(x) if x > 1e-10 else -200.0


def _run(args: argparse.Namespace) -> int:
    source, what = open_source(args)
    tty = sys.stderr.isatty()
    print(f"beamsync: {what}, {source.sample_rate} Hz", file=sys.stderr)
    started = time.monotonic()
    next_report = started + 1.0
    sq_sum = 0.0
    peak = 0.0
    count = 0
    with source:
        while True:
            block = source.read()
            if block is None:
                if source.finished:
                    break
                time.sleep(0.005)
            else:
                x = block.samples
                sq_sum += float(np.dot(x, x))
                peak = max(peak, float(np.max(np.abs(x))))
                count += len(x)
            now = time.monotonic()
            if args.duration and now - started >= args.duration:
                break
            if now >= next_report:
                st = source.stats()
                rms = math.sqrt(sq_sum / count) if count else 0.0
                line = (
                    f"t={now - started:6.1f}s level {_db(rms):6.1f} dBFS peak {_db(peak):6.1f} dBFS | "
                    f"xruns {st.xruns} lost {st.lost_frames} fill {100 * st.buffer_fill:4.1f}%"
                )
                if tty:
                    print("\r" + line, end="", file=sys.stderr, flush=True)
                else:
                    print(line, file=sys.stderr, flush=True)
                sq_sum, peak, count = 0.0, 0.0, 0
                next_report += 1.0
    st = source.stats()
    if tty:
        print(file=sys.stderr)
    print(
        f"beamsync: done after {time.monotonic() - started:.1f} s: {st.frames_read} frames, "
        f"{st.xruns} xruns, {st.lost_frames} frames lost",
        file=sys.stderr,
    )
    return 0


def add_audio_arguments(p: argparse.ArgumentParser) -> None:
    """Input options shared by the commands that read live or file audio."""
    src = p.add_mutually_exclusive_group()
    src.add_argument("--input", "-i", metavar="DEVICE", help="input device: index, name or part of a name")
    src.add_argument("--audio", metavar="FILE", help="play an audio file through the engine in real time")
    p.add_argument("--rate", type=int, choices=[44100, 48000], help="sample rate (default 48000, or the file's)")
    p.add_argument("--block-size", type=int, default=128, help="frames per audio callback (default 128, min 64)")
    p.add_argument("--channels", metavar="LIST", help="1-based input channels mixed to mono, e.g. '1,2'")
    p.add_argument("--loop", action="store_true", help="loop the file or demo clip")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the engine on live input, a file, or the built-in demo")
    p.add_argument("show", nargs="?", help="show file (the bundled demo show when omitted)")
    add_audio_arguments(p)
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--headless", action="store_true", help="no window (the default until the UI lands)")
    p.set_defaults(func=_run)
