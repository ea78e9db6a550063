"""Fuzz targets shared by the CI tests in this folder and the long runner ``bench/fuzz.py``.

Each :class:`Target` makes one input from a :class:`random.Random` (structure-aware mutations of
valid seeds, hostile constructions such as alias and entity bombs, and raw bytes) and checks
the outcome of feeding it to the public entry point. A correct outcome is never just "did not
crash": the input is either accepted (and the result is usable) or refused with the module's
:class:`~engine.errors.BeamsyncError` subclass carrying a message that says where. Any other
exception, a wrong outcome (an :class:`AssertionError`), or running past the per-input deadline
counts against the target.

The generators take a plain ``random.Random`` so that the long runner can replay input ``k`` of a
run from its seed alone, and the hypothesis tests can pass ``st.randoms()`` (whose choices
hypothesis records and shrinks).
"""

from __future__ import annotations

import copy
import io
import json
import logging
import math
import random
import signal
import struct
import time
import tracemalloc
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SHOWS = REPO / "shows"


class Hang(Exception):
    """An input ran past its deadline."""


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`Hang` inside the block after ``seconds`` of wall time (main thread only;
    Python code is interrupted at once, C code when it returns to Python)."""
    if seconds <= 0:
        yield
        return

    def _alarm(signum: int, frame: Any) -> None:
        raise Hang(f"ran past the {seconds:g} s deadline")

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@dataclass
class Target:
    """One fuzz target: ``make(rnd)`` builds an input, ``check(input, workdir)`` runs it and
    verifies the outcome, returning ``"accepted"`` or ``"refused"`` (raising otherwise)."""

    name: str
    make: Callable[[random.Random], Any]
    check: Callable[[Any, Path], str]
    setup: Callable[[Path], None] = field(default=lambda wd: None)


# ---------------------------------------------------------------------------------------------
# Shared mutation helpers

UNICODE_SAMPLES = ["é", "ß", "\u202e", "\u200b", "💡", "\ufeff", "\u0000", "\x7f", "\ud7ff", "中文", "\U0010ffff", "\t", "\r"]
NUMBERS: list[Any] = [0, -1, 1, 2**31, -(2**31) - 1, 2**63, 2**64 + 1, 10**400, 1e308, -1e308, 5e-324, 0.5, -0.0,
                      float("nan"), float("inf"), float("-inf"), 255, 256, 512, 513, 65535, 65536, 32768]


def rand_text(rnd: random.Random, max_len: int = 40) -> str:
    k = rnd.random()
    if k < 0.4:
        return "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz_ .0123456789") for _ in range(rnd.randint(0, max_len)))
    if k < 0.7:
        return "".join(rnd.choice(UNICODE_SAMPLES + list("ab:-[]{}#&*!|>'\"%@,")) for _ in range(rnd.randint(0, max_len)))
    if k < 0.85:
        return rnd.choice(["", " ", "null", "~", "yes", "no", "on", "0x1F", "0o17", "1e999", ".nan", "-.inf",
                           "1/0 beat", "100ms", "-5s", "1e308 beats", "nan", "../../../../etc/passwd", "/dev/zero"])
    return "x" * rnd.choice([1000, 5000, 70000])


def mutate_bytes(rnd: random.Random, data: bytes, *, header: int | None = None) -> bytes:
    """A few byte-level mutations (flips, 32-bit extremes, cuts, inserts, duplicated runs);
    with ``header``, most positions fall inside the first ``header`` bytes."""
    b = bytearray(data)
    for _ in range(rnd.randint(1, 6)):
        if not b:
            b += bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 16)))
            continue
        span = min(len(b), header) if header and rnd.random() < 0.8 else len(b)
        i = rnd.randrange(span)
        op = rnd.randrange(7)
        if op == 0:
            b[i] ^= 1 << rnd.randrange(8)
        elif op == 1:
            b[i] = rnd.randrange(256)
        elif op == 2 and i + 4 <= len(b):
            b[i:i + 4] = struct.pack("<I", rnd.choice([0, 1, 2, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE, 44, 4096]))
        elif op == 3:
            del b[rnd.randrange(len(b)):]  # truncate
        elif op == 4:
            j = rnd.randrange(len(b))
            b[j:j] = b[i:i + rnd.randint(1, 64)]  # duplicate a run
        elif op == 5:
            j = min(len(b), i + rnd.randint(1, 32))
            del b[i:j]
        else:
            b[i:i] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 8)))
    return bytes(b)


def random_bytes(rnd: random.Random, max_len: int = 512) -> bytes:
    return bytes(rnd.randrange(256) for _ in range(rnd.randint(0, max_len)))


def mutate_tree(rnd: random.Random, doc: Any, *, keys: list[str], leaf: Callable[[random.Random], Any]) -> Any:
    """Replace, delete, duplicate or retype a few random nodes of a JSON/YAML-like tree."""
    for _ in range(rnd.randint(1, 4)):
        holders: list[tuple[Any, Any]] = []  # (container, key/index)
        stack = [doc]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                for k, v in node.items():
                    holders.append((node, k))
                    stack.append(v)
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    holders.append((node, i))
                    stack.append(v)
        if not holders:
            return leaf(rnd)
        box, key = rnd.choice(holders)
        op = rnd.randrange(8)
        if op == 0:
            del box[key]
        elif op == 1:
            box[key] = leaf(rnd)
        elif op == 2:
            box[key] = [box[key]] * rnd.randint(0, 3)  # wrap in a list
        elif op == 3:
            box[key] = {rnd.choice(keys): box[key]}
        elif op == 4:
            deep: Any = box[key]
            for _ in range(rnd.choice([5, 50, 300])):
                deep = [deep] if rnd.random() < 0.5 else {"a": deep}
            box[key] = deep
        elif op == 5 and isinstance(box, dict):
            box[rnd.choice(keys)] = box[key]  # the same value under another key
        elif op == 6 and isinstance(box, dict):
            v = box.pop(key)
            box[str(key) + rnd.choice(["", "s", "_", " ", "X"]) if rnd.random() < 0.7 else rnd.choice(keys)] = v
        else:
            box[key] = rnd.choice(NUMBERS)
    return doc


# ---------------------------------------------------------------------------------------------
# 1. The YAML show loader


SHOW_WORDS = ["show", "settings", "palettes", "signals", "looks", "layers", "rules", "cues", "fixtures", "groups",
              "outputs", "include", "group", "intensity", "colour", "color", "effect", "when", "do", "look", "layer",
              "name", "type", "universe", "universes", "address", "profile", "mode", "count", "latency_ms", "fps",
              "expr", "every", "for", "hold", "attack", "release", "spread", "palette", "cells", "opacity", "blend"]

EXPRESSIONS = ["level", "beat", "onset.kick", "level * 2", "sine(1, spread=1)", "lfo(square, 1/2)", "1/0", "0/0",
               "10^10^10", "level ** -1", "not not not beat", "max(level, energy, 1e308)", "chase(1, 0.25, -1)",
               "if(beat, 1, 0)", "frac(-1e308)", "map(level, 0, 0, 1, 0)", "x.y.z", "__import__('os')",
               "().__class__", "lambda: 1", "open('/etc/passwd')", "level[0]", "level.__class__", "'s' * 9**9"]


def _expression(rnd: random.Random) -> str:
    k = rnd.random()
    if k < 0.5:
        return rnd.choice(EXPRESSIONS)
    if k < 0.7:  # long operator chains and deep nesting (recursion limits)
        n = rnd.choice([10, 59, 61, 130, 400, 990])
        return rnd.choice(["level+", "level<", "-", "not ", "(", "min(level,", "abs(", "1^"]) * n + "level" + ")" * (
            n if rnd.random() < 0.5 else 0)
    parts = ["level", "beat", "1", "2.5", "+", "-", "*", "/", "%", "^", "(", ")", ",", "and", "or", "not", "<", "==",
             "sine(", "max(", "clamp(", "lfo(", "saw", "spread=", "i", "pos", "e", "pi", "'", "\"", "1e999", "."]
    return " ".join(rnd.choice(parts) for _ in range(rnd.randint(1, 30)))


def _show_leaf(rnd: random.Random) -> Any:
    k = rnd.random()
    if k < 0.3:
        return rnd.choice(NUMBERS)
    if k < 0.5:
        return _expression(rnd)
    if k < 0.6:
        return rnd.choice([None, True, False, [], {}])
    if k < 0.75:
        return rnd.choice(SHOW_WORDS + ["red", "#ff0000", "all", "pars", "1/2 beat", "sacn", "artnet", "osc"])
    return rand_text(rnd)


def _show_seeds() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted(SHOWS.glob("*.yaml"))]


def alias_bomb(levels: int = 9, width: int = 9, section: str = "palettes") -> str:
    """A YAML "billion laughs": each anchor a list of ``width`` aliases of the previous one."""
    lines = [f"{section}:", "  l0: &l0 [" + ", ".join(['"lol"'] * width) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def _show_bomb(rnd: random.Random) -> str:
    section = rnd.choice(["palettes", "signals", "looks", "layers", "rules", "cues", "fixtures", "groups", "outputs",
                          "settings", "nosuch"])
    text = alias_bomb(rnd.randint(3, 12), rnd.randint(2, 12), section)
    if rnd.random() < 0.5:  # the bomb used as a value somewhere else too
        text += f"looks:\n  boom:\n    - group: *l{rnd.randint(0, 3)}\n      intensity: 1\n"
    return text


def _show_text_mutation(rnd: random.Random, text: str) -> str:
    lines = text.splitlines()
    inserts = ["  x: 1", "- a", "rules: 1", "looks:", "    - group: all", "  level: 2", "include: [show.yaml]",
               "include: [/dev/zero]", "include: [../../../../../../etc/passwd]", "include: [nosuch.yaml]",
               "include: [fifo]", "include: [big.yaml]", "include: [link.yaml]", "include: [.]", "include: ['']",
               "&a x: *a", "<<: *a", "a: &a {b: *a}", "x: !!python/object/apply:os.system ['true']",
               "y: !!binary aGVsbG8=", "z: !custom 1", "%YAML 1.1", "---", "...", "? [a, b]\n: c", "\t- tab",
               "k: " + "[" * 200, "k: " + "{a: " * 120 + "1" + "}" * 120, "\"\\u0000\": 1", "dup: 1\ndup: 2"]
    for _ in range(rnd.randint(1, 5)):
        op = rnd.randrange(6)
        i = rnd.randrange(len(lines)) if lines else 0
        if op == 0 and lines:
            del lines[i]
        elif op == 1 and lines:
            lines.insert(i, lines[i])
        elif op == 2:
            lines.insert(i, rnd.choice(inserts))
        elif op == 3 and lines:
            line = lines[i]
            j = rnd.randint(0, len(line))
            lines[i] = line[:j] + rnd.choice([_expression(rnd), rand_text(rnd, 8), ":", "[", "{", "*x", "&y", "!", "|",
                                              ">", "'", "\"", "#", "  ", "- "]) + line[j + rnd.randint(0, 6):]
        elif op == 4:
            lines = lines[:i]
        else:
            lines.append(rnd.choice(inserts))
    return "\n".join(lines) + "\n"


#: Seed text -> its parsed tree, so that each input copies the tree instead of parsing the seed
#: again (a quarter of the show target's time went there; the inputs are the same).
_SEED_TREES: dict[str, Any] = {}


def _show_tree_mutation(rnd: random.Random, text: str) -> str:
    from ruamel.yaml import YAML

    if text not in _SEED_TREES:
        _SEED_TREES[text] = YAML(typ="safe", pure=True).load(text)
    doc = copy.deepcopy(_SEED_TREES[text])
    doc = mutate_tree(rnd, doc, keys=SHOW_WORDS, leaf=_show_leaf)
    buf = io.StringIO()
    y = YAML(typ="safe", pure=True)
    y.allow_unicode = rnd.random() < 0.5
    try:
        y.dump(doc, buf)
    except RecursionError:
        return text  # the dumper cannot write this tree: keep the seed
    return buf.getvalue()


def make_show(rnd: random.Random) -> dict[str, bytes]:
    """Files of one show input: ``show.yaml`` (the show) and sometimes a second file."""
    seeds = _SHOW_SEEDS
    k = rnd.random()
    files: dict[str, bytes] = {}
    if k < 0.3:
        text = _show_tree_mutation(rnd, rnd.choice(seeds))
    elif k < 0.65:
        text = _show_text_mutation(rnd, rnd.choice(seeds))
    elif k < 0.75:
        text = _show_bomb(rnd)
    elif k < 0.85:
        return {"show.yaml": mutate_bytes(rnd, rnd.choice(seeds).encode("utf-8"))}
    elif k < 0.92:
        return {"show.yaml": random_bytes(rnd)}
    else:  # includes: cycles, self, missing, other text
        text = rnd.choice(seeds)
        other = _show_text_mutation(rnd, rnd.choice(seeds))
        text = "include: [" + rnd.choice(["other.yaml", "other.yaml, other.yaml", "show.yaml", "sub/../other.yaml",
                                          "./other.yaml", "OTHER.yaml", "other.yaml/"]) + "]\n" + "\n".join(
            line for line in text.splitlines() if not line.startswith("include"))
        files["other.yaml"] = (rnd.choice(["include: [show.yaml]\n", "include: [other.yaml]\n", ""]) + other).encode()
    files["show.yaml"] = text.encode("utf-8", "surrogatepass")
    return files


def setup_show(workdir: Path) -> None:
    """The rigs the example shows include, a FIFO, a symlink loop and an oversized file."""
    import os
    import shutil

    rigs = workdir / "rigs"
    if not rigs.exists():
        shutil.copytree(SHOWS / "rigs", rigs)
    fifo = workdir / "fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    link = workdir / "link.yaml"
    if not link.is_symlink():
        link.symlink_to("link.yaml")  # a symlink to itself
    big = workdir / "big.yaml"
    if not big.exists():
        from engine.config import MAX_CONFIG_BYTES

        with big.open("w") as fh:
            line = "# " + "x" * 1021 + "\n"
            for _ in range(MAX_CONFIG_BYTES // len(line) + 2):
                fh.write(line)


def _render_a_few(show: Any) -> None:
    from engine.features import FeatureEvent
    from engine.show.inputs import BeatClock, ShowInputs
    from engine.show.runtime import ShowRuntime

    rt = ShowRuntime(show)
    sr = 48000
    for k in (0, 1, 37):
        now = k * sr // 100
        clock = BeatClock(bpm=120.0, phase=(k % 50) / 50, beat_in_bar=k // 50 % 4 + 1, confidence=1.0,
                          next_beat=(k // 50 + 1) * sr // 2, next_beat_in_bar=1)
        events = [FeatureEvent("onset", now, now, 1.0, {"label": "kick"}),
                  FeatureEvent("section", now, now, 1.0, {"section": "drop"})]
        frame = rt.render(ShowInputs(now, sr, {"level": 0.5, "energy": 0.9}, events, clock))
        assert frame is not None


def check_show(files: dict[str, bytes], workdir: Path) -> str:
    """Load ``show.yaml``: a show (that renders) or ShowErrors whose every error names a file."""
    from engine.config import ConfigError, ConfigErrors
    from engine.show.loader import load_show

    for name, data in files.items():
        (workdir / name).write_bytes(data)
    try:
        show = load_show(workdir / "show.yaml")
    except ConfigErrors as exc:
        assert exc.errors, "ConfigErrors without any error"
        for e in exc.errors:
            assert isinstance(e, ConfigError), f"not a ConfigError: {e!r}"
            assert e.location.file, f"an error without a file: {e}"
            assert "\n" not in e.message, f"a multi-line message: {e.message!r}"
        return "refused"
    except ConfigError as exc:
        assert exc.location.file, f"an error without a file: {exc}"
        return "refused"
    finally:
        for name in files:
            (workdir / name).unlink(missing_ok=True)
    _render_a_few(show)
    return "accepted"


# ---------------------------------------------------------------------------------------------
# 2. Fixture importers: OFL JSON and QLC+ XML

OFL_SEED: dict[str, Any] = {
    "$schema": "https://raw.githubusercontent.com/OpenLightingProject/open-fixture-library/master/schemas/fixture.json",
    "name": "Fuzz Spot",
    "categories": ["Moving Head", "Color Changer"],
    "physical": {"lens": {"degreesMinMax": [10, 40]}, "bulb": {"colorTemperature": 6500}, "power": 250},
    "matrix": {"pixelCount": [3, 1, 1], "pixelGroups": {"Master": "all"}},
    "wheels": {"Colour Wheel": {"slots": [{"type": "Open"}, {"type": "Color", "name": "Red", "colors": ["#ff0000"]},
                                          {"type": "Gobo", "name": "Dots"}]}},
    "availableChannels": {
        "Pan": {"fineChannelAliases": ["Pan fine"], "defaultValue": "50%",
                "capability": {"type": "Pan", "angleStart": "0deg", "angleEnd": "540deg"}},
        "Tilt": {"capability": {"type": "Tilt", "angleStart": "-90deg", "angleEnd": "90deg"}},
        "Dimmer": {"fineChannelAliases": ["Dimmer fine", "Dimmer fine^2"], "capability": {"type": "Intensity"}},
        "Strobe": {"capabilities": [
            {"dmxRange": [0, 9], "type": "ShutterStrobe", "shutterEffect": "Closed"},
            {"dmxRange": [10, 19], "type": "ShutterStrobe", "shutterEffect": "Open"},
            {"dmxRange": [20, 255], "type": "ShutterStrobe", "shutterEffect": "Strobe", "speedStart": "1Hz",
             "speedEnd": "25Hz"}]},
        "Colour Wheel": {"capabilities": [
            {"dmxRange": [0, 99], "type": "WheelSlot", "slotNumber": 1},
            {"dmxRange": [100, 199], "type": "WheelSlot", "slotNumber": 2},
            {"dmxRange": [200, 255], "type": "WheelRotation", "speedStart": "slow CW", "speedEnd": "fast CW"}]},
        "Function": {"capabilities": [
            {"dmxRange": [0, 127], "type": "NoFunction", "switchChannels": {"Speed / Effect": "Speed"}},
            {"dmxRange": [128, 255], "type": "Maintenance", "comment": "reset", "switchChannels": {"Speed / Effect": "Effect"}}]},
        "Speed": {"capability": {"type": "PanTiltSpeed", "speedStart": "fast", "speedEnd": "slow"}},
        "Effect": {"capability": {"type": "Effect", "effectName": "Macros"}},
        "Warm": {"capability": {"type": "ColorIntensity", "color": "Warm White"}},
        "Preset": {"capability": {"type": "ColorPreset", "colors": ["#ff8800", "#0088ff"], "colorTemperature": "3200K"}},
    },
    "templateChannels": {
        "Red $pixelKey": {"capability": {"type": "ColorIntensity", "color": "Red"}},
        "Blue $pixelKey": {"capability": {"type": "ColorIntensity", "color": "Blue"}},
    },
    "modes": [
        {"name": "Full", "channels": ["Pan", "Pan fine", "Tilt", "Dimmer", "Dimmer fine", "Strobe", "Colour Wheel",
                                      "Function", "Speed / Effect", None, "Warm", "Preset"]},
        {"name": "Pixels", "shortName": "px", "channels": ["Dimmer", {
            "insert": "matrixChannels", "repeatFor": "eachPixelXYZ", "channelOrder": "perPixel",
            "templateChannels": ["Red $pixelKey", "Blue $pixelKey"]}]},
        {"name": "Masters", "channels": ["Red Master", "Blue Master", {
            "insert": "matrixChannels", "repeatFor": ["3", "1"], "channelOrder": "perChannel",
            "templateChannels": ["Red $pixelKey"]}]},
    ],
}

OFL_WORDS = ["name", "type", "capability", "capabilities", "dmxRange", "modes", "channels", "availableChannels",
             "templateChannels", "wheels", "slots", "matrix", "pixelCount", "pixelKeys", "pixelGroups", "physical",
             "fineChannelAliases", "switchChannels", "defaultValue", "redirectTo", "insert", "repeatFor",
             "channelOrder", "slotNumber", "speedStart", "angleStart", "colors", "color", "shutterEffect", "dimensions",
             "lens", "degreesMinMax", "bulb", "focus", "panMax", "categories", "shortName", "helpWanted"]


def _ofl_leaf(rnd: random.Random) -> Any:
    k = rnd.random()
    if k < 0.3:
        return rnd.choice(NUMBERS)
    if k < 0.45:
        return rnd.choice([None, True, False, [], {}, [0, 255], [255, 0], [0, 65535], [-5, 3.5], ["a", "b"]])
    if k < 0.7:
        return rnd.choice(["Intensity", "ColorIntensity", "WheelSlot", "ShutterStrobe", "Pan", "Tilt", "Red", "all",
                           "50%", "200%", "-10%", "0deg", "1e999deg", "fast", "1Hz", "0Hz", "$pixelKey", "eachPixelXYZ",
                           "perPixel", "matrixChannels", "#zzzzzz", "#ff00ff", "Pan fine", "Dimmer", "Colour Wheel",
                           "../../../../etc/passwd", "ofl/nosuch", "x" * 300])
    return rand_text(rnd)


def make_ofl(rnd: random.Random) -> bytes:
    k = rnd.random()
    if k < 0.7:
        doc = mutate_tree(rnd, json.loads(json.dumps(OFL_SEED)), keys=OFL_WORDS, leaf=_ofl_leaf)
        try:
            return json.dumps(doc, allow_nan=True).encode()
        except (RecursionError, ValueError):
            return json.dumps(OFL_SEED).encode()
    if k < 0.85:
        return mutate_bytes(rnd, json.dumps(OFL_SEED, indent=rnd.choice([None, 1])).encode())
    if k < 0.92:
        return rnd.choice([b"", b"{", b"[]", b"null", b"{}", b"\"x\"", b"[" * 100000, b"{\"a\":" * 5000,
                           b"\xff\xfe{\x00}\x00", json.dumps({"redirectTo": "../" * 10 + "etc/passwd"}).encode(),
                           json.dumps({"redirectTo": "acme/self"}).encode(), b"1e999", b"NaN"])
    return b"{" + random_bytes(rnd)


QXF_SEED = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE FixtureDefinition>
<FixtureDefinition xmlns="http://www.qlcplus.org/FixtureDefinition">
 <Creator><Name>Q Light Controller Plus</Name><Version>4.12.6</Version><Author>fuzz</Author></Creator>
 <Manufacturer>Acme</Manufacturer>
 <Model>Fuzz Bar</Model>
 <Type>LED Bar (Pixels)</Type>
 <Channel Name="Dimmer" Preset="IntensityMasterDimmer"/>
 <Channel Name="Dimmer fine" Preset="IntensityMasterDimmerFine"/>
 <Channel Name="Pan"><Group Byte="0">Pan</Group></Channel>
 <Channel Name="Pan fine"><Group Byte="1">Pan</Group></Channel>
 <Channel Name="Shutter" Default="10">
  <Group Byte="0">Shutter</Group>
  <Capability Min="0" Max="9" Preset="ShutterClose">Closed</Capability>
  <Capability Min="10" Max="19" Preset="ShutterOpen">Open</Capability>
  <Capability Min="20" Max="255" Preset="StrobeSlowToFast" Res1="1" Res2="20">Strobe 1Hz - 20Hz</Capability>
 </Channel>
 <Channel Name="Colour">
  <Group Byte="0">Colour</Group>
  <Capability Min="0" Max="127" Preset="ColorMacro" Res1="#ff0000">Red</Capability>
  <Capability Min="128" Max="255" Preset="ColorDoubleMacro" Res1="#00ff00" Res2="#0000ff">Green/Blue</Capability>
 </Channel>
 <Channel Name="Red 1" Preset="IntensityRed"/>
 <Channel Name="Green 1" Preset="IntensityGreen"/>
 <Channel Name="Red 2" Preset="IntensityRed"/>
 <Channel Name="Green 2" Preset="IntensityGreen"/>
 <Channel Name="Macro"><Group Byte="0">Effect</Group>
  <Capability Min="0" Max="255" Preset="Alias">Switch<Alias Mode="Full" Channel="Red 1" With="Green 1"/></Capability>
 </Channel>
 <Mode Name="Full">
  <Physical><Bulb Type="LED" Lumens="0" ColourTemperature="6500"/><Lens Name="Other" DegreesMin="15" DegreesMax="15"/>
   <Focus Type="Head" PanMax="540" TiltMax="270"/><Layout Width="2" Height="1"/></Physical>
  <Channel Number="0">Dimmer</Channel><Channel Number="1">Dimmer fine</Channel><Channel Number="2">Pan</Channel>
  <Channel Number="3">Pan fine</Channel><Channel Number="4">Shutter</Channel><Channel Number="5">Colour</Channel>
  <Channel Number="6">Red 1</Channel><Channel Number="7">Green 1</Channel><Channel Number="8">Red 2</Channel>
  <Channel Number="9">Green 2</Channel><Channel Number="10">Macro</Channel>
  <Head><Channel>6</Channel><Channel>7</Channel></Head><Head><Channel>8</Channel><Channel>9</Channel></Head>
 </Mode>
 <Mode Name="Small"><Channel Number="0">Dimmer</Channel><Channel Number="1">Red 1</Channel></Mode>
 <Physical><Dimensions Weight="2" Width="1000" Height="100" Depth="100"/></Physical>
</FixtureDefinition>
"""

