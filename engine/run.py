"""``beamsync run``: the main job.

Live input (or a file, or the embedded demo clip when no sound card is present) through the
realtime input path, with live figures. Later stages (analysis, show, outputs) join here.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path


from engine.audio.errors import AudioError
from engine.audio.filesource import FileSource
from engine.resources import resource_path

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


DEMO_SHOW = resource_path("shows", "club-edm.yaml")


def open_source(args: argparse.Namespace, *, shared: bool = False):
    """The audio source the arguments ask for; the demo clip when nothing is asked and no input exists."""
    if args.audio:
        src = FileSource(args.audio, args.rate, block_size=args.block_size, loop=args.loop, shared=shared)
        return src, f"file {args.audio}"
    from engine.audio.process import AudioProcess, probe_input_devices

    if args.input is not None or probe_input_devices():
        # Live input runs in its own supervised process (see engine/audio/process.py).
        src = AudioProcess(args.input, args.rate or 48000, args.block_size, _parse_channels(args.channels))
        src.start()
        return src, f"input {src.device_name}"
    from engine.audio.demo import demo_clip

    clip = demo_clip(args.rate or 48000)
    src = FileSource(samples=clip.samples, sample_rate=clip.sample_rate, block_size=args.block_size, loop=args.loop,
                     shared=shared)
    return src, f"no sound card: playing the built-in demo clip ({clip.bpm:g} BPM, {len(clip.samples) / clip.sample_rate:.0f} s)"


def _status_fields(st: dict, elapsed: float, src_stats) -> str:
    """The status as key=value pairs, one log line (for logs and pipes)."""
    return (
        f"status t={elapsed:.1f} bpm={st['bpm']:.1f} confidence={st['confidence']:.2f} "
        f"beat_in_bar={int(st['beat_in_bar'])} level_db={st['level_db']:.1f} analysis_load={st['analysis_load']:.3f} "
        f"cpu_percent={st['cpu_percent']:.0f} show_fps={st['show_fps']:.1f} show_ms={st['show_cost_ms']:.2f} "
        f"output_fps={st['output_fps']:.1f} packets={int(st['output_packets'])} errors={int(st['output_errors'])} "
        f"xruns={src_stats.xruns} lost={src_stats.lost_frames + int(st['lost_frames'])} "
        f"reload_errors={int(st['show_reload_errors'])}"
    )


def _status_line(st: dict, elapsed: float, src_stats) -> str:
    bpm = f"{st['bpm']:5.1f} BPM ({st['confidence']:.2f}) beat {int(st['beat_in_bar'])}" if st["bpm"] > 0 else "  --- BPM"
    return (
        f"t={elapsed:6.1f}s {bpm} | level {st['level_db']:6.1f} dB | "
        f"analysis {st['analysis_load']:.2f}x rt, cpu {st['cpu_percent']:3.0f}% | "
        f"show {st['show_fps']:5.1f} fps {st['show_cost_ms']:.2f} ms | "
        f"out {st['output_fps']:4.1f} fps {int(st['output_packets'])} pkts {int(st['output_errors'])} err | "
        f"xruns {src_stats.xruns} lost {src_stats.lost_frames + int(st['lost_frames'])}"
    )


def _run(args: argparse.Namespace) -> int:
    from engine.control.controls import configure_logging, start_controls  # [issue 9]
    from engine.errors import BeamsyncError
    from engine.live.engine import LiveEngine

    configure_logging(args)
    show = Path(args.show) if args.show else DEMO_SHOW
    if not show.is_file():
        raise BeamsyncError(f"{show}: show file not found")
    if getattr(args, "auto", False):  # [issue 15, engine/auto] run the show generated from the rig
        from engine.auto.generate import write_auto_show

        show = write_auto_show(show)
    source, what = open_source(args, shared=(args.engine == "process"))
    tty = sys.stderr.isatty()
    print(f"beamsync: {what}, {source.sample_rate} Hz; show {show}", file=sys.stderr)
    flash_limit = args.flash_limit if args.flash_limit is not None else (3.0 if getattr(args, "auto", False) else 0.0)
    engine = LiveEngine(show, source, mode=args.engine, on_audio_loss=args.on_audio_loss, flash_limit=flash_limit,
                        analysis={"notes": bool(args.notes or args.notes_per_stem), "stems": bool(args.stems),
                                  "notes_per_stem": bool(args.notes_per_stem)})
    started = time.monotonic()
    controls = None
    try:
        engine.start()
        started = time.monotonic()
        controls = start_controls(engine, source, args)  # [issue 9] OSC/MIDI/Link, signals, systemd
        if not args.headless:  # [issue 8, engine/ui] the monitor window runs the show when a display exists
            from engine.ui.app import run_window, window_available

            ok, why = window_available()
            if ok:
                return run_window(engine, source, args, label=what, controls=controls)
            print(f"beamsync: no window ({why}); running headless", file=sys.stderr)
        next_report = started + 1.0
        done_sent = False
        while engine.alive:
            time.sleep(0.05)
            for kind, text in engine.poll_messages():
                if kind == "reload":
                    print(f"\nbeamsync: show not reloaded, the last good show keeps running:\n{text}", file=sys.stderr)
                elif kind == "error":
                    print(f"\nbeamsync: error: {text}", file=sys.stderr)
            now = time.monotonic()
            if args.duration and now - started >= args.duration:
                break
            if controls.tick(now):  # SIGTERM/SIGINT: leave the loop so the clean shutdown below runs
                break
            if not done_sent and isinstance(source, FileSource) and source.wait(0):
                engine.producer_done()  # a file that does not loop has ended: drain, then stop
                done_sent = True
            if now >= next_report and not controls.quiet:
                snap, stats = engine.status.snapshot(), source.stats()
                if tty:  # one live line
                    print("\r" + _status_line(snap, now - started, stats), end="", file=sys.stderr, flush=True)
                else:  # structured lines for logs
                    print(_status_fields(snap, now - started, stats), file=sys.stderr, flush=True)
                next_report += 1.0
        engine.stop()
        final = source.stats()
        engine.poll_messages()
    finally:
        if controls is not None:
            controls.stop()
        engine.close()
    if tty:
        print(file=sys.stderr)
    failed = [t for k, t in engine.messages if k == "error"]
    print(
        f"beamsync: done after {time.monotonic() - started:.1f} s: {final.frames_written} frames in, "
        f"{final.xruns} xruns, {final.lost_frames} frames lost",
        file=sys.stderr,
    )
    return 1 if failed else 0


def _loss_action(text: str) -> str:
    if text in ("hold", "blackout") or (text.startswith("look:") and len(text) > 5):
        return text
    raise argparse.ArgumentTypeError(f"expected hold, blackout or look:NAME, got '{text}'")


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
    p.add_argument("--stems", action="store_true",
                   help="separate drums, bass, vocals, other live and publish per-stem features (docs/architecture.md)")
    p.add_argument("--notes", action="store_true",
                   help="transcribe notes and harmony live (Basic Pitch; about 6%% of a core, ~0.2 s behind the music)")
    p.add_argument("--notes-per-stem", action="store_true",
                   help="transcribe the separated bass, vocals and other stems instead of the mix (implies --notes; "
                        "about 23%% of a core)")
    p.add_argument("--flash-limit", type=float, metavar="N",
                   help="photosensitivity guard: at most N full-field flashes per second (default 3 with --auto, off otherwise; 0 = off)")
    p.add_argument("--on-audio-loss", default="hold", metavar="ACTION", type=_loss_action,
                   help="while the input is lost: hold (default), blackout, or look:NAME (a safe look)")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default=argparse.SUPPRESS,
                   help="log verbosity (also accepted before the command)")
    p.add_argument("--headless", action="store_true", help="no window: status lines in the terminal")
    p.add_argument("--auto", action="store_true", help="auto show: generate the looks from the rig alone (see docs/auto.md)")
    p.add_argument("--engine", choices=["process", "thread"], default="process",
                   help="run analysis and show in a separate process (default, see docs/architecture.md) or a thread")
    from engine.control.controls import add_control_arguments

    add_control_arguments(p)
    p.set_defaults(func=_run)
