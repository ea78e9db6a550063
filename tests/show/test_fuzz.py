"""Fuzzing the loader: random text, random structures and mutated example shows never crash or
hang it; every input gives either a show or a list of located errors (bounded to ~20 s)."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from engine.config import ConfigError
from engine.show.loader import CheckResult, check_show
from engine.show.model import ACTIONS, EFFECTS, OPERATORS, SECTIONS

from engine.show.runtime import ShowRuntime

from .conftest import RIG, SHOWS, clocked, event

# CI runs a fixed, derandomized sample (~20 s in all); SHOW_FUZZ_EXAMPLES=2000 explores more, randomly.
_EXAMPLES = os.environ.get("SHOW_FUZZ_EXAMPLES")
FUZZ = settings(max_examples=int(_EXAMPLES or 60), derandomize=_EXAMPLES is None, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def check_text(tmp: Path, text: str) -> CheckResult:
    (tmp / "rig.yaml").write_text(RIG)
    p = tmp / "fuzz.yaml"
    p.write_text(text, encoding="utf-8")
    result = check_show(p)
    assert isinstance(result, CheckResult)
    if result.ok:
        assert result.show is not None
        # a show that loads also runs: nothing escapes the frame (failures become faults)
        rt = ShowRuntime(result.show)
        for k in (0, 1, 50):
            rt.render(clocked(k, values={"level": 0.5, "energy": 0.9},
                              events=[event("section", k, section="drop"), event("onset", k, label="kick")]))
    else:
        assert result.errors and all(isinstance(e, ConfigError) for e in result.errors)
        for e in result.errors:
            assert e.location.file is not None  # every error says where
    return result


YAMLISH = st.text(alphabet=st.sampled_from(list("abcdelmnopstuwy:-[]{},.'\"#&*!|>%@ \n\t0123456789_/+<=()")), max_size=300)


@FUZZ
@given(text=YAMLISH)
def test_random_text(tmp_path_factory, text):
    check_text(tmp_path_factory.mktemp("f"), text)


WORDS = [*SECTIONS, *OPERATORS, *EFFECTS, *ACTIONS, "group", "intensity", "colour", "when", "do", "name", "look",
         "layer", "pars", "all", "level", "beat", "downbeat", "period", "palette", "spread", "for", "every", "include",
         "rig.yaml", "fuzz.yaml", "1/2 beat", "100ms", "level * 2", "sine(1, spread=1)", "red", "#ff0000"]
SCALARS = st.one_of(st.sampled_from(WORDS), st.integers(-3, 600), st.floats(allow_nan=True, allow_infinity=True),
                    st.booleans(), st.none(), st.text(max_size=12))
TREE = st.recursive(SCALARS, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                    st.dictionaries(st.sampled_from(WORDS), kids, max_size=4)),
                    max_leaves=25)


@FUZZ
@given(doc=st.dictionaries(st.sampled_from(WORDS), TREE, max_size=6))
def test_random_structures(tmp_path_factory, doc):
    import io

    buf = io.StringIO()
    YAML(typ="safe", pure=True).dump(doc, buf)
    check_text(tmp_path_factory.mktemp("s"), buf.getvalue())


EXAMPLE_TEXTS = [p.read_text() for p in sorted(SHOWS.glob("*.yaml"))]


@FUZZ
@given(which=st.integers(0, len(EXAMPLE_TEXTS) - 1), data=st.data())
def test_mutated_examples(tmp_path_factory, which, data):
    text = EXAMPLE_TEXTS[which]
    lines = text.splitlines()
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["delete", "duplicate", "replace", "insert", "cut"]))
        i = data.draw(st.integers(0, max(0, len(lines) - 1)))
        if op == "delete" and lines:
            del lines[i]
        elif op == "duplicate" and lines:
            lines.insert(i, lines[i])
        elif op == "replace" and lines:
            line = lines[i]
            j = data.draw(st.integers(0, len(line)))
            k = data.draw(st.integers(j, min(len(line), j + 8)))
            lines[i] = line[:j] + data.draw(st.sampled_from(WORDS + ["", ":", "[", "{", "-", "  ", "\"", "*x"])) + line[k:]
        elif op == "insert":
            lines.insert(i, data.draw(st.sampled_from(["  x: 1", "- a", "rules: 1", "looks:", "    - group: all",
                                                       "  level: 2", "include: [fuzz.yaml]"])))
        else:
            lines = lines[:i]
    folder = tmp_path_factory.mktemp("m")
    for rig in (SHOWS / "rigs").glob("*.yaml"):
        (folder / "rigs").mkdir(exist_ok=True)
        (folder / "rigs" / rig.name).write_text(rig.read_text())
    check_text(folder, "\n".join(lines) + "\n")


@FUZZ
@given(parts=st.lists(st.sampled_from(list("abelnopstv._ 0123456789+-*/%^<>=!(),'\"&|") + [
    "level", "beat", " and ", " or ", "not ", "sine(", "max(", "lfo(", "clamp(", "pos", "i", "**", "spread="]), max_size=30))
def test_expression_parser_never_crashes(parts):
    text = "".join(parts)
    from engine.show.expr import ExprError, Scope, compile_expr

    try:
        c = compile_expr(text, Scope({"level", "beat"}, fixture_vars=True))
    except ExprError as exc:
        assert 0 <= exc.column <= len(text)
        return
    from engine.show.expr import Env

    c(Env())  # a compiled expression evaluates (numbers or NaN), never raises
