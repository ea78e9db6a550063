"""The ``outputs:`` section of a show: typed, validated output declarations.

A show lists where its frames go::

    outputs:
      - type: sacn                 # sacn | artnet | osc | enttec-pro | open-dmx
        name: stage
        universes: 1-4             # rig universes; also [1, 3, 5-8] or [{rig: 1, universe: 101}]
        destinations: [127.0.0.1]  # unicast targets (default 127.0.0.1)
        sync_universe: 7000        # E1.31 synchronization address (off when absent)
        rate: 44                   # packets per second (Hz)
        latency_ms: 12             # how late this rig shows what it is sent

:func:`parse_outputs` turns the node ``engine.config.load_yaml`` returned into frozen
dataclasses, collecting *every* problem as a :class:`~engine.config.ConfigError` (file, line,
column, document path, what was expected and what was found) and raising them together as
:class:`~engine.config.ConfigErrors`. The running engine never reads the raw mapping again.

Universe numbering: the patch addresses *rig* universes, integers from 1. Each DMX output maps
the rig universes it sends to its protocol's numbering:

* sACN universe = rig universe + ``offset`` (default 0: identical), range 1-63999;
* Art-Net port-address = rig universe + ``offset`` (default -1: rig universe 1 is
  port-address 0, i.e. net 0 / sub-net 0 / universe 0, as most consoles and QLC+ count),
  range 0-32767 (net = pa >> 8, sub-net = (pa >> 4) & 15, universe = pa & 15);
* a universe entry written as a mapping sets the protocol number explicitly
  (``{rig: 2, universe: 101}`` for sACN, ``{rig: 2, port_address: 16}`` for Art-Net) and may
  carry its own ``priority`` (sACN) and ``destinations``.
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterator

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from engine.config import (
    ConfigError,
    ConfigErrors,
    Location,
    PathPart,
    location_of,
    suggest,
    value_location,
)

SACN_PORT = 5568
ARTNET_PORT = 6454
SACN_UNIVERSE_MIN, SACN_UNIVERSE_MAX = 1, 63999
ARTNET_PORT_ADDRESS_MAX = 32767
RIG_UNIVERSE_MAX = 65535
OSC_MESSAGE_KINDS = ("beat", "downbeat", "bar_phase", "tempo", "level", "onset", "note", "scene")
OSC_PRESETS = ("generic", "resolume", "touchdesigner", "qlcplus")

Destination = tuple[str, int]


# ---------------------------------------------------------------------------------------------
# The typed result
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UniverseRoute:
    """One rig universe sent by a DMX output: its protocol number and where it goes.

    ``number`` is the sACN universe (1-63999) or the Art-Net port-address (0-32767).
    ``priority`` is the sACN priority of this universe (None for Art-Net).
    """

    rig: int
    number: int
    destinations: tuple[Destination, ...]
    priority: int | None = None


@dataclass(frozen=True, kw_only=True)
class OutputConfig:
    """What every output declares: a unique name, its send rate and its latency offset.

    ``latency_ms`` is how much later the lights on this output show a frame than it is sent
    (fixture response, network, converters). The show renders ahead by the largest offset and
    each output sends a frame that much before its target time (see :mod:`engine.output.frame`).
    """

    TYPE: ClassVar[str] = ""

    name: str
    rate: float
    latency_ms: float = 0.0
    enabled: bool = True
    location: Location = field(default_factory=Location, compare=False)

    @property
    def type(self) -> str:
        """The YAML ``type`` string of this output."""
        return self.TYPE

    @property
    def period(self) -> float:
        """Seconds between two sends."""
        return 1.0 / self.rate


@dataclass(frozen=True, kw_only=True)
class DmxOutputConfig(OutputConfig):
    """An output that sends DMX universes; ``keepalive_ms`` re-sends unchanged data."""

    routes: tuple[UniverseRoute, ...]
    keepalive_ms: float = 1000.0

    @property
    def rig_universes(self) -> tuple[int, ...]:
        """The rig universes this output reads from the frame, in route order."""
        return tuple(r.rig for r in self.routes)


@dataclass(frozen=True, kw_only=True)
class SacnOutputConfig(DmxOutputConfig):
    """ANSI E1.31-2018 (streaming ACN) output."""

    TYPE: ClassVar[str] = "sacn"

    source_name: str = "beamsync"
    priority: int = 100
    multicast: bool = False
    ttl: int = 8
    interface: str | None = None
    sync_universe: int | None = None
    preview: bool = False
    discovery: bool = False
    port: int = SACN_PORT


@dataclass(frozen=True, kw_only=True)
class ArtnetOutputConfig(DmxOutputConfig):
    """Art-Net 4 output (ArtDmx, ArtSync, ArtPollReply)."""

    TYPE: ClassVar[str] = "artnet"

    broadcast: str | None = None
    sync: bool = False
    physical: int = 0
    poll_reply: bool = False  # a bound 6454 on the same host would take a local receiver's packets
    listen: str = "127.0.0.1"
    listen_port: int = ARTNET_PORT
    short_name: str = "beamsync"
    long_name: str = "beamsync audio-reactive light show"
    port: int = ARTNET_PORT


@dataclass(frozen=True, kw_only=True)
class OscOutputConfig(OutputConfig):
    """OSC to one target; ``addresses`` maps message kind -> address template (None: off)."""

    TYPE: ClassVar[str] = "osc"

    host: str = "127.0.0.1"
    port: int
    preset: str = "generic"
    prefix: str = "/beamsync"
    addresses: tuple[tuple[str, str | None], ...] = ()
    max_rate: float = 50.0
    bundle: bool = False

    def address_map(self) -> dict[str, str | None]:
        """The effective message-kind -> address map (preset, then the user's ``map``)."""
        from engine.output.osc import preset_addresses

        table = preset_addresses(self.preset, self.prefix)
        table.update(dict(self.addresses))
        return table


@dataclass(frozen=True, kw_only=True)
class UsbDmxOutputConfig(DmxOutputConfig):
    """A USB DMX interface sending one rig universe; ``device`` path or ``serial_number``."""

    device: str | None = None
    serial_number: str | None = None
    channels: int = 512

    @property
    def universe(self) -> int:
        """The rig universe this interface sends."""
        return self.routes[0].rig


@dataclass(frozen=True, kw_only=True)
class EnttecProOutputConfig(UsbDmxOutputConfig):
    """ENTTEC DMX USB Pro (and compatibles): label 6 'Output Only Send DMX' frames."""

    TYPE: ClassVar[str] = "enttec-pro"


@dataclass(frozen=True, kw_only=True)
class OpenDmxOutputConfig(UsbDmxOutputConfig):
    """Open DMX-style interface: the host makes the break and streams 250 kbaud 8N2 itself."""

    TYPE: ClassVar[str] = "open-dmx"


OUTPUT_TYPES: dict[str, type[OutputConfig]] = {
    c.TYPE: c
    for c in (
        SacnOutputConfig,
        ArtnetOutputConfig,
        OscOutputConfig,
        EnttecProOutputConfig,
        OpenDmxOutputConfig,
    )
}


def default_outputs(rig_universes: tuple[int, ...] | list[int]) -> list[OutputConfig]:
    """The outputs used when a show declares none: unicast sACN to 127.0.0.1 only."""
    routes = tuple(UniverseRoute(u, u, (("127.0.0.1", SACN_PORT),), 100) for u in rig_universes)
    return [SacnOutputConfig(name="sacn", rate=44.0, routes=routes)]


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"number {value!r}"
    if isinstance(value, str):
        return f"text {value!r}"
    if isinstance(value, (dict, CommentedMap)):
        return "a mapping"
    if isinstance(value, (list, CommentedSeq)):
        return "a list"
    return type(value).__name__


_MISSING = object()


class _Reader:
    """Reads one mapping's fields, recording every problem instead of stopping at the first."""

    def __init__(self, node: Any, path: tuple[PathPart, ...], file: str | None, errors: list[ConfigError]):
        self.node = node
        self.path = path
        self.file = file
        self.errors = errors
        self.used: set[str] = set()

    def error(self, key: str | None, message: str) -> None:
        if key is None:
            loc, path = location_of(self.node, None, self.file), self.path
        else:
            loc, path = value_location(self.node, key, self.file), (*self.path, key)
        self.errors.append(ConfigError(message, loc, path))

    def raw(self, key: str) -> Any:
        self.used.add(key)
        return self.node.get(key, _MISSING)

    def number(
        self, key: str, default: Any, lo: float, hi: float, *, integer: bool = False, unit: str = ""
    ) -> Any:
        value = self.raw(key)
        if value is _MISSING:
            return default
        what = "an integer" if integer else "a number"
        rng = f"{lo:g}..{hi:g}{(' ' + unit) if unit else ''}"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
            self.error(key, f"'{key}' must be {what} in {rng}, found {_describe(value)}")
            return default
        if not math.isfinite(value) or not lo <= value <= hi:
            self.error(key, f"'{key}' must be in {rng}, found {value!r}")
            return default
        return int(value) if integer else float(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw(key)
        if value is _MISSING:
            return default
        if not isinstance(value, bool):
            self.error(key, f"'{key}' must be true or false, found {_describe(value)}")
            return default
        return value

    def text(self, key: str, default: Any, *, max_bytes: int = 1024, nullable: bool = False) -> Any:
        value = self.raw(key)
        if value is _MISSING or (nullable and value is None):
            return default if value is _MISSING else None
        if not isinstance(value, str) or not value:
            self.error(key, f"'{key}' must be non-empty text, found {_describe(value)}")
            return default
        if len(value.encode("utf-8")) > max_bytes:
            self.error(key, f"'{key}' must be at most {max_bytes} bytes of UTF-8, found {len(value.encode())}")
            return default
        return str(value)

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.raw(key)
        if value is _MISSING:
            return default
        if value not in choices:
            hint = suggest(str(value), choices) if isinstance(value, str) else ""
            self.error(key, f"'{key}' must be one of {', '.join(choices)}; found {_describe(value)}{hint}")
            return default
        return str(value)

    def ipv4(self, key: str, default: Any, *, nullable: bool = False) -> Any:
        value = self.raw(key)
        if value is _MISSING or (nullable and value is None):
            return default if value is _MISSING else None
        checked = _check_ipv4(value)
        if checked is None:
            self.error(key, f"'{key}' must be an IPv4 address like 127.0.0.1, found {_describe(value)}")
            return default
        return checked

    def keys_with_errors(self) -> set[str]:
        """Keys of this mapping that already have an error (so a rule does not pile on)."""
        n = len(self.path)
        return {str(e.path[n]) for e in self.errors if len(e.path) == n + 1 and tuple(e.path[:n]) == self.path}

    def finish(self, known: tuple[str, ...]) -> None:
        if not isinstance(self.node, dict):
            return
        for key in self.node:
            if key not in self.used and key not in known:
                where = location_of(self.node, key, self.file)
                hint = suggest(str(key), known) if isinstance(key, str) else ""
                self.errors.append(
                    ConfigError(
                        f"unknown field '{key}'{hint}; expected one of: {', '.join(sorted(known))}",
                        where,
                        (*self.path, key),
                    )
                )


def _check_ipv4(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(ipaddress.IPv4Address(value.strip()))
    except ValueError:
        return None


_RANGE = re.compile(r"^\s*(\d+)\s*(?:-|\.\.)\s*(\d+)\s*$")

COMMON_KEYS = ("type", "name", "rate", "latency_ms", "enabled")
DMX_KEYS = (*COMMON_KEYS, "universes", "offset", "keepalive_ms")
SACN_KEYS = (
    *DMX_KEYS,
    "destinations", "source_name", "priority", "multicast", "ttl", "interface",
    "sync_universe", "preview", "discovery", "port",
)  # fmt: skip
ARTNET_KEYS = (
    *DMX_KEYS,
    "destinations", "broadcast", "sync", "physical", "poll_reply", "listen", "listen_port",
    "short_name", "long_name", "port",
)  # fmt: skip
OSC_KEYS = (*COMMON_KEYS, "host", "port", "preset", "prefix", "map", "max_rate", "bundle")
USB_KEYS = (*COMMON_KEYS, "device", "serial_number", "universe", "channels", "keepalive_ms")


def _destinations(r: _Reader, key: str, port: int, default: tuple[Destination, ...]) -> tuple[Destination, ...]:
    """A list of IPv4 addresses, each optionally ``host:port``."""
    value = r.raw(key)
    if value is _MISSING:
        return default
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        r.error(key, f"'{key}' must be a non-empty list of IPv4 addresses, found {_describe(value)}")
        return default
    out: list[Destination] = []
    for i, item in enumerate(items):
        host, dport = item, port
        if isinstance(item, str) and item.count(":") == 1:
            host, _, p = item.partition(":")
            dport = int(p) if p.isdigit() and 0 < int(p) < 65536 else -1
        checked = _check_ipv4(host)
        if checked is None or dport < 0:
            loc = location_of(items, i, r.file) if isinstance(items, CommentedSeq) else value_location(r.node, key, r.file)
            r.errors.append(
                ConfigError(
                    f"'{key}' entries must be IPv4 addresses (optionally ADDRESS:PORT), found {_describe(item)}",
                    loc,
                    (*r.path, key, i) if isinstance(value, list) else (*r.path, key),
                )
            )
            continue
        out.append((checked, dport))
    return tuple(out) or default


def _universe_entries(r: _Reader, offset: int, number_key: str, lo: int, hi: int, what: str,
                      base_dests: tuple[Destination, ...], port: int, priority: int | None) -> tuple[UniverseRoute, ...]:  # fmt: skip
    """Expand ``universes:`` (int, "a-b", or a list of those and mappings) into routes."""
    value = r.raw("universes")
    if value is _MISSING:
        r.error(None, "missing field 'universes' (the rig universes this output sends, e.g. 1-4)")
        return ()
    items = value if isinstance(value, list) else [value]
    routes: list[UniverseRoute] = []
    seen_rig: set[int] = set()
    seen_number: set[int] = set()

    def item_error(i: int, message: str) -> None:
        if isinstance(value, CommentedSeq):
            r.errors.append(ConfigError(message, location_of(value, i, r.file), (*r.path, "universes", i)))
        else:
            r.error("universes", message)

    def add(i: int, rig: int, number: int, dests: tuple[Destination, ...], prio: int | None) -> None:
        if not 1 <= rig <= RIG_UNIVERSE_MAX:
            item_error(i, f"rig universe must be in 1..{RIG_UNIVERSE_MAX}, found {rig}")
            return
        if not lo <= number <= hi:
            shown = f"rig universe {rig} maps to {number} (offset {offset})" if offset else f"found {number}"
            item_error(i, f"{what} must be in {lo}..{hi}; {shown}")
            return
        if rig in seen_rig:
            item_error(i, f"rig universe {rig} is listed twice")
            return
        if number in seen_number:
            item_error(i, f"{what} {number} is used twice in this output")
            return
        seen_rig.add(rig)
        seen_number.add(number)
        routes.append(UniverseRoute(rig, number, dests, prio))

    for i, item in enumerate(items):
        if isinstance(item, bool):
            item_error(i, f"universes entries must be integers, ranges like 1-4 or mappings; found {_describe(item)}")
        elif isinstance(item, int):
            add(i, item, item + offset, base_dests, priority)
        elif isinstance(item, str) and (m := _RANGE.match(item)):
            a, b = int(m.group(1)), int(m.group(2))
            if b < a or b - a > 4096:
                item_error(i, f"universe range must be low-high with at most 4096 universes, found {item!r}")
                continue
            for u in range(a, b + 1):
                add(i, u, u + offset, base_dests, priority)
        elif isinstance(item, dict):
            sub = _Reader(item, (*r.path, "universes", i), r.file, r.errors)
            rig = sub.number("rig", None, 1, RIG_UNIVERSE_MAX, integer=True)
            if rig is None:
                if "rig" not in item:
                    sub.error(None, "universe mapping needs 'rig' (the rig universe number)")
                sub.finish(())
                continue
            number = sub.number(number_key, rig + offset, lo, hi, integer=True)
            dests = _destinations(sub, "destinations", port, base_dests)
            prio = priority
            keys: tuple[str, ...] = ("rig", number_key, "destinations")
            if priority is not None:
                prio = sub.number("priority", priority, 0, 200, integer=True)
                keys = (*keys, "priority")
            sub.finish(keys)
            add(i, rig, number, dests, prio)
        else:
            item_error(i, f"universes entries must be integers, ranges like 1-4 or mappings; found {_describe(item)}")
    return tuple(routes)


def _common(r: _Reader, kind: str, index: int, default_rate: float, max_rate: float) -> dict[str, Any]:
    return {
        "name": r.text("name", f"{kind}-{index}", max_bytes=64),
        "rate": r.number("rate", default_rate, 1, max_rate, unit="Hz"),
        "latency_ms": r.number("latency_ms", 0.0, 0, 1000, unit="ms"),
        "enabled": r.boolean("enabled", True),
        "location": location_of(r.node, None, r.file),
    }


def _parse_sacn(r: _Reader, index: int) -> SacnOutputConfig:
    common = _common(r, "sacn", index, 44.0, 1000.0)
    port = r.number("port", SACN_PORT, 1, 65535, integer=True)
    multicast = r.boolean("multicast", False)
    dests = _destinations(r, "destinations", port, () if multicast else (("127.0.0.1", port),))
    priority = r.number("priority", 100, 0, 200, integer=True)
    offset = r.number("offset", 0, -SACN_UNIVERSE_MAX, SACN_UNIVERSE_MAX, integer=True)
    routes = _universe_entries(r, offset, "universe", SACN_UNIVERSE_MIN, SACN_UNIVERSE_MAX,
                               "sACN universe", dests, port, priority)  # fmt: skip
    sync = r.number("sync_universe", None, SACN_UNIVERSE_MIN, SACN_UNIVERSE_MAX, integer=True)
    cfg = SacnOutputConfig(
        **common,
        routes=routes,
        keepalive_ms=r.number("keepalive_ms", 1000.0, 100, 10000, unit="ms"),
        source_name=r.text("source_name", "beamsync", max_bytes=63),
        priority=priority,
        multicast=multicast,
        ttl=r.number("ttl", 8, 1, 255, integer=True),
        interface=r.ipv4("interface", None, nullable=True),
        sync_universe=sync,
        preview=r.boolean("preview", False),
        discovery=r.boolean("discovery", False),
        port=port,
    )
    r.finish(SACN_KEYS)
    return cfg


def _parse_artnet(r: _Reader, index: int) -> ArtnetOutputConfig:
    common = _common(r, "artnet", index, 44.0, 1000.0)
    port = r.number("port", ARTNET_PORT, 1, 65535, integer=True)
    broadcast = r.ipv4("broadcast", None, nullable=True)
    dests = _destinations(r, "destinations", port, () if broadcast else (("127.0.0.1", port),))
    if broadcast:
        dests = (*dests, (broadcast, port))
    offset = r.number("offset", -1, -ARTNET_PORT_ADDRESS_MAX - 1, ARTNET_PORT_ADDRESS_MAX, integer=True)
    routes = _universe_entries(r, offset, "port_address", 0, ARTNET_PORT_ADDRESS_MAX,
                               "Art-Net port-address", dests, port, None)  # fmt: skip
    cfg = ArtnetOutputConfig(
        **common,
        routes=routes,
        keepalive_ms=r.number("keepalive_ms", 1000.0, 100, 10000, unit="ms"),
        broadcast=broadcast,
        sync=r.boolean("sync", False),
        physical=r.number("physical", 0, 0, 255, integer=True),
        poll_reply=r.boolean("poll_reply", False),
        listen=r.ipv4("listen", "127.0.0.1"),
        listen_port=r.number("listen_port", ARTNET_PORT, 1, 65535, integer=True),
        short_name=r.text("short_name", "beamsync", max_bytes=17),
        long_name=r.text("long_name", "beamsync audio-reactive light show", max_bytes=63),
        port=port,
    )
    r.finish(ARTNET_KEYS)
    return cfg


_OSC_BAD = re.compile(r"[\s#*,?\[\]{}]")


def check_osc_address(address: str) -> str | None:
    """Why ``address`` is not a usable OSC address template, or None when it is."""
    if not address.startswith("/"):
        return "must start with '/'"
    if _OSC_BAD.search(address.replace("{stem}", "").replace("{index}", "")):
        return "must not contain spaces or any of # * , ? [ ] { } (except the {stem} and {index} placeholders)"
    return None


def _parse_osc(r: _Reader, index: int) -> OscOutputConfig:
    common = _common(r, "osc", index, 60.0, 200.0)
    host = r.ipv4("host", "127.0.0.1")
    port = r.number("port", None, 1, 65535, integer=True)
    if port is None:
        if "port" not in r.node:
            r.error(None, "missing field 'port' (the UDP port the OSC target listens on)")
        port = 0
    prefix = r.text("prefix", "/beamsync", max_bytes=200)
    if (why := check_osc_address(prefix)) is not None:
        r.error("prefix", f"'prefix' {why}, found {prefix!r}")
        prefix = "/beamsync"
    addresses: list[tuple[str, str | None]] = []
    raw_map = r.raw("map")
    if raw_map is not _MISSING:
        if not isinstance(raw_map, dict):
            r.error("map", f"'map' must be a mapping of message kind to OSC address, found {_describe(raw_map)}")
        else:
            sub = _Reader(raw_map, (*r.path, "map"), r.file, r.errors)
            for kind in OSC_MESSAGE_KINDS:
                if kind in raw_map:
                    value = sub.raw(kind)
                    if value is None or value is False:
                        addresses.append((kind, None))
                    elif isinstance(value, str) and (why := check_osc_address(value)) is None:
                        addresses.append((kind, value))
                    else:
                        why = why if isinstance(value, str) else "must be an address text or null"
                        sub.error(kind, f"OSC address for '{kind}' {why}, found {_describe(value)}")
            sub.finish(OSC_MESSAGE_KINDS)
    cfg = OscOutputConfig(
        **common,
        host=host,
        port=port,
        preset=r.choice("preset", "generic", OSC_PRESETS),
        prefix=prefix,
        addresses=tuple(addresses),
        max_rate=r.number("max_rate", 50.0, 0.1, 1000, unit="Hz"),
        bundle=r.boolean("bundle", False),
    )
    r.finish(OSC_KEYS)
    return cfg


def _parse_usb(r: _Reader, index: int, cls: type[UsbDmxOutputConfig]) -> UsbDmxOutputConfig:
    common = _common(r, cls.TYPE, index, 40.0, 44.0)
    device = r.text("device", None, nullable=True)
    serial_number = r.text("serial_number", None, nullable=True, max_bytes=64)
    if (device is None) == (serial_number is None) and not ({"device", "serial_number"} & r.keys_with_errors()):
        r.error(None, f"{cls.TYPE} needs exactly one of 'device' (a path like /dev/ttyUSB0) or 'serial_number'")
    universe = r.number("universe", None, 1, RIG_UNIVERSE_MAX, integer=True)
    if universe is None and "universe" not in r.node:
        r.error(None, "missing field 'universe' (the rig universe this interface sends)")
    cfg = cls(
        **common,
        routes=(UniverseRoute(universe or 1, 0, ()),),
        keepalive_ms=r.number("keepalive_ms", 1000.0, 100, 10000, unit="ms"),
        device=device,
        serial_number=serial_number,
        channels=r.number("channels", 512, 24, 512, integer=True),
    )
    r.finish(USB_KEYS)
    return cfg


_PARSERS: dict[str, Callable[[_Reader, int], OutputConfig]] = {
    "sacn": _parse_sacn,
    "artnet": _parse_artnet,
    "osc": _parse_osc,
    "enttec-pro": lambda r, i: _parse_usb(r, i, EnttecProOutputConfig),
    "open-dmx": lambda r, i: _parse_usb(r, i, OpenDmxOutputConfig),
}


def parse_outputs(node: Any, file: str | None = None) -> list[OutputConfig]:
    """Validate the show's ``outputs:`` node into typed configs.

    ``node`` is the value ``engine.config.load_yaml`` returned for the key (a list of
    mappings; None or absent means no outputs). Raises :class:`ConfigErrors` listing every
    problem found; positions come from the ruamel node, paths start at ``("outputs", i)``.
    """
    if node is None:
        return []
    errors: list[ConfigError] = []
    if not isinstance(node, list):
        raise ConfigErrors(
            [ConfigError(f"'outputs' must be a list of outputs, found {_describe(node)}", location_of(node, None, file), ("outputs",))]
        )
    outputs: list[OutputConfig] = []
    names: dict[str, int] = {}
    for i, item in enumerate(node):
        path: tuple[PathPart, ...] = ("outputs", i)
        if not isinstance(item, dict):
            loc = location_of(node, i, file)
            errors.append(ConfigError(f"each output must be a mapping with a 'type', found {_describe(item)}", loc, path))
            continue
        r = _Reader(item, path, file, errors)
        kind = r.raw("type")
        if kind is _MISSING:
            r.error(None, f"output needs a 'type': one of {', '.join(OUTPUT_TYPES)}")
            continue
        if not isinstance(kind, str) or kind not in _PARSERS:
            hint = suggest(str(kind), _PARSERS) if isinstance(kind, str) else ""
            r.error("type", f"'type' must be one of {', '.join(OUTPUT_TYPES)}; found {_describe(kind)}{hint}")
            continue
        before = len(errors)
        cfg = _PARSERS[kind](r, i)
        if cfg.name in names:
            r.error("name" if "name" in item else None, f"output name '{cfg.name}' is already used by outputs[{names[cfg.name]}]")
        names.setdefault(cfg.name, i)
        if len(errors) == before:
            outputs.append(cfg)
    if errors:
        raise ConfigErrors(errors)
    return outputs


# ---------------------------------------------------------------------------------------------
# JSON Schema (for editors and the show's generated schema)
# ---------------------------------------------------------------------------------------------


def outputs_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the ``outputs:`` section.

    It describes shapes and ranges for editors; :func:`parse_outputs` remains the authority
    (it also checks cross-field rules such as duplicate universes and names).
    """
    ipv4 = {"type": "string", "format": "ipv4", "description": "IPv4 address"}
    dest = {"type": "string", "description": "IPv4 address, optionally ADDRESS:PORT", "pattern": r"^\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?$"}
    dests = {"anyOf": [dest, {"type": "array", "items": dest, "minItems": 1}]}
    rng = {"type": "string", "pattern": r"^\s*\d+\s*(-|\.\.)\s*\d+\s*$", "description": "inclusive range, e.g. 1-16"}

    def common(kind: str, rate: float, max_rate: float) -> dict[str, Any]:
        return {
            "type": {"const": kind},
            "name": {"type": "string", "minLength": 1, "description": "unique output name"},
            "rate": {"type": "number", "minimum": 1, "maximum": max_rate, "default": rate, "description": "sends per second (Hz)"},
            "latency_ms": {"type": "number", "minimum": 0, "maximum": 1000, "default": 0, "description": "how late this output's lights show a frame (ms)"},
            "enabled": {"type": "boolean", "default": True},
        }

    def universes(number_key: str, lo: int, hi: int, with_priority: bool) -> dict[str, Any]:
        mapping: dict[str, Any] = {
            "type": "object",
            "required": ["rig"],
            "additionalProperties": False,
            "properties": {
                "rig": {"type": "integer", "minimum": 1, "maximum": RIG_UNIVERSE_MAX},
                number_key: {"type": "integer", "minimum": lo, "maximum": hi},
                "destinations": dests,
            },
        }
        if with_priority:
            mapping["properties"]["priority"] = {"type": "integer", "minimum": 0, "maximum": 200}
        entry = {"anyOf": [{"type": "integer", "minimum": 1, "maximum": RIG_UNIVERSE_MAX}, rng, mapping]}
        return {"anyOf": [entry, {"type": "array", "items": entry, "minItems": 1}], "description": "rig universes this output sends"}

    def obj(kind: str, props: dict[str, Any], required: list[str]) -> dict[str, Any]:
        return {"type": "object", "title": kind, "required": ["type", *required], "additionalProperties": False, "properties": props}

    keepalive = {"type": "number", "minimum": 100, "maximum": 10000, "default": 1000, "description": "re-send unchanged data this often (ms)"}
    sacn = obj("sacn", {
        **common("sacn", 44, 1000),
        "universes": universes("universe", SACN_UNIVERSE_MIN, SACN_UNIVERSE_MAX, True),
        "offset": {"type": "integer", "default": 0, "description": "sACN universe = rig universe + offset"},
        "keepalive_ms": keepalive,
        "destinations": dests,
        "source_name": {"type": "string", "minLength": 1, "maxLength": 63, "default": "beamsync"},
        "priority": {"type": "integer", "minimum": 0, "maximum": 200, "default": 100},
        "multicast": {"type": "boolean", "default": False},
        "ttl": {"type": "integer", "minimum": 1, "maximum": 255, "default": 8},
        "interface": {"anyOf": [ipv4, {"type": "null"}], "description": "IPv4 address of the multicast interface"},
        "sync_universe": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 63999}, {"type": "null"}]},
        "preview": {"type": "boolean", "default": False},
        "discovery": {"type": "boolean", "default": False},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": SACN_PORT},
    }, ["universes"])  # fmt: skip
    artnet = obj("artnet", {
        **common("artnet", 44, 1000),
        "universes": universes("port_address", 0, ARTNET_PORT_ADDRESS_MAX, False),
        "offset": {"type": "integer", "default": -1, "description": "port-address = rig universe + offset"},
        "keepalive_ms": keepalive,
        "destinations": dests,
        "broadcast": {"anyOf": [ipv4, {"type": "null"}], "description": "directed broadcast address, e.g. 2.255.255.255"},
        "sync": {"type": "boolean", "default": False},
        "physical": {"type": "integer", "minimum": 0, "maximum": 255, "default": 0},
        "poll_reply": {"type": "boolean", "default": False},
        "listen": {**ipv4, "default": "127.0.0.1"},
        "listen_port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": ARTNET_PORT},
        "short_name": {"type": "string", "minLength": 1, "maxLength": 17},
        "long_name": {"type": "string", "minLength": 1, "maxLength": 63},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": ARTNET_PORT},
    }, ["universes"])  # fmt: skip
    osc_addr = {"anyOf": [{"type": "string", "pattern": "^/"}, {"type": "null"}]}
    osc = obj("osc", {
        **common("osc", 60, 200),
        "host": {**ipv4, "default": "127.0.0.1"},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "preset": {"enum": list(OSC_PRESETS), "default": "generic"},
        "prefix": {"type": "string", "pattern": "^/", "default": "/beamsync"},
        "map": {"type": "object", "additionalProperties": False, "properties": {k: osc_addr for k in OSC_MESSAGE_KINDS}},
        "max_rate": {"type": "number", "minimum": 0.1, "maximum": 1000, "default": 50, "description": "messages per second per address"},
        "bundle": {"type": "boolean", "default": False},
    }, ["port"])  # fmt: skip

    def usb(kind: str) -> dict[str, Any]:
        s = obj(kind, {
            **common(kind, 40, 44),
            "device": {"type": "string", "minLength": 1},
            "serial_number": {"type": "string", "minLength": 1},
            "universe": {"type": "integer", "minimum": 1, "maximum": RIG_UNIVERSE_MAX},
            "channels": {"type": "integer", "minimum": 24, "maximum": 512, "default": 512},
            "keepalive_ms": keepalive,
        }, ["universe"])  # fmt: skip
        s["oneOf"] = [{"required": ["device"]}, {"required": ["serial_number"]}]
        return s

    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "beamsync outputs",
        "type": "array",
        "items": {"oneOf": [sacn, artnet, osc, usb("enttec-pro"), usb("open-dmx")]},
    }


def iter_dmx(outputs: list[OutputConfig]) -> Iterator[DmxOutputConfig]:
    """The DMX outputs among ``outputs`` (those that read the frame)."""
    return (o for o in outputs if isinstance(o, DmxOutputConfig))