#: Hostile XML documents: each must be refused (ImportFailure), never expanded or fetched.
XML_BOMBS: dict[str, str] = {
    "billion_laughs": '<?xml version="1.0"?>\n<!DOCTYPE FixtureDefinition [\n <!ENTITY lol "lol">\n' + "".join(
        f' <!ENTITY lol{i} "' + f"&lol{i - 1 if i > 1 else ''};" * 10 + '">\n' for i in range(1, 10))
    + ']>\n<FixtureDefinition><Model>&lol9;</Model></FixtureDefinition>\n',
    "quadratic_blowup": '<?xml version="1.0"?>\n<!DOCTYPE FixtureDefinition [<!ENTITY a "' + "a" * 50000
    + '">]>\n<FixtureDefinition><Model>' + "&a;" * 50000 + "</Model></FixtureDefinition>\n",
    "xxe_file": '<?xml version="1.0"?>\n<!DOCTYPE FixtureDefinition [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
    "<FixtureDefinition><Model>&x;</Model></FixtureDefinition>\n",
    "xxe_http": '<?xml version="1.0"?>\n<!DOCTYPE FixtureDefinition [<!ENTITY x SYSTEM "http://127.0.0.1:9/x">]>\n'
    "<FixtureDefinition><Model>&x;</Model></FixtureDefinition>\n",
    "parameter_entity": '<?xml version="1.0"?>\n<!DOCTYPE FixtureDefinition [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]>\n'
    "<FixtureDefinition/>\n",
    "external_dtd": '<?xml version="1.0"?>\n<!DOCTYPE FixtureDefinition SYSTEM "http://127.0.0.1:9/fixture.dtd">\n'
    "<FixtureDefinition/>\n",
    "public_dtd": '<?xml version="1.0"?>\n<!DOCTYPE FixtureDefinition PUBLIC "-//X//DTD X//EN" "file:///etc/passwd">\n'
    "<FixtureDefinition/>\n",
    "internal_subset_only": '<?xml version="1.0"?>\n<!DOCTYPE FixtureDefinition [<!ELEMENT FixtureDefinition ANY>]>\n'
    "<FixtureDefinition/>\n",
}
#: The same bombs in encodings a byte search for ``<!ENTITY`` does not see.
XML_BOMB_ENCODINGS = ("utf-8", "utf-16", "utf-16-be", "utf-32")


