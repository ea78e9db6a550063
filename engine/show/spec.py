"""A small declarative schema: one description drives both validation and the JSON Schema.

Each :class:`Spec` converts a node from ``engine.config.load_yaml`` into a typed value,
appending a :class:`~engine.config.ConfigError` (file, line, column, document path, what was
expected, what was found) to the :class:`Ctx` for every problem instead of stopping at the
first, and can describe itself as JSON Schema (:meth:`Spec.json_schema`). The show model in
:mod:`engine.show.model` is written with these specs, so the shipped schema and the loader can
never disagree.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from engine.config import ConfigError, Location, PathPart, location_of, suggest, value_location


class Invalid:
    """The result of a conversion that reported an error (never reaches the model)."""

    _instance: "Invalid | None" = None

    def __new__(cls) -> "Invalid":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "INVALID"

    def __bool__(self) -> bool:
        return False


INVALID = Invalid()


@dataclass
class Ctx:
    """Collects errors and warnings while one show (and its includes) is converted."""

    errors: list[ConfigError] = field(default_factory=list)
    warnings: list[ConfigError] = field(default_factory=list)
    sources: dict[str, list[str]] = field(default_factory=dict)  # file -> lines, for columns

    def quoted_at(self, loc: Location) -> bool:
        """Whether the scalar at ``loc`` starts with a quote (its text starts one column later)."""
        lines = self.sources.get(loc.file or "")
        if not lines or not (0 < loc.line <= len(lines)):
            return False
        line = lines[loc.line - 1]
        return 0 < loc.column <= len(line) and line[loc.column - 1] in "\"'"

    def error(self, message: str, where: "Where", *, at_key: bool = False) -> Invalid:
        self.errors.append(ConfigError(message, where.key_loc() if at_key else where.loc(), where.path))
        return INVALID

    def warn(self, message: str, location: Location, path: Sequence[PathPart] = ()) -> None:
        self.warnings.append(ConfigError(message, location, path, severity="warning"))


@dataclass(frozen=True)
class Where:
    """Where a node sits: its parent container and key, the file, and the document path."""

    file: str | None
    parent: Any
    key: PathPart | None
    path: tuple[PathPart, ...]

    def loc(self) -> Location:
        """The position of the value."""
        if self.parent is None or self.key is None:
            return location_of(self.parent, None, self.file) if self.parent is not None else Location(self.file, 1, 1)
        if isinstance(self.parent, CommentedMap):
            return value_location(self.parent, self.key, self.file)
        return location_of(self.parent, self.key, self.file)

    def key_loc(self) -> Location:
        """The position of the key (the start of the entry)."""
        if self.parent is None or self.key is None:
            return self.loc()
        return location_of(self.parent, self.key, self.file)

    def child(self, node: Any, key: PathPart) -> "Where":
        return Where(self.file, node, key, (*self.path, key))

    def value(self) -> Any:
        if self.parent is None:
            return None
        return self.parent[self.key]


def describe(value: Any) -> str:
    """How a found value is named in messages: ``a number (3)``, ``text 'abc'``, ``a list``."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        # Escaped control characters keep every message on one line (a multi-line block
        # scalar was quoted with its newlines: found by fuzzing).
        flat = value.encode("unicode_escape").decode("ascii") if not value.isprintable() else value
        short = flat if len(flat) <= 40 else flat[:37] + "..."
        return f"text '{short}'"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def text_offset(value: Any) -> int:
    """Columns between a scalar's position and its first character (1 for quoted text)."""
    if isinstance(value, (DoubleQuotedScalarString, SingleQuotedScalarString)):
        return 1
    return 0


