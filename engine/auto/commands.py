"""``beamsync auto RIG.yaml``: print the roles of a rig and write its auto show.

``--export show.yaml`` writes the generated show (an ordinary show file; ``beamsync check`` it,
edit it, run it); without it the roles and the show are printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.auto.generate import AutoError, AutoOptions, generate_show_text


def parse_roles(items: list[str] | None) -> dict[str, str]:
    """``["washes=back_wash", ...]`` -> ``{"washes": "back_wash"}``."""
    out: dict[str, str] = {}
    for item in items or []:
        group, sep, role = item.partition("=")
        if not sep or not group.strip() or not role.strip():
            raise AutoError(f"--roles expects GROUP=ROLE, got '{item}'")
        out[group.strip()] = role.strip()
    return out


def options_from_args(args: argparse.Namespace) -> AutoOptions:
    """The generator options given on the command line."""
    return AutoOptions(seed=args.seed, phrases_per_look=args.phrases_per_look, flash_limit=args.flash_limit,
                       haze=not args.no_haze)


def add_auto_arguments(p: argparse.ArgumentParser) -> None:
    """Generator options shared by ``auto`` and ``run --auto``."""
    p.add_argument("--seed", type=int, default=0, help="seed of the look order and palettes (default 0)")
    p.add_argument("--roles", action="append", metavar="GROUP=ROLE",
                   help="override a group's role (front_wash, back_wash, mover, spot, pixel, strobe, fx, other)")
    p.add_argument("--phrases-per-look", type=int, default=1, help="hold each base look at most this many phrases")
    p.add_argument("--flash-limit", type=float, default=3.0, help="photosensitivity limit in flashes per second that the generated strobes respect (default 3; "
                        "0 = off, which allows faster strobes in drops)")
    p.add_argument("--no-haze", action="store_true", help="no haze in breakdowns")


def _auto(args: argparse.Namespace) -> int:
    from engine.auto.roles import classify
    from engine.show.loader import ShowErrors

    roles = parse_roles(args.roles)
    text = generate_show_text(args.rig, options_from_args(args), roles=roles)
    try:  # the generated show must load: say so loudly if it does not (a generator bug)
        from engine.auto.generate import load_auto_show

        show = load_auto_show(args.rig, text=text)
    except ShowErrors as exc:
        raise AutoError("the generated show does not load (please report this):\n"
                        + "\n".join(str(e) for e in exc.errors)) from None
    rr = classify(show.patch, roles)
    for g, r in rr.group_roles.items():
        print(f"group {g}: {r}", file=sys.stderr)
    if args.export:
        Path(args.export).write_text(text, encoding="utf-8")
        print(f"beamsync: wrote {args.export} ({len(show.model.looks)} looks, {len(show.model.rules)} rules)",
              file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("auto", help="generate a light show from the rig alone (auto mode)")
    p.add_argument("rig", help="rig file: outputs, fixtures, groups (a full show file works too)")
    p.add_argument("--export", "-o", metavar="FILE", help="write the generated show file here")
    add_auto_arguments(p)
    p.set_defaults(func=_auto)
