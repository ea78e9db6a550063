"""Fuzzing the show loader beyond tests/show/test_fuzz.py: structure-aware mutations of the
example shows (wrong types, huge numbers, NaN, deep nesting, unicode, long expression chains),
YAML alias bombs, hostile includes and raw bytes. Every input gives a show that renders or
located errors, within the deadline; the regressions below are what this fuzzing found."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.config import MAX_CONFIG_BYTES, ConfigError, load_yaml
from engine.show.expr import MAX_HEIGHT, ExprError, Scope, compile_expr
from engine.show.loader import ShowErrors, load_show

from .conftest import fuzz_settings
from .targets import alias_bomb, make_show


@fuzz_settings(150)
@given(rnd=st.randoms(use_true_random=False))
def test_show_inputs_load_or_fail_with_located_errors(check, rnd) -> None:
    assert check("show", make_show(rnd)) in ("accepted", "refused")


def _errors(path: Path) -> list[ConfigError]:
    with pytest.raises(ShowErrors) as info:
        load_show(path)
    assert info.value.errors
    return info.value.errors


@pytest.mark.parametrize("section", ["palettes", "signals", "looks", "layers", "rules", "cues", "fixtures", "groups",
                                     "outputs", "settings", "nosuch"])
def test_alias_bomb_is_refused_before_anything_expands_it(tmp_path: Path, section: str) -> None:
    # Found by fuzzing: a 9x9 bomb under 'fixtures' was expanded by the patch parser (hung).
    p = tmp_path / "show.yaml"
    p.write_text(alias_bomb(9, 9, section))
    (err,) = _errors(p)
    assert "aliases expand to more than" in err.message
    assert err.location.file == str(p) and err.location.line > 1


def test_alias_bomb_under_a_duplicate_key_is_refused(tmp_path: Path) -> None:
    # Found by fuzzing: ruamel formats the whole (expanded) value into its duplicate-key
    # message, so the bomb must be stopped while composing, before construction.
    p = tmp_path / "show.yaml"
    p.write_text(alias_bomb(12, 12, "looks") + "looks:\n  boom: 1\n")
    t0 = time.process_time()
    (err,) = _errors(p)
    assert "aliases expand" in err.message
    assert time.process_time() - t0 < 30  # a guard against the old behaviour (minutes), not a timing claim


def test_aliases_of_ordinary_size_still_work() -> None:
    root = load_yaml("x.yaml", text="base: &b {group: all, intensity: 1}\nlooks: {a: [*b], b: [*b, *b]}\n")
    assert root["looks"]["b"][1]["group"] == "all"


@pytest.mark.parametrize("text, message", [
    ("show: \x00\n", "character U+0000 is not allowed"),
    ("show: x\nlooks:\n  a: \x7f\n", "character U+007F is not allowed"),
    ("settings:\n  fps: " + "9" * 400 + "\n", "a whole number of 400 characters is too large"),
    ("settings:\n  fps: " + "1" * 5000 + "\n", "a whole number of 5000 characters is too large"),  # int() limit
    ("settings:\n  fps: 0x" + "f" * 5000 + "\n", "is too large"),
])
def test_bad_characters_and_huge_numbers_give_one_located_line(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "show.yaml"
    p.write_text(text)
    (err,) = _errors(p)
    assert message in err.message and "\n" not in err.message
    assert err.location.line >= 1 and err.location.column >= 1


def test_huge_number_in_an_expression_field(tmp_path: Path) -> None:
    # Found by fuzzing: float(10**400) raised OverflowError in the expression spec.
    p = tmp_path / "show.yaml"
    p.write_text("signals:\n  s: " + "1" * 400 + "\n")
    (err,) = _errors(p)
    assert "too large" in err.message and err.location.line == 2


@pytest.mark.parametrize("text", ["a+" * 999 + "a", "a<" * 999 + "a", "1+" * 999 + "1", "a*-" * 400 + "a",
                                  "not " * 40 + "-" * 40 + "a"])
def test_long_operator_chains_are_refused_not_a_recursion_error(text: str) -> None:
    # Found by fuzzing: 'a+a+...+a' (within the 2000-character limit) nests without brackets
    # and raised RecursionError while compiling.
    with pytest.raises(ExprError) as info:
        compile_expr(text, Scope({"a"}))
    assert "too long a chain" in info.value.message or "nested too deeply" in info.value.message
    assert 0 <= info.value.column <= len(text)


def test_chains_up_to_the_limit_still_compile_and_evaluate() -> None:
    from engine.show.expr import Env

    text = "+".join(["level"] * (MAX_HEIGHT // 2))
    env = Env()
    env.values = {"level": 0.5}
    assert compile_expr(text, Scope({"level"}))(env) == pytest.approx(0.5 * (MAX_HEIGHT // 2))


def test_long_chain_in_a_show_is_a_located_error(tmp_path: Path) -> None:
    p = tmp_path / "show.yaml"
    p.write_text("signals:\n  s: '" + "level+" * 300 + "level'\n")
    (err,) = _errors(p)
    assert "too long a chain" in err.message and err.location.line == 2


@pytest.mark.parametrize("target, message", [
    ("/dev/zero", "not a regular file"),
    ("fifo", "not a regular file"),
    ("link.yaml", "Too many levels of symbolic links"),
    ("big.yaml", "file too large"),
    (".", "is a directory"),
    ("nosuch.yaml", "included file not found"),
])
def test_hostile_includes_are_refused_without_reading_them(workdir: Path, target: str, message: str) -> None:
    # /dev/zero and a FIFO would never end (or block forever); a symlink to itself made
    # Path.resolve() raise RuntimeError (found by fuzzing).
    p = workdir / "includer.yaml"
    p.write_text(f"include: [{target}]\n")
    try:
        (err,) = _errors(p)
    finally:
        p.unlink()
    assert message in err.message


def test_a_show_file_that_is_itself_too_large_or_not_regular(workdir: Path) -> None:
    (err,) = _errors(workdir / "big.yaml")
    assert f"the limit is {MAX_CONFIG_BYTES}" in err.message
    (err,) = _errors(workdir / "fifo")
    assert "not a regular file" in err.message


def test_include_outside_the_show_folder_is_read_only_as_show_data(tmp_path: Path) -> None:
    # Includes may name any readable file (a shared rig elsewhere); it is only parsed as YAML
    # data and validated, never executed: /etc/passwd is refused as a show.
    if not os.path.exists("/etc/passwd"):
        pytest.skip("no /etc/passwd on this system")
    p = tmp_path / "show.yaml"
    p.write_text("include: [../../../../../../../../etc/passwd]\n")
    errors = _errors(p)
    assert all(e.location.file for e in errors)


def test_yaml_tags_never_build_python_objects(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    p = tmp_path / "show.yaml"
    p.write_text(f"show: !!python/object/apply:os.system ['touch {marker}']\n"
                 f"description: !!python/name:os.system\n")
    try:
        load_show(p)
    except ShowErrors:
        pass
    assert not marker.exists()


def test_include_with_a_nul_character_is_an_error(tmp_path: Path) -> None:
    # Found by the long fuzz run (input 7,302): Path.resolve() raised ValueError.
    p = tmp_path / "show.yaml"
    p.write_text('include: ["rig\\0.yaml"]\n')
    (err,) = _errors(p)
    assert "NUL character" in err.message


def test_fixture_count_is_bounded(tmp_path: Path) -> None:
    # Found by the long fuzz run (input 5,118): count 2**64 + 1 looped over every fixture.
    p = tmp_path / "show.yaml"
    p.write_text("fixtures:\n  - {name: par, profile: led-par-rgb, mode: 5ch, address: 1, count: 18446744073709551617}\n")
    (err,) = _errors(p)
    assert "greater than the maximum of 512" in err.message and err.location.line == 2


@pytest.mark.parametrize("position", ["{x: 1.0e+308, y: 0}", "[0, -1.0e+300, 0]"])
def test_absurd_fixture_positions_are_refused(tmp_path: Path, position: str) -> None:
    # Found by the long fuzz run: 1e308 metres became inf in the float32 position arrays (an
    # overflow warning, NaN in every x/y/z expression).
    p = tmp_path / "show.yaml"
    p.write_text(f"fixtures:\n  - {{name: par, profile: led-par-rgb, mode: 5ch, address: 1, position: {position}}}\n")
    (err,) = _errors(p)
    assert "than the maximum of 100000" in err.message or "than the minimum of -100000" in err.message


def test_a_text_document_is_named_on_one_line(tmp_path: Path) -> None:
    # Found by the long fuzz run (seed 2, input 19,938): a show that is one block of text was
    # quoted with its newlines in "a show file must be a mapping of sections, found text ...".
    p = tmp_path / "show.yaml"
    p.write_text("|\n  outputs:\n    name: main\n")
    (err,) = _errors(p)
    assert "must be a mapping" in err.message and "\n" not in err.message and "\\n" in err.message


_STARTER = (Path(__file__).resolve().parents[2] / "shows" / "starter.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "old, new, quoted",
    [
        # Found by the long fuzz run (seed 0, input 77,138): a blank line inside a flow list
        # folds into a newline, and the group member was quoted with it.
        ("par 3, par 4]", "par \n\nlaye3, par 4]", "'par\\nlaye3'"),
        ("- group: pars", '- group: "pa\\nrs"', "'pa\\nrs'"),  # a look's group
        ("mode: 5ch", 'mode: "5c\\nh"', "'5c\\nh'"),
        ("profile: led-par-rgb", 'profile: "led-par\\trgb"', "'led-par\\trgb'"),
        ("pars: [par 1, par 2, par 3, par 4]", 'pars: {tags: ["a\\nb"]}', "'a\\nb'"),
        ("name: par, profile: led-par-rgb, mode: 5ch, universe: 1, address: 1, count: 4",
         'name: "p\\u0000ar", profile: led-par-rgb, mode: 5ch, universe: 1, address: 510', "'p\\x00ar'"),
    ],
)
def test_names_with_control_characters_are_quoted_on_one_line(tmp_path: Path, old: str, new: str, quoted: str) -> None:
    assert old in _STARTER
    p = tmp_path / "show.yaml"
    p.write_text(_STARTER.replace(old, new))
    errors = _errors(p)
    assert all("\n" not in e.message and e.location.line for e in errors), [e.message for e in errors]
    assert any(quoted in e.message for e in errors), [e.message for e in errors]


def test_fuzz_input_77138_of_seed_0(check) -> None:
    import random

    assert check("show", make_show(random.Random("0:77138"))) == "refused"