class Spec:
    """The base: ``convert`` a node (reporting problems to ``ctx``), describe it as JSON Schema."""

    description: str = ""

    def convert(self, value: Any, ctx: Ctx, where: Where) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def json_schema(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def expected(self) -> str:
        return "a value"

    def accepts(self, value: Any) -> bool:
        """Whether this spec is the one meant for ``value`` (used by :class:`Either`)."""
        return True

    def _doc(self, schema: dict[str, Any]) -> dict[str, Any]:
        if self.description:
            schema = {"description": self.description, **schema}
        return schema


class Number(Spec):
    """A number, optionally an integer, optionally within ``minimum..maximum``."""

    def __init__(self, description: str = "", *, minimum: float | None = None, maximum: float | None = None,
                 integer: bool = False, exclusive_minimum: bool = False) -> None:
        self.description = description
        self.minimum = minimum
        self.maximum = maximum
        self.integer = integer
        self.exclusive_minimum = exclusive_minimum

    def expected(self) -> str:
        kind = "a whole number" if self.integer else "a number"
        if self.minimum is not None and self.maximum is not None:
            return f"{kind} from {_fmt(self.minimum)} to {_fmt(self.maximum)}"
        if self.minimum is not None:
            return f"{kind} {'above' if self.exclusive_minimum else 'of at least'} {_fmt(self.minimum)}"
        return kind

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    def convert(self, value: Any, ctx: Ctx, where: Where) -> Any:
        if not self.accepts(value) or (isinstance(value, float) and not math.isfinite(value)):
            return ctx.error(f"expected {self.expected()}, found {describe(value)}", where)
        if self.integer and (isinstance(value, float) and not value.is_integer()):
            return ctx.error(f"expected {self.expected()}, found {describe(value)}", where)
        lo, hi = self.minimum, self.maximum
        if (lo is not None and (value < lo or (self.exclusive_minimum and value == lo))) or (hi is not None and value > hi):
            return ctx.error(f"expected {self.expected()}, found {describe(value)}", where)
        return int(value) if self.integer else float(value)

    def json_schema(self) -> dict[str, Any]:
        s: dict[str, Any] = {"type": "integer" if self.integer else "number"}
        if self.minimum is not None:
            s["exclusiveMinimum" if self.exclusive_minimum else "minimum"] = self.minimum
        if self.maximum is not None:
            s["maximum"] = self.maximum
        return self._doc(s)


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


class Text(Spec):
    """A string, optionally one of ``choices`` or matching ``pattern``."""

    def __init__(self, description: str = "", *, choices: Sequence[str] | None = None,
                 pattern: str | None = None, pattern_hint: str = "") -> None:
        self.description = description
        self.choices = tuple(choices) if choices else None
        self.pattern = pattern
        self.pattern_hint = pattern_hint

    def expected(self) -> str:
        if self.choices:
            return "one of " + ", ".join(f"'{c}'" for c in self.choices)
        return self.pattern_hint or "text"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)

    def convert(self, value: Any, ctx: Ctx, where: Where) -> Any:
        if not isinstance(value, str):
            return ctx.error(f"expected {self.expected()}, found {describe(value)}", where)
        if self.choices and value not in self.choices:
            return ctx.error(f"expected {self.expected()}, found '{value}'{suggest(value, self.choices)}", where)
        if self.pattern and not re.fullmatch(self.pattern, value):
            return ctx.error(f"expected {self.expected()}, found '{value}'", where)
        return str(value)

    def json_schema(self) -> dict[str, Any]:
        s: dict[str, Any] = {"type": "string"}
        if self.choices:
            s["enum"] = list(self.choices)
        if self.pattern:
            s["pattern"] = f"^(?:{self.pattern})$"
        return self._doc(s)


class Flag(Spec):
    """A boolean."""

    def __init__(self, description: str = "") -> None:
        self.description = description

    def expected(self) -> str:
        return "true or false"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)

    def convert(self, value: Any, ctx: Ctx, where: Where) -> Any:
        if not isinstance(value, bool):
            return ctx.error(f"expected true or false, found {describe(value)}", where)
        return value

    def json_schema(self) -> dict[str, Any]:
        return self._doc({"type": "boolean"})


class ListOf(Spec):
    """A list whose items all follow ``item``. ``single`` also accepts one bare item."""

    def __init__(self, item: Spec, description: str = "", *, min_items: int = 0, single: bool = False) -> None:
        self.item = item
        self.description = description
        self.min_items = min_items
        self.single = single

    def expected(self) -> str:
        return f"a list of {self.item.expected()}"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, list) or (self.single and self.item.accepts(value))

    def convert(self, value: Any, ctx: Ctx, where: Where) -> Any:
        if not isinstance(value, list):
            if self.single and value is not None and self.item.accepts(value):
                v = self.item.convert(value, ctx, where)
                return INVALID if v is INVALID else [v]
            return ctx.error(f"expected a list, found {describe(value)}", where)
        if len(value) < self.min_items:
            return ctx.error(f"expected at least {self.min_items} item{'s' if self.min_items > 1 else ''}, found {len(value)}", where)
        out = []
        ok = True
        for i, item in enumerate(value):
            v = self.item.convert(item, ctx, where.child(value, i))
            if v is INVALID:
                ok = False
            out.append(v)
        return out if ok else INVALID

    def json_schema(self) -> dict[str, Any]:
        s: dict[str, Any] = {"type": "array", "items": self.item.json_schema()}
        if self.min_items:
            s["minItems"] = self.min_items
        if self.single:
            s = {"anyOf": [s, self.item.json_schema()]}
        return self._doc(s)


NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_\-]*"


class MapOf(Spec):
    """A mapping from names to values that follow ``value``; the result is a dict of
    ``name -> value`` and :attr:`locations` ``name -> Location`` is filled per call."""

    def __init__(self, value: Spec, description: str = "", *, key_pattern: str = NAME_PATTERN) -> None:
        self.value = value
        self.description = description
        self.key_pattern = key_pattern

    def expected(self) -> str:
        return "a mapping of names"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)

    def convert(self, value: Any, ctx: Ctx, where: Where) -> Any:
        if value is None:
            return {}
        if not isinstance(value, dict):
            return ctx.error(f"expected a mapping of names, found {describe(value)}", where)
        out: dict[str, Any] = {}
        ok = True
        for k in value:
            w = where.child(value, k)
            if not isinstance(k, str) or not re.fullmatch(self.key_pattern, k):
                ctx.error(f"'{k}' is not a valid name (letters, digits, '_' and '-', not starting with a digit)", w, at_key=True)
                ok = False
                continue
            v = self.value.convert(value[k], ctx, w)
            if v is INVALID:
                ok = False
            out[k] = v
        return out if ok else INVALID

    def json_schema(self) -> dict[str, Any]:
        return self._doc({
            "type": "object",
            "patternProperties": {f"^{self.key_pattern}$": self.value.json_schema()},
            "additionalProperties": False,
        })


@dataclass
class Field:
    """One key of a :class:`Record`: its spec, whether it is required, its default, aliases."""

    spec: Spec
    required: bool = False
    default: Any = None
    aliases: tuple[str, ...] = ()


class Record(Spec):
    """A mapping with fixed keys, converted into ``make(**fields)`` (a dataclass).

    Unknown keys are errors with a suggestion; ``where`` (the :class:`Where` of the mapping) is
    passed to ``make`` as ``where=`` when ``pass_where`` is set, so objects can keep their
    location for later checks."""

    def __init__(self, make: Callable[..., Any], fields: dict[str, Field], description: str = "", *,
                 title: str = "", pass_where: bool = False, shorthand: Callable[[Any, Ctx, Where], Any] | None = None,
                 shorthand_schema: dict[str, Any] | None = None) -> None:
        self.make = make
        self.fields = fields
        self.description = description
        self.title = title
        self.pass_where = pass_where
        self.shorthand = shorthand
        self.shorthand_schema = shorthand_schema
        self._alias = {a: k for k, f in fields.items() for a in f.aliases}

    def expected(self) -> str:
        return f"a mapping ({self.title})" if self.title else "a mapping"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)

    def convert(self, value: Any, ctx: Ctx, where: Where) -> Any:
        if not isinstance(value, dict):
            if self.shorthand is not None and value is not None:
                return self.shorthand(value, ctx, where)
            return ctx.error(f"expected {self.expected()}, found {describe(value)}", where)
        kwargs: dict[str, Any] = {}
        ok = True
        seen: dict[str, str] = {}
        for key in value:
            w = where.child(value, key)
            name = self._alias.get(key, key) if isinstance(key, str) else key
            if name not in self.fields:
                known = [*self.fields, *self._alias]
                ctx.error(f"unknown key '{key}'{suggest(str(key), known)}", w, at_key=True)
                ok = False
                continue
            if name in seen:
                ctx.error(f"'{key}' and '{seen[name]}' mean the same; give only one", w, at_key=True)
                ok = False
                continue
            seen[name] = str(key)
            f = self.fields[name]
            if value[key] is None and not f.required and f.default is None:
                kwargs[name] = None  # `key: null` (or an empty value) means "not set"
                continue
            v = f.spec.convert(value[key], ctx, w)
            if v is INVALID:
                ok = False
            kwargs[name] = v
        missing = [k for k, f in self.fields.items() if f.required and k not in kwargs]
        for k in missing:
            ctx.error(f"missing required key '{k}'" + (f" ({self.title})" if self.title else ""), where, at_key=True)
            ok = False
        if not ok:
            return INVALID
        for k, f in self.fields.items():
            if k not in kwargs:
                kwargs[k] = f.default() if callable(f.default) else f.default
        if self.pass_where:
            kwargs["where"] = where
        return self.make(**kwargs)

    def json_schema(self) -> dict[str, Any]:
        props: dict[str, Any] = {}
        for k, f in self.fields.items():
            fs = f.spec.json_schema()
            if not f.required and f.default is None:
                fs = {"anyOf": [fs, {"type": "null"}]}  # `key: null` means not set
            props[k] = fs
            for a in f.aliases:
                props[a] = fs
        s: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
        req = [k for k, f in self.fields.items() if f.required]
        if req:
            s["required"] = req
        if self.title:
            s["title"] = self.title
        if self.shorthand_schema is not None:
            s = {"anyOf": [s, self.shorthand_schema]}
        return self._doc(s)


