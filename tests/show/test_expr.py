"""The restricted expression evaluator: semantics, vectorization, and what it refuses."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.show.expr import Env, ExprError, Scope, compile_expr, evaluate, parse


def test_arithmetic_precedence_and_power():
    assert evaluate("1 + 2 * 3 ^ 2") == 19.0
    assert evaluate("-2 ^ 2") == -4.0  # power binds tighter than unary minus
    assert evaluate("(1 + 2) * 3") == 9.0
    assert evaluate("7 % 4") == 3.0
    assert evaluate("1 / 4") == 0.25


def test_comparisons_chain_and_logic():
    assert evaluate("1 < 2 < 3") == 1.0
    assert evaluate("1 < 3 < 2") == 0.0
    assert evaluate("level > 0.5 and not beat", {"level": 0.7, "beat": 0.0}) == 1.0
    assert evaluate("level > 0.5 or beat", {"level": 0.1, "beat": 1.0}) == 1.0
    assert evaluate("level == 0.25", {"level": 0.25}) == 1.0


def test_absent_feature_is_nan_and_conditions_on_it_are_false():
    v = evaluate("level * 2", {"level": float("nan")})
    assert math.isnan(v)
    assert evaluate("level > 0.5", {"level": float("nan")}) == 0.0
    assert evaluate("if(level > 0.5, 1, 2)", {"level": float("nan")}) == 2.0


def test_functions():
    assert evaluate("max(1, 5, 3)") == 5.0
    assert evaluate("min(4, 2, 3)") == 2.0
    assert evaluate("clamp(1.7)") == 1.0
    assert evaluate("clamp(-3, -1, 1)") == -1.0
    assert evaluate("mix(0, 10, 0.25)") == 2.5
    assert evaluate("map(5, 0, 10, 0, 100)") == 50.0
    assert evaluate("map(20, 0, 10)") == 1.0  # clamped
    assert evaluate("step(0.5, 0.7)") == 1.0
    assert evaluate("smoothstep(0, 1, 0.5)") == 0.5
    assert evaluate("abs(-2) + floor(1.7) + ceil(0.2) + round(2.4)") == 2 + 1 + 1 + 2


def test_vectorized_over_a_group():
    env = Env()
    env.i = np.arange(4.0)
    env.n = 4.0
    env.pos = env.i / 3.0
    env.beats = 0.0
    c = compile_expr("pos * 2 + i", Scope(set()))
    np.testing.assert_allclose(c(env), [0.0, 1 + 2 / 3, 2 + 4 / 3, 5.0])
    # a chase: exactly one fixture lit at the window's head
    env.beats = 0.0
    c = compile_expr("chase(4, 0.25)", Scope(set()))
    np.testing.assert_allclose(c(env), [1.0, 0.0, 0.0, 0.0])
    env.beats = 1.0  # a quarter of the way: the second fixture
    np.testing.assert_allclose(c(env), [0.0, 1.0, 0.0, 0.0])


def test_beat_synced_waves_and_spread():
    env = Env()
    env.i = np.arange(2.0)
    env.n = 2.0
    env.pos = np.array([0.0, 1.0])
    env.beats = 0.5
    c = compile_expr("sine(1, spread=0.5)", Scope(set()))
    # fixture 0 at half a cycle (peak), fixture 1 half a cycle behind (trough)
    np.testing.assert_allclose(c(env), [1.0, 0.0], atol=1e-12)
    sq = compile_expr("lfo(square, 2)", Scope(set()))
    env.beats = 0.5
    np.testing.assert_array_equal(sq(env), [1.0, 1.0])
    env.beats = 1.5
    np.testing.assert_array_equal(sq(env), [0.0, 0.0])


def test_seeded_random_is_repeatable_and_steps_with_the_beat():
    env = Env()
    env.i = np.arange(8.0)
    env.n = 8.0
    env.pos = env.i / 7
    env.seed = 3
    c = compile_expr("randstep(1)", Scope(set()))
    env.beats = 0.2
    a = c(env).copy()
    env.beats = 0.9
    np.testing.assert_array_equal(c(env), a)  # same step, same values
    env.beats = 1.1
    assert not np.array_equal(c(env), a)  # the next step differs
    assert np.all((a >= 0) & (a < 1)) and len(set(a.tolist())) == 8


def test_constants_are_folded():
    c = compile_expr("2 * pi + max(1, 2)", Scope(set()))
    assert c.constant == pytest.approx(2 * math.pi + 2)


@pytest.mark.parametrize(
    "text, message, column",
    [
        ("levl + 1", "unknown name 'levl' (did you mean 'level'?)", 0),
        ("sinn(1)", "unknown function 'sinn' (did you mean 'sin'?)", 0),
        ("1 +", "expression ends too early", 3),
        ("sine(", "expression ends too early", 5),  # found by the fuzzer: used to raise IndexError
        ("(1 + 2", "expected ')', found the end of the expression", 6),
        ("1 2", "unexpected '2' after a complete expression", 2),
        ("level && 1", "unexpected character '&' in expression (write 'and' / 'or' / 'not')", 6),
        ("__import__('os')", "unknown function '__import__'", 0),
        ("level.__class__", "unknown name 'level.__class__'", 0),
        ("lfo(sin, 1)", "unknown wave shape 'sin' (did you mean 'sine'?); expected one of sine, triangle, saw, square, random", 4),
        ("clamp(1, hi=2, hi=3)", "clamp() got 'hi' twice", 15),
        ("mix(1, 2)", "mix() is missing its argument 't'", 0),
        ("max", "'max' is a function; call it as max(...)", 0),
        ("'text'", "a text value 'text' is only allowed as a wave shape", 0),
        ("pos", "'pos' is a per-fixture variable; it is only available in looks and effects", 0),
    ],
)
def test_errors_name_the_problem_and_column(text, message, column):
    scope = Scope({"level"}, fixture_vars=False)
    with pytest.raises(ExprError) as info:
        compile_expr(text, scope)
    assert info.value.message == message
    assert info.value.column == column


def test_no_code_execution_syntax_exists():
    # attribute access, indexing, lambdas, strings as code: none of it parses
    for text in ("a[0]", "lambda: 1", "x if y else z", "a; b", "`ls`", "{}", "f'{1}'"):
        with pytest.raises(ExprError):
            compile_expr(text, Scope({"a", "x", "y", "z", "b", "f"}))


def test_deep_nesting_is_an_error_not_a_crash():
    with pytest.raises(ExprError, match="nested too deeply"):
        parse("(" * 500 + "1" + ")" * 500)
    with pytest.raises(ExprError, match="longer than"):
        parse("1+" * 2000 + "1")
