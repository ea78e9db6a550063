"""OSC out: feature events and named values to VJ and lighting programs, rate-limited.

Messages are kinds (``beat``, ``downbeat``, ``bar_phase``, ``tempo``, ``level``, ``onset``,
``note``, ``scene``); a target's address map says which address (if any) each kind goes to,
from a preset for the program plus the user's overrides. Address templates may use
``{stem}`` (level/onset) and ``{index}`` (scene).

Presets (``prefix`` defaults to ``/beamsync``):

* ``generic``: ``{prefix}/beat i:position``, ``/downbeat i:1``, ``/bar_phase f``,
  ``/tempo f:bpm``, ``/level/{stem} f``, ``/onset/{stem} f:strength``,
  ``/note i:pitch f:velocity``, ``/scene s:name i:index``.
* ``touchdesigner``: the same addresses, every argument a float (the OSC In CHOP turns
  numeric arguments into channels; strings would be dropped), the scene as its index.
* ``qlcplus``: the same addresses, every argument one float in 0..1 (QLC+ maps it to 0..255
  on an input channel); beat, downbeat and onset are *pulses*: 1.0, then 0.0 on the next
  send, like a button press and release; tempo is bpm/300, note pitch/127.
* ``resolume`` (Arena/Avenue, default input port 7000): downbeat ->
  ``/composition/tempocontroller/resync i:1``; tempo -> ``/composition/tempocontroller/tempo``
  as a float normalised over Resolume's 20-500 BPM range; scene ->
  ``/composition/columns/{index}/connect i:1``; other kinds are off until mapped.

Rate limit: each address sends at most ``max_rate`` times a second. A newer value for an
address replaces one still waiting (the latest level wins), so a fast feature can never
flood the target; replaced values are counted as ``coalesced``.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any, Callable

from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from engine.features import FeatureEvent
from engine.output.base import describe_os_error, make_udp_socket
from engine.output.config import OscOutputConfig
from engine.output.stats import OutputStats

Args = tuple[Any, ...]
Shaper = Callable[[float, dict[str, Any]], Args]


@dataclass(frozen=True)
class _Kind:
    address: str
    shape: Shaper
    pulse: bool = False


def _i(x: float) -> int:
    return int(round(x))


def _clip01(x: float) -> float:
    return min(1.0, max(0.0, float(x)))


_GENERIC: dict[str, tuple[str, Shaper]] = {
    "beat": ("/beat", lambda v, d: (_i(d.get("position", v)),)),
    "downbeat": ("/downbeat", lambda v, d: (1,)),
    "bar_phase": ("/bar_phase", lambda v, d: (float(v),)),
    "tempo": ("/tempo", lambda v, d: (float(v),)),
    "level": ("/level/{stem}", lambda v, d: (float(v),)),
    "onset": ("/onset/{stem}", lambda v, d: (float(v),)),
    "note": ("/note", lambda v, d: (_i(d.get("pitch", v)), float(d.get("velocity", 1.0)))),
    "scene": ("/scene", lambda v, d: (str(d.get("name", "")), _i(d.get("index", v)))),
}
_TOUCHDESIGNER: dict[str, Shaper] = {
    "beat": lambda v, d: (float(d.get("position", v)),),
    "downbeat": lambda v, d: (1.0,),
    "note": lambda v, d: (float(d.get("pitch", v)), float(d.get("velocity", 1.0))),
    "scene": lambda v, d: (float(d.get("index", v)),),
}
_QLCPLUS: dict[str, tuple[Shaper, bool]] = {
    "beat": (lambda v, d: (1.0,), True),
    "downbeat": (lambda v, d: (1.0,), True),
    "bar_phase": (lambda v, d: (_clip01(v),), False),
    "tempo": (lambda v, d: (_clip01(v / 300.0),), False),
    "level": (lambda v, d: (_clip01(v),), False),
    "onset": (lambda v, d: (_clip01(v),), True),
    "note": (lambda v, d: (_clip01(d.get("pitch", v) / 127.0),), False),
    "scene": (lambda v, d: (_clip01(d.get("index", v) / 255.0),), False),
}
_RESOLUME: dict[str, tuple[str, Shaper]] = {
    "downbeat": ("/composition/tempocontroller/resync", lambda v, d: (1,)),
    "tempo": ("/composition/tempocontroller/tempo", lambda v, d: (_clip01((v - 20.0) / 480.0),)),
    "scene": ("/composition/columns/{index}/connect", lambda v, d: (1,)),
}


def preset_addresses(preset: str, prefix: str = "/beamsync") -> dict[str, str | None]:
    """The message-kind -> address template map of a preset (None: not sent)."""
    return {k: a.address if a else None for k, a in _preset(preset, prefix).items()}


def _preset(preset: str, prefix: str) -> dict[str, _Kind | None]:
    prefix = prefix.rstrip("/")
    table: dict[str, _Kind | None] = {}
    for kind, (suffix, shape) in _GENERIC.items():
        if preset == "resolume":
            entry = _RESOLUME.get(kind)
            table[kind] = _Kind(entry[0], entry[1]) if entry else None
        elif preset == "qlcplus":
            q_shape, pulse = _QLCPLUS[kind]
            table[kind] = _Kind(prefix + suffix, q_shape, pulse)
        elif preset == "touchdesigner":
            table[kind] = _Kind(prefix + suffix, _TOUCHDESIGNER.get(kind, shape))
        elif preset == "generic":
            table[kind] = _Kind(prefix + suffix, shape)
        else:
            raise ValueError(f"unknown OSC preset {preset!r}")
    return table


def kind_of(name: str) -> tuple[str, str | None] | None:
    """Message kind and stem for a feature name: ``"level.drums"`` -> ``("level", "drums")``."""
    base, _, stem = name.partition(".")
    if base in _GENERIC:
        return base, (stem or None)
    if base == "phase":
        return "bar_phase", None
    return None


def encode_message(address: str, args: Args) -> bytes:
    """One OSC message (python-osc picks the type tags: int ``i``, float ``f``, str ``s``)."""
    b = OscMessageBuilder(address)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


class OscSender:
    """Sends feature events and named values to one OSC target.

    ``post(event)`` and ``set_value(name, value)`` may be called from the show thread; they
    only store the latest arguments per address (a dict assignment). ``send(now)`` (scheduler
    thread) emits what each address's rate limit allows, as separate datagrams or, with
    ``bundle``, one bundle per send whose timetag is ``at`` when one was given, else
    "immediately".
    """

    blocking = False

    def __init__(self, config: OscOutputConfig, *, sock: socket.socket | None = None) -> None:
        self.config = config
        self.stats = OutputStats()
        self._own_socket = sock is None
        self.sock = sock if sock is not None else make_udp_socket(sndbuf=1 << 18)
        self.dest = (config.host, config.port)
        table = _preset(config.preset, config.prefix)
        for kind, address in config.addresses:
            base = table.get(kind) or _Kind("", _GENERIC[kind][1])
            table[kind] = _Kind(address, base.shape, base.pulse) if address else None
        self._table = table
        self._min_interval = 1.0 / config.max_rate
        self._pending: dict[str, tuple[Args, float | None]] = {}
        self._last_sent: dict[str, float] = {}
        self._pulse_release: dict[str, Args] = {}
        self.coalesced = 0
        self.unmapped = 0

    def address_for(self, kind: str, stem: str | None = None, index: int | None = None) -> str | None:
        """The concrete address a message kind goes to on this target (None: not sent)."""
        entry = self._table.get(kind)
        if entry is None:
            return None
        return entry.address.replace("{stem}", stem or "mix").replace("{index}", str(index if index is not None else 0))

    def _queue(self, kind: str, value: float, data: dict[str, Any], stem: str | None, at: float | None) -> bool:
        entry = self._table.get(kind)
        if entry is None:
            self.unmapped += 1
            return False
        index = data.get("index", value if kind == "scene" else None)
        address = self.address_for(kind, stem or data.get("stem"), int(index) if index is not None else None)
        assert address is not None
        if address in self._pending:
            self.coalesced += 1
        self._pending[address] = (entry.shape(value, data), at)
        if entry.pulse:
            self._pulse_release[address] = tuple(0.0 for _ in entry.shape(value, data))
        return True

    def post(self, event: FeatureEvent, at: float | None = None) -> bool:
        """Queue a feature event; returns False when this target has no address for it.

        A beat whose ``data["position"] == 1`` also queues a downbeat. ``at`` (Unix seconds)
        becomes the bundle timetag when bundles are on.
        """
        kk = kind_of(event.name)
        if kk is None:
            self.unmapped += 1
            return False
        kind, stem = kk
        queued = self._queue(kind, event.value, event.data, stem, at)
        if kind == "beat" and event.data.get("position") == 1:
            queued = self._queue("downbeat", 1.0, event.data, None, at) or queued
        return queued

    def set_value(self, feature: str, value: float, at: float | None = None, **data: Any) -> bool:
        """Queue a named value (``"tempo"``, ``"bar_phase"``, ``"level.drums"``, ``"scene"`` ...).

        Extra keyword arguments are the value's data (``name="drop"`` for a scene).
        """
        kk = kind_of(feature)
        if kk is None:
            self.unmapped += 1
            return False
        return self._queue(kk[0], value, data, kk[1], at)

    def send(self, now: float) -> None:
        """Emit every pending message its address's rate limit allows at ``now``."""
        if not self._pending and not self._pulse_release:
            return
        ready: list[tuple[str, Args, float | None]] = []
        for address in list(self._pending):
            if now - self._last_sent.get(address, float("-inf")) >= self._min_interval:
                args, at = self._pending.pop(address)
                ready.append((address, args, at))
        sent_now = {a for a, _, _ in ready}
        for address in list(self._pulse_release):
            if address in sent_now or address in self._pending:
                continue
            if now - self._last_sent.get(address, float("-inf")) >= self._min_interval:
                ready.append((address, self._pulse_release.pop(address), None))
        if not ready:
            return
        if self.config.bundle:
            stamps = [at for _, _, at in ready if at is not None]
            bundle = OscBundleBuilder(min(stamps) if stamps else IMMEDIATELY)
            for address, args, _ in ready:
                m = OscMessageBuilder(address)
                for a in args:
                    m.add_arg(a)
                bundle.add_content(m.build())
            self._emit(bundle.build().dgram)
        else:
            for address, args, _ in ready:
                self._emit(encode_message(address, args))
        for address, _, _ in ready:
            self._last_sent[address] = now

    def _emit(self, datagram: bytes) -> None:
        try:
            sent = self.sock.sendto(datagram, self.dest)
        except OSError as exc:
            self.stats.error(f"{self.dest[0]}:{self.dest[1]}: {describe_os_error(exc)}")
            return
        self.stats.packets += 1
        self.stats.bytes += sent

    def close(self) -> None:
        """Release the socket (OSC has no goodbye)."""
        if self._own_socket:
            self.sock.close()

