"""``beamsync check`` and ``beamsync schema``, the shipped schema, and the example shows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from engine.cli import main
from engine.show.schema import show_json_schema, show_json_schema_text

from .conftest import REPO, SHOWS

EXAMPLES = sorted(SHOWS.glob("*.yaml"))


def test_the_five_example_shows_exist():
    assert {p.stem for p in EXAMPLES} == {"club-edm", "rock-band", "ambient", "pixel-bar", "starter", "harmony"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_beamsync_check_accepts_every_example(path: Path, capsys):
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{path}: ok: ")


@pytest.mark.parametrize("path", [*EXAMPLES, *sorted((SHOWS / "rigs").glob("*.yaml"))], ids=lambda p: p.stem)
def test_examples_carry_the_modeline_and_pass_the_json_schema(path: Path):
    first = path.read_text().splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    target = (path.parent / first.split("$schema=", 1)[1]).resolve()
    assert target == (SHOWS / "show.schema.json").resolve()
    data = YAML(typ="safe", pure=True).load(path.read_text())
    errors = sorted(jsonschema.Draft7Validator(show_json_schema()).iter_errors(data), key=str)
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def test_check_prints_every_problem_and_exits_1(tmp_path: Path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("settings:\n  master: 3\nlooks:\n  a:\n    - {group: all, intensty: 1}\n")
    assert main(["check", str(bad)]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"{bad}:2:11: error at settings.master: expected a number from 0 to 1, found a number (3)",
        f"{bad}:5:20: error at looks.a[0].intensty: unknown key 'intensty' (did you mean 'intensity'?)",
    ]
    assert captured.err.strip() == f"{bad}: 2 errors"


def test_check_reports_warnings_but_exits_0(tmp_path: Path, capsys):
    show = tmp_path / "s.yaml"
    show.write_text("signals:\n  v: level.vocals * 2\n")
    assert main(["check", "--features", "level,beat", str(show)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (f"{show}:2:6: warning at signals.v: feature 'level.vocals' is not produced by the current "
                      "analysis; this stays idle until it is")
    assert out[1].endswith(", 1 warnings")


def test_check_runs_as_a_command(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: 3\n")
    r = subprocess.run([sys.executable, "-m", "engine.cli", "check", str(bad)], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stdout == f"{bad}:1:8: error at rules: expected a list, found a number (3)\n"


def test_schema_command_prints_the_shipped_schema(capsys):
    assert main(["schema"]) == 0
    printed = capsys.readouterr().out
    assert printed == show_json_schema_text()
    schema = json.loads(printed)
    shipped = json.loads((SHOWS / "show.schema.json").read_text())
    # The show's own sections must match exactly; outputs/fixtures/groups come from the output
    # and fixture modules, which may refine their schemas independently.
    delegated = {"outputs", "fixtures", "patch", "groups"}
    stale = "shows/show.schema.json is stale: regenerate with `beamsync schema -o shows/show.schema.json`"
    assert set(shipped["properties"]) == set(schema["properties"]), stale
    for key in schema["properties"]:
        if key not in delegated:
            assert shipped["properties"][key] == schema["properties"][key], f"{stale} (section {key})"
    jsonschema.Draft7Validator.check_schema(schema)
    for key in ("outputs", "fixtures", "groups", "palettes", "signals", "looks", "layers", "rules", "cues", "settings", "include"):
        assert key in schema["properties"]


def test_schema_flags_what_the_loader_rejects():
    v = jsonschema.Draft7Validator(show_json_schema())
    assert list(v.iter_errors({"rulez": []}))
    assert list(v.iter_errors({"looks": {"a": [{"group": "x", "intensty": 1}]}}))
    assert list(v.iter_errors({"settings": {"master": 2}}))
    assert list(v.iter_errors({"signals": {"k": {"envelope": "beat", "decay": "2 beets"}}}))
    assert not list(v.iter_errors({"signals": {"k": {"envelope": "beat", "decay": "1/2 beat"}}}))


def test_check_json_output(tmp_path: Path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("signals:\n  s: levl\n")
    assert main(["check", "--json", str(bad)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report == [{"show": str(bad), "ok": False, "problems": [
        {"severity": "error", "file": str(bad), "line": 2, "column": 6, "path": "signals.s",
         "message": "unknown name 'levl' (did you mean 'level'?)"}]}]
