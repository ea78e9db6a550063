"""``beamsync check SHOW.yaml`` and ``beamsync schema``: thin wiring over the show loader."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def _check(args: argparse.Namespace) -> int:
    from engine.show.loader import check_show

    features = None
    if args.features is not None:
        features = [f.strip() for f in args.features.split(",") if f.strip()]
    dirs = [Path(d) for d in args.profiles] if args.profiles else None
    status = 0
    if args.json:
        import json

        report = []
        for path in args.show:
            result = check_show(path, available_features=features, profile_dirs=dirs)
            status = status or (0 if result.ok else 1)
            report.append({"show": str(path), "ok": result.ok,
                           "problems": [problem_json(p) for p in [*result.errors, *result.warnings]]})
        print(json.dumps(report, indent=2))
        return status
    for path in args.show:
        result = check_show(path, available_features=features, profile_dirs=dirs)
        for problem in sorted([*result.errors, *result.warnings],
                              key=lambda e: (e.location.file or "", e.location.line, e.location.column)):
            print(problem)
        if result.ok and result.show is not None:
            show = result.show
            n = show.patch.n_fixtures if show.patch is not None else 0
            m = show.model
            print(f"{path}: ok: '{m.name}', {n} fixtures, {len(m.looks)} looks, {len(m.layers)} layers, "
                  f"{len(m.rules)} rules, {len(m.signals)} signals, {len(show.files) - 1} includes"
                  + (f", {len(result.warnings)} warnings" if result.warnings else ""))
        else:
            status = 1
            print(f"{path}: {len(result.errors)} error{'s' if len(result.errors) != 1 else ''}"
                  + (f", {len(result.warnings)} warnings" if result.warnings else ""), file=sys.stderr)
    return status


def problem_json(problem: Any) -> dict[str, Any]:
    """One error or warning as JSON (for editors and the UI)."""
    from engine.config import format_path

    loc = problem.location
    return {"severity": problem.severity, "file": loc.file, "line": loc.line, "column": loc.column,
            "path": format_path(problem.path), "message": problem.message}


def _schema(args: argparse.Namespace) -> int:
    from engine.show.schema import show_json_schema_text

    text = show_json_schema_text()
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="validate show files: every error and warning with file:line:col")
    p.add_argument("show", nargs="+", help="show file(s)")
    p.add_argument("--features", default=None,
                   help="comma-separated features the analysis produces; others used by the show are warned about")
    p.add_argument("--profiles", action="append", default=None, metavar="DIR",
                   help="extra folder of fixture profiles (repeatable)")
    p.add_argument("--json", action="store_true", help="print the problems as JSON (file, line, column, path, message)")
    p.set_defaults(func=_check)
    s = sub.add_parser("schema", help="print the JSON Schema of the show format")
    s.add_argument("-o", "--output", default=None, help="write to this file instead of stdout")
    s.set_defaults(func=_schema)
