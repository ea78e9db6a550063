"""Wiring of the control surfaces into ``beamsync run``.

``beamsync run`` calls :func:`configure_logging` first, then, once the engine runs,
:func:`start_controls`, then ``controls.tick(now)`` from its loop (which returns True when
the loop should end: SIGTERM/SIGINT) and ``controls.stop()`` before the engine closes.
Every surface is off unless its option is given; OSC binds loopback unless told otherwise.
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

from engine.control.health import Health
from engine.control.operator import Operator
from engine.control.service import Signals, StatusLog, Watchdog, sd_notify, setup_logging

log = logging.getLogger("beamsync.control")


def add_control_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``beamsync run`` that belong to remote control and service operation."""
    g = p.add_argument_group("remote control and service (docs/control.md)")
    g.add_argument("--osc-port", type=int, metavar="PORT",
                   help="accept OSC control on this UDP port (off unless given; 9000 is customary)")
    g.add_argument("--osc-bind", default="127.0.0.1", metavar="ADDR",
                   help="address the OSC control server binds (default 127.0.0.1; 0.0.0.0 for the LAN)")
    g.add_argument("--osc-allow", action="append", metavar="NET",
                   help="only accept OSC from these addresses/networks (repeat or comma-separate)")
    g.add_argument("--osc-reply-port", type=int, metavar="PORT",
                   help="send OSC replies/feedback to this port on the sender (TouchOSC's receive port)")
    g.add_argument("--midi-map", metavar="FILE", help="MIDI controller mapping (YAML, see docs/control.md)")
    g.add_argument("--link", choices=["follow", "lead"],
                   help="join an Ableton Link session: follow its tempo, or lead it with the detected tempo")
    g.add_argument("--link-quantum", type=float, default=4.0, metavar="BEATS", help="Link quantum (default 4)")
    g.add_argument("--stop-look", metavar="LOOK",
                   help="on SIGTERM/Ctrl-C switch to this look before stopping (with --stop-hold for its transition)")
    g.add_argument("--stop-hold", type=float, default=0.0, metavar="S",
                   help="on SIGTERM keep rendering this long before stopping (default 0)")
    g.add_argument("--stop-fade", type=float, default=0.0, metavar="S",
                   help="on SIGTERM fade the master to zero over S seconds before stopping (default 0)")
    g.add_argument("--log-json", action="store_true", help="log JSON lines (one object per line)")
    g.add_argument("--log-file", metavar="FILE", help="log to this file, rotated by size")
    g.add_argument("--log-max-bytes", type=int, default=10_000_000, metavar="N",
                   help="rotate the log file at this size (default 10 MB)")
    g.add_argument("--log-backups", type=int, default=5, metavar="N", help="rotated log files kept (default 5)")
    g.add_argument("--status-interval", type=float, metavar="S",
                   help="log a status record every S seconds (default 10 with --log-json/--log-file, else off)")


def configure_logging(args: argparse.Namespace) -> None:
    """Apply ``--log-json``/``--log-file`` (leaves the CLI's default logging alone otherwise)."""
    if getattr(args, "log_json", False) or getattr(args, "log_file", None):
        setup_logging(json_lines=args.log_json, file=args.log_file, max_bytes=args.log_max_bytes,
                      backups=args.log_backups)