class Tagged(Spec):
    """One of several records told apart by which tag key is present (``smooth:``, ``look:``).

    ``{look: full, for: 16 beats}`` is the record registered for tag ``look``; the tag key is a
    field of that record."""

    def __init__(self, variants: dict[str, Record], description: str = "", *, what: str = "entry") -> None:
        self.variants = variants
        self.description = description
        self.what = what

    def expected(self) -> str:
        return f"a mapping with one of {', '.join(self.variants)}"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)

    def convert(self, value: Any, ctx: Ctx, where: Where) -> Any:
        if not isinstance(value, dict):
            return ctx.error(f"expected {self.expected()}, found {describe(value)}", where)
        tags = [k for k in value if k in self.variants]
        if len(tags) == 1:
            return self.variants[tags[0]].convert(value, ctx, where)
        if len(tags) > 1:
            return ctx.error(f"{_a(self.what)} has exactly one of {', '.join(self.variants)}; found {', '.join(tags)}", where, at_key=True)
        keys = [str(k) for k in value]
        hint = ""
        for k in keys:
            hint = suggest(k, self.variants)
            if hint:
                ctx.errors.append(ConfigError(f"unknown {self.what} '{k}'{hint}", location_of(value, k, where.file), (*where.path, k)))
                return INVALID
        return ctx.error(f"{_a(self.what)} needs one of {', '.join(self.variants)}; found keys {', '.join(keys) or 'none'}", where, at_key=True)

    def json_schema(self) -> dict[str, Any]:
        variants = []
        for tag, rec in self.variants.items():
            s = rec.json_schema()
            core = s["anyOf"][0] if "anyOf" in s else s
            core = {**core, "required": sorted({*core.get("required", []), tag})}
            variants.append(core)
        return self._doc({"oneOf": variants})


def _a(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


class Either(Spec):
    """The first of ``options`` that :meth:`Spec.accepts` the value converts it."""

    def __init__(self, *options: Spec, description: str = "") -> None:
        self.options = options
        self.description = description

    def expected(self) -> str:
        return " or ".join(o.expected() for o in self.options)

    def accepts(self, value: Any) -> bool:
        return any(o.accepts(value) for o in self.options)

    def convert(self, value: Any, ctx: Ctx, where: Where) -> Any:
        for o in self.options:
            if o.accepts(value):
                return o.convert(value, ctx, where)
        return ctx.error(f"expected {self.expected()}, found {describe(value)}", where)

    def json_schema(self) -> dict[str, Any]:
        return self._doc({"anyOf": [o.json_schema() for o in self.options]})


class Raw(Spec):
    """A node passed through untouched (sections other modules validate, e.g. ``outputs``)."""

    def __init__(self, schema: Callable[[], dict[str, Any]] | dict[str, Any], description: str = "") -> None:
        self._schema = schema
        self.description = description

    def convert(self, value: Any, ctx: Ctx, where: Where) -> Any:
        return value

    def json_schema(self) -> dict[str, Any]:
        s = self._schema() if callable(self._schema) else self._schema
        return self._doc(dict(s))


def is_seq(value: Any) -> bool:
    return isinstance(value, (list, CommentedSeq))
