"""The operator's controls, shared by every control surface (OSC, MIDI, Link, the service).

A *control* is a name such as ``master``, ``blackout``, ``look`` or ``fader.strobe``. Each
surface turns its own messages into ``Operator.apply(control, args)``; this module checks the
arguments, posts the engine command (``LiveEngine.post``) and remembers the value, so every
surface can show the same state (OSC replies, MIDI LEDs) whichever surface changed it.

Controls and the engine commands they post:

=================  ==========================  =================================================
control            arguments                   engine command
=================  ==========================  =================================================
``blackout``       bool (none: toggle)         ``blackout`` True/False
``master``         number 0..1                 ``master``
``tap``            none, or a press value      ``tap`` (a release, value 0, is ignored)
``nudge``          seconds (signed)            ``nudge``
``resync``         none, or a press value      ``resync``
``beat_mode``      ``auto`` | ``manual``       ``beat_mode``
``look``           look name [, layer name]    ``look`` (name or (name, layer))
``freeze``         bool (none: toggle)         ``freeze``
``reload``         none, or a press value      ``reload``
``fader.NAME``     number                      ``fader.NAME``
``button.NAME``    none, or a press value      ``button.NAME`` (a release is ignored)
=================  ==========================  =================================================

Bools accept True/False, numbers (>= 0.5 is on: TouchOSC toggles send 1.0/0.0) and the words
on/off/true/false/yes/no. The class is used from control threads only (never the audio path);
a small lock keeps the shared state consistent between the OSC and the MIDI threads.
"""

from __future__ import annotations

import math
import threading
from typing import Any, Callable, Sequence

from engine.control.errors import ControlValueError

#: Controls that take no arguments or one press value.
TRIGGERS = ("tap", "resync", "reload")
#: Controls that hold a bool.
SWITCHES = ("blackout", "freeze")
#: Every fixed control name (``fader.*`` and ``button.*`` come on top).
CONTROLS = ("blackout", "master", "tap", "nudge", "resync", "beat_mode", "look", "freeze", "reload")
#: Longest look/fader/button name accepted (names travel in packets; keep state bounded).
MAX_NAME = 64
#: At most this many distinct fader values are remembered for feedback.
MAX_FADERS = 256


def parse_bool(value: Any) -> bool:
    """An OSC/MIDI argument as a switch state; raises ControlValueError when it is none."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        if isinstance(value, float) and math.isnan(value):
            raise ControlValueError("expected on/off, got NaN")
        return value >= 0.5
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("1", "on", "true", "yes"):
            return True
        if word in ("0", "off", "false", "no"):
            return False
    raise ControlValueError(f"expected on/off (bool, number or on/off), got {value!r}")


def parse_number(value: Any, what: str) -> float:
    """A finite number; raises ControlValueError otherwise (strings are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ControlValueError(f"{what} expects a finite number, got {value!r}")
    return float(value)


def _press(args: Sequence[Any]) -> bool:
    """True for a press (no argument, or a value > 0), False for a release."""
    if not args:
        return True
    v = args[0]
    if isinstance(v, (str, bool)):
        return parse_bool(v)
    return parse_number(v, "a trigger") > 0


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_NAME:
        raise ControlValueError(f"{what} expects a name (text up to {MAX_NAME} characters), got {value!r}")
    return value


class Operator:
    """Validates operator controls, posts them to the engine and keeps their state.

    ``post`` is ``LiveEngine.post`` (or any callable taking ``(command, value)``).
    ``on_change`` listeners get ``(control, value)`` after each change, for feedback.
    """

    def __init__(self, post: Callable[[str, Any], None]) -> None:
        self._post = post
        self._lock = threading.Lock()
        self.state: dict[str, Any] = {"blackout": False, "master": 1.0, "freeze": False, "beat_mode": "auto",
                                      "look": "", "layer": ""}
        self.faders: dict[str, float] = {}
        self.listeners: list[Callable[[str, Any], None]] = []
        self.applied = 0

    def retarget(self, post: Callable[[str, Any], None]) -> None:
        """Send later commands to another engine (the state shown on the surfaces stays)."""
        self._post = post

    @staticmethod
    def known(control: str) -> bool:
        """Whether ``control`` names a control (``fader.X``/``button.X`` for any X)."""
        if control in CONTROLS:
            return True
        kind, _, name = control.partition(".")
        return kind in ("fader", "button") and 0 < len(name) <= MAX_NAME

    def value(self, control: str) -> Any:
        """The remembered value of a control (None for triggers and unknown faders)."""
        with self._lock:
            if control.startswith("fader."):
                return self.faders.get(control[6:])
            return self.state.get(control)

    def apply(self, control: str, args: Sequence[Any] = ()) -> tuple[str, Any] | None:
        """Carry out one control message; returns ``(control, new value)`` for feedback (value None
        for triggers and nudges), or None when nothing was posted (a button release). Raises ControlValueError for bad arguments
        and for an unknown control."""
        if not self.known(control):
            raise ControlValueError(f"no control named {control!r}")
        command, value, remember = self._decode(control, args)
        if command is None:
            return None
        with self._lock:
            if remember is not None:
                key, v = remember
                if key.startswith("fader."):
                    if key[6:] in self.faders or len(self.faders) < MAX_FADERS:
                        self.faders[key[6:]] = v
                else:
                    self.state[key] = v
            self.applied += 1
        self._post(command, value)
        fb = (control, remember[1] if remember else None)
        for listener in list(self.listeners):
            listener(*fb)
        return fb

    def _decode(self, control: str, args: Sequence[Any]) -> tuple[str | None, Any, tuple[str, Any] | None]:
        if control in SWITCHES:
            if args:
                on = parse_bool(args[0])
            else:
                with self._lock:
                    on = not self.state[control]
            return control, on, (control, on)
        if control in TRIGGERS or control.startswith("button."):
            return (control, None, None) if _press(args) else (None, None, None)
        if not args:
            raise ControlValueError(f"{control} expects a value")
        if control == "master":
            v = parse_number(args[0], "master")
            if not 0.0 <= v <= 1.0:
                raise ControlValueError(f"master expects 0..1, got {v:g}")
            return "master", v, ("master", v)
        if control == "nudge":
            v = parse_number(args[0], "nudge")
            if abs(v) > 1.0:
                raise ControlValueError(f"nudge expects seconds within ±1, got {v:g}")
            return "nudge", v, None
        if control == "beat_mode":
            mode = str(args[0]).strip().lower() if isinstance(args[0], str) else None
            if mode not in ("auto", "manual"):
                raise ControlValueError(f"beat_mode expects 'auto' or 'manual', got {args[0]!r}")
            return "beat_mode", mode, ("beat_mode", mode)
        if control == "look":
            look = _name(args[0], "look")
            layer = _name(args[1], "look's layer") if len(args) > 1 else None
            with self._lock:
                self.state["layer"] = layer or ""
            return "look", (look, layer) if layer else look, ("look", look)
        # fader.NAME
        v = parse_number(args[0], control)
        return control, v, (control, v)