def encode_xml(text: str, encoding: str) -> bytes:
    """``text`` re-declared and encoded in ``encoding`` (with a BOM for UTF-16/32 little-endian)."""
    if encoding == "utf-8":
        return text.encode()
    decl = text.replace('<?xml version="1.0"?>', f'<?xml version="1.0" encoding="{encoding.upper()}"?>', 1)
    decl = decl.replace('<?xml version="1.0" encoding="UTF-8"?>', f'<?xml version="1.0" encoding="{encoding.upper()}"?>', 1)
    return decl.encode(encoding, "xmlcharrefreplace")


QXF_WORDS = ["Channel", "Capability", "Mode", "Head", "Physical", "Group", "Alias", "Preset", "Min", "Max", "Res1",
             "Res2", "Byte", "Number", "Name", "Default", "Model", "Manufacturer", "Type", "Bulb", "Lens", "Focus",
             "Layout", "Dimensions", "Colour"]


def _mutate_xml_text(rnd: random.Random, text: str) -> str:
    import re

    for _ in range(rnd.randint(1, 4)):
        op = rnd.randrange(7)
        if op == 0:  # attribute values
            attrs = list(re.finditer(r'="([^"]*)"', text))
            if attrs:
                m = rnd.choice(attrs)
                v = rnd.choice(["-1", "256", "65536", "1e999", "nan", "", "x", "0", "999999999999999999999", "#ff",
                                "Full", "Red 1", "Dimmer", "  Dimmer ", "&amp;", "&lt;", "IntensityRed", "Alias"])
                text = text[:m.start(1)] + v + text[m.end(1):]
        elif op == 1:  # element text
            texts = list(re.finditer(r">([^<>]+)<", text))
            if texts:
                m = rnd.choice(texts)
                text = text[:m.start(1)] + rnd.choice(["-3", "9999", "", "Dimmer", "Nope", "6", "1e9", rand_text(rnd, 10)
                                                       .replace("<", "").replace("&", "")]) + text[m.end(1):]
        elif op == 2:  # delete a line
            lines = text.splitlines()
            if len(lines) > 2:
                del lines[rnd.randrange(1, len(lines))]
            text = "\n".join(lines)
        elif op == 3:  # duplicate a line
            lines = text.splitlines()
            if lines:
                i = rnd.randrange(len(lines))
                lines.insert(i, lines[i])
            text = "\n".join(lines)
        elif op == 4:  # rename an element
            a, b = rnd.choice(QXF_WORDS), rnd.choice(QXF_WORDS)
            text = text.replace(f"<{a}", f"<{b}", 1).replace(f"</{a}>", f"</{b}>", 1)
        elif op == 5:  # deep nesting
            n = rnd.choice([10, 500, 5000])
            text = text.replace("<Mode Name=\"Small\">", "<Mode Name=\"Small\">" + "<Head>" * n + "</Head>" * n, 1)
        elif text:
            text = text[: rnd.randrange(len(text))]
    return text


