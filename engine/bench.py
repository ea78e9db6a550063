"""``beamsync bench NAME``: benchmarks that print figures and ratios (never pass/fail timing).

Each benchmark is a module with ``main(argv: list[str]) -> int``, registered here by name.
The scripts under ``bench/`` call the same functions.
"""

from __future__ import annotations

import argparse
import importlib

# name -> "module:function"; a module not written yet is reported, not fatal.
BENCHMARKS: dict[str, str] = {
    "audio": "engine.audio.bench:main",
    "latency": "engine.live.bench:main",
    "beats": "engine.analysis.bench:main",
    "show": "engine.show.bench:main",
    "structure": "engine.analysis.structure_eval:main",
    "render": "engine.fixtures.bench:main",
    "output": "engine.output.bench:main",
    "ui": "engine.ui.bench:main",
    "notes": "engine.analysis.notes_eval:main",
    "soak": "engine.live.soak:main",
    "starvation": "engine.live.starvation:main",
}


def _run(args: argparse.Namespace) -> int:
    target = BENCHMARKS[args.name]
    module_name, func_name = target.split(":")
    module = importlib.import_module(module_name)
    return int(getattr(module, func_name)(args.rest) or 0)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run a benchmark and print its figures")
    p.add_argument("name", choices=sorted(BENCHMARKS), help="which benchmark")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="options of that benchmark (see NAME --help)")
    p.set_defaults(func=_run)
