"""Loading a show: read the file and its includes, validate every section, link the names.

:func:`load_show` returns a :class:`Show` (typed, compiled, ready for
:class:`engine.show.runtime.ShowRuntime`) or raises :class:`ShowErrors` listing *every*
problem with file, line, column and document path. :func:`check_show` returns errors and
warnings without raising (``beamsync check``).

Includes: ``include: [rig.yaml, looks.yaml]`` merges other YAML files, paths relative to the
including file, included files first. Named sections (palettes, signals, looks, cues) merge by
name; a name defined twice is an error naming both places. Lists (layers, rules) concatenate.
``outputs``, ``fixtures`` and ``groups`` are taken whole from one file each (groups may sit in
another file than the fixtures, e.g. a show's own groups over a shared rig), because they are
validated by the output and fixture modules.
``settings`` merge key by key, the including file winning.

Only plain YAML data is read (ruamel's round-trip loader never builds objects from tags) and
expressions are compiled by the restricted evaluator in :mod:`engine.show.expr`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ruamel.yaml.comments import CommentedMap

from engine.config import ConfigError, ConfigErrors, Location, PathPart, load_yaml, location_of, read_config_text, suggest
from engine.show import inputs as I
from engine.show.expr import CONSTANTS, FIXTURE_VARIABLES, CompiledExpr, ExprError, Scope, compile_expr, names_in
from engine.show.model import (
    EVENT_OPERATORS,
    PIXEL_EFFECTS,
    SECTION_ALIASES,
    SECTIONS,
    Action,
    Colour,
    ExprRef,
    Layer,
    Part,
    Settings,
    ShowModel,
    Signal,
)
from engine.show.spec import INVALID, Ctx, Where

MAX_INCLUDE_DEPTH = 16
SIGNAL_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


class ShowErrors(ConfigErrors):
    """A show that cannot be loaded: every error found (and the warnings, for reporting)."""

    def __init__(self, errors: Iterable[ConfigError], warnings: Iterable[ConfigError] = ()) -> None:
        super().__init__(errors)
        self.warnings = list(warnings)


@dataclass
class Show:
    """A validated, linked show: the model, the patch, the outputs and derived facts.

    ``files`` are the show file and every include (the hot-reload watcher polls them);
    ``signal_order`` the signals in evaluation order; ``event_names`` every name that reads as
    an event (features and event-like signals); ``fixture_leads`` the latency lead of each
    fixture in seconds (its output's ``latency_ms`` plus ``settings.latency_ms``).
    """

    path: Path | None
    model: ShowModel
    patch: Any
    outputs: list[Any]
    files: list[Path]
    warnings: list[ConfigError]
    signal_order: list[str]
    event_names: set[str]
    fixture_leads: Any = None
    profile_files: list[Path] = field(default_factory=list)

    @property
    def used_names(self) -> set[str]:
        """Every input, clock and signal name the show's expressions read (e.g. for the live
        engine to know which analysers matter)."""
        return set(self._used)

    _used: set[str] = field(default_factory=set)

    @property
    def settings(self) -> Settings:
        return self.model.settings


@dataclass
class _Doc:
    file: Path | None
    name: str
    root: Any


@dataclass
class CheckResult:
    """What :func:`check_show` found: the show (None when there are errors), errors, warnings."""

    show: Show | None
    errors: list[ConfigError] = field(default_factory=list)
    warnings: list[ConfigError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def check_show(path: str | Path, *, text: str | None = None, available_features: Iterable[str] | None = None,
               profile_dirs: list[Path] | None = None) -> CheckResult:
    """Load a show and report instead of raising (all errors and warnings, sorted by place)."""
    try:
        show = load_show(path, text=text, available_features=available_features, profile_dirs=profile_dirs)
    except ShowErrors as exc:
        return CheckResult(None, exc.errors, exc.warnings)
    except ConfigErrors as exc:
        return CheckResult(None, exc.errors, [])
    except ConfigError as exc:
        return CheckResult(None, [exc], [])
    return CheckResult(show, [], show.warnings)


def load_show(path: str | Path, *, text: str | None = None, available_features: Iterable[str] | None = None,
              profile_dirs: list[Path] | None = None) -> Show:
    """Read, validate and link a show file. Raises :class:`ShowErrors` with every problem.

    ``text`` parses a string instead of reading ``path`` (includes still resolve relative to
    ``path``). ``available_features`` names the features the running analysis produces: any
    other catalogue feature a show uses is reported as a warning (it stays idle).
    """
    ctx = Ctx()
    path = Path(path)
    docs = _read_with_includes(path, text, ctx)
    if docs is None:
        raise ShowErrors(ctx.errors, ctx.warnings)
    model, raw = _convert(docs, ctx)
    patch, outputs = _patch_and_outputs(raw, ctx, profile_dirs)
    if model is None or ctx.errors:
        raise ShowErrors(_sorted(ctx.errors), _sorted(ctx.warnings))
    linker = _Linker(model, patch, ctx, available_features)
    show = linker.link(path, outputs, [d.file for d in docs if d.file is not None])
    if ctx.errors:
        raise ShowErrors(_sorted(ctx.errors), _sorted(ctx.warnings))
    show.warnings = _sorted(ctx.warnings)
    show._used = linker.used
    show.profile_files = _profile_files(patch, profile_dirs)
    return show


def _profile_files(patch: Any, profile_dirs: list[Path] | None) -> list[Path]:
    """The profile files the patch uses (hot reload watches them too)."""
    if patch is None or not patch.n_fixtures:
        return []
    from engine.fixtures.profile import available_profiles

    files = available_profiles(profile_dirs)
    keys = dict.fromkeys(f.profile.key for f in patch.fixtures)
    return [Path(files[k]) for k in keys if k in files]


def _sorted(errors: list[ConfigError]) -> list[ConfigError]:
    return sorted(errors, key=lambda e: (e.location.file or "", e.location.line, e.location.column))


# ---------------------------------------------------------------------------------------------
# Reading and includes


def _read_with_includes(path: Path, text: str | None, ctx: Ctx) -> list[_Doc] | None:
    docs: list[_Doc] = []
    stack: list[Path] = []
    seen: set[Path] = set()

    def read(p: Path, txt: str | None, depth: int, origin: tuple[Any, int, str] | None) -> bool:
        name = str(p)
        try:
            resolved = p.resolve() if txt is None else p.absolute()
        except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte: reading reports it
            resolved = p.absolute()
        if resolved in stack:
            chain = " -> ".join(s.name for s in [*stack, resolved])
            node, idx, oname = origin  # type: ignore[misc]
            ctx.errors.append(ConfigError(f"include cycle: {chain}", location_of(node, idx, oname), ("include", idx)))
            return False
        if resolved in seen:
            return True  # included twice through different files: read once
        if depth > MAX_INCLUDE_DEPTH:
            node, idx, oname = origin  # type: ignore[misc]
            ctx.errors.append(ConfigError(f"includes nested deeper than {MAX_INCLUDE_DEPTH}", location_of(node, idx, oname), ("include", idx)))
            return False
        try:
            if txt is None:
                txt = read_config_text(p)  # regular files of bounded size only (no /dev/zero, FIFOs)
            root = load_yaml(p, text=txt)
            ctx.sources[name] = txt.splitlines()
        except ConfigError as exc:
            if origin is not None and exc.message == "file not found":
                node, idx, oname = origin
                ctx.errors.append(ConfigError(f"included file not found: {p}", location_of(node, idx, oname), ("include", idx)))
            else:
                ctx.errors.append(exc)
            return False
        if root is None:
            root = CommentedMap()
        if not isinstance(root, dict):
            ctx.errors.append(ConfigError(f"a show file must be a mapping of sections, found {_kind(root)}", Location(name, 1, 1)))
            return False
        seen.add(resolved)
        stack.append(resolved)
        ok = True
        inc = root.get("include")
        if inc is not None:
            items = inc if isinstance(inc, list) else [inc]
            holder = inc if isinstance(inc, list) else root
            for idx, item in enumerate(items):
                key: Any = idx if isinstance(inc, list) else "include"
                if not isinstance(item, str) or not item.strip():
                    loc = location_of(holder, key, name) if isinstance(inc, list) else location_of(root, "include", name)
                    ctx.errors.append(ConfigError(f"an include is a file name, found {_kind(item)}", loc, ("include", idx)))
                    ok = False
                    continue
                child = (p.parent / item)
                if not read(child, None, depth + 1, (holder, key, name)):
                    ok = False
        stack.pop()
        docs.append(_Doc(p, name, root))
        return ok

    ok = read(path, text, 0, None)
    return docs if ok else None


def _kind(v: Any) -> str:
    from engine.show.spec import describe

    return describe(v)


# ---------------------------------------------------------------------------------------------
# Section conversion and merging

_MAP_SECTIONS = ("palettes", "signals", "looks", "cues")
_LIST_SECTIONS = ("layers", "rules")
_WHOLE_SECTIONS = ("outputs", "fixtures", "groups")


def _convert(docs: list[_Doc], ctx: Ctx) -> tuple[ShowModel | None, dict[str, tuple[Any, str, Location] | None]]:
    merged: dict[str, Any] = {k: {} for k in _MAP_SECTIONS}
    defined_at: dict[tuple[str, str], Location] = {}
    lists: dict[str, list[Any]] = {k: [] for k in _LIST_SECTIONS}
    raw: dict[str, tuple[Any, str, Location] | None] = {k: None for k in _WHOLE_SECTIONS}
    raw_where: dict[str, Location] = {}
    settings: dict[str, Any] = {}
    name = ""
    ok = True
    for doc in docs:
        root = doc.root
        for key in root:
            where = Where(doc.name, root, key, (key,))
            canon = SECTION_ALIASES.get(key, key) if isinstance(key, str) else key
            if canon not in SECTIONS:
                ctx.error(f"unknown section '{key}'{suggest(str(key), [*SECTIONS, *SECTION_ALIASES])}", where, at_key=True)
                ok = False
                continue
            value = root[key]
            if canon in _WHOLE_SECTIONS:
                if raw[canon] is not None:
                    ctx.error(f"'{canon}' is already defined in {raw_where[canon]}; define it in one file", where, at_key=True)
                    ok = False
                    continue
                raw_where[canon] = location_of(root, key, doc.name)
                raw[canon] = (value, doc.name, raw_where[canon])
                continue
            if canon == "include":
                continue
            spec = SECTIONS[canon]
            converted = spec.convert(value, ctx, where)
            if converted is INVALID:
                ok = False
                continue
            if canon == "show":
                name = converted
            elif canon == "description":
                pass
            elif canon == "settings":
                if isinstance(value, dict):
                    for k in value:
                        settings[k] = getattr(converted, k, None)  # only the keys this file sets
            elif canon in _MAP_SECTIONS:
                for item_name, item in converted.items():
                    loc = location_of(value, item_name, doc.name)
                    prev = defined_at.get((canon, item_name))
                    if prev is not None:
                        ctx.errors.append(ConfigError(f"'{item_name}' is already defined at {prev}", loc, (canon, item_name)))
                        ok = False
                        continue
                    defined_at[(canon, item_name)] = loc
                    merged[canon][item_name] = item
            elif canon in _LIST_SECTIONS:
                lists[canon].extend(converted)
    if not ok:
        return None, raw
    base = Settings()
    for k, v in settings.items():
        setattr(base, k, v)
    for sname, sig in merged["signals"].items():
        sig.name = sname
    model = ShowModel(
        name=name or (docs[-1].file.stem if docs and docs[-1].file else "show"),
        settings=base,
        palettes=merged["palettes"],
        signals=merged["signals"],
        looks=merged["looks"],
        layers=lists["layers"],
        rules=lists["rules"],
        cues=merged["cues"],
    )
    return model, raw


def _patch_and_outputs(raw: dict[str, tuple[Any, str, Location] | None], ctx: Ctx,
                       profile_dirs: list[Path] | None) -> tuple[Any, list[Any]]:
    from engine.fixtures.patch import Patch, parse_patch
    from engine.output.config import parse_outputs

    outputs: list[Any] = []
    if raw["outputs"] is not None:
        node, file, _ = raw["outputs"]
        try:
            outputs = parse_outputs(node, file)
        except ConfigErrors as exc:
            ctx.errors.extend(exc.errors)
        except ConfigError as exc:
            ctx.errors.append(exc)
    fx, gr = raw["fixtures"], raw["groups"]
    patch = None
    if fx is None and gr is not None:
        ctx.errors.append(ConfigError("'groups' needs a 'fixtures' section", gr[2], ("groups",)))
        return None, outputs
    if fx is None:
        return Patch([], {}), outputs
    try:
        if gr is not None and gr[1] != fx[1]:
            # Groups in another file (a show's own groups over a shared rig): validate the
            # fixtures first, then the groups, so each error names its own file.
            parse_patch(fx[0], None, fx[1], profile_dirs)
            patch = parse_patch(fx[0], gr[0], gr[1], profile_dirs)
        else:
            patch = parse_patch(fx[0], gr[0] if gr else None, fx[1], profile_dirs)
    except ConfigErrors as exc:
        ctx.errors.extend(exc.errors)
    except ConfigError as exc:
        ctx.errors.append(exc)
    return patch, outputs


# ---------------------------------------------------------------------------------------------
# Linking: names, expressions, references


#: Profile channel attributes that make a look attribute do something (intensity and strobe
#: always do: the renderer dims emitters and emulates strobe on any fixture).
_ATTRIBUTE_CHANNELS: dict[str, set[str]] = {
    "colour": {"red", "green", "blue", "white", "amber", "cyan", "magenta", "yellow", "color_wheel", "uv", "lime"},
    "pan": {"pan"}, "tilt": {"tilt"}, "zoom": {"zoom"}, "focus": {"focus"}, "iris": {"iris"},
    "gobo": {"gobo"}, "wheel": {"color_wheel"}, "uv": {"uv"}, "fog": {"fog"},
}


class _Linker:
    def __init__(self, model: ShowModel, patch: Any, ctx: Ctx, available: Iterable[str] | None) -> None:
        self.m = model
        self.patch = patch
        self.ctx = ctx
        self.available = set(available) if available is not None else None
        self.absent_reported: set[tuple[str, int, int]] = set()
        self.used: set[str] = set()

    def err(self, message: str, loc: Location, path: tuple[PathPart, ...]) -> None:
        self.ctx.errors.append(ConfigError(message, loc, path))

    def link(self, path: Path, outputs: list[Any], files: list[Path]) -> Show:
        m = self.m
        import re

        for sname, sig in m.signals.items():
            if not re.fullmatch(SIGNAL_NAME, sname):
                self.err(f"signal name '{sname}' must be letters, digits and '_' (it is used in expressions)", sig.location, sig.path)
            elif I.is_feature_name(sname) or sname in FIXTURE_VARIABLES or sname in CONSTANTS:
                self.err(f"signal name '{sname}' is already a built-in name; choose another", sig.location, sig.path)
        order = self._signal_order()
        event_signals = self._event_signals(order)
        prefixes = I.VALUE_PREFIXES + I.EVENT_PREFIXES
        self.scalar_scope = Scope(self._value_names(), fixture_vars=False, prefixes=prefixes)
        self.group_scope = Scope(self._value_names(), fixture_vars=True, prefixes=prefixes)
        for sname in order:
            self._link_signal(m.signals[sname])
        self._link_looks()
        layer_names = self._link_layers()
        self._link_rules(layer_names)
        self._link_cues(layer_names)
        leads = self._leads(outputs)
        event_names = {n for n in I.EVENT_FEATURES} | event_signals
        return Show(path, m, self.patch, outputs, files, [], order, event_names, leads)

    # --- names
    def _value_names(self) -> set[str]:
        return {*I.VALUE_FEATURES, *I.EVENT_FEATURES, *I.CLOCK_FEATURES, *self.m.signals}

    def compile(self, ref: ExprRef | None, scope: Scope) -> CompiledExpr | None:
        if ref is None:
            return None
        try:
            c = compile_expr(ref.source, scope)
        except ExprError as exc:
            loc = ref.location
            at = Location(loc.file, loc.line, loc.column + exc.column) if loc.line and isinstance(ref.source, str) and "\n" not in ref.source else loc
            self.err(exc.message, at, ref.path)
            return None
        ref.compiled = c
        self.used |= c.names
        self._warn_absent(ref, c)
        return c

    def _warn_absent(self, ref: ExprRef, c: CompiledExpr) -> None:
        if self.available is None:
            return
        for name in sorted(c.names):
            if name in self.m.signals or name in I.CLOCK_FEATURES or name.startswith(I.VALUE_PREFIXES + I.EVENT_PREFIXES):
                continue
            if name in ("beat", "downbeat", "tempo", "tap"):
                continue  # the beat clock and tap always exist
            if name not in self.available:
                key = (name, ref.location.line, ref.location.column)
                if key in self.absent_reported:
                    continue
                self.absent_reported.add(key)
                self.ctx.warn(f"feature '{name}' is not produced by the current analysis; this stays idle until it is",
                              ref.location, ref.path)

    # --- signals
    def _signal_refs(self, sig: Signal) -> list[ExprRef]:
        return [v for v in sig.params.values() if isinstance(v, ExprRef)]

    def _signal_order(self) -> list[str]:
        sigs = self.m.signals
        deps: dict[str, set[str]] = {}
        for name, sig in sigs.items():
            d: set[str] = set()
            for ref in self._signal_refs(sig):
                if ref.tree is not None:
                    d |= {n.value for n in names_in(ref.tree) if n.value in sigs}
            deps[name] = d
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(n: str, chain: list[str]) -> None:
            st = state.get(n, 0)
            if st == 2:
                return
            if st == 1:
                cyc = chain[chain.index(n):] + [n]
                sig = sigs[n]
                self.err(f"signals depend on each other in a loop: {' -> '.join(cyc)}", sig.location, sig.path)
                return
            state[n] = 1
            for d in sorted(deps[n]):
                visit(d, chain + [n])
            state[n] = 2
            order.append(n)

        for n in sigs:
            visit(n, [])
        return order

    def _event_signals(self, order: list[str]) -> set[str]:
        events: set[str] = set()
        for name in order:
            sig = self.m.signals[name]
            if sig.kind in EVENT_OPERATORS:
                events.add(name)
            elif sig.kind == "expr":
                ref = sig.params["expr"]
                if ref.tree is not None and all(
                    I.is_event_name(n.value) or n.value in events for n in names_in(ref.tree)
                ) and any(True for _ in names_in(ref.tree)):
                    events.add(name)
        return events

    def _link_signal(self, sig: Signal) -> None:
        for ref in self._signal_refs(sig):
            self.compile(ref, self.scalar_scope)
        if sig.kind == "threshold":
            off = sig.params["off"]
            if off is not None and off > sig.params["on"]:
                self.err(f"'off' ({off:g}) must not be above 'on' ({sig.params['on']:g})", sig.location, (*sig.path, "off"))
        if sig.kind == "map":
            for key in ("from", "to"):
                if len(sig.params[key]) != 2:
                    self.err(f"'{key}' needs exactly two numbers [low, high]", sig.location, (*sig.path, key))
            fr = sig.params["from"]
            if len(fr) == 2 and fr[0] == fr[1]:
                self.err("'from' needs two different numbers", sig.location, (*sig.path, "from"))

    # --- looks
    def _group(self, name: str, where: Where) -> None:
        if name == "all" or self.patch is None:
            return
        try:
            self.patch.group(name)
        except KeyError as exc:
            msg = str(exc.args[0]) if exc.args else f"unknown group '{name}'"
            if "all" not in msg and "did you mean" not in msg:
                msg += suggest(name, ["all"])
            w = where.child(where.value(), "group")
            self.ctx.error(msg, w)

    def _colour(self, c: Colour | None, scope: Scope) -> None:
        if c is None:
            return
        if c.kind == "name":
            if c.name in self.m.palettes:
                c.kind, c.palette = "palette", c.name
            else:
                from engine.fixtures.attributes import PALETTE

                self.err(f"unknown colour or palette '{c.name}'{suggest(str(c.name).lower(), [*self.m.palettes, *PALETTE])}", c.location, c.path)
        elif c.kind == "palette":
            if c.palette not in self.m.palettes:
                self.err(f"unknown palette '{c.palette}'{suggest(str(c.palette), self.m.palettes)}", c.location, (*c.path, "palette"))
            self.compile(c.spread, scope)
        elif c.kind in ("hsv", "exprs"):
            for ch in c.channels or ():
                self.compile(ch, scope)

    def _fixture_attributes(self, group: str) -> set[str] | None:
        """Profile attributes present in a group's fixtures (None when unknown)."""
        if self.patch is None:
            return None
        try:
            idx = range(self.patch.n_fixtures) if group == "all" else self.patch.group(group)
        except KeyError:
            return None
        if not len(idx):
            return None
        attrs: set[str] = set()
        for i in idx:
            attrs |= {mc.channel.attribute for mc in self.patch.fixtures[int(i)].mode.channels}
        return attrs

    def _warn_unsupported(self, part: Part) -> None:
        present = self._fixture_attributes(part.group)
        if present is None:
            return
        wanted = list(part.attributes)
        if part.colour is not None:
            wanted.append("colour")
        if part.effect is not None and part.effect.kind in ("circle", "figure8", "sweep", "fan"):
            wanted.append("pan")
        for attr in wanted:
            needs = _ATTRIBUTE_CHANNELS.get(attr)
            if needs is not None and not (present & needs):
                node = part.where.value()
                key = attr if isinstance(node, dict) and attr in node else ("color" if attr == "colour" and isinstance(node, dict) and "color" in node else None)
                loc = part.where.child(node, key).key_loc() if key else part.where.key_loc()
                self.ctx.warn(f"'{attr}' has no effect on group '{part.group}': none of its fixtures has a "
                              f"{' or '.join(sorted(needs))} channel", loc, (*part.where.path, key or attr))

    def _link_looks(self) -> None:
        for look in self.m.looks.values():
            for part in look.parts:
                self._group(part.group, part.where)
                self._warn_unsupported(part)
                for ref in part.attributes.values():
                    self.compile(ref, self.group_scope)
                self._colour(part.colour, self.group_scope)
                if part.effect is not None:
                    self._link_effect(part)
                if part.cells is not None:
                    self.compile(part.cells.intensity, self.group_scope)
                    self._colour(part.cells.colour, self.group_scope)
                    self._warn_no_cells(part, "'cells'")

    def _link_effect(self, part: Part) -> None:
        eff = part.effect
        assert eff is not None
        for v in eff.params.values():
            if isinstance(v, ExprRef):
                scope = self.scalar_scope if eff.kind == "pulse" else self.group_scope
                self.compile(v, scope)
        if eff.kind == "colour_cycle":
            pal = eff.params["palette"]
            if pal not in self.m.palettes:
                self.err(f"unknown palette '{pal}'{suggest(pal, self.m.palettes)}", part.where.loc(), part.where.path)
        if eff.kind in PIXEL_EFFECTS:
            self._warn_no_cells(part, f"effect '{eff.kind}'")

    def _warn_no_cells(self, part: Part, what: str) -> None:
        if self.patch is None:
            return
        try:
            idx = range(self.patch.n_fixtures) if part.group == "all" else self.patch.group(part.group)
        except KeyError:
            return
        if len(idx) and not any(self.patch.fixtures[int(i)].cells for i in idx):
            self.ctx.warn(f"{what} works on pixel cells, but group '{part.group}' has no multi-cell fixtures",
                          part.where.key_loc(), part.where.path)

    # --- layers, rules, cues
    def _link_layers(self) -> set[str]:
        names: dict[str, Layer] = {}
        for i, layer in enumerate(self.m.layers):
            if layer.name in names:
                self.ctx.error(f"layer '{layer.name}' is defined twice", layer.where.child(layer.where.value(), "name"))
            names[layer.name] = layer
            if layer.look is not None and layer.look not in self.m.looks:
                self.ctx.error(f"unknown look '{layer.look}'{suggest(layer.look, self.m.looks)}", layer.where.child(layer.where.value(), "look"))
            self.compile(layer.opacity, self.scalar_scope)
        return set(names)

    def _link_action(self, a: Action, layer_names: set[str]) -> None:
        p = a.params
        node = a.where.value()

        def bad(key: str, msg: str) -> None:
            self.ctx.error(msg, a.where.child(node, key))

        if a.kind == "look":
            if p["look"] not in self.m.looks:
                bad("look", f"unknown look '{p['look']}'{suggest(p['look'], self.m.looks)}")
            if p["layer"] is not None and p["layer"] not in layer_names:
                bad("layer", f"unknown layer '{p['layer']}'{suggest(p['layer'], layer_names)}")
            if p["layer"] is None and not layer_names:
                bad("look", "a look action needs a layer, and the show has no layers")
        elif a.kind == "palette_step":
            if p["palette_step"] not in self.m.palettes:
                bad("palette_step", f"unknown palette '{p['palette_step']}'{suggest(p['palette_step'], self.m.palettes)}")
        elif a.kind == "fade":
            if p["fade"] not in layer_names:
                bad("fade", f"unknown layer '{p['fade']}'{suggest(p['fade'], layer_names)}")
        elif a.kind == "cue":
            if p["cue"] not in self.m.cues and p["cue"] not in ("next", "previous"):
                bad("cue", f"unknown cue '{p['cue']}'{suggest(p['cue'], [*self.m.cues, 'next', 'previous'])}")

    def _link_rules(self, layer_names: set[str]) -> None:
        for rule in self.m.rules:
            c = self.compile(rule.when, self.scalar_scope)
            if c is not None and c.constant is not None:
                self.ctx.warn("this condition never changes, so the rule fires at most once", rule.when.location, rule.when.path)
            for a in rule.do:
                self._link_action(a, layer_names)

    def _link_cues(self, layer_names: set[str]) -> None:
        for cue in self.m.cues.values():
            node = cue.where.value()
            looks_node = node.get("looks") if isinstance(node, dict) else None
            for layer, look in cue.looks.items():
                w = cue.where.child(node, "looks").child(looks_node, layer)
                if layer not in layer_names:
                    self.ctx.error(f"unknown layer '{layer}'{suggest(layer, layer_names)}", w, at_key=True)
                if look not in self.m.looks:
                    self.ctx.error(f"unknown look '{look}'{suggest(look, self.m.looks)}", w)
            for a in cue.do:
                if a.kind == "cue":
                    self.ctx.error("a cue cannot start another cue", a.where)
                self._link_action(a, layer_names)

    # --- latency
    def _leads(self, outputs: list[Any]) -> Any:
        import numpy as np

        patch = self.patch
        n = patch.n_fixtures if patch is not None else 0
        base = self.m.settings.latency_ms / 1000.0
        leads = np.full(n, base, dtype=np.float64)
        if patch is None or not n:
            return leads
        per_universe: dict[int, float] = {}
        for out in outputs:
            universes = getattr(out, "rig_universes", None)
            if universes is None or not getattr(out, "enabled", True):
                continue
            for u in universes:
                # A universe sent by several outputs follows the slowest, so no output is late.
                per_universe[u] = max(per_universe.get(u, float("-inf")), float(out.latency_ms))
        for f in patch.fixtures:
            leads[f.index] = base + per_universe.get(f.universe, 0.0) / 1000.0
        return leads
