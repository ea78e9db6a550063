"""Output types by the name used in YAML, and building senders from validated configs."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from engine.output.base import OutputError, Sender
from engine.output.config import DmxOutputConfig, OscOutputConfig, OutputConfig
from engine.output.frame import FrameBuffer


def _sacn(config: Any, buffer: FrameBuffer | None, **kw: Any) -> Sender:
    from engine.output.sacn import SacnSender

    return SacnSender(config, _need(buffer, config), **kw)


def _artnet(config: Any, buffer: FrameBuffer | None, **kw: Any) -> Sender:
    from engine.output.artnet import ArtnetSender

    return ArtnetSender(config, _need(buffer, config), **kw)


def _osc(config: Any, buffer: FrameBuffer | None, **kw: Any) -> Sender:
    from engine.output.osc import OscSender

    return OscSender(config, **kw)


def _usb(config: Any, buffer: FrameBuffer | None, **kw: Any) -> Sender:
    from engine.output.dmxusb import UsbDmxSender

    return UsbDmxSender(config, _need(buffer, config), **kw)


def _need(buffer: FrameBuffer | None, config: OutputConfig) -> FrameBuffer:
    if buffer is None:
        raise OutputError(f"output '{config.name}' sends DMX and needs a FrameBuffer")
    return buffer


#: YAML ``type`` -> factory ``(config, buffer, **options) -> Sender``.
SENDERS: dict[str, Callable[..., Sender]] = {
    "sacn": _sacn,
    "artnet": _artnet,
    "osc": _osc,
    "enttec-pro": _usb,
    "open-dmx": _usb,
}


def rig_universes(outputs: Iterable[OutputConfig]) -> tuple[int, ...]:
    """Every rig universe some DMX output sends (build the FrameBuffer with at least these)."""
    return tuple(sorted({u for o in outputs if isinstance(o, DmxOutputConfig) for u in o.rig_universes}))


def create_senders(outputs: Iterable[OutputConfig], buffer: FrameBuffer | None) -> list[Sender]:
    """One sender per enabled output; closes the ones already made if a later one fails."""
    made: list[Sender] = []
    try:
        for cfg in outputs:
            if cfg.enabled:
                made.append(SENDERS[cfg.type](cfg, buffer))
    except BaseException:
        for s in made:
            s.close()
        raise
    return made


def osc_senders(senders: Iterable[Sender]) -> list[Any]:
    """The OSC senders among ``senders`` (the show posts feature events to these)."""
    return [s for s in senders if isinstance(s.config, OscOutputConfig)]