def make_qxf(rnd: random.Random) -> bytes:
    k = rnd.random()
    if k < 0.6:
        text = _mutate_xml_text(rnd, QXF_SEED)
        return encode_xml(text, rnd.choice(["utf-8"] * 6 + ["utf-16", "latin-1"]) if rnd.random() < 0.2 else "utf-8") \
            if "encoding" in text else text.encode()
    if k < 0.75:
        name = rnd.choice(list(XML_BOMBS))
        return encode_xml(XML_BOMBS[name], rnd.choice(XML_BOMB_ENCODINGS))
    if k < 0.9:
        return mutate_bytes(rnd, QXF_SEED.encode())
    return b"<FixtureDefinition" + random_bytes(rnd)


def _is_bomb(data: bytes) -> bool:
    for enc in XML_BOMB_ENCODINGS:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        if "<!ENTITY" in text or "SYSTEM" in text or "PUBLIC" in text or "<!ELEMENT" in text:
            return True
    return False


def check_fixture(name: str) -> Callable[[bytes, Path], str]:
    def check(data: bytes, workdir: Path) -> str:
        from engine.fixtures.errors import ImportFailure
        from engine.fixtures.importers import import_file

        folder = workdir / "lib" / "acme"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        path.write_bytes(data)
        try:
            result = import_file(path)
        except ImportFailure as exc:
            msg = str(exc)
            assert str(path) in msg or path.name in msg, f"the message does not name the file: {msg}"
            assert "\n" not in msg, f"a multi-line message: {msg!r}"
            return "refused"
        finally:
            path.unlink(missing_ok=True)
        assert result.profile is not None, "an import without a validated profile"
        assert not (name.endswith(".qxf") and _is_bomb(data)), "a document with a DTD or entities was accepted"
        return "accepted"

    return check


