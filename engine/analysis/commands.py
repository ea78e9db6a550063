"""``beamsync analyze AUDIO --json OUT``: the streaming analysers run over a file."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from engine.errors import BeamsyncError


class AnalyzeError(BeamsyncError):
    """``analyze`` cannot write its output or got a bad option."""


def _progress_bar(stream: TextIO) -> Callable[[float], None]:
    def show(fraction: float) -> None:
        filled = int(round(30 * fraction))
        stream.write(f"\ranalyzing [{'#' * filled}{'.' * (30 - filled)}] {100 * fraction:5.1f}%")
        if fraction >= 1.0:
            stream.write("\n")
        stream.flush()

    return show


def _run(args: argparse.Namespace) -> int:
    from engine.analysis.analyze import analyze_file
    from engine.analysis.pipeline import AnalysisOptions

    if args.block < 16 or args.block > 65536:
        raise AnalyzeError(f"--block {args.block}: expected 16..65536 frames")
    out = None if args.json in (None, "-") else Path(args.json)
    if out is not None and not out.parent.exists():
        raise AnalyzeError(f"--json {out}: folder {out.parent} does not exist")
    opts = AnalysisOptions(predict=not args.no_predict, levels=False, notes=args.notes or args.notes_per_stem,
                           notes_per_stem=args.notes_per_stem)
    show = args.progress or (not args.quiet and sys.stderr.isatty())
    result = analyze_file(args.audio, opts, block=args.block, progress=_progress_bar(sys.stderr) if show else None)
    doc = result.to_json()
    text = json.dumps(doc, indent=1)
    if out is None:
        sys.stdout.write(text + "\n")
    else:
        try:
            tmp = out.with_name(out.name + ".tmp")
            tmp.write_text(text + "\n")
            tmp.replace(out)
        except OSError as exc:
            raise AnalyzeError(f"--json {out}: cannot write ({exc.strerror})") from None
    if args.plot:  # [issue 16, engine/preview] the analysis lanes as a picture
        from engine.preview.plot import plot_analysis

        plot_analysis(doc, args.plot)
    if not args.quiet:
        print(f"{args.audio}: {doc['duration']:.1f} s, {len(doc['beats'])} beats, {len(doc['onsets'])} onsets, "
              f"{doc['realtime_factor']:.0f}x real time", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``analyze``."""
    p = sub.add_parser("analyze", help="analyse an audio file (beats, tempo, onsets, notes) into JSON",
                       description="Run the live engine's streaming analysers over a file, faster than real time.")
    p.add_argument("audio", help="audio file (WAV, FLAC, OGG, MP3)")
    p.add_argument("--json", metavar="OUT", help="write the JSON here ('-' or absent: standard output)")
    p.add_argument("--no-predict", action="store_true", help="report beats when detected, not predicted ahead")
    p.add_argument("--notes", action="store_true", help="transcribe notes (Basic Pitch; about 1/3 of a core per real-time second)")
    p.add_argument("--notes-per-stem", action="store_true",
                   help="transcribe the separated bass, vocals and other stems instead of the mix (implies --notes; "
                        "about 3.4x the CPU of --notes, measured by 'beamsync bench notes --per-stem')")
    p.add_argument("--plot", metavar="PNG", help="also draw the analysis lanes (beats, onsets, sections, notes, tempo) here")
    p.add_argument("--block", type=int, default=512, help="frames per block fed to the analysers (default 512)")
    p.add_argument("--progress", action="store_true", help="show the progress bar even when stderr is not a terminal")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=_run)
