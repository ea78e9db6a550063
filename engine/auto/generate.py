"""The auto show: a show document in the show language, generated from a rig alone.

:func:`generate_show_text` reads a rig (a show file's ``outputs``, ``fixtures`` and ``groups``;
looks and rules in it are ignored), classifies its fixtures into roles
(:mod:`engine.auto.roles`) and writes an ordinary show file: palettes, signals, looks, layers
and rules that follow the music. ``beamsync auto RIG --export show.yaml`` saves that text and
``beamsync run RIG --auto`` runs it, so the live auto show and the export are one graph.

The musical plan (every choice is visible, commented, in the generated file):

* a *phrase clock*: the analysis' ``phrase`` events, or every 8 bars counted on downbeats when
  the analysis gives none; looks rotate and palettes step on it, so changes land on downbeats;
* background level and contrast follow the (slow) ``energy`` (the level when energy is absent),
  are lower in breakdowns and full after drops; the ``excitement`` and ``background`` faders
  scale them;
* accents from drum onsets: kick pumps the front washes, snare the back washes, movers and
  pixels, hi-hat sparkles the pixels (beats stand in while no kick is detected);
* bass level tints the front washes with the accent palette; vocal presence brings the spots
  onto the singer's position;
* mover figures sized by excitement and the ``mover_range`` fader; pixel waves and chases
  are beat-synced functions, so they lock to the beat phase;
* strobes only in build-ups and drops, flashing once per beat (under the photosensitivity
  guard's default of 3 flashes per second up to 180 BPM); haze in breakdowns;
* variety: the rotation order and the palette groups are shuffled by the seed, each look is
  held at most ``phrases_per_look`` phrases.

Live controls (OSC/MIDI faders and buttons, see docs/auto.md): ``fader.excitement``,
``fader.background``, ``fader.mover_range``, ``fader.hold``, ``fader.blackout``,
``button.next`` (next look on the next downbeat), ``button.palette`` (next palette group).
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from engine.auto.roles import RigRoles, classify
from engine.errors import BeamsyncError

#: Palette groups: three colours each (main, with an accent colour for each), so that a step
#: of 3 moves to the same position in the next group.
PALETTE_GROUPS: dict[str, tuple[tuple[str, str], ...]] = {
    "neon": (("magenta", "cyan"), ("#8000ff", "lime"), ("cyan", "magenta")),
    "fire": (("red", "amber"), ("orange", "red"), ("amber", "deep blue")),
    "ice": (("deep blue", "white"), ("light blue", "deep blue"), ("#4060ff", "cyan")),
    "sunset": (("#ff3060", "orange"), ("purple", "#ff8000"), ("orange", "purple")),
    "forest": (("green", "amber"), ("lime", "cyan"), ("#00c080", "yellow")),
}
GROUP_SIZE = 3


@dataclass
class AutoOptions:
    """Choices of the generator (all have musical defaults)."""

    seed: int = 0
    phrases_per_look: int = 1  # a base look is held at most this many phrases
    phrase_bars: int = 8  # fallback phrase length when the analysis gives no phrase events
    flash_limit: float = 3.0  # flashes per second the photosensitivity guard allows (0 = off)
    haze: bool = True  # haze/fog in breakdowns when the rig has a hazer
    palette_groups: tuple[str, ...] | None = None  # None = all, in seeded order
    singer: tuple[float, float] = (0.0, 0.0)  # (x, y) of the singer on stage, metres


class AutoError(BeamsyncError):
    """The rig cannot give an auto show (no rig, no fixtures, bad options)."""


# ---------------------------------------------------------------------------------------------
# Reading the rig


def _find_rig_nodes(path: Path, depth: int = 0) -> dict[str, Any]:
    """The ``outputs``, ``fixtures`` and ``groups`` nodes and ``settings`` of a rig file (its
    includes are searched too: a full show that includes a rig works as a rig)."""
    from engine.config import ConfigError, load_yaml

    try:
        root = load_yaml(path)
    except ConfigError as exc:
        raise AutoError(f"{path}: {exc.message}") from None
    if root is None:
        root = {}
    if not isinstance(root, dict):
        raise AutoError(f"{path}: a rig file must be a mapping with 'fixtures' (and 'outputs', 'groups')")
    found: dict[str, Any] = {}
    inc = root.get("include")
    if inc is not None and depth < 16:
        for item in inc if isinstance(inc, list) else [inc]:
            if isinstance(item, str):
                sub = _find_rig_nodes(path.parent / item, depth + 1)
                for k, v in sub.items():
                    found.setdefault(k, v)
    fx = root.get("fixtures", root.get("patch"))
    if fx is not None:
        found["fixtures"] = fx
        found["groups"] = root.get("groups")
    if root.get("outputs") is not None:
        found["outputs"] = root["outputs"]
    if isinstance(root.get("settings"), dict):
        found["settings"] = root["settings"]
    return found


def _flow(d: Mapping[str, Any]) -> CommentedMap:
    m = CommentedMap(d)
    m.fa.set_flow_style()
    return m


def _flow_list(items: list[Any]) -> CommentedSeq:
    s = CommentedSeq(items)
    s.fa.set_flow_style()
    return s


def _num(x: float) -> float:
    return float(f"{x:.3g}")


# ---------------------------------------------------------------------------------------------
# The generator


class _Builder:
    def __init__(self, patch: Any, roles: RigRoles, opt: AutoOptions, rig_groups: Mapping[str, Any]) -> None:
        self.patch = patch
        self.roles = roles
        self.opt = opt
        self.rng = random.Random(opt.seed)
        #: the base looks in their seeded rotation order
        self.base_looks = ["groove", "pulse", "flow", "split"]
        self.rng.shuffle(self.base_looks)
        self.group_names: dict[str, str] = {}
        self.new_groups: dict[str, list[str]] = {}
        fixture_names = {f.name for f in patch.fixtures}
        for role, idx in roles.members.items():
            if not idx or role == "other":
                continue
            names = [patch.fixtures[i].name for i in idx]
            same = next((g for g, gi in patch.groups.items() if [int(i) for i in gi] == idx), None)
            if same is not None:
                self.group_names[role] = same
            else:
                gname = f"auto_{role}"
                while gname in rig_groups or gname in fixture_names:
                    gname += "_"
                self.group_names[role] = gname
                self.new_groups[gname] = names

    @property
    def role_of(self) -> dict[str, str]:
        """Role of each generated role group."""
        return {g: r for r, g in self.group_names.items()}

    def coloured(self, role: str) -> bool:
        """Whether any fixture of ``role`` has a colour channel (else colour keys are left out)."""
        from engine.auto.roles import _EMITTERS

        return any(_EMITTERS & {mc.channel.attribute for mc in self.patch.fixtures[i].mode.channels}
                   for i in self.roles.members.get(role, []))

    def part(self, role: str, part: dict[str, Any]) -> CommentedMap:
        """A look part for ``role``, without the colour when the role's fixtures have none."""
        if not self.coloured(role):
            part = {k: v for k, v in part.items() if k != "colour"}
            if isinstance(part.get("cells"), dict) and "colour" in part["cells"]:
                part["cells"] = _flow({k: v for k, v in part["cells"].items() if k != "colour"})
        return CommentedMap(part)

    def depth(self, role: str) -> str:
        """A factor (as text, '' for 1) that keeps a secondary accent of ``role`` under the
        flash guard's 10% field step, so off-beat accents do not read as full-field flashes:
        the role's share of the rig's lights times the accent stays near 8% (never below 0.3)."""
        lights = sum(len(v) for r, v in self.roles.members.items() if r not in ("fx", "other"))
        share = len(self.roles.members.get(role, [])) / max(1, lights)
        k = min(1.0, max(0.3, 0.08 / share)) if share > 0 else 1.0
        return "" if k >= 0.999 else f"{_num(k)} * "

    def has(self, role: str) -> bool:
        return role in self.group_names

    def g(self, role: str) -> str:
        return self.group_names[role]

    # -- palettes ---------------------------------------------------------------------------
    def palettes(self) -> tuple[CommentedMap, list[str]]:
        names = list(self.opt.palette_groups or PALETTE_GROUPS)
        unknown = [n for n in names if n not in PALETTE_GROUPS]
        if unknown:
            raise AutoError(f"unknown palette group '{unknown[0]}' (groups: {', '.join(PALETTE_GROUPS)})")
        if self.opt.palette_groups is None:
            self.rng.shuffle(names)
        main = [c for n in names for c, _ in PALETTE_GROUPS[n]]
        accent = [a for n in names for _, a in PALETTE_GROUPS[n]]
        pal = CommentedMap()
        pal["main"] = _flow_list(main)
        pal["accent"] = _flow_list(accent)
        pal.yaml_set_comment_before_after_key(
            "main", before=f"palette groups in this order: {', '.join(names)} ({GROUP_SIZE} colours each);\n"
                           "'main' and 'accent' step together: +1 on a phrase, +3 (next group) on a drop", indent=2)
        return pal, names

    # -- signals ----------------------------------------------------------------------------
    def signals(self) -> CommentedMap:
        o = self.opt
        s = CommentedMap()
        s["excite"] = "if(fader.excitement == fader.excitement, clamp(fader.excitement), 0.5)"
        s.yaml_set_comment_before_after_key("excite", before="live controls (absent faders read NaN: then the default applies)", indent=2)
        s["background"] = "if(fader.background == fader.background, clamp(fader.background), 0.35)"
        s["mover_range"] = "if(fader.mover_range == fader.mover_range, clamp(fader.mover_range), 0.6)"
        s["held"] = "fader.hold > 0.5"
        s["mood_raw"] = _flow({"smooth": "if(energy == energy, energy, clamp(1.5 * level))", "attack": "1 s", "release": "3 s"})
        s.yaml_set_comment_before_after_key("mood_raw", before="the music's energy, slow (the level when the analysis gives no energy)", indent=2)
        s["mood"] = "if(mood_raw == mood_raw, mood_raw, 0.6)"
        s["drop_hold"] = _flow({"envelope": "drop", "hold": "8 bars", "decay": "2 bars"})
        s["calm"] = _flow({"envelope": "breakdown", "hold": "8 bars", "decay": "1 bar"})
        s["room"] = "clamp((0.3 + 0.7 * mood) * (1 - 0.6 * clamp(calm - drop_hold)) + 0.5 * drop_hold)"
        s.yaml_set_comment_before_after_key("room", before="brightness of the whole picture: energy, lower in breakdowns, full after a drop", indent=2)
        s["floor"] = "clamp(background * room)"
        s["punch"] = "clamp(room * (0.5 + excite))"
        s["kick_seen"] = _flow({"envelope": "onset.kick", "hold": "2 bars", "decay": "0ms"})
        s.yaml_set_comment_before_after_key("kick_seen", before="drum accents; beats stand in while no kick is detected", indent=2)
        s["kick"] = _flow({"envelope": "onset.kick or (beat and not kick_seen)", "decay": "1/2 beat", "curve": "exp"})
        s["snare_seen"] = _flow({"envelope": "onset.snare", "hold": "2 bars", "decay": "0ms"})
        s["snare"] = _flow({"envelope": "onset.snare or (beat and (beat.in_bar == 2 or beat.in_bar == 4) and not snare_seen)",
                            "decay": "1/2 beat", "curve": "exp"})
        s["hats"] = _flow({"envelope": "onset.hihat", "decay": "1/4 beat"})
        s["level_s"] = _flow({"smooth": "level", "attack": "30ms", "release": "300ms"})
        s["bass"] = _flow({"smooth": "if(level.bass == level.bass, level.bass, level.low)", "attack": "30ms", "release": "300ms"})
        s["bass_tint"] = "if(bass == bass, clamp(1.4 * bass - 0.2), 0)"
        s["vocal"] = _flow({"smooth": "if(vocals.present == vocals.present, vocals.present, level.vocals > 0.2)",
                            "attack": "1 beat", "release": "2 beats"})
        s["phrase_seen"] = _flow({"envelope": "phrase", "hold": f"{2 * o.phrase_bars + 1} bars", "decay": "0ms"})
        s.yaml_set_comment_before_after_key(
            "phrase_seen", before=f"the phrase clock: the analysis' phrases, or every {o.phrase_bars} bars while it gives none", indent=2)
        s["bars_phrase"] = _flow({"counter": "downbeat", "every": o.phrase_bars})
        s["next_q"] = _flow({"quantize": "button.next", "to": "1 bar"})
        s["phrase_start"] = "phrase or (bars_phrase and not phrase_seen) or next_q"
        s["section_q"] = _flow({"quantize": "drop or button.palette", "to": "1 bar"})
        n = len(self.base_looks)
        every = n * o.phrases_per_look
        for k, name in enumerate(self.base_looks):
            s[f"turn_{name}"] = _flow({"counter": "phrase_start", "every": every, "offset": k * o.phrases_per_look})
        return s

    # -- looks ------------------------------------------------------------------------------
    def _wash(self, role: str, variant: int, trigger: str) -> dict[str, Any]:
        inten = {
            0: f"floor + (1 - floor) * punch * {trigger}",
            1: f"floor + (1 - floor) * punch * {trigger} * (0.3 + 0.7 * square(2, spread=0.5))",
            # a smooth travelling wave rather than a hard chase window: the group's mean stays
            # nearly constant, so it never reads as a full-field flash
            2: "floor + (1 - floor) * punch * sine(1, spread=1) ^ 2",
            3: "floor + (1 - floor) * punch * (0.4 + 0.6 * sine(2, spread=1))",
        }[variant % 4]
        colour: Any = {0: "main", 1: _flow({"palette": "main", "spread": 0.5}), 2: "accent", 3: _flow({"palette": "main", "spread": 1})}[variant % 4]
        return {"group": self.g(role), "intensity": inten, "colour": colour}

    def _movers(self, role: str, variant: int) -> dict[str, Any]:
        fig = ("circle", "figure8", "sweep", "fan")[variant % 4]
        size = "mover_range * (15 + 35 * excite)"
        period = ("2 bars", "4 beats", "2 bars", "1 bar")[variant % 4]
        part: dict[str, Any] = {"group": self.g(role)}
        if role == "spot":
            part["intensity"] = "room * (0.4 + 0.6 * punch)"
            part["colour"] = "white" if variant % 2 == 0 else "accent"
            part["gobo"] = variant % 3
        else:
            part["intensity"] = f"floor + (1 - floor) * punch * {self.depth(role)}snare"
            part["colour"] = "accent" if variant % 2 == 0 else "main"
            part["zoom"] = _num(0.2 + 0.2 * (variant % 3))
        part[fig] = _flow({"period": period, "size": size, "tilt": -25, "spread": _num(0.25 * (1 + variant % 2))})
        return part

    def _pixels(self, variant: int) -> dict[str, Any]:
        g = self.g("pixel")
        v = variant % 4
        if v == 0:
            return {"group": g, "intensity": "room * (0.4 + 0.6 * punch)", "colour": "main",
                    "wave": _flow({"period": "1 bar", "wavelength": 2})}
        if v == 1:
            return {"group": g, "intensity": "room", "colour": "accent",
                    "cells": _flow({"intensity": "floor + (1 - floor) * punch * chase(1, width=0.2)"})}
        if v == 2:
            return {"group": g, "colour": "white",
                    "sparkle": _flow({"density": f"0.1 + 0.5 * {self.depth('pixel')}hats * punch", "period": "1/4 beat", "seed": self.opt.seed})}
        return {"group": g, "intensity": "room", "colour": _flow({"palette": "main", "spread": 1}),
                "cells": _flow({"intensity": f"floor + (1 - floor) * punch * (0.3 + 0.7 * {self.depth('pixel')}snare) * sine(2, spread=2)"})}

    def looks(self) -> CommentedMap:
        looks = CommentedMap()
        variants = list(range(4))
        self.rng.shuffle(variants)
        for name, v in zip(self.base_looks, variants):
            parts: list[Any] = []
            if self.has("front_wash"):
                parts.append(self._wash("front_wash", v, "kick"))
            if self.has("back_wash"):
                parts.append(self._wash("back_wash", v + 1, self.depth("back_wash") + "snare"))
            if self.has("mover"):
                parts.append(self._movers("mover", v))
            if self.has("spot"):
                parts.append(self._movers("spot", v + 1))
            if self.has("pixel"):
                parts.append(self._pixels(v))
            if self.has("strobe"):
                parts.append({"group": self.g("strobe"), "intensity": 0})
            if self.has("fx"):
                parts.append({"group": self.g("fx"), "fog": 0})
            looks[name] = [self.part(self.role_of[p["group"]], p) for p in parts]
        # accents: build-up, drop, strobe hits
        build: list[Any] = []
        lit = [r for r in ("front_wash", "back_wash", "mover", "spot") if self.has(r)]
        for r in lit:
            build.append({"group": self.g(r), "intensity": "room * (0.5 + 0.5 * chase(1, width=0.3))", "colour": "white"})
        if self.has("pixel"):
            build.append({"group": self.g("pixel"), "colour": "white",
                          "sparkle": _flow({"density": "0.1 + 0.4 * excite", "period": "1/4 beat", "seed": self.opt.seed + 1})})
        if self.has("strobe"):
            build.append({"group": self.g("strobe"), "intensity": "0.3 + 0.4 * excite", "colour": "white",
                          "strobe": _flow({"sync": "1 beat", "duty": 0.15})})
        drop: list[Any] = []
        for r in lit:
            drop.append({"group": self.g(r), "intensity": "0.7 + 0.3 * kick", "colour": "main"})
        if self.has("pixel"):
            drop.append({"group": self.g("pixel"), "intensity": 1, "colour": "accent", "vu": _flow({"input": "level_s", "mirror": True})})
        if self.has("strobe"):
            # once a beat stays under 3 flashes a second up to 180 BPM; twice only when the
            # photosensitivity limit is off or allows it
            fast = self.opt.flash_limit <= 0 or self.opt.flash_limit >= 6
            drop.append({"group": self.g("strobe"), "intensity": 1, "colour": "white",
                         "strobe": _flow({"sync": "1/2 beat" if fast else "1 beat", "duty": 0.2})})
        for name, parts in (("build", build), ("drop", drop)):
            if parts:
                looks[name] = [self.part(self.role_of[p["group"]], p) for p in parts]
        if self.has("front_wash") and self.coloured("front_wash"):
            looks["bass_tint"] = [CommentedMap({"group": self.g("front_wash"), "colour": "accent"})]
        if self.has("spot"):
            looks["singer"] = [CommentedMap(self._singer())]
        if self.has("fx"):
            looks["haze"] = [CommentedMap({"group": self.g("fx"), "fog": 0.6 if self.opt.haze else 0})]
        first = next(iter(looks))
        looks.yaml_set_comment_before_after_key(
            first, before=f"base looks, one per phrase in this (seeded) order: {', '.join(self.base_looks)}", indent=2)
        return looks

    def _singer(self) -> dict[str, Any]:
        """Spots aimed at the singer: pan from each spot's offset, interpolated across the row."""
        idx = self.roles.members["spot"]
        sx, sy = self.opt.singer
        pans = []
        for i in idx:
            x, y, z = (float(v) for v in self.patch.fixtures[i].position)
            throw = max(1.0, math.hypot(sy - y, max(z - 1.6, 0.5)))
            pans.append(math.degrees(math.atan2(sx - x, throw)))
        a, b = _num(pans[0]), _num(pans[-1])
        pan: Any = a if len(idx) == 1 or a == b else f"{a} + {_num(b - a)} * pos"
        return {"group": self.g("spot"), "intensity": "0.5 + 0.5 * room", "colour": "white", "pan": pan, "tilt": -35,
                "gobo": 0}

    # -- layers and rules -------------------------------------------------------------------
    def layers(self, looks: Mapping[str, Any]) -> CommentedSeq:
        ls = CommentedSeq()
        ls.append(_flow({"name": "base", "look": self.base_looks[-1], "blend": "htp"}))
        if "bass_tint" in looks:
            ls.append(_flow({"name": "bass", "look": "bass_tint", "blend": "mix", "opacity": "0.7 * bass_tint"}))
        if "singer" in looks:
            ls.append(_flow({"name": "vocal", "look": "singer", "blend": "mix", "opacity": "vocal"}))
        ls.append(_flow({"name": "accents", "look": None, "blend": "htp"}))
        if "haze" in looks:
            ls.append(_flow({"name": "haze", "look": None, "blend": "htp"}))
        return ls

    def rules(self, looks: Mapping[str, Any]) -> CommentedSeq:
        r = CommentedSeq()
        for name in self.base_looks:
            r.append(CommentedMap({"name": f"rotate to {name}", "when": f"turn_{name} and not held",
                                   "do": _flow({"look": name, "layer": "base", "transition": "1/2 beat"})}))
        r.append(CommentedMap({"name": "palette on the phrase", "when": "phrase_start and not held",
                               "do": [_flow({"palette_step": "main"}), _flow({"palette_step": "accent"})]}))
        r.append(CommentedMap({"name": "next palette group on a drop", "when": "section_q",
                               "do": [_flow({"palette_step": "main", "by": GROUP_SIZE}),
                                      _flow({"palette_step": "accent", "by": GROUP_SIZE})]}))
        if "build" in looks:
            r.append(CommentedMap({"name": "build-up", "when": "buildup",
                                   "do": _flow({"look": "build", "layer": "accents", "for": "8 bars", "transition": "1 beat"})}))
        if "drop" in looks:
            r.append(CommentedMap({"name": "the drop", "when": "drop",
                                   "do": _flow({"look": "drop", "layer": "accents", "for": "4 bars", "transition": "0ms"})}))
        if "haze" in looks:
            r.append(CommentedMap({"name": "haze in the breakdown", "when": "breakdown",
                                   "do": _flow({"look": "haze", "layer": "haze", "for": "8 bars", "transition": "2 beats"})}))
        r.append(CommentedMap({"name": "blackout on", "when": "fader.blackout > 0.5", "do": _flow({"blackout": True})}))
        r.append(CommentedMap({"name": "blackout off", "when": "fader.blackout < 0.5", "do": _flow({"blackout": False})}))
        return r


