"""``beamsync midi``: list MIDI ports, and learn a controller mapping by moving its controls.

``beamsync midi learn map.yaml master blackout tap look:drop fader.strobe --port nano``
asks for each control in turn ("move or press the control for 'master'"), takes the first
note or CC that arrives, and writes (or updates) that entry in ``map.yaml`` — the file that
``beamsync run --midi-map`` reads. Comments and other entries in the file are kept.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from engine.control.errors import ControlError


def parse_target(text: str) -> dict[str, Any]:
    """``master`` → {control: master}; ``look:drop`` → {control: look, look: drop}."""
    from engine.control.operator import Operator

    control, _, look = text.partition(":")
    if control == "look":
        if not look:
            raise ControlError(f"'{text}': name the look, like look:drop")
        return {"control": "look", "look": look}
    if look or not Operator.known(control):
        raise ControlError(f"'{text}' is not a control (master, blackout, tap, fader.NAME, look:NAME, ...)")
    return {"control": control}


def binding_from(msg: Any) -> dict[str, Any] | None:
    """The map entry a learned message stands for (note or CC, with its channel); None to ignore."""
    if msg.type == "note_on" and msg.velocity > 0:
        return {"note": msg.note, "channel": msg.channel + 1}
    if msg.type == "control_change":
        return {"cc": msg.control, "channel": msg.channel + 1}
    return None  # clock, active sensing, note-offs, program changes...


def learn(targets: list[dict[str, Any]], receive: Callable[[float], Any], *, timeout: float,
          say: Callable[[str], None] = print, settle: Callable[[], None] = lambda: None) -> list[dict[str, Any]]:
    """One entry per target, from the first usable message ``receive(deadline)`` returns.

    ``receive`` returns a mido message or None at the deadline; ``settle`` drains what a
    control sends after the learned message (a knob's stream of values, a pad's release).
    """
    learned = []
    for target in targets:
        name = target["control"] + (f" {target['look']}" if "look" in target else "")
        say(f"move or press the control for '{name}' ...")
        deadline = time.monotonic() + timeout
        while True:
            msg = receive(deadline)
            if msg is None:
                raise ControlError(f"nothing received for '{name}' within {timeout:g} s")
            entry = binding_from(msg)
            if entry is not None:
                break
        learned.append({**entry, **target})
        say(f"  '{name}' = {'note ' + str(entry['note']) if 'note' in entry else 'CC ' + str(entry['cc'])}"
            f" on channel {entry['channel']}")
        settle()
    return learned


def write_map(path: Path, learned: Iterable[dict[str, Any]], *, port: str | None, api: str) -> None:
    """Merge learned entries into the map file (same control and look: replaced)."""
    import io

    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    from engine.config import load_yaml

    data = load_yaml(path) if path.exists() else None
    if data is None:
        data = CommentedMap()
    if "midi" not in data:
        data["midi"] = CommentedMap([("input", port), ("api", api)])
    controls = data.get("controls")
    if controls is None:
        controls = data["controls"] = CommentedSeq()
    for entry in learned:
        key = (entry["control"], entry.get("look"))
        for i in range(len(controls) - 1, -1, -1):
            e = controls[i]
            if isinstance(e, dict) and (e.get("control"), e.get("look")) == key:
                del controls[i]
        m = CommentedMap(entry)
        m.fa.set_flow_style()
        controls.append(m)
    y = YAML(typ="rt", pure=True)
    buf = io.StringIO()
    y.dump(data, buf)
    path.write_text(buf.getvalue(), encoding="utf-8")


def _ports(args: argparse.Namespace) -> int:
    from engine.control.midi import backend

    be = _backend(args.api, backend)
    print("inputs:  " + (", ".join(be.get_input_names()) or "none"))
    print("outputs: " + (", ".join(be.get_output_names()) or "none"))
    return 0


def _backend(api: str, backend: Callable[[str], Any]) -> Any:
    be = backend(api)
    try:
        be.get_input_names()
    except Exception as exc:  # rtmidi: no ALSA sequencer (/dev/snd/seq) or no JACK server
        raise ControlError(f"MIDI ({api}) is not available here: {exc}") from None
    return be


def _learn(args: argparse.Namespace) -> int:
    from engine.control.midi import backend, find_port, load_map

    targets = [parse_target(t) for t in args.controls]
    path = Path(args.map)
    if path.exists():
        load_map(path)  # refuse to add to a broken file (the error names line and column)
    be = _backend(args.api, backend)
    name = find_port(be.get_input_names(), args.port, "input")
    port = be.open_input(name)

    def receive(deadline: float) -> Any:
        while time.monotonic() < deadline:
            msg = port.poll()
            if msg is not None:
                return msg
            time.sleep(0.005)
        return None

    def settle() -> None:
        end = time.monotonic() + 0.4
        while time.monotonic() < end:
            if port.poll() is None:
                time.sleep(0.01)

    try:
        print(f"learning from '{name}' (Ctrl-C to stop)", file=sys.stderr)
        learned = learn(targets, receive, timeout=args.timeout, say=lambda s: print(s, file=sys.stderr),
                        settle=settle)
    finally:
        port.close()
    write_map(path, learned, port=args.port or name, api=args.api)
    print(f"wrote {len(learned)} mapping(s) to {path}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("midi", help="MIDI controllers: list ports, learn a mapping (docs/control.md)")
    msub = p.add_subparsers(dest="midi_command", metavar="ACTION", required=True)
    ports = msub.add_parser("ports", help="list MIDI input and output ports")
    ports.add_argument("--api", choices=["alsa", "jack"], default="alsa", help="MIDI system (default alsa)")
    ports.set_defaults(func=_ports)
    lp = msub.add_parser("learn", help="learn controls by moving them; writes a --midi-map file")
    lp.add_argument("map", help="mapping file to write or update (YAML)")
    lp.add_argument("controls", nargs="+", metavar="CONTROL",
                    help="controls to learn in turn: master, blackout, tap, nudge, resync, freeze, reload, "
                         "fader.NAME, button.NAME, look:NAME")
    lp.add_argument("--port", help="part of the input port's name (default: the first input)")
    lp.add_argument("--api", choices=["alsa", "jack"], default="alsa", help="MIDI system (default alsa)")
    lp.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each control (default 30)")
    lp.set_defaults(func=_learn)