class Controls:
    """The control surfaces of one run: OSC, MIDI, Link, signals, systemd, the status log."""

    def __init__(self, engine: Any, source: Any, args: argparse.Namespace) -> None:
        self.engine = engine
        self.operator = Operator(engine.post)
        self.health = Health(engine, source)
        # Installed by the first tick(), which also tells systemd READY=1: only a loop that ticks
        # can act on the flags (the window mode runs its own loop and keeps the default handlers).
        self.signals: Signals | None = None
        self.watchdog = Watchdog()
        self.osc: Any = None
        self.midi: Any = None
        self.link: Any = None
        interval = args.status_interval
        if interval is None:
            interval = 10.0 if (args.log_json or args.log_file) else 0.0
        self.status_log = StatusLog(self.health.snapshot, interval)
        # Write the periodic status as a log record instead of a terminal line when logs are structured.
        self.quiet = bool(args.log_json)
        self.stop_look: str | None = getattr(args, "stop_look", None)
        self.stop_fade = max(0.0, float(getattr(args, "stop_fade", 0.0) or 0.0))
        # With a safe look, keep rendering for the show's transition (at most 5 s) before stopping.
        self.stop_hold = max(self.stop_fade, float(getattr(args, "stop_hold", 0.0) or 0.0))
        self._stop_started: float | None = None
        self._next_sd_status = 0.0
        self._fade_from = 1.0
        try:
            if args.osc_port is not None:
                from engine.control.osc import OscControlServer

                self.osc = OscControlServer(self.operator, bind=args.osc_bind, port=args.osc_port,
                                            allow=args.osc_allow, reply_port=args.osc_reply_port,
                                            status=self.health.snapshot)
                self.health.extra["osc"] = self.osc.counters.as_dict
                self.osc.start()
            if args.midi_map:
                from engine.control.midi import start_midi

                self.midi = start_midi(args.midi_map, self.operator, self.health.snapshot, engine.status)
                self.health.extra["midi"] = self.midi.stats
            if args.link:
                from engine.control.link import LinkSync

                self.link = LinkSync(args.link, self.operator, engine.status, quantum=args.link_quantum)
                self.link.start()
                self.health.extra["link"] = self.link.stats
        except BaseException:
            self.stop()
            raise

    def tick(self, now: float | None = None) -> bool:
        """Called from the run loop: watchdog, status log, SIGHUP. True: the run should end."""
        now = time.monotonic() if now is None else now
        if self.signals is None:
            # Ready once the loop that acts on signals runs: a SIGTERM from here on is a clean stop.
            self.signals = Signals()
            sd_notify("READY=1")
            sd_notify("STATUS=running")
            log.info("beamsync running", extra={"fields": {"event": "ready"}})
        self.watchdog.tick(now, healthy=self.engine.alive)
        self.status_log.tick(now)
        if self.watchdog.active and now >= self._next_sd_status:
            # One line for `systemctl status beamsync` (only under systemd's watchdog).
            self._next_sd_status = now + 5.0
            st = self.health.snapshot()
            sd_notify(f"STATUS={st['tempo']['bpm']:.1f} BPM, show {st['fps']['show']:.0f} fps, "
                      f"out {st['fps']['output']:.0f} fps, {st['errors']['output']} output errors, "
                      f"input {st['device']['state']}")
        if self.signals.reload_requested.is_set():
            self.signals.reload_requested.clear()
            log.info("SIGHUP: reloading the show", extra={"fields": {"event": "reload"}})
            self.operator.apply("reload")
        if self.signals.stop_requested.is_set():
            return self._shutdown_step(now)
        return False

    def _shutdown_step(self, now: float) -> bool:
        """The configured way out: a safe look and/or a fade of the master, then True (stop).

        Runs from the loop while the engine still renders, so the look's transition and the
        fade really go out before the outputs send their stream-terminated packets.
        """
        if self._stop_started is None:
            self._stop_started = now
            sd_notify("STOPPING=1")
            if self.stop_look:
                log.info("stopping: switching to the safe look %r", self.stop_look,
                         extra={"fields": {"event": "stop_look"}})
                self.operator.apply("look", [self.stop_look])
            self._fade_from = self.operator.value("master")
            if not isinstance(self._fade_from, float):
                self._fade_from = 1.0
        elapsed = now - self._stop_started
        if self.signals is not None and self.signals.second_stop:
            return True  # asked twice: no fade, no hold (still the clean shutdown)
        if self.stop_fade > 0 and elapsed < self.stop_fade:
            self.operator.apply("master", [self._fade_from * (1.0 - elapsed / self.stop_fade)])
            return False
        if self.stop_fade > 0 and self.operator.value("master") != 0.0:
            self.operator.apply("master", [0.0])
        hold = self.stop_hold - elapsed
        if hold > 0:
            return False  # let the safe look's transition play out
        return True

    def rebind(self, engine: Any, source: Any) -> None:
        """Point every surface at a new engine (the window's device switch replaces it)."""
        self.engine = engine
        self.operator.retarget(engine.post)
        self.health.engine, self.health.source = engine, source
        if self.midi is not None and self.midi.clock_out is not None:
            from engine.control.midi import engine_beat_position

            self.midi.beat_position = engine_beat_position(engine.status)
        if self.link is not None:
            self.link.engine_status = engine.status

    def stop(self) -> None:
        """Stop every surface (idempotent); the engine itself is closed by the caller."""
        if self.signals is not None and self.signals.stop_requested.is_set():
            log.info("stop requested by signal; shutting down cleanly", extra={"fields": {"event": "stopping"}})
        sd_notify("STOPPING=1")
        for name in ("link", "midi", "osc"):
            part = getattr(self, name)
            if part is not None:
                setattr(self, name, None)
                try:
                    part.stop()
                except Exception:
                    log.exception("stopping %s failed", name)
        if self.signals is not None:
            self.signals.restore()


def start_controls(engine: Any, source: Any, args: argparse.Namespace) -> Controls:
    """Start what the arguments ask for, send READY=1 to systemd; see :class:`Controls`."""
    return Controls(engine, source, args)
