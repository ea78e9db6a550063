"""The show's expression language: a restricted evaluator, no ``eval``/``exec``.

An expression is arithmetic (``+ - * / % ^``), comparisons (``< <= > >= == !=``), logic
(``and or not``), numbers, names (features such as ``level.drums``, signals, per-fixture
variables ``i n pos rand``) and calls of named functions from :data:`FUNCTIONS`. Nothing else
exists: no attribute access, no indexing, no strings except as the shape argument of ``lfo``.

:func:`parse` turns text into a small tree (each node knows its column), :func:`compile_expr`
resolves every name against a :class:`Scope` (an unknown name is a load error with a
suggestion) and returns a :class:`Compiled` closure. Closures compute on floats or on numpy
arrays with one value per fixture of a group, so an expression is evaluated once per frame
for a whole group, never per fixture in Python.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from engine.config import suggest
from engine.errors import BeamsyncError

Value = Any  # float | np.ndarray

NAN = float("nan")
TAU = 2.0 * math.pi
MAX_LENGTH = 2000
MAX_DEPTH = 60
#: Height of the parse tree. Long operator chains (``a + a + ... + a``) nest without brackets;
#: compiling and evaluating recurse once per level, so the height is bounded well below
#: Python's recursion limit (a 2000-character chain would otherwise raise RecursionError).
MAX_HEIGHT = 120


class ExprError(BeamsyncError):
    """A problem in an expression; ``column`` counts from 0 inside the expression text."""

    def __init__(self, message: str, column: int = 0) -> None:
        self.message = message
        self.column = column
        super().__init__(message)


# ---------------------------------------------------------------------------------------------
# Tokens and parse tree

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<str>"[^"\\]*"|'[^'\\]*')
  | (?P<op>\*\*|<=|>=|==|!=|[-+*/%^<>(),=])
    """,
    re.VERBOSE,
)

_KEYWORDS = {"and", "or", "not"}


@dataclass(frozen=True, slots=True)
class Node:
    """One node of the parse tree: ``kind`` is num/name/str/unary/binary/call/kwarg."""

    kind: str
    column: int
    value: Any = None
    args: tuple["Node", ...] = ()


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            ch = text[pos]
            hint = " (write 'and' / 'or' / 'not')" if ch in "&|!" else ""
            raise ExprError(f"unexpected character {ch!r} in expression{hint}", pos)
        kind = m.lastgroup or ""
        if kind != "ws":
            tok = m.group()
            if kind == "name" and tok in _KEYWORDS:
                kind = "op"
            tokens.append((kind, tok, pos))
        pos = m.end()
    tokens.append(("end", "", len(text)))
    return tokens


