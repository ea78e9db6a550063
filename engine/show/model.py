"""The typed show model and the specs that validate a show file into it.

Every section of a show file has a dataclass here and a :mod:`engine.show.spec` description
that converts the YAML node into it; :data:`SHOW` is the whole file's spec and the source of
the JSON Schema (``beamsync schema``). Expressions are parsed here (syntax errors carry their
exact column) and compiled against the show's names later, in :mod:`engine.show.loader`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.config import ConfigError, Location, PathPart
from engine.show.expr import ExprError, Node, parse
from engine.show.spec import (
    INVALID,
    Ctx,
    Either,
    Field,
    Flag,
    ListOf,
    MapOf,
    Number,
    Raw,
    Record,
    Spec,
    Tagged,
    Text,
    Where,
    describe,
    text_offset,
)

# ---------------------------------------------------------------------------------------------
# Value types


@dataclass
class ExprRef:
    """An expression as written: text or a number, where it is, and its parse tree."""

    source: str | float
    location: Location
    path: tuple[PathPart, ...]
    tree: Node | None = None  # None for plain numbers
    compiled: Any = None  # a CompiledExpr once the show is linked

    @property
    def constant(self) -> float | None:
        return float(self.source) if not isinstance(self.source, str) else None

    def __str__(self) -> str:
        return str(self.source)


class ExprSpec(Spec):
    """An expression (``level * 2``) or a plain number; ``kind`` only changes the wording."""

    def __init__(self, description: str = "", *, kind: str = "number") -> None:
        self.description = description
        self.kind = kind

    def expected(self) -> str:
        return "a condition (expression)" if self.kind == "condition" else "a number or an expression"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (int, float, str)) and value is not None

    def convert(self, value: Any, ctx: Ctx, where: Where) -> Any:
        if isinstance(value, bool):
            return ExprRef(1.0 if value else 0.0, where.loc(), where.path)
        if isinstance(value, (int, float)):
            return ExprRef(float(value), where.loc(), where.path)
        if not isinstance(value, str):
            return ctx.error(f"expected {self.expected()}, found {describe(value)}", where)
        loc = where.loc()
        single_line = "\n" not in value
        if single_line and loc.line:
            offset = text_offset(value) or (1 if ctx.quoted_at(loc) else 0)
            loc = Location(loc.file, loc.line, loc.column + offset)
        try:
            tree = parse(value)
        except ExprError as exc:
            at = Location(loc.file, loc.line, loc.column + exc.column) if single_line and loc.line else loc
            ctx.errors.append(ConfigError(exc.message, at, where.path))
            return INVALID
        return ExprRef(str(value), loc, where.path, tree)

    def json_schema(self) -> dict[str, Any]:
        return self._doc({"type": ["number", "string", "boolean"]})


_DURATION = re.compile(
    r"^\s*(?P<num>\d+(?:\.\d*)?|\.\d+)(?:\s*/\s*(?P<den>\d+(?:\.\d*)?))?\s*(?P<unit>ms|s|sec|seconds?|beats?|bars?)?\s*$"
)
DURATION_PATTERN = r"\s*(\d+(\.\d*)?|\.\d+)(\s*/\s*\d+(\.\d*)?)?\s*(ms|s|sec|seconds?|beats?|bars?)?\s*"


@dataclass(frozen=True)
class Duration:
    """A length of time in milliseconds, beats or bars (beats and bars follow the tempo)."""

    value: float
    unit: str  # "ms" | "beats" | "bars"

    def seconds(self, bpm: float, beats_per_bar: int) -> float:
        """This duration in seconds at ``bpm`` (beats and bars are 0 while the tempo is unknown
        only if bpm is 0; then 120 BPM is assumed so transitions still finish)."""
        if self.unit == "ms":
            return self.value / 1000.0
        beat = 60.0 / (bpm if bpm > 0 else 120.0)
        return self.value * beat * (beats_per_bar if self.unit == "bars" else 1)

    def beats(self, beats_per_bar: int) -> float | None:
        """This duration in beats (None for a duration in milliseconds)."""
        if self.unit == "ms":
            return None
        return self.value * (beats_per_bar if self.unit == "bars" else 1)

    def __str__(self) -> str:
        return f"{self.value:g} {self.unit}"


class DurationSpec(Spec):
    """``500ms``, ``0.5 s``, ``2 beats``, ``1/2 beat``, ``1 bar``; a bare number uses ``unit``."""

    def __init__(self, description: str = "", *, unit: str = "ms") -> None:
        self.description = description
        self.unit = unit

    def expected(self) -> str:
        return "a duration like '500ms', '2 beats' or '1 bar'"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (int, float, str)) and not isinstance(value, bool)

    def convert(self, value: Any, ctx: Ctx, where: Where) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if value < 0 or value != value or value in (float("inf"),):
                return ctx.error(f"expected {self.expected()}, found {describe(value)}", where)
            return Duration(float(value), self.unit)
        if not isinstance(value, str):
            return ctx.error(f"expected {self.expected()}, found {describe(value)}", where)
        m = _DURATION.match(value)
        if not m:
            return ctx.error(f"expected {self.expected()}, found '{value}'", where)
        num = float(m.group("num"))
        if m.group("den"):
            den = float(m.group("den"))
            if den == 0:
                return ctx.error(f"expected {self.expected()}, found '{value}' (division by zero)", where)
            num /= den
        unit = m.group("unit") or self.unit
        if unit in ("s", "sec", "second", "seconds"):
            return Duration(num * 1000.0, "ms")
        if unit.startswith("beat"):
            return Duration(num, "beats")
        if unit.startswith("bar"):
            return Duration(num, "bars")
        return Duration(num, "ms")

    def json_schema(self) -> dict[str, Any]:
        return self._doc({"anyOf": [{"type": "number", "minimum": 0},
                                    {"type": "string", "pattern": f"^{DURATION_PATTERN}$"}]})


@dataclass
class Colour:
    """A colour as written. ``kind``: ``rgb`` (a constant, linear RGB), ``name`` (a palette or
    colour name, resolved when the show is linked), ``palette`` (a palette's current colour,
    ``spread`` over the group), ``hsv`` or ``exprs`` (per-channel expressions)."""

    kind: str
    location: Location
    path: tuple[PathPart, ...]
    rgb: tuple[float, float, float] | None = None
    name: str | None = None
    palette: str | None = None
    spread: ExprRef | None = None
    channels: tuple[ExprRef, ExprRef, ExprRef] | None = None


def _parse_constant_colour(value: Any) -> np.ndarray:
    from engine.fixtures.attributes import parse_color

    return parse_color(value)


class ColourSpec(Spec):
    """A colour: ``red``, ``"#ff8000"``, ``3200K``, ``[r, g, b]`` (linear 0..1 numbers or
    expressions), a palette name (its current colour), ``{palette: NAME, spread: 1}``, or
    ``{hue: EXPR, saturation: EXPR, value: EXPR}`` (hue in degrees)."""

    def __init__(self, description: str = "", *, constant: bool = False) -> None:
        self.description = description
        self.constant = constant

    def expected(self) -> str:
        return "a colour (a name, '#rrggbb', '3200K' or [r, g, b])"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (str, list, dict))

    def convert(self, value: Any, ctx: Ctx, where: Where) -> Any:
        loc, path = where.loc(), where.path
        if isinstance(value, str):
            try:
                rgb = _parse_constant_colour(value)
                return Colour("rgb", loc, path, rgb=tuple(float(x) for x in rgb))
            except ValueError as exc:
                if self.constant:
                    return ctx.error(str(exc), where)
                return Colour("name", loc, path, name=value)
        if isinstance(value, list):
            if len(value) != 3:
                return ctx.error(f"a colour list needs three values (r, g, b), found {len(value)}", where)
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
                try:
                    rgb = _parse_constant_colour([float(v) for v in value])
                except ValueError as exc:
                    return ctx.error(str(exc), where)
                return Colour("rgb", loc, path, rgb=tuple(float(x) for x in rgb))
            if self.constant:
                return ctx.error("a palette colour must be a constant (a name, '#rrggbb' or three numbers)", where)
            e = ExprSpec()
            chans = [e.convert(v, ctx, where.child(value, i)) for i, v in enumerate(value)]
            if any(c is INVALID for c in chans):
                return INVALID
            return Colour("exprs", loc, path, channels=tuple(chans))  # type: ignore[arg-type]
        if isinstance(value, dict) and not self.constant:
            if "palette" in value:
                c = _PALETTE_REF.convert(value, ctx, where)
                return INVALID if c is INVALID else Colour("palette", loc, path, palette=c["palette"], spread=c["spread"])
            if "hue" in value:
                c = _HSV.convert(value, ctx, where)
                return INVALID if c is INVALID else Colour("hsv", loc, path, channels=(c["hue"], c["saturation"], c["value"]))
            return ctx.error("a colour mapping needs 'palette' or 'hue'", where, at_key=True)
        return ctx.error(f"expected {self.expected()}, found {describe(value)}", where)

    def json_schema(self) -> dict[str, Any]:
        const = [{"type": "string"},
                 {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1}, "minItems": 3, "maxItems": 3}]
        if self.constant:
            return self._doc({"anyOf": const})
        return self._doc({"anyOf": [
            const[0],
            {"type": "array", "items": {"type": ["number", "string"]}, "minItems": 3, "maxItems": 3},
            _PALETTE_REF.json_schema(),
            _HSV.json_schema(),
        ]})


_PALETTE_REF = Record(dict, {
    "palette": Field(Text("palette name"), required=True),
    "spread": Field(ExprSpec("how much of the palette is spread across the group (1 = the whole palette)"), default=None),
}, title="palette colour")
_HSV = Record(dict, {
    "hue": Field(ExprSpec("hue in degrees"), required=True),
    "saturation": Field(ExprSpec("saturation 0..1"), default=None),
    "value": Field(ExprSpec("brightness 0..1"), default=None),
}, title="HSV colour")


# ---------------------------------------------------------------------------------------------
# Sections


@dataclass
class Settings:
    """``settings:``: show-wide numbers."""

    frame_rate: float = 100.0
    master: float = 1.0
    beats_per_bar: int = 4
    latency_ms: float = 0.0
    seed: int = 0
    transition: Duration = Duration(0.0, "ms")


SETTINGS = Record(Settings, {
    "frame_rate": Field(Number("show frames per second (the graph is evaluated this often)", minimum=1, maximum=1000), default=100.0),
    "master": Field(Number("master intensity 0..1", minimum=0, maximum=1), default=1.0),
    "beats_per_bar": Field(Number("beats in a bar", minimum=1, maximum=32, integer=True), default=4),
    "latency_ms": Field(Number("extra latency of the whole rig in ms (lamp response), added to each output's latency_ms", minimum=-1000, maximum=1000), default=0.0),
    "seed": Field(Number("seed of every random operator and effect", minimum=0, maximum=2**31 - 1, integer=True), default=0),
    "transition": Field(DurationSpec("default look transition"), default=Duration(0.0, "ms")),
}, "Show-wide settings: master, rates, latency", title="settings")


# --- signals (operators) --------------------------------------------------------------------


@dataclass
class Signal:
    """A named value computed once per frame: an expression or an operator."""

    kind: str  # "expr" or an operator name
    params: dict[str, Any]
    location: Location = field(default_factory=Location)
    path: tuple[PathPart, ...] = ()
    name: str = ""


def _signal(kind: str) -> Any:
    def make(where: Where, **kw: Any) -> Signal:
        return Signal(kind, kw, where.key_loc(), where.path)
    return make


CURVES = ("linear", "square", "sqrt", "exp", "log", "smooth")

OPERATORS: dict[str, Record] = {
    "smooth": Record(_signal("smooth"), {
        "smooth": Field(ExprSpec("the input to smooth"), required=True),
        "attack": Field(DurationSpec("time to rise (ms, or beats)"), default=Duration(10.0, "ms")),
        "release": Field(DurationSpec("time to fall"), default=Duration(200.0, "ms")),
    }, "Attack/release smoothing of an input", title="smooth", pass_where=True),
    "envelope": Record(_signal("envelope"), {
        "envelope": Field(ExprSpec("the trigger (an event like onset.kick, or a condition)", kind="condition"), required=True),
        "attack": Field(DurationSpec("rise time"), default=Duration(0.0, "ms")),
        "hold": Field(DurationSpec("time at full level"), default=Duration(0.0, "ms")),
        "decay": Field(DurationSpec("fall time", unit="beats"), default=Duration(1.0, "beats")),
        "curve": Field(Text("decay shape", choices=("linear", "exp")), default="linear"),
    }, "An envelope started by a trigger: attack, hold, decay (ms or beats)", title="envelope", pass_where=True),
    "threshold": Record(_signal("threshold"), {
        "threshold": Field(ExprSpec("the input"), required=True),
        "on": Field(Number("turns on above this"), required=True),
        "off": Field(Number("turns off below this (default: on)"), default=None),
    }, "1 while the input is above 'on', until it falls below 'off' (hysteresis)", title="threshold", pass_where=True),
    "map": Record(_signal("map"), {
        "map": Field(ExprSpec("the input"), required=True),
        "from": Field(ListOf(Number(), min_items=2), default=lambda: [0.0, 1.0]),
        "to": Field(ListOf(Number(), min_items=2), default=lambda: [0.0, 1.0]),
        "curve": Field(Text("response curve", choices=CURVES), default="linear"),
        "clamp": Field(Flag("limit the result to the 'to' range"), default=True),
    }, "Map an input range to an output range with a curve", title="map", pass_where=True),
    "quantize": Record(_signal("quantize"), {
        "quantize": Field(ExprSpec("the trigger to delay", kind="condition"), required=True),
        "to": Field(DurationSpec("the grid: '1 beat', '1/2 beat', '1 bar'", unit="beats"), default=Duration(1.0, "beats")),
    }, "Delay a trigger to the next beat or bar: fires (1 for one frame) on the grid", title="quantize", pass_where=True),
    "counter": Record(_signal("counter"), {
        "counter": Field(ExprSpec("what to count (an event or condition)", kind="condition"), required=True),
        "every": Field(Number("fire on every Nth count", minimum=1, integer=True), required=True),
        "offset": Field(Number("which count of each N fires (0 = the first)", minimum=0, integer=True), default=0),
    }, "Fires (1 for one frame) on every Nth trigger: 'every 4th beat'", title="counter", pass_where=True),
    "lfo": Record(_signal("lfo"), {
        "lfo": Field(Text("wave shape", choices=("sine", "triangle", "saw", "square", "random")), required=True),
        "period": Field(DurationSpec("length of one cycle", unit="beats"), default=Duration(1.0, "beats")),
        "phase": Field(Number("offset in cycles"), default=0.0),
        "min": Field(Number("lowest value"), default=0.0),
        "max": Field(Number("highest value"), default=1.0),
    }, "A beat-synced oscillator", title="lfo", pass_where=True),
    "random": Record(_signal("random"), {
        "random": Field(DurationSpec("a new value every", unit="beats"), required=True),
        "seed": Field(Number("seed (added to settings.seed)", integer=True, minimum=0), default=0),
        "min": Field(Number("lowest value"), default=0.0),
        "max": Field(Number("highest value"), default=1.0),
    }, "A seeded random value that steps with the beat", title="random", pass_where=True),
}
EVENT_OPERATORS = ("quantize", "counter")


def _expr_signal(value: Any, ctx: Ctx, where: Where) -> Any:
    e = ExprSpec().convert(value, ctx, where)
    if e is INVALID:
        return INVALID
    return Signal("expr", {"expr": e}, where.key_loc(), where.path)


class SignalSpec(Spec):
    description = "An expression, or one operator: " + ", ".join(OPERATORS)

    def __init__(self) -> None:
        self.ops = Tagged(OPERATORS, what="operator")

    def accepts(self, value: Any) -> bool:
        return True

    def convert(self, value: Any, ctx: Ctx, where: Where) -> Any:
        if isinstance(value, dict):
            return self.ops.convert(value, ctx, where)
        if isinstance(value, (int, float, str)):
            return _expr_signal(value, ctx, where)
        return ctx.error(f"expected an expression or an operator mapping, found {describe(value)}", where)

    def json_schema(self) -> dict[str, Any]:
        return self._doc({"anyOf": [{"type": ["number", "string"]}, self.ops.json_schema()]})


# --- effects --------------------------------------------------------------------------------


@dataclass
class Effect:
    """One effect of a look part; ``params`` are validated values (ExprRef, Duration ...)."""

    kind: str
    params: dict[str, Any]


def _effect(kind: str) -> Any:
    return lambda **kw: Effect(kind, kw)


_MOVE_FIELDS = {
    "period": Field(DurationSpec("length of one cycle", unit="beats"), default=Duration(4.0, "beats")),
    "size": Field(ExprSpec("size in degrees"), default=None),
    "pan": Field(ExprSpec("centre pan in degrees"), default=None),
    "tilt": Field(ExprSpec("centre tilt in degrees"), default=None),
    "spread": Field(ExprSpec("phase offset across the group, in cycles"), default=None),
}

EFFECTS: dict[str, Record] = {
    "chase": Record(_effect("chase"), {
        "period": Field(DurationSpec("time for the chase to cross the group", unit="beats"), default=Duration(1.0, "bars")),
        "width": Field(ExprSpec("width of the lit window, fraction of the group"), default=None),
        "direction": Field(Text(choices=("forward", "backward", "bounce")), default="forward"),
    }, "A window of light running across the group (intensity)", title="chase"),
    "pulse": Record(_effect("pulse"), {
        "trigger": Field(ExprSpec("what starts a pulse", kind="condition"), default=None),
        "attack": Field(DurationSpec("rise time"), default=Duration(0.0, "ms")),
        "decay": Field(DurationSpec("fall time", unit="beats"), default=Duration(0.5, "beats")),
        "floor": Field(Number("intensity between pulses", minimum=0, maximum=1), default=0.0),
    }, "Intensity pulse on every trigger (default: every beat)", title="pulse"),
    "strobe": Record(_effect("strobe"), {
        "rate": Field(ExprSpec("flashes per second (Hz)"), default=None),
        "sync": Field(DurationSpec("flash once per this many beats (software strobe on intensity)", unit="beats"), default=None),
        "duty": Field(Number("fraction of each flash that is on", minimum=0.01, maximum=1), default=0.2),
    }, "Strobe: the fixture's strobe channel (rate) or a beat-synced software strobe (sync)", title="strobe"),
    "colour_cycle": Record(_effect("colour_cycle"), {
        "palette": Field(Text("palette to cycle through"), required=True),
        "period": Field(DurationSpec("time per colour", unit="beats"), default=Duration(1.0, "beats")),
        "spread": Field(ExprSpec("palette steps spread across the group"), default=None),
        "fade": Field(Flag("cross-fade between colours"), default=False),
    }, "Step or fade through a palette", title="colour cycle"),
    "circle": Record(_effect("circle"), dict(_MOVE_FIELDS), "Pan/tilt circle", title="circle"),
    "figure8": Record(_effect("figure8"), dict(_MOVE_FIELDS), "Pan/tilt figure-8", title="figure-8"),
    "sweep": Record(_effect("sweep"), dict(_MOVE_FIELDS), "Pan sweep left-right", title="sweep"),
    "fan": Record(_effect("fan"), dict(_MOVE_FIELDS), "Beams fanned out across the group, opening and closing", title="fan"),
    "wave": Record(_effect("wave"), {
        "period": Field(DurationSpec("time for a wave to travel", unit="beats"), default=Duration(1.0, "bars")),
        "wavelength": Field(Number("waves across the group's cells", exclusive_minimum=True, minimum=0), default=1.0),
    }, "A brightness wave along the cells of pixel fixtures", title="wave"),
    "sparkle": Record(_effect("sparkle"), {
        "density": Field(ExprSpec("fraction of cells lit, 0..1"), default=None),
        "period": Field(DurationSpec("new sparkles every", unit="beats"), default=Duration(0.25, "beats")),
        "seed": Field(Number(integer=True, minimum=0), default=0),
    }, "Random cells flashing", title="sparkle"),
    "vu": Record(_effect("vu"), {
        "input": Field(ExprSpec("level 0..1 shown as the lit fraction"), default=None),
        "mirror": Field(Flag("grow from the centre"), default=False),
    }, "A level meter along the cells", title="VU meter"),
}
EFFECT_ALIASES = {"color_cycle": "colour_cycle", "figure_8": "figure8"}
PIXEL_EFFECTS = ("wave", "sparkle", "vu")
MOVE_EFFECTS = ("circle", "figure8", "sweep", "fan")

ATTRIBUTE_KEYS = ("intensity", "strobe", "pan", "tilt", "zoom", "focus", "iris", "gobo", "wheel", "uv", "fog")


@dataclass
class Part:
    """One line of a look: a group, attribute values, at most one effect."""

    group: str
    attributes: dict[str, ExprRef]
    colour: Colour | None
    effect: Effect | None
    where: Where
    cells: "Cells | None" = None


@dataclass
class Cells:
    """Per-cell values for the multi-cell fixtures of a part's group. In these expressions
    ``i``, ``n``, ``pos`` and ``rand`` count the group's cells (all its fixtures' cells in a row)."""

    intensity: ExprRef | None
    colour: Colour | None


CELLS = Record(lambda **kw: Cells(**kw), {
    "intensity": Field(ExprSpec("cell intensity 0..1 (i, n, pos, rand count cells)")),
    "colour": Field(ColourSpec("cell colour"), aliases=("color",)),
}, "Per-cell values of pixel fixtures", title="cells")


def _make_part(where: Where, **kw: Any) -> Any:
    group = kw.pop("group")
    colour = kw.pop("colour")
    cells = kw.pop("cells")
    effects = {k: v for k, v in kw.items() if k in EFFECTS and isinstance(v, Effect)}
    attrs = {k: v for k, v in kw.items() if k in ATTRIBUTE_KEYS and isinstance(v, ExprRef)}
    if len(effects) > 1:
        raise _PartError(f"a look part has at most one effect; found {', '.join(effects)}")
    effect = next(iter(effects.values()), None)
    if cells is not None and effect is not None and effect.kind in PIXEL_EFFECTS:
        raise _PartError(f"'cells' and the pixel effect '{effect.kind}' both set the cells; give only one")
    return Part(group, attrs, colour, effect, where, cells)


class _PartError(Exception):
    pass


def _make_part_aliased(where: Where, **kw: Any) -> Any:
    # Effect aliases (color_cycle, figure_8) are keys of their own in the schema; fold them.
    for alias, canon in EFFECT_ALIASES.items():
        v = kw.pop(alias, None)
        if v is not None:
            if kw.get(canon) is not None:
                raise _PartError(f"'{alias}' and '{canon}' mean the same; give only one")
            kw[canon] = v
    return _make_part(where, **kw)


class PartSpec(Record):
    def convert(self, value: Any, ctx: Ctx, where: Where) -> Any:
        try:
            return super().convert(value, ctx, where)
        except _PartError as exc:
            return ctx.error(str(exc), where, at_key=True)


PART = PartSpec(_make_part_aliased, {
    "group": Field(Text("the group (or 'all')"), required=True),
    "colour": Field(ColourSpec("colour"), aliases=("color",)),
    "cells": Field(CELLS),
    **{k: Field(ExprSpec(d)) for k, d in {
        "intensity": "intensity 0..1", "strobe": "strobe rate in Hz (0 = off)", "pan": "pan in degrees from centre",
        "tilt": "tilt in degrees from centre", "zoom": "zoom 0..1 (0 = narrowest)", "focus": "focus 0..1",
        "iris": "iris 0..1", "gobo": "gobo slot index (0 = open)", "wheel": "colour wheel slot index",
        "uv": "UV 0..1", "fog": "fog/haze output 0..1",
    }.items()},
    **{k: Field(rec) for k, rec in EFFECTS.items() if k != "strobe"},
    # `strobe: 8` sets the strobe rate; `strobe: {sync: 1/4 beat}` is the strobe effect.
    "strobe": Field(Either(ExprSpec("strobe rate in Hz (0 = off)"), EFFECTS["strobe"])),
    **{a: Field(EFFECTS[k]) for a, k in EFFECT_ALIASES.items()},
}, "Attributes for a group, optionally with one effect", title="look part", pass_where=True)


@dataclass
class Look:
    """A named look: parts applied in order (a later part wins for the same fixture)."""

    name: str
    parts: list[Part]
    location: Location


class LookSpec(Spec):
    description = "A look: a list of parts (group + attributes + optional effect)"

    def __init__(self) -> None:
        self.parts = ListOf(PART, single=True)

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (list, dict))

    def convert(self, value: Any, ctx: Ctx, where: Where) -> Any:
        parts = self.parts.convert(value, ctx, where)
        if parts is INVALID:
            return INVALID
        return Look(str(where.key), parts, where.key_loc())

    def json_schema(self) -> dict[str, Any]:
        return self._doc(self.parts.json_schema())


# --- layers, rules, cues -------------------------------------------------------------------

BLENDS = ("htp", "ltp", "mix", "multiply")


@dataclass
class Layer:
    """A layer: the look it shows, how it blends onto the layers below, its opacity."""

    name: str
    look: str | None
    blend: str
    opacity: ExprRef | None
    priority: int | None
    where: Where


LAYER = Record(lambda where, **kw: Layer(where=where, **kw), {
    "name": Field(Text("layer name"), required=True),
    "look": Field(Text("the look shown at start"), default=None),
    "blend": Field(Text("htp: intensity highest-takes-precedence, other attributes latest-takes-precedence; "
                        "ltp: all replaced; mix: cross-fade by opacity; multiply: scale intensity below",
                        choices=BLENDS), default="htp"),
    "opacity": Field(ExprSpec("0..1, how much of this layer shows"), default=None),
    "priority": Field(Number("higher is on top (default: file order)", integer=True), default=None),
}, "A layer of the show", title="layer", pass_where=True)


@dataclass
class Action:
    """One action of a rule or cue; ``kind`` is its tag (``look``, ``palette_step`` ...)."""

    kind: str
    params: dict[str, Any]
    where: Where


def _action(kind: str) -> Any:
    return lambda where, **kw: Action(kind, kw, where)


ACTIONS: dict[str, Record] = {
    "look": Record(_action("look"), {
        "look": Field(Text("the look to show"), required=True),
        "layer": Field(Text("on which layer (default: the first layer)"), default=None),
        "for": Field(DurationSpec("then go back to the previous look", unit="beats"), default=None),
        "transition": Field(DurationSpec("cross-fade time (default: settings.transition)"), default=None),
    }, "Switch a layer to a look", title="look action", pass_where=True),
    "palette_step": Record(_action("palette_step"), {
        "palette_step": Field(Text("the palette to advance"), required=True),
        "by": Field(Number("steps (negative goes back)", integer=True), default=1),
    }, "Advance a palette to its next colour", title="palette step", pass_where=True),
    "fade": Record(_action("fade"), {
        "fade": Field(Text("the layer whose opacity fades"), required=True),
        "to": Field(Number("target opacity", minimum=0, maximum=1), required=True),
        "over": Field(DurationSpec("fade time"), default=Duration(0.0, "ms")),
    }, "Fade a layer's opacity", title="fade", pass_where=True),
    "cue": Record(_action("cue"), {
        "cue": Field(Text("a cue name, 'next' or 'previous'"), required=True),
    }, "Go to a cue", title="cue action", pass_where=True),
    "blackout": Record(_action("blackout"), {
        "blackout": Field(Flag("true = all dark"), required=True),
    }, "Blackout on or off", title="blackout", pass_where=True),
    "master": Record(_action("master"), {
        "master": Field(Number("master 0..1", minimum=0, maximum=1), required=True),
        "over": Field(DurationSpec("fade time"), default=Duration(0.0, "ms")),
    }, "Set the master", title="master", pass_where=True),
}

ACTION = Tagged(ACTIONS, "An action", what="action")


@dataclass
class Rule:
    """``when`` a condition holds (or an event fires) ``do`` actions, optionally every Nth time."""

    name: str | None
    when: ExprRef
    every: int
    do: list[Action]
    enabled: bool
    where: Where


RULE = Record(lambda where, **kw: Rule(where=where, **kw), {
    "name": Field(Text("a name shown in reports (default: rules[N])"), default=None),
    "when": Field(ExprSpec("an event (downbeat, drop, onset.kick) or a condition (level.vocals > 0.3)", kind="condition"), required=True),
    "every": Field(Number("act on every Nth time only", minimum=1, integer=True), default=1),
    "do": Field(ListOf(ACTION, single=True), required=True),
    "enabled": Field(Flag(), default=True),
}, "when <condition> do <actions>", title="rule", pass_where=True)


@dataclass
class Cue:
    """A named state: looks per layer, palette positions, with a transition."""

    name: str
    looks: dict[str, str]
    transition: Duration | None
    do: list[Action]
    where: Where


CUE = Record(lambda where, **kw: Cue(name=str(where.key), where=where, **kw), {
    "looks": Field(MapOf(Text("look name"), "layer -> look"), default=dict),
    "transition": Field(DurationSpec("cross-fade time"), default=None),
    "do": Field(ListOf(ACTION, single=True), default=list),
}, "A cue: looks per layer and actions", title="cue", pass_where=True)


# --- the whole file ----------------------------------------------------------------------------


def _outputs_schema() -> dict[str, Any]:
    try:
        from engine.output.config import outputs_json_schema

        return outputs_json_schema()
    except ImportError:  # the outputs module is optional for the schema
        return {"type": "array"}


def _patch_schema(part: str) -> dict[str, Any]:
    try:
        from engine.fixtures.patch import patch_json_schema

        s = patch_json_schema()
    except ImportError:
        return {}
    return s.get(part, {}) if isinstance(s, dict) else {}


@dataclass
class ShowModel:
    """The validated sections of one show file after includes are merged (see the loader)."""

    name: str
    settings: Settings
    palettes: dict[str, list[Colour]]
    signals: dict[str, Signal]
    looks: dict[str, Look]
    layers: list[Layer]
    rules: list[Rule]
    cues: dict[str, Cue]


#: Top-level keys and their specs (include is handled by the loader).
SECTIONS: dict[str, Spec] = {
    "show": Text("the show's name"),
    "description": Text("free text"),
    "include": ListOf(Text("a YAML file, relative to this one"), "files merged into this show (rigs, shared looks)", single=True),
    "settings": SETTINGS,
    "outputs": Raw(_outputs_schema, "where frames go (sACN, Art-Net, OSC, USB DMX)"),
    "fixtures": Raw(lambda: _patch_schema("fixtures"), "the patch: fixtures with profile, universe, address"),
    "groups": Raw(lambda: _patch_schema("groups"), "named groups of fixtures"),
    "palettes": MapOf(ListOf(ColourSpec(constant=True), min_items=1, single=True), "named colours and colour sets"),
    "signals": MapOf(SignalSpec(), "named values computed every frame"),
    "looks": MapOf(LookSpec(), "named looks"),
    "layers": ListOf(LAYER, "layers, bottom first"),
    "rules": ListOf(RULE, "when ... do ..."),
    "cues": MapOf(CUE, "named cues, in order"),
}
SECTION_ALIASES = {"scenes": "looks", "patch": "fixtures", "colors": "palettes", "colours": "palettes"}