def generate_show_text(rig: str | Path, options: AutoOptions | None = None, *,
                       roles: Mapping[str, str] | None = None) -> str:
    """The auto show for the rig file ``rig`` as show-file text (see the module docstring)."""
    from engine.config import ConfigErrors
    from engine.fixtures.patch import parse_patch

    opt = options or AutoOptions()
    if opt.phrases_per_look < 1 or opt.phrase_bars < 1:
        raise AutoError("phrases_per_look and phrase_bars must be at least 1")
    path = Path(rig)
    if not path.is_file():
        raise AutoError(f"{path}: rig file not found")
    nodes = _find_rig_nodes(path)
    if nodes.get("fixtures") is None:
        raise AutoError(f"{path}: no 'fixtures' in the rig (or its includes): nothing to light")
    try:
        patch = parse_patch(nodes["fixtures"], nodes.get("groups"), str(path))
    except ConfigErrors as exc:
        raise AutoError(f"{path}: the patch has errors:\n" + "\n".join(str(e) for e in exc.errors)) from None
    if patch.n_fixtures == 0:
        raise AutoError(f"{path}: the rig has no fixtures")
    rr = classify(patch, roles)
    rig_groups = dict(nodes.get("groups") or {})
    b = _Builder(patch, rr, opt, rig_groups)
    if not b.group_names:
        raise AutoError(f"{path}: no fixture the auto show can drive (roles: {', '.join(sorted(set(rr.fixture_roles)))})")

    doc = CommentedMap()
    doc["show"] = f"Auto show for {path.stem}"
    doc["description"] = "Generated by 'beamsync auto' from the rig alone; edit freely."
    settings = CommentedMap()
    for k, v in (nodes.get("settings") or {}).items():
        settings[k] = v
    settings["seed"] = opt.seed
    settings.setdefault("transition", "1/2 beat")
    doc["settings"] = settings
    if nodes.get("outputs") is not None:
        doc["outputs"] = nodes["outputs"]
    doc["fixtures"] = nodes["fixtures"]
    groups = CommentedMap()
    for k, v in rig_groups.items():
        groups[k] = v
    for k, v in b.new_groups.items():
        groups[k] = _flow_list(v)
    if groups:
        doc["groups"] = groups
    pal, group_order = b.palettes()
    doc["palettes"] = pal
    doc["signals"] = b.signals()
    looks = b.looks()
    doc["looks"] = looks
    doc["layers"] = b.layers(looks)
    doc["rules"] = b.rules(looks)

    role_lines = [f"  {role}: {b.group_names[role]} ({len(rr.members[role])} fixtures)" for role in b.group_names]
    header = [
        "# Generated by beamsync auto: a show written from the rig alone. It is an ordinary show file:",
        "# 'beamsync check' it, edit it, run it. Roles found in the rig:",
        *("#" + line for line in role_lines),
        f"# Seed {opt.seed}; each base look is held at most {opt.phrases_per_look} phrase(s);"
        f" photosensitivity guard: {'at most %g flashes per second' % opt.flash_limit if opt.flash_limit > 0 else 'off'}.",
        "# Live controls: fader.excitement, fader.background, fader.mover_range, fader.hold, fader.blackout,",
        "# button.next, button.palette.",
    ]
    yaml = YAML()
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    buf = io.StringIO()
    yaml.dump(doc, buf)
    return "\n".join(header) + "\n" + buf.getvalue()


