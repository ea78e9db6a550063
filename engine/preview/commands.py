"""``beamsync render SHOW AUDIO -o preview.mp4 [--timeline timeline.png]``: preview without a rig."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from engine.preview import PreviewError


@dataclass
class RenderSummary:
    """What :func:`render_preview` produced and what it cost."""

    video: Path | None
    timeline: Path | None
    frames: int
    fps: float
    size: tuple[int, int]
    start: float
    end: float
    seconds: float  # wall time of the whole render
    engine_seconds: float  # engine run including drawing and encoding of the frames

    @property
    def realtime_ratio(self) -> float:
        """Render wall time per second of audio rendered (below 1 = faster than real time)."""
        return self.seconds / max(1e-9, self.end - self.start)


def render_preview(show_path: str | Path, audio_path: str | Path, *, video: str | Path | None = None,
                   timeline: str | Path | None = None, size: tuple[int, int] = (1280, 720), fps: float = 30.0,
                   start: float = 0.0, duration: float | None = None, timeline_width: int = 1800,
                   view: str = "stage", progress: Callable[[float], None] | None = None) -> RenderSummary:
    """Run the show over the audio (fixed-step, the real engine) and write the video and/or the
    timeline picture. Raises :class:`PreviewError` (or the show's/audio's own errors) for bad input."""
    from engine.preview.frames import FrameRenderer
    from engine.preview.record import StageState, load_audio_mono, run_preview
    from engine.preview.timeline import render_timeline
    from engine.preview.video import VideoWriter
    from engine.show.loader import load_show

    if view not in ("stage", "plan"):
        raise PreviewError(f"--view {view!r}: expected 'stage' (from the audience) or 'plan' (from above)")
    if video is None and timeline is None:
        raise PreviewError("nothing to render: give -o VIDEO and/or --timeline PICTURE")
    for what, p in (("-o", video), ("--timeline", timeline)):
        if p is not None and not Path(p).parent.exists():
            raise PreviewError(f"{what} {p}: folder {Path(p).parent} does not exist")
    if timeline is not None and Path(timeline).suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp"):
        raise PreviewError(f"--timeline {timeline}: expected a .png (or .jpg) file name")
    t_start = time.perf_counter()
    show = load_show(show_path)
    samples, rate = load_audio_mono(audio_path)
    total = len(samples) / rate
    if not 0 <= start < total:
        raise PreviewError(f"--start {start:g} s: {audio_path} is {total:.2f} s long")

    writer = None
    renderer = None
    on_stage = None
    if video is not None:
        renderer = FrameRenderer(show.patch, size, samples=samples, sample_rate=rate, projection=view)
        end = total if duration is None else min(total, start + duration)
        writer = VideoWriter(video, size, fps, audio=audio_path, audio_start=start, audio_duration=end - start)

        def on_stage(state: StageState) -> None:
            writer.write(renderer.render_rgb(state))

    try:
        rec = run_preview(show, samples, rate, start=start, duration=duration, fps=fps if video else None,
                          on_stage=on_stage, progress=progress)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if writer is not None:
        writer.close()
    if timeline is not None:
        name = Path(show_path).name
        render_timeline(rec, timeline, width=timeline_width,
                        title=f"{name} × {Path(audio_path).name}   {rec.start:.1f}–{rec.end:.1f} s")
    return RenderSummary(video=Path(video) if video else None, timeline=Path(timeline) if timeline else None,
                         frames=writer.frames if writer else 0, fps=fps, size=size, start=rec.start, end=rec.end,
                         seconds=time.perf_counter() - t_start, engine_seconds=rec.engine_seconds)


def _progress_bar(stream: TextIO) -> Callable[[float], None]:
    def show(fraction: float) -> None:
        filled = int(round(30 * fraction))
        stream.write(f"\rrendering [{'#' * filled}{'.' * (30 - filled)}] {100 * fraction:5.1f}%")
        if fraction >= 1.0:
            stream.write("\n")
        stream.flush()

    return show


def _run(args: argparse.Namespace) -> int:
    from engine.preview.frames import parse_size

    size = parse_size(args.size)
    if args.fps <= 0 or args.fps > 240:
        raise PreviewError(f"--fps {args.fps:g}: expected 1..240 frames per second")
    if args.start < 0:
        raise PreviewError(f"--start {args.start:g}: must be 0 or more seconds")
    if args.duration is not None and args.duration <= 0:
        raise PreviewError(f"--duration {args.duration:g}: must be more than 0 seconds")
    show_bar = args.progress or (not args.quiet and sys.stderr.isatty())
    summary = render_preview(args.show, args.audio, video=args.output, timeline=args.timeline, size=size,
                             fps=args.fps, start=args.start, duration=args.duration, view=args.view,
                             progress=_progress_bar(sys.stderr) if show_bar else None)
    if not args.quiet:
        wrote = [str(p) for p in (summary.video, summary.timeline) if p is not None]
        span = summary.end - summary.start
        print(f"wrote {', '.join(wrote)}: {span:.1f} s of audio, {summary.frames} frames "
              f"{summary.size[0]}x{summary.size[1]} @ {summary.fps:g} fps in {summary.seconds:.1f} s "
              f"({summary.realtime_ratio:.2f}x real time)", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``render``."""
    p = sub.add_parser(
        "render", help="preview a show against an audio file as a video and/or a timeline picture",
        description="Run the real engine (streaming analysis and show graph, fixed-step) over an audio file, "
                    "faster than real time, and draw the virtual stage frame by frame into an MP4 with the audio, "
                    "and/or one timeline picture of the whole song. No rig, display or system ffmpeg needed.")
    p.add_argument("show", help="show YAML file")
    p.add_argument("audio", help="audio file (WAV, FLAC, OGG, MP3)")
    p.add_argument("-o", "--output", metavar="VIDEO", help="write the video here (.mp4)")
    p.add_argument("--timeline", metavar="PICTURE", help="write the timeline picture here (.png)")
    p.add_argument("--size", default="1280x720", help="video size WIDTHxHEIGHT, even numbers (default 1280x720)")
    p.add_argument("--fps", type=float, default=30.0, help="video frames per second (default 30)")
    p.add_argument("--view", choices=["stage", "plan"], default="stage",
                   help="the stage from the audience (oblique, default) or the plan from above")
    p.add_argument("--start", type=float, default=0.0,
                   help="first second of the preview (the engine still runs from the top of the song)")
    p.add_argument("--duration", type=float, default=None, help="seconds to render (default: to the end)")
    p.add_argument("--progress", action="store_true", help="show the progress bar even when stderr is not a terminal")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=_run)