def setup_fixture(workdir: Path) -> None:
    lib = workdir / "lib"
    (lib / "acme").mkdir(parents=True, exist_ok=True)
    (lib / "manufacturers.json").write_text(json.dumps({"acme": {"name": "Acme"}}))
    (lib / "acme" / "self.json").write_text(json.dumps({"redirectTo": "acme/self", "reason": "loop"}))


# ---------------------------------------------------------------------------------------------
# 3. The OSC control server

OSC_ADDRESSES = ["/beamsync/blackout", "/beamsync/master", "/beamsync/tap", "/beamsync/nudge", "/beamsync/resync",
                 "/beamsync/beat_mode", "/beamsync/look", "/beamsync/freeze", "/beamsync/reload", "/beamsync/status",
                 "/beamsync/ping", "/beamsync/subscribe", "/beamsync/unsubscribe", "/beamsync/fader/strobe",
                 "/beamsync/button/hit", "/beamsync/look/intro", "/beamsync/fader/" + "x" * 70, "/beamsync/",
                 "/beamsync", "/other", "/beamsync/fader/a/b", "/beamsync/look/", "/*", "/beamsync/{a,b}", ""]


def _osc_arg(rnd: random.Random) -> Any:
    k = rnd.random()
    if k < 0.35:
        return rnd.choice([0.0, 1.0, 0.5, -0.5, 2.0, 1e30, -1e30, float("nan"), float("inf"), float("-inf"), 1e-45])
    if k < 0.55:
        return rnd.choice([0, 1, -1, 2**31 - 1, -(2**31), 2**40, -(2**62)])
    if k < 0.7:
        return rnd.choice([True, False])
    if k < 0.9:
        return rnd.choice(["auto", "manual", "on", "off", "", "x" * 65, "intro", "é", "\u202e"]) if rnd.random() < 0.7 \
            else rand_text(rnd, 20).replace("\x00", "")
    return bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 12)))