def load_auto_show(rig: str | Path, options: AutoOptions | None = None, *, roles: Mapping[str, str] | None = None,
                   text: str | None = None) -> Any:
    """Generate the auto show for ``rig`` and load it (a :class:`engine.show.loader.Show`)."""
    from engine.show.loader import load_show

    text = text if text is not None else generate_show_text(rig, options, roles=roles)
    # Parsed as if it sat beside the rig, so relative paths in it resolve the same way.
    return load_show(Path(rig).with_name(Path(rig).stem + ".auto.yaml"), text=text)


def write_auto_show(rig: str | Path, options: AutoOptions | None = None, *, roles: Mapping[str, str] | None = None,
                    directory: str | Path | None = None) -> Path:
    """Generate the auto show for ``rig`` into a file (default: the user cache folder) and
    return its path; ``beamsync run RIG --auto`` runs that file, so hot reload, the UI and
    every other part of the engine see an ordinary show."""
    import hashlib

    from platformdirs import user_cache_dir

    text = generate_show_text(rig, options, roles=roles)
    load_auto_show(rig, text=text)  # fail here, with the rig's name, rather than in the engine
    folder = Path(directory) if directory is not None else Path(user_cache_dir("beamsync")) / "auto"
    folder.mkdir(parents=True, exist_ok=True)
    tag = hashlib.sha1(str(Path(rig).resolve()).encode()).hexdigest()[:8]
    out = folder / f"{Path(rig).stem}-{tag}.auto.yaml"
    out.write_text(text, encoding="utf-8")
    return out