class _Parser:
    """Recursive descent, lowest precedence first: or, and, not, comparison, +-, */%, unary, ^."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.i]

    def take(self) -> tuple[str, str, int]:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, op: str) -> None:
        kind, tok, col = self.take()
        if tok != op or kind != "op":
            found = f"'{tok}'" if tok else "the end of the expression"
            raise ExprError(f"expected '{op}', found {found}", col)

    def parse(self) -> Node:
        node = self.or_()
        kind, tok, col = self.peek()
        if kind != "end":
            raise ExprError(f"unexpected '{tok}' after a complete expression", col)
        return node

    def _enter(self, col: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError("expression nested too deeply", col)

    def or_(self) -> Node:
        left = self.and_()
        while self.peek()[1] == "or":
            col = self.take()[2]
            left = Node("binary", col, "or", (left, self.and_()))
        return left

    def and_(self) -> Node:
        left = self.not_()
        while self.peek()[1] == "and":
            col = self.take()[2]
            left = Node("binary", col, "and", (left, self.not_()))
        return left

    def not_(self) -> Node:
        kind, tok, col = self.peek()
        if kind == "op" and tok == "not":
            self.take()
            self._enter(col)
            node = Node("unary", col, "not", (self.not_(),))
            self.depth -= 1
            return node
        return self.comparison()

    def comparison(self) -> Node:
        left = self.additive()
        parts: list[Node] = []
        while self.peek()[0] == "op" and self.peek()[1] in ("<", "<=", ">", ">=", "==", "!="):
            _, op, col = self.take()
            right = self.additive()
            parts.append(Node("binary", col, op, (left, right)))
            left = right
        if not parts:
            return left
        node = parts[0]
        for p in parts[1:]:  # a < b < c means a < b and b < c
            node = Node("binary", p.column, "and", (node, p))
        return node

    def additive(self) -> Node:
        left = self.term()
        while self.peek()[0] == "op" and self.peek()[1] in ("+", "-"):
            _, op, col = self.take()
            left = Node("binary", col, op, (left, self.term()))
        return left

    def term(self) -> Node:
        left = self.unary()
        while self.peek()[0] == "op" and self.peek()[1] in ("*", "/", "%"):
            _, op, col = self.take()
            left = Node("binary", col, op, (left, self.unary()))
        return left

    def unary(self) -> Node:
        kind, tok, col = self.peek()
        if kind == "op" and tok in ("-", "+"):
            self.take()
            self._enter(col)
            node = Node("unary", col, tok, (self.unary(),))
            self.depth -= 1
            return node
        return self.power()

    def power(self) -> Node:
        base = self.atom()
        kind, tok, col = self.peek()
        if kind == "op" and tok in ("^", "**"):
            self.take()
            self._enter(col)
            node = Node("binary", col, "^", (base, self.unary()))
            self.depth -= 1
            return node
        return base

    def atom(self) -> Node:
        kind, tok, col = self.take()
        if kind == "num":
            return Node("num", col, float(tok))
        if kind == "str":
            return Node("str", col, tok[1:-1])
        if kind == "name":
            if self.peek()[1] == "(" and self.peek()[0] == "op":
                return self.call(tok, col)
            return Node("name", col, tok)
        if kind == "op" and tok == "(":
            self._enter(col)
            node = self.or_()
            self.depth -= 1
            self.expect(")")
            return node
        if kind == "end":
            raise ExprError("expression ends too early", col)
        raise ExprError(f"unexpected '{tok}'", col)

    def call(self, name: str, col: int) -> Node:
        self.take()  # "("
        self._enter(col)
        args: list[Node] = []
        if self.peek()[1] != ")":
            while True:
                kind, tok, kcol = self.peek()
                nxt = self.tokens[self.i + 1] if self.i + 1 < len(self.tokens) else ("end", "", len(self.text))
                if kind == "name" and nxt[0] == "op" and nxt[1] == "=":
                    self.take()
                    self.take()
                    args.append(Node("kwarg", kcol, tok, (self.or_(),)))
                else:
                    if any(a.kind == "kwarg" for a in args):
                        raise ExprError("a positional argument follows a keyword argument", kcol)
                    args.append(self.or_())
                if self.peek()[1] == ",":
                    self.take()
                    continue
                break
        self.expect(")")
        self.depth -= 1
        return Node("call", col, name, tuple(args))


def parse(text: str) -> Node:
    """Parse expression text into a tree; raises :class:`ExprError` with the column."""
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression longer than {MAX_LENGTH} characters", 0)
    if not text.strip():
        raise ExprError("empty expression", 0)
    tree = _Parser(text).parse()
    _check_height(tree)
    return tree


def _check_height(tree: Node) -> None:
    """Raise :class:`ExprError` at the first node deeper than :data:`MAX_HEIGHT` (iterative:
    the check itself must not recurse)."""
    stack = [(tree, 1)]
    while stack:
        node, level = stack.pop()
        if level > MAX_HEIGHT:
            raise ExprError(f"expression too long a chain of operations (more than {MAX_HEIGHT} levels); "
                            "split it into signals", node.column)
        stack.extend((a, level + 1) for a in node.args)


def names_in(node: Node) -> Iterable[Node]:
    """Every name node in a tree (function names excluded)."""
    if node.kind == "name":
        yield node
    for a in node.args:
        yield from names_in(a)


# ---------------------------------------------------------------------------------------------
# Evaluation environment


class Env:
    """What a compiled expression reads while it runs.

    ``values`` maps input, clock and signal names to floats (events read 1.0 in the frame they
    fire). The per-fixture variables are arrays over the group being evaluated (``i``, ``n``,
    ``pos``, ``rand``); for scalar contexts (signals, rule conditions) they are scalars.
    ``beats`` is the beat counter used by beat-synced waves; ``seed`` seeds random steps.
    """

    __slots__ = ("values", "i", "n", "pos", "rand", "x", "y", "z", "beats", "seed", "t")

    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        self.i: Value = 0.0
        self.n: Value = 1.0
        self.pos: Value = 0.0
        self.rand: Value = 0.5
        self.x: Value = 0.0
        self.y: Value = 0.0
        self.z: Value = 0.0
        self.beats: float = 0.0
        self.seed: int = 0
        self.t: float = 0.0


Compiled = Callable[[Env], Value]


def _truthy(x: Value) -> Value:
    # NaN (an absent feature) is false, so a rule on an absent feature stays idle.
    if isinstance(x, np.ndarray):
        return np.logical_and(x != 0, ~np.isnan(x))
    return x == x and x != 0


def _as_float(x: Value) -> Value:
    if isinstance(x, np.ndarray):
        return x.astype(np.float64)
    return 1.0 if x else 0.0


def hash01(a: Value, b: Value, seed: int) -> Value:
    """A deterministic pseudo-random value in [0, 1) from two integers-like inputs and a seed.

    Pure arithmetic on uint64 (a splitmix-style mix), identical on every run and machine, so
    golden tests of random effects are stable.
    """
    with np.errstate(over="ignore"):
        x = (np.asarray(a, dtype=np.float64).astype(np.int64).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
             + np.asarray(b, dtype=np.float64).astype(np.int64).astype(np.uint64) * np.uint64(0xBF58476D1CE4E5B9)
             + np.uint64(seed & 0xFFFFFFFF) * np.uint64(0x94D049BB133111EB))
        x ^= x >> np.uint64(31)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(29)
    out = (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return out if out.ndim else float(out)


# --- wave shapes: input is the phase in cycles (any real), output 0..1 -------------------------


def _sine(x: Value) -> Value:
    return 0.5 - 0.5 * np.cos(TAU * x)


def _triangle(x: Value) -> Value:
    f = np.mod(x, 1.0)
    return 1.0 - np.abs(2.0 * f - 1.0)


def _saw(x: Value) -> Value:
    return np.mod(x, 1.0)


def _square(x: Value) -> Value:
    return _as_float(np.mod(x, 1.0) < 0.5)


SHAPES: dict[str, Callable[[Value], Value]] = {
    "sine": _sine,
    "triangle": _triangle,
    "saw": _saw,
    "square": _square,
}
SHAPE_NAMES = (*SHAPES, "random")


def wave(env: Env, shape: str, period: Value, spread: Value, phase: Value, seed: Value = 0) -> Value:
    """A beat-synced wave: ``period`` in beats, ``spread`` the phase offset (in cycles) across
    the group (chases), ``phase`` a fixed offset in cycles. Output 0..1."""
    if shape == "random":
        # Random steps change together on the beat grid; with a spread each fixture draws
        # from its own stream instead of being phase-shifted.
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.floor(env.beats / period + phase)
        return hash01(step, env.i if np.any(spread) else 0, int(env.seed) + int(seed))
    with np.errstate(divide="ignore", invalid="ignore"):
        x = env.beats / period + phase - spread * env.pos
    return SHAPES[shape](x)


@dataclass(frozen=True)
class Function:
    """A named function usable in expressions: ``params`` lists parameter names with defaults
    (None = required); ``shape_arg`` names a parameter that takes a wave shape name."""

    name: str
    params: tuple[tuple[str, float | None], ...]
    impl: Callable[..., Value]
    doc: str
    needs_env: bool = False
    shape_arg: str | None = None
    varargs: bool = False


def _clamp(x: Value, lo: Value, hi: Value) -> Value:
    return np.minimum(np.maximum(x, lo), hi)


def _mix(a: Value, b: Value, t: Value) -> Value:
    return a + (b - a) * t


def _map(x: Value, in_lo: Value, in_hi: Value, out_lo: Value, out_hi: Value) -> Value:
    with np.errstate(divide="ignore", invalid="ignore"):
        t = _clamp((x - in_lo) / (in_hi - in_lo), 0.0, 1.0)
    return out_lo + (out_hi - out_lo) * t


def _smoothstep(e0: Value, e1: Value, x: Value) -> Value:
    with np.errstate(divide="ignore", invalid="ignore"):
        t = _clamp((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _if(c: Value, a: Value, b: Value) -> Value:
    r = np.where(_truthy(c), a, b)
    return r if r.ndim else float(r)


def _chase(env: Env, period: Value, width: Value, direction: Value) -> Value:
    # A window of `width` (fraction of the group) travels across the group once per period.
    with np.errstate(divide="ignore", invalid="ignore"):
        head = np.mod(env.beats / period, 1.0)
    # i/n, not pos: the window wraps from the last fixture back to the first.
    n = np.maximum(env.n, 1.0)
    pos = env.i / n if direction >= 0 else (n - 1.0 - env.i) / n
    d = np.mod(head - pos, 1.0)
    return _clamp(1.0 - d / np.maximum(width, 1e-9), 0.0, 1.0)


def _noise(env: Env, period: Value, seed: Value) -> Value:
    # Smooth value noise: random steps blended with a smoothstep.
    with np.errstate(divide="ignore", invalid="ignore"):
        x = env.beats / period
    k = np.floor(x)
    f = x - k
    f = f * f * (3.0 - 2.0 * f)
    s = int(env.seed) + int(seed)
    return _mix(hash01(k, env.i, s), hash01(k + 1.0, env.i, s), f)


def _build_functions() -> dict[str, Function]:
    F = Function
    fns = [
        F("abs", (("x", None),), np.abs, "absolute value"),
        F("sin", (("x", None),), np.sin, "sine of x radians (-1..1)"),
        F("cos", (("x", None),), np.cos, "cosine of x radians (-1..1)"),
        F("sqrt", (("x", None),), lambda x: np.sqrt(np.maximum(x, 0.0)), "square root (0 for negatives)"),
        F("exp", (("x", None),), lambda x: np.exp(np.minimum(x, 700.0)), "e to the x"),
        F("log", (("x", None),), lambda x: np.log(np.maximum(x, 1e-300)), "natural logarithm"),
        F("floor", (("x", None),), np.floor, "round down"),
        F("ceil", (("x", None),), np.ceil, "round up"),
        F("round", (("x", None),), np.round, "round to nearest"),
        F("frac", (("x", None),), lambda x: np.mod(x, 1.0), "fractional part, 0..1"),
        F("sign", (("x", None),), np.sign, "-1, 0 or 1"),
        F("min", (("a", None), ("b", None)), np.minimum, "smaller of the arguments", varargs=True),
        F("max", (("a", None), ("b", None)), np.maximum, "larger of the arguments", varargs=True),
        F("clamp", (("x", None), ("lo", 0.0), ("hi", 1.0)), _clamp, "x limited to lo..hi"),
        F("mix", (("a", None), ("b", None), ("t", None)), _mix, "a blended towards b by t (0..1)"),
        F("map", (("x", None), ("in_lo", None), ("in_hi", None), ("out_lo", 0.0), ("out_hi", 1.0)), _map,
          "x mapped from in_lo..in_hi to out_lo..out_hi, clamped"),
        F("step", (("edge", None), ("x", None)), lambda e, x: _as_float(np.asarray(x) >= e) if isinstance(x, np.ndarray) or isinstance(e, np.ndarray) else (1.0 if x >= e else 0.0), "1 when x >= edge, else 0"),
        F("smoothstep", (("e0", None), ("e1", None), ("x", None)), _smoothstep, "smooth 0..1 ramp of x between e0 and e1"),
        F("if", (("cond", None), ("then", None), ("else", 0.0)), _if, "then where cond is true, else otherwise"),
        F("lfo", (("shape", None), ("period", 1.0), ("spread", 0.0), ("phase", 0.0), ("seed", 0.0)),
          wave, "beat-synced wave 0..1: shape sine|triangle|saw|square|random, period in beats, "
          "spread = phase offset in cycles across the group", needs_env=True, shape_arg="shape"),
        F("sine", (("period", 1.0), ("spread", 0.0), ("phase", 0.0)),
          lambda env, p, s, ph: wave(env, "sine", p, s, ph), "beat-synced sine 0..1", needs_env=True),
        F("triangle", (("period", 1.0), ("spread", 0.0), ("phase", 0.0)),
          lambda env, p, s, ph: wave(env, "triangle", p, s, ph), "beat-synced triangle 0..1", needs_env=True),
        F("saw", (("period", 1.0), ("spread", 0.0), ("phase", 0.0)),
          lambda env, p, s, ph: wave(env, "saw", p, s, ph), "beat-synced rising saw 0..1", needs_env=True),
        F("square", (("period", 1.0), ("spread", 0.0), ("phase", 0.0)),
          lambda env, p, s, ph: wave(env, "square", p, s, ph), "beat-synced square 0/1", needs_env=True),
        F("randstep", (("period", 1.0), ("spread", 1.0), ("seed", 0.0)),
          lambda env, p, s, sd: wave(env, "random", p, s, 0.0, sd),
          "seeded random value 0..1, a new one every period beats (per fixture when spread != 0)", needs_env=True),
        F("noise", (("period", 1.0), ("seed", 0.0)), _noise, "smooth seeded random 0..1 per fixture", needs_env=True),
        F("chase", (("period", 1.0), ("width", 0.25), ("direction", 1.0)), _chase,
          "a bright window of width (fraction of the group) moving across the group once per period beats",
          needs_env=True),
    ]
    return {f.name: f for f in fns}


FUNCTIONS: dict[str, Function] = _build_functions()

CONSTANTS: dict[str, float] = {"pi": math.pi, "tau": TAU, "true": 1.0, "false": 0.0, "e": math.e}

#: Per-fixture variables (arrays over the group in looks; scalars elsewhere).
FIXTURE_VARIABLES: dict[str, str] = {
    "i": "index of the fixture inside its group (0..n-1)",
    "n": "number of fixtures in the group",
    "pos": "position of the fixture inside its group, 0..1",
    "rand": "a fixed random number per fixture (seeded), 0..1",
    "x": "stage position of the fixture (or cell), metres left to right as the audience sees it",
    "y": "stage position, metres from the front towards upstage",
    "z": "stage position, metres up",
}


# ---------------------------------------------------------------------------------------------
# Compilation


@dataclass
class Scope:
    """The names an expression may use: ``values`` are read from :attr:`Env.values` (features,
    clock, signals), ``fixture_vars`` enables ``i n pos rand``; ``absent`` are known feature
    names that the current analysis does not produce (compiled, reported as warnings)."""

    values: set[str]
    fixture_vars: bool = True
    extra_hint: Iterable[str] = ()
    prefixes: tuple[str, ...] = ()


@dataclass
class CompiledExpr:
    """A compiled expression: ``fn(env)``, the names it reads, and whether it is a constant."""

    fn: Compiled
    text: str
    names: frozenset[str]
    constant: float | None = None

    def __call__(self, env: Env) -> Value:
        return self.fn(env)


def _const(v: float) -> Compiled:
    return lambda env: v


_BINARY: dict[str, Callable[[Value, Value], Value]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
}


def _div(a: Value, b: Value) -> Value:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.divide(a, b)
    if b == 0:
        return NAN if a == 0 or a != a else math.copysign(math.inf, a) * (math.copysign(1.0, b))
    return a / b


def _mod(a: Value, b: Value) -> Value:
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.mod(a, b)
    return r if isinstance(r, np.ndarray) else float(r)


def _pow(a: Value, b: Value) -> Value:
    with np.errstate(all="ignore"):
        r = np.power(np.asarray(a, dtype=np.float64), b)
    return r if r.ndim else float(r)


def _cmp(op: str) -> Callable[[Value, Value], Value]:
    import operator as o

    f = {"<": o.lt, "<=": o.le, ">": o.gt, ">=": o.ge, "==": o.eq, "!=": o.ne}[op]

    def g(a: Value, b: Value) -> Value:
        r = f(a, b)
        return r.astype(np.float64) if isinstance(r, np.ndarray) else (1.0 if r else 0.0)

    return g


def _and(a: Value, b: Value) -> Value:
    return _as_float(np.logical_and(_truthy(a), _truthy(b))) if isinstance(a, np.ndarray) or isinstance(b, np.ndarray) else (1.0 if _truthy(a) and _truthy(b) else 0.0)


def _or(a: Value, b: Value) -> Value:
    return _as_float(np.logical_or(_truthy(a), _truthy(b))) if isinstance(a, np.ndarray) or isinstance(b, np.ndarray) else (1.0 if _truthy(a) or _truthy(b) else 0.0)


for _op in ("<", "<=", ">", ">=", "==", "!="):
    _BINARY[_op] = _cmp(_op)
_BINARY["/"] = _div
_BINARY["%"] = _mod
_BINARY["^"] = _pow
_BINARY["and"] = _and
_BINARY["or"] = _or


def _scalarize(v: Value) -> Value:
    if isinstance(v, np.ndarray) and v.ndim == 0:
        return float(v)
    if isinstance(v, np.generic):
        return float(v)
    return v


class _Compiler:
    def __init__(self, text: str, scope: Scope) -> None:
        self.text = text
        self.scope = scope
        self.names: set[str] = set()

    def known(self) -> list[str]:
        names = [*self.scope.values, *CONSTANTS, *self.scope.extra_hint]
        if self.scope.fixture_vars:
            names += list(FIXTURE_VARIABLES)
        return names

    def compile(self, node: Node) -> tuple[Compiled, float | None]:
        k = node.kind
        if k == "num":
            return _const(node.value), node.value
        if k == "str":
            raise ExprError(f"a text value '{node.value}' is only allowed as a wave shape", node.column)
        if k == "name":
            return self.name(node)
        if k == "unary":
            fn, c = self.compile(node.args[0])
            if node.value == "-":
                f: Compiled = lambda env, fn=fn: -fn(env)
            elif node.value == "+":
                f = fn
            else:
                f = lambda env, fn=fn: (1.0 - _as_float(_truthy(fn(env)))) if not isinstance(v := fn(env), np.ndarray) else _as_float(~_truthy(v))
            return self.fold(f, c is not None)
        if k == "binary":
            (fa, ca), (fb, cb) = self.compile(node.args[0]), self.compile(node.args[1])
            op = _BINARY[node.value]
            f = lambda env, fa=fa, fb=fb, op=op: op(fa(env), fb(env))
            return self.fold(f, ca is not None and cb is not None)
        if k == "call":
            return self.call(node)
        if k == "kwarg":
            raise ExprError(f"'{node.value}=' is only allowed inside a function call", node.column)
        raise ExprError("unsupported expression", node.column)  # pragma: no cover

    def fold(self, f: Compiled, constant: bool) -> tuple[Compiled, float | None]:
        if constant:
            try:
                v = _scalarize(f(Env()))
            except (ArithmeticError, ValueError):
                return f, None
            if isinstance(v, float):
                return _const(v), v
        return f, None

    def name(self, node: Node) -> tuple[Compiled, float | None]:
        name = node.value
        if name in CONSTANTS:
            return _const(CONSTANTS[name]), CONSTANTS[name]
        if name in FIXTURE_VARIABLES:
            if not self.scope.fixture_vars:
                raise ExprError(
                    f"'{name}' is a per-fixture variable; it is only available in looks and effects",
                    node.column,
                )
            getter = {"i": lambda env: env.i, "n": lambda env: env.n,
                      "x": lambda env: env.x, "y": lambda env: env.y, "z": lambda env: env.z,
                      "pos": lambda env: env.pos, "rand": lambda env: env.rand}[name]
            return getter, None
        if name in self.scope.values or (self.scope.prefixes and name.startswith(self.scope.prefixes)
                                         and len(name) > len(next(p for p in self.scope.prefixes if name.startswith(p)))):
            self.names.add(name)
            return (lambda env, name=name: env.values.get(name, NAN)), None
        if name in FUNCTIONS:
            raise ExprError(f"'{name}' is a function; call it as {name}(...)", node.column)
        raise ExprError(f"unknown name '{name}'{suggest(name, self.known())}", node.column)

    def call(self, node: Node) -> tuple[Compiled, float | None]:
        fname = node.value
        fn = FUNCTIONS.get(fname)
        if fn is None:
            raise ExprError(f"unknown function '{fname}'{suggest(fname, FUNCTIONS)}", node.column)
        positional = [a for a in node.args if a.kind != "kwarg"]
        keywords: dict[str, Node] = {}
        for a in node.args:
            if a.kind == "kwarg":
                if a.value in keywords:
                    raise ExprError(f"{fname}() got '{a.value}' twice", a.column)
                keywords[a.value] = a
        pnames = [p for p, _ in fn.params]
        if fn.varargs:
            if keywords:
                raise ExprError(f"{fname}() takes no keyword arguments", node.column)
            if len(positional) < 1:
                raise ExprError(f"{fname}() needs at least one argument", node.column)
            parts = [self.compile(a) for a in positional]
            fns = [p[0] for p in parts]
            impl = fn.impl

            def f(env: Env, fns=fns, impl=impl) -> Value:
                acc = fns[0](env)
                for g in fns[1:]:
                    acc = impl(acc, g(env))
                return _scalarize(acc)

            return self.fold(f, all(p[1] is not None for p in parts))
        if len(positional) > len(pnames):
            raise ExprError(f"{fname}() takes at most {len(pnames)} arguments, got {len(positional)}", node.column)
        bound: dict[str, Node] = dict(zip(pnames, positional))
        for kname, knode in keywords.items():
            if kname not in pnames:
                raise ExprError(f"{fname}() has no parameter '{kname}'{suggest(kname, pnames)}", knode.column)
            if kname in bound:
                raise ExprError(f"{fname}() got '{kname}' twice", knode.column)
            bound[kname] = knode.args[0]
        getters: list[Compiled] = []
        consts: list[bool] = []
        shape: str | None = None
        for pname, default in fn.params:
            arg = bound.get(pname)
            if pname == fn.shape_arg:
                if arg is None:
                    raise ExprError(f"{fname}() needs a shape: one of {', '.join(SHAPE_NAMES)}", node.column)
                sname = arg.value if arg.kind in ("str", "name") else None
                if sname not in SHAPE_NAMES:
                    raise ExprError(
                        f"unknown wave shape {sname or '?'!r}{suggest(str(sname), SHAPE_NAMES)}; "
                        f"expected one of {', '.join(SHAPE_NAMES)}",
                        arg.column,
                    )
                shape = sname
                continue
            if arg is None:
                if default is None:
                    raise ExprError(f"{fname}() is missing its argument '{pname}'", node.column)
                getters.append(_const(default))
                consts.append(True)
            else:
                g, c = self.compile(arg)
                getters.append(g)
                consts.append(c is not None)
        impl = fn.impl
        if fn.needs_env:
            if not self.scope.fixture_vars and fname in ("chase",):
                raise ExprError(f"{fname}() works on a group; use it in a look", node.column)
            if shape is not None:
                def f(env: Env, g=getters, impl=impl, shape=shape) -> Value:
                    return impl(env, shape, *[x(env) for x in g])
            else:
                def f(env: Env, g=getters, impl=impl) -> Value:
                    return impl(env, *[x(env) for x in g])
            return f, None
        if len(getters) == 1:
            g0 = getters[0]

            def f(env: Env, g0=g0, impl=impl) -> Value:
                return _scalarize(impl(g0(env)))
        else:
            def f(env: Env, g=getters, impl=impl) -> Value:
                return _scalarize(impl(*[x(env) for x in g]))
        return self.fold(f, all(consts))


def compile_expr(source: str | float | int | bool, scope: Scope) -> CompiledExpr:
    """Compile expression text (or a plain number) in ``scope``; raises :class:`ExprError`."""
    if isinstance(source, bool):
        v = 1.0 if source else 0.0
        return CompiledExpr(_const(v), str(source).lower(), frozenset(), v)
    if isinstance(source, (int, float)):
        v = float(source)
        return CompiledExpr(_const(v), repr(source), frozenset(), v)
    text = str(source)
    tree = parse(text)
    comp = _Compiler(text, scope)
    fn, const = comp.compile(tree)
    return CompiledExpr(fn, text, frozenset(comp.names), const)


def referenced_names(source: str | float | int | bool) -> set[str]:
    """The value names an expression reads (no resolution; used to order signals)."""
    if not isinstance(source, str):
        return set()
    return {n.value for n in names_in(parse(source)) if n.value not in CONSTANTS and n.value not in FIXTURE_VARIABLES}


def evaluate(source: str, values: Mapping[str, float] | None = None) -> Value:
    """Evaluate a scalar expression once (for tests and the REPL-like ``check`` output)."""
    values = dict(values or {})
    env = Env()
    env.values = values
    return compile_expr(source, Scope(set(values))).fn(env)