def _osc_message(rnd: random.Random) -> bytes:
    from engine.control.osc import _osc_string, encode

    address = rnd.choice(OSC_ADDRESSES)
    args = [_osc_arg(rnd) for _ in range(rnd.choice([0, 1, 1, 1, 2, 3, 8]))]
    try:
        data = encode(address, *args)
    except (ValueError, TypeError, struct.error, OverflowError):
        data = _osc_string(address)
    if rnd.random() < 0.3:  # hand-made type tags: arrays, unknown tags, nil/impulse, symbols, midi, timetags
        tags = "," + "".join(rnd.choice("ifsbhdtTFNI[]cmrSXZ?") for _ in range(rnd.randint(0, 8)))
        body = bytes(rnd.randrange(256) for _ in range(rnd.choice([0, 4, 8, 12, 16, 24, 40])))
        data = _osc_string(address) + _osc_string(tags) + body
    return data


def _osc_bundle(rnd: random.Random, depth: int) -> bytes:
    elems = []
    for _ in range(rnd.choice([0, 1, 2, 3, 40] if depth == 0 else [0, 1, 2])):  # 40: a huge flat bundle
        e = _osc_bundle(rnd, depth + 1) if depth < 6 and rnd.random() < 0.3 else _osc_message(rnd)
        size = len(e) if rnd.random() < 0.9 else rnd.choice([0, -4, 3, len(e) + 4, 0x7FFFFFFF, -(2**31)])
        elems.append(struct.pack(">i", size) + e)
    timetag = struct.pack(">Q", rnd.choice([1, 0, 2**64 - 1, 2**63]))
    return b"#bundle\x00" + timetag + b"".join(elems)


