"""Running as a service: systemd notifications, the watchdog, signals, structured logs.

- :func:`sd_notify` speaks systemd's notify protocol (a datagram to ``$NOTIFY_SOCKET``; a path
  or an abstract ``@name``) without libsystemd; it does nothing when the variable is unset, so
  the same binary runs from a terminal.
- :class:`Watchdog` sends ``WATCHDOG=1`` at half of ``$WATCHDOG_USEC`` from the run loop: if
  the loop hangs, pings stop and systemd restarts the service (``WatchdogSec=`` in the unit).
  The ping comes only while the engine is alive, so a dead analysis process is caught too.
- :class:`Signals` turns SIGTERM/SIGINT into a stop request the run loop sees (so the normal
  shutdown runs: outputs send their stream-terminated packets) and SIGHUP into a show reload.
  Handlers only set flags (no I/O, no locks): the loop acts on them.
- :func:`setup_logging`: plain or JSON lines (``--log-json``), to stderr or a size-rotated file
  (``--log-file``, ``--log-max-bytes``, ``--log-backups``).
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import signal
import socket
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from engine.control.errors import ControlError

log = logging.getLogger("beamsync.control.service")


def sd_notify(state: str, *, env: dict[str, str] | None = None) -> bool:
    """Send ``state`` (e.g. ``"READY=1"``) to systemd; False when not run under a notify unit."""
    path = (env if env is not None else os.environ).get("NOTIFY_SOCKET", "")
    if not path:
        return False
    if path.startswith("@"):
        path = "\0" + path[1:]  # abstract socket namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.connect(path)
            s.sendall(state.encode())
        return True
    except OSError as exc:
        log.warning("systemd notification %r failed: %s", state, exc)
        return False


class Watchdog:
    """Pings systemd's watchdog from the run loop at half the configured interval.

    ``tick(now)`` is called every loop iteration; ``now`` is ``time.monotonic()`` (injected in
    tests). Inactive (never sends) unless ``$WATCHDOG_USEC`` is set and, when ``$WATCHDOG_PID``
    is set, names this process.
    """

    def __init__(self, env: dict[str, str] | None = None,
                 notify: Callable[[str], bool] | None = None) -> None:
        env = dict(os.environ if env is None else env)
        self._notify = notify or (lambda s: sd_notify(s, env=env))
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        active = usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid()))
        self.interval = int(usec) / 2e6 if active else 0.0
        self.pings = 0
        self._next = 0.0

    @property
    def active(self) -> bool:
        return self.interval > 0

    def tick(self, now: float, healthy: bool = True) -> None:
        if not self.active or not healthy or now < self._next:
            return
        if self._notify("WATCHDOG=1"):
            self.pings += 1
        self._next = now + self.interval


class Signals:
    """SIGTERM/SIGINT → ``stop_requested``; SIGHUP → ``reload_requested`` (main thread only).

    ``restore()`` puts the previous handlers back (tests run many engines in one process).
    """

    def __init__(self) -> None:
        self.stop_requested = threading.Event()
        self.reload_requested = threading.Event()
        self.received: list[int] = []
        self.second_stop = False  # a second SIGTERM/SIGINT: skip the stop fade/hold
        self._previous: dict[int, Any] = {}
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be installed from the main thread
        for sig, handler in ((signal.SIGTERM, self._stop), (signal.SIGINT, self._stop), (signal.SIGHUP, self._hup)):
            self._previous[sig] = signal.signal(sig, handler)

    def _stop(self, signum: int, frame: Any) -> None:
        if self.stop_requested.is_set():
            if self.second_stop and signum == signal.SIGINT:
                raise KeyboardInterrupt  # a third Ctrl-C: the operator really wants out now
            self.second_stop = True  # skip the fade/hold, but still shut down cleanly
        self.received.append(signum)
        self.stop_requested.set()

    def _hup(self, signum: int, frame: Any) -> None:
        self.received.append(signum)
        self.reload_requested.set()

    def restore(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()


# -- logging ---------------------------------------------------------------------------------
class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC, ISO 8601), level, logger, msg, and any ``fields``
    passed with ``extra={"fields": {...}}`` (e.g. the periodic status record)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, separators=(",", ":"))


PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LogFileHandler(logging.handlers.RotatingFileHandler):
    """The ``--log-file`` handler: a size-rotated file that never disturbs the show.

    A full disk (ENOSPC), a removed mount or a read-only remount makes writes fail. The stock
    handler then prints a traceback to stderr for every record; this one says it once, in one
    line, counts the records it could not write (:attr:`dropped`), and says so again, with the
    count, when a write succeeds after the fault (the engine never stops for its log).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dropped = 0
        self.failing = False

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        self.dropped += 1
        if not self.failing:
            self.failing = True
            exc = sys.exc_info()[1]
            reason = f"{exc.strerror or exc}" if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
            _stderr_line(f"beamsync: cannot write the log file {self.baseFilename} ({reason}); log records are "
                         "dropped (and counted) until it is writable again; the show goes on")

    def emit(self, record: logging.LogRecord) -> None:
        before = self.dropped
        super().emit(record)
        if self.failing and self.dropped == before:
            self.failing = False
            _stderr_line(f"beamsync: the log file {self.baseFilename} is writable again; {self.dropped} record(s) "
                         "were dropped in all")

    def close(self) -> None:
        try:
            super().close()
        except OSError:  # the last buffered records could not be written: already reported
            self.dropped += 1


def _stderr_line(text: str) -> None:
    try:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # no usable stderr either: nothing left to tell
        pass


def setup_logging(*, json_lines: bool = False, file: str | Path | None = None, max_bytes: int = 10_000_000,
                  backups: int = 5, level: int | None = None) -> logging.Handler:
    """Route the root logger to one handler (stderr or a rotating file), plain or JSON.

    Replaces the handlers ``logging.basicConfig`` installed; returns the new handler.
    """
    if file is not None:
        path = Path(file)
        if path.parent and not path.parent.is_dir():
            raise ControlError(f"--log-file: directory {path.parent} does not exist")
        try:
            handler: logging.Handler = LogFileHandler(
                path, maxBytes=max(0, int(max_bytes)), backupCount=max(0, int(backups)), encoding="utf-8")
        except OSError as exc:
            raise ControlError(f"--log-file: cannot open {path}: {exc.strerror or exc}") from None
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(PLAIN_FORMAT))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    root.addHandler(handler)
    if level is not None:
        root.setLevel(level)
    elif root.level > logging.INFO:
        root.setLevel(logging.INFO)  # a service log records recoveries and status lines
    return handler


class StatusLog:
    """Logs the health snapshot every ``interval`` seconds (0: never) as one structured record."""

    def __init__(self, snapshot: Callable[[], dict[str, Any]], interval: float) -> None:
        self.snapshot = snapshot
        self.interval = interval
        self._next = 0.0
        self.logged = 0

    def tick(self, now: float) -> None:
        if self.interval <= 0 or now < self._next:
            return
        if self._next == 0.0:
            self._next = now + self.interval  # the first record after one interval
            return
        self._next = now + self.interval
        st = self.snapshot()
        t = st.get("tempo", {})
        logging.getLogger("beamsync.status").info(
            "%.1f BPM, show %.1f fps, out %.1f fps, %d xruns, %d output errors, up %.0f s",
            t.get("bpm", 0.0), st.get("fps", {}).get("show", 0.0), st.get("fps", {}).get("output", 0.0),
            st.get("xruns", 0), st.get("errors", {}).get("output", 0), st.get("uptime_s", 0.0),
            extra={"fields": {"status": st}})
        self.logged += 1
