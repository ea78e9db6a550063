"""``beamsync outputs SHOW``: list a show's outputs, or send a test pattern through them.

Thin wiring over :func:`engine.show.loader.load_show` and :class:`engine.output.runtime.Outputs`.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

PATTERNS = ("chase", "full", "ramp", "off")


def describe(config: Any) -> list[str]:
    """Human-readable lines for one output config."""
    from engine.output.config import DmxOutputConfig, OscOutputConfig

    head = f"{config.name} ({config.type}) {config.rate:g} Hz, latency {config.latency_ms:g} ms" + (
        "" if config.enabled else ", disabled"
    )
    lines = [head]
    if isinstance(config, DmxOutputConfig):
        label = {"sacn": "sACN universe", "artnet": "Art-Net port-address"}.get(config.type)
        for r in config.routes:
            if label is None:
                where = getattr(config, "device", None) or f"serial {getattr(config, 'serial_number', '?')}"
                lines.append(f"  rig universe {r.rig} -> {where}")
                continue
            dests = ", ".join(f"{h}:{p}" for h, p in r.destinations) or "multicast only"
            if getattr(config, "multicast", False):
                from engine.output.sacn import multicast_group

                dests += f" + multicast {multicast_group(r.number)}"
            prio = f", priority {r.priority}" if r.priority is not None else ""
            lines.append(f"  rig universe {r.rig} -> {label} {r.number}{prio} -> {dests}")
    elif isinstance(config, OscOutputConfig):
        lines.append(f"  -> {config.host}:{config.port}, preset {config.preset}, max {config.max_rate:g} msg/s per address")
        for kind, address in config.address_map().items():
            lines.append(f"  {kind:10s} {address or '-'}")
    return lines


def fill_pattern(data: np.ndarray, pattern: str, k: int, level: int) -> None:
    """Write frame ``k`` of a test pattern into ``data`` (``(n, 512)`` uint8)."""
    if pattern == "off":
        data[:] = 0
    elif pattern == "full":
        data[:] = level
    elif pattern == "ramp":
        data[:] = (k * 4) % 256 * level // 255
    elif pattern == "chase":
        data[:] = 0
        data[:, k % data.shape[1]] = level
    else:
        raise ValueError(f"unknown pattern {pattern!r}")


def _run(args: argparse.Namespace) -> int:
    from engine.output.runtime import Outputs
    from engine.show.loader import load_show

    show = load_show(args.show)
    configs = show.outputs
    if not configs:
        print(f"{args.show}: declares no outputs")
        return 0
    for c in configs:
        print("\n".join(describe(c)))
    if args.test is None:
        return 0
    universes = tuple(getattr(show.patch, "universes", ()) or ())
    outputs = Outputs(configs, universes)
    print(f"sending '{args.test}' to universes {', '.join(map(str, outputs.buffer.universes))} for {args.seconds:g} s ...")
    outputs.start()
    try:
        period = 1.0 / args.fps
        t0 = time.monotonic()
        k = 0
        while time.monotonic() - t0 < args.seconds:
            fill_pattern(outputs.back.data, args.test, k, args.level)
            outputs.publish()
            k += 1
            time.sleep(max(0.0, t0 + k * period - time.monotonic()))
    except KeyboardInterrupt:
        pass
    finally:
        outputs.stop()
    for s in outputs.snapshot():
        err = f", last error: {s.last_error}" if s.last_error else ""
        print(f"{s.name}: {s.frames} sends, {s.packets} packets, {s.errors} errors, {s.missed} missed slots, "
              f"lateness p99 {s.jitter_p99_ms:.2f} ms{err}")  # fmt: skip
    return 1 if any(s.errors for s in outputs.snapshot()) else 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``beamsync outputs``."""
    p = sub.add_parser("outputs", help="list a show's outputs or send a test pattern through them")
    p.add_argument("show", help="show file")
    p.add_argument("--test", choices=PATTERNS, help="send this pattern to every DMX universe")
    p.add_argument("--seconds", type=float, default=5.0, help="how long to send the pattern (default 5)")
    p.add_argument("--level", type=int, default=255, choices=range(256), metavar="0-255", help="pattern level")
    p.add_argument("--fps", type=float, default=44.0, help="pattern frames per second (default 44)")
    p.set_defaults(func=_run)