def make_osc(rnd: random.Random) -> bytes:
    k = rnd.random()
    if k < 0.35:
        data = _osc_message(rnd)
    elif k < 0.55:
        data = _osc_bundle(rnd, 0)
    elif k < 0.75:
        data = mutate_bytes(rnd, _osc_message(rnd) if rnd.random() < 0.6 else _osc_bundle(rnd, 0))
    elif k < 0.8:
        data = b"\x00" * rnd.choice([0, 4, 2048, 2049, 65507])
    else:
        data = random_bytes(rnd, rnd.choice([8, 64, 600]))
    return data


class FakeOscSocket:
    """Collects what the server sends (no network)."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []

    def sendto(self, data: bytes, addr: tuple[str, int]) -> int:
        self.sent.append((data, addr))
        return len(data)

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", 0)

    def close(self) -> None:
        pass


class _CountingHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.records += 1


@dataclass
class OscHarness:
    """One server driven without a network, kept across inputs (as a running server is), with
    the invariants checked after every datagram."""

    server: Any
    sock: FakeOscSocket
    posted: list[tuple[str, Any]]
    log: _CountingHandler
    now: float = 1000.0

    @classmethod
    def create(cls) -> "OscHarness":
        from engine.control.operator import Operator
        from engine.control.osc import OscControlServer

        posted: list[tuple[str, Any]] = []
        sock = FakeOscSocket()
        srv = OscControlServer(Operator(lambda c, v: posted.append((c, v)) if len(posted) < 1000 else None), sock=sock,
                               status=lambda: {"tempo": {"bpm": 120.0, "beat_in_bar": 1, "confidence": 1.0}, "level": 0.5})
        handler = _CountingHandler()
        logging.getLogger().addHandler(handler)
        return cls(srv, sock, posted, handler)

    def close(self) -> None:
        logging.getLogger().removeHandler(self.log)

    def feed(self, data: bytes) -> str:
        from pythonosc.osc_message import OscMessage

        srv = self.server
        before = srv.counters.as_dict()
        n_sent = len(self.sock.sent)
        self.now += 0.01
        srv.handle_datagram(data, ("127.0.0.1", 50999), self.now)
        srv.tick(self.now)
        after = srv.counters.as_dict()
        assert after["packets"] == before["packets"] + 1
        dropped = (after["oversized"] - before["oversized"]) + (after["malformed"] - before["malformed"])
        handled = after["messages"] - before["messages"]
        assert (dropped == 1 and handled == 0) or (dropped == 0 and handled >= 0), (before, after)
        replies = self.sock.sent[n_sent:]
        for raw, _ in replies:
            OscMessage(raw)  # every reply is a well-formed OSC message
        logged, self.log.records = self.log.records, 0
        assert logged == 0, "a datagram was logged (bad input must be counted, not logged)"
        if len(self.sock.sent) > 10000:
            del self.sock.sent[:]
        # the server still answers after any input
        n_sent = len(self.sock.sent)
        from engine.control.osc import encode

        srv.handle_datagram(encode("/beamsync/ping", 7), ("127.0.0.1", 50999), self.now)
        pong = [OscMessage(d) for d, _ in self.sock.sent[n_sent:]]
        assert [(m.address, list(m.params)) for m in pong] == [("/beamsync/pong", [7])], pong
        return "refused" if dropped else "accepted"


_OSC: dict[str, OscHarness] = {}


def check_osc(data: bytes, workdir: Path) -> str:
    harness = _OSC.get("h")
    if harness is None:
        harness = _OSC["h"] = OscHarness.create()
    return harness.feed(data)


# ---------------------------------------------------------------------------------------------
# 4. Audio files with corrupt headers


def _audio_seeds() -> dict[str, bytes]:
    import soundfile as sf

    t = np.arange(2400) / 48000.0
    x = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    seeds = {}
    for name, fmt, subtype, channels in [("pcm16.wav", "WAV", "PCM_16", 1), ("float.wav", "WAV", "FLOAT", 2),
                                         ("u8.wav", "WAV", "PCM_U8", 1), ("s.flac", "FLAC", "PCM_16", 2),
                                         ("s.ogg", "OGG", "VORBIS", 1), ("s.aiff", "AIFF", "PCM_24", 1)]:
        buf = io.BytesIO()
        data = x if channels == 1 else np.stack([x, -x], axis=1)
        sf.write(buf, data, 48000, format=fmt, subtype=subtype)
        seeds[name] = buf.getvalue()
    return seeds


def make_audio(rnd: random.Random) -> tuple[str, bytes]:
    seeds = _AUDIO_SEEDS
    name = rnd.choice(list(seeds))
    data = seeds[name]
    k = rnd.random()
    if k < 0.7:
        data = mutate_bytes(rnd, data, header=64 if not name.endswith((".flac", ".ogg")) else 128)
    elif k < 0.8:
        data = data[: rnd.randrange(len(data))]
    elif k < 0.85:
        data = b""
    elif k < 0.9:
        data = data[:12] + random_bytes(rnd, 200)
    else:
        data = random_bytes(rnd, 2000)
    ext = name.rsplit(".", 1)[1] if rnd.random() < 0.7 else rnd.choice(["wav", "flac", "ogg", "mp3", "txt", ""])
    return ext, data


MAX_AUDIO_PEAK = 64 * 1024 * 1024


def check_audio(item: tuple[str, bytes], workdir: Path) -> str:
    """load_audio at 48 kHz: finite float32 samples, or an AudioError naming the file; the
    memory traced while loading stays bounded whatever the header declares."""
    from engine.audio.errors import AudioError
    from engine.audio.file import load_audio

    ext, data = item
    path = workdir / ("corrupt." + ext if ext else "corrupt")
    path.write_bytes(data)
    tracemalloc.start()
    try:
        samples, rate = load_audio(path, 48000)
    except AudioError as exc:
        msg = str(exc)
        assert str(path) in msg and "\n" not in msg, msg
        return "refused"
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        path.unlink(missing_ok=True)
        assert peak < MAX_AUDIO_PEAK, f"{peak / 1e6:.0f} MB traced while loading a {len(data)}-byte file"
    assert rate == 48000 and samples.dtype == np.float32 and samples.ndim == 1 and len(samples) > 0
    assert np.isfinite(samples).all(), "non-finite samples returned"
    return "accepted"


# ---------------------------------------------------------------------------------------------


_SHOW_SEEDS: list[str] = []
_AUDIO_SEEDS: dict[str, bytes] = {}


def _init() -> None:
    if not _SHOW_SEEDS:
        _SHOW_SEEDS.extend(_show_seeds())
    if not _AUDIO_SEEDS:
        _AUDIO_SEEDS.update(_audio_seeds())


def targets() -> dict[str, Target]:
    """Every target by name (seeds built on first use)."""
    _init()
    return {
        "show": Target("show", make_show, check_show, setup_show),
        "ofl": Target("ofl", make_ofl, check_fixture("fixture.json"), setup_fixture),
        "qxf": Target("qxf", make_qxf, check_fixture("fixture.qxf"), setup_fixture),
        "osc": Target("osc", make_osc, check_osc),
        "audio": Target("audio", make_audio, check_audio),
    }


@dataclass
class RunStats:
    """What a run of one target saw."""

    target: str
    inputs: int = 0
    accepted: int = 0
    refused: int = 0
    crashes: int = 0
    hangs: int = 0
    wall_s: float = 0.0
    slowest_s: float = 0.0
    slowest_k: int = -1
    interrupted: bool = False
    failures: list[tuple[int, str]] = field(default_factory=list)  # (input index, what happened)

    @property
    def rate(self) -> float:
        return self.inputs / self.wall_s if self.wall_s > 0 else math.nan


def run_one(target: Target, item: Any, workdir: Path, limit_s: float) -> tuple[str, float]:
    """Check one input: ``("accepted"|"refused", seconds)``; raises on a crash or a hang."""
    t0 = time.perf_counter()
    with deadline(limit_s):
        outcome = target.check(item, workdir)
    dt = time.perf_counter() - t0
    if dt > limit_s:  # C code that returned late
        raise Hang(f"took {dt:.2f} s (deadline {limit_s:g} s)")
    return outcome, dt
