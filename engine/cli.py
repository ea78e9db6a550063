"""The ``beamsync`` command line: thin wiring over library objects.

Each subcommand lives in the module that owns its concept and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (called with the parsed
arguments, returning an exit code). Modules are imported when the CLI starts, so keep their
top level light: import heavy dependencies inside the command function.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from engine import __version__
from engine.errors import BeamsyncError

# Modules that add subcommands, in the order their commands are listed in --help.
COMMAND_MODULES = [
    "engine.audio.commands",  # devices
    "engine.run",  # run
    "engine.bench",  # bench
    "engine.analysis.commands",  # analyze
    "engine.show.commands",  # check, schema
    "engine.analysis.separate_command",  # separate
    "engine.fixtures.commands",  # fixtures
    "engine.output.commands",  # outputs
    "engine.control.commands",  # midi
    "engine.auto.commands",  # auto
    "engine.preview.commands",  # render
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="beamsync",
        description="Realtime audio-reactive light-show engine.",
    )
    parser.add_argument("--version", action="version", version=f"beamsync {__version__}")
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="log verbosity (default: warning)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # a command module not written yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        if args.command is None:
            # `beamsync` alone runs the main job (the demo show when there is no input).
            args = parser.parse_args([*(sys.argv[1:] if argv is None else argv), "run"])
        else:
            parser.print_help()
            return 2
    try:
        return int(args.func(args) or 0)
    except BeamsyncError as exc:
        print(f"beamsync: error: {exc}", file=sys.stderr)
        if getattr(exc, "hint", None):
            print(exc.hint, file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
