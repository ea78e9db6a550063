"""DMX senders in a supervised process of their own: a drop-in for :class:`~engine.output.runtime.Outputs`.

Why (``beamsync bench starvation``, docs/reliability.md): the sACN/Art-Net/USB sender threads
run at SCHED_FIFO, but in the engine worker they need the interpreter lock they share with
the analysis; pure-Python analysis work then delays sends by tens of milliseconds whatever
their priority. Here the senders run in a child process with its own interpreter: the show
publishes frames into a :class:`~engine.output.shared.SharedFrameBuffer` and the child's
:class:`~engine.output.scheduler.OutputScheduler` reads them from shared memory on each
output's cadence, exactly as in-process senders read a ``FrameBuffer``.

What stays in the calling process: OSC targets (their ``post()``/``set_value()`` are driven by
feature events from the engine loop) run in an ordinary in-process scheduler;
:meth:`OutputProcess.snapshot` merges both, in the order of the show's ``outputs:``.

The pieces of the child's life:

* start: the child is started with the **spawn** context (the engine worker is
  multi-threaded; forking it could copy a lock held by another thread), attaches the buffer,
  builds its senders from the pickled configs with the normal registry, runs their scheduler
  (lanes at SCHED_FIFO ``realtime_priority``, the process at nice ``nice``: best effort, the
  reason said in :attr:`OutputProcess.priority_error` when refused) and answers ``ready`` or
  the one-line :class:`~engine.output.base.OutputError` message a bad output gave;
  :meth:`OutputProcess.start` waits for that answer and raises the same error.
* kick: one byte written to a non-blocking pipe (no lock, never blocks: a full pipe already
  holds a kick); a child thread turns it into ``scheduler.kick()`` on its own clock
  (``time.monotonic`` is system-wide, so "now" is the same moment in both processes).
* counters: the child sends its senders' snapshots over the control pipe every
  ``stats_interval`` seconds and once more when it stops; a thread here keeps the latest.
* supervision: a child that dies unexpectedly is restarted (the buffer lives here, so no frame
  is lost), counted in :attr:`OutputProcess.restarts` and logged once per event from that
  thread, never from the engine loop. Counters of a dead child are carried over, so they only
  grow. If *this* process dies, the child sees end-of-file on its control pipe, closes its
  senders (E1.31 stream termination) and exits: it never sends on as an orphan.
* stop: the child closes its senders and exits; it is joined (killed after a timeout).
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from engine.features import FeatureEvent
from engine.output.base import OutputError
from engine.output.config import DmxOutputConfig, OutputConfig
from engine.output.frame import DmxFrame
from engine.output.registry import rig_universes
from engine.output.runtime import Outputs
from engine.output.scheduler import OutputTiming
from engine.output.shared import SharedFrameBuffer
from engine.output.stats import OutputSnapshot, OutputStats

log = logging.getLogger("beamsync.output")

#: Counters a restarted child continues from (the dead child's last report is added to them).
_CARRIED = ("frames", "packets", "bytes", "errors", "missed")


@dataclass(frozen=True)
class _ChildSpec:
    """What the child needs (picklable)."""

    configs: tuple[OutputConfig, ...]
    buffer_name: str
    realtime_priority: int | None
    nice: int | None
    stats_interval: float
    log_level: int


class _Terminated(Exception):
    """SIGTERM in the child: close the senders properly, then leave."""


class _ForwardLogs(logging.Handler):
    """Child side: hand each log record to the parent over the control pipe."""

    def __init__(self, send: Callable[[Any], bool]) -> None:
        super().__init__()
        self._send = send

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._send(("log", record.levelno, record.name, record.getMessage()))
        except Exception:  # a log record must never take the child down
            pass


def _child_main(spec: _ChildSpec, control: Any, kick: Any) -> None:
    """The output process: attach the buffer, build and run the DMX senders, obey the parent.

    Ends on ``"stop"`` from the parent, on end-of-file of the control pipe (the parent is
    gone) or on SIGTERM; every way out closes the senders first (stream termination).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent stops us

    def on_term(*_: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise _Terminated()

    signal.signal(signal.SIGTERM, on_term)
    send_lock = threading.Lock()

    def send(msg: Any) -> bool:
        # The stats thread, the log handler and the main thread share the pipe (not a realtime
        # path: the sender lanes never touch it).
        try:
            with send_lock:
                control.send(msg)
            return True
        except (OSError, ValueError):  # the parent is gone (EPIPE) or the pipe closed
            return False

    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(_ForwardLogs(send))
    root.setLevel(spec.log_level)

    notes: list[str] = []
    try:  # spawned from a SCHED_FIFO thread, this process would inherit it: only the lanes get it
        if os.sched_getscheduler(0) != os.SCHED_OTHER:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    except (OSError, AttributeError):
        pass
    if spec.nice is not None:
        try:  # before any thread starts: Linux nice is per thread and inherited
            os.setpriority(os.PRIO_PROCESS, 0, spec.nice)
        except (OSError, AttributeError) as exc:
            notes.append(f"nice {spec.nice}: {exc}")
    # Our threads only wait or send; a lane waiting for the lock waits at most this long.
    sys.setswitchinterval(0.001)

    from engine.errors import BeamsyncError
    from engine.output.registry import create_senders
    from engine.output.scheduler import OutputScheduler

    buffer = SharedFrameBuffer.attach(spec.buffer_name)
    try:
        senders = create_senders(spec.configs, buffer)
        scheduler = OutputScheduler(senders)
    except BeamsyncError as exc:
        send(("error", str(exc)))
        buffer.close()
        return
    except Exception as exc:  # a bug in a sender's set-up: say what, in one line
        send(("error", f"output process failed: {type(exc).__name__}: {exc}"))
        buffer.close()
        return
    scheduler.start(realtime_priority=spec.realtime_priority)
    done = threading.Event()

    def realtime(below: int) -> None:
        # Every thread of this process that takes the interpreter lock runs at SCHED_FIFO (when
        # permitted): one at normal priority could be preempted by other jobs while it holds
        # the lock, and the lanes would wait for it (the inversion this process exists to avoid).
        if spec.realtime_priority is not None:
            try:
                os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(max(1, spec.realtime_priority - below)))
            except (OSError, AttributeError):
                pass  # the lanes' own attempt reports the reason

    def kicks() -> None:
        realtime(0)  # a kick is an onset flash: wake the lanes as promptly as they run
        fd = kick.fileno()
        while not done.is_set():
            try:
                data = os.read(fd, 256)
            except InterruptedError:
                continue
            except OSError:
                return
            if not data:
                return
            scheduler.kick()

    def stats() -> None:
        realtime(1)  # below the lanes: a few hundred microseconds four times a second
        while not done.wait(spec.stats_interval):
            send(("stats", scheduler.snapshot(), scheduler.priority_error))

    for target, name in ((kicks, "beamsync-output-kick"), (stats, "beamsync-output-stats")):
        threading.Thread(target=target, name=name, daemon=True).start()
    send(("ready", "; ".join(notes)))
    try:
        try:
            while True:
                msg = control.recv()
                if msg == "stop":
                    break
        except (EOFError, OSError):
            pass  # the parent is gone: close the senders and leave, never send on as an orphan
    except _Terminated:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # nothing may cut the goodbye short
        done.set()
        scheduler.stop(close=True)  # E1.31 stream termination
        send(("stats", scheduler.snapshot(), scheduler.priority_error))
        try:
            control.close()
        except OSError:
            pass
        buffer.close()


class OutputProcess:
    """A show's outputs with the DMX senders in a supervised child process.

    The same interface as :class:`~engine.output.runtime.Outputs` where the live engine uses it
    (``publish``, ``back``, ``buffer``, ``post``/``set_value``/``has_osc``, ``kick``,
    ``snapshot``, ``timing``, ``lead``, ``start(realtime_priority=)``, ``stop``, ``tick``),
    see the module docstring. ``tick(now)`` drives the in-process OSC targets only (the DMX
    senders run on the child's threads).

    ``nice`` is the child's nice value (default -10, like the engine worker's; None leaves it);
    ``stats_interval`` how often the child reports its counters; ``start_timeout`` how long
    :meth:`start` waits for the child to answer.
    """

    def __init__(
        self, configs: Iterable[OutputConfig], universes: Iterable[int] = (), *,
        clock: Callable[[], float] = time.monotonic, depth: int = 16, nice: int | None = -10,
        stats_interval: float = 0.25, start_timeout: float = 20.0,
    ) -> None:  # fmt: skip
        self.configs = [c for c in configs]
        enabled = [c for c in self.configs if c.enabled]
        names = [c.name for c in enabled]
        if len(set(names)) != len(names):
            raise OutputError(f"output names must be unique, got {names}")
        self._dmx = tuple(c for c in enabled if isinstance(c, DmxOutputConfig))
        self._dmx_names = {c.name for c in self._dmx}
        wanted = sorted(set(int(u) for u in universes) | set(rig_universes(self.configs)))
        self.buffer = SharedFrameBuffer(wanted, depth=depth)
        try:
            # OSC targets (and nothing else) stay here, on the shared buffer.
            self._local = Outputs([c for c in self.configs if not isinstance(c, DmxOutputConfig)], wanted,
                                  clock=clock, buffer=self.buffer)
        except BaseException:
            self.buffer.close()
            raise
        self.nice = nice
        self.stats_interval = stats_interval
        self.start_timeout = start_timeout
        self.realtime_priority: int | None = None
        #: Why the child could not raise its priority (None when it could, or none was asked for).
        self.priority_error: str | None = None
        #: Times a child that died unexpectedly was replaced.
        self.restarts = 0
        #: One line per child death / restart problem (each also logged once).
        self.events: list[str] = []
        self._ctx = mp.get_context("spawn")
        self._proc: Any = None
        self._control: Any = None
        self._kick_r: Any = None  # read end (a Connection, so spawn can hand it to each child)
        self._kick_w = -1  # write end, non-blocking raw fd
        # (the child's latest report by output name, counters carried over from dead children):
        # one tuple, replaced whole, so a reader never sees a report counted twice.
        self._reports: tuple[dict[str, OutputSnapshot], dict[str, dict[str, int]]] = ({}, {})
        self._ready_at = 0.0  # when the current child answered "ready"
        self._backoff = 0.0  # wait before the next restart (grows while children die young)
        self._stopping = threading.Event()
        self._swap = threading.Lock()  # child replacement vs stop (never taken on the engine loop)
        self._supervisor: threading.Thread | None = None
        self._started = False
        self._stopped = False
        self._said_priority: str | None = None

    # -- show side (engine loop) ---------------------------------------------------------------

    def publish(self, frame: DmxFrame | None = None, stamp: float = float("-inf")) -> None:
        """Hand a rendered frame to the senders (see :meth:`Outputs.publish`)."""
        self._local.publish(frame, stamp)

    @property
    def back(self) -> DmxFrame:
        """The frame the show may write directly before :meth:`publish`."""
        return self.buffer.back

    @property
    def has_osc(self) -> bool:
        """True when some output is an OSC target (then the show posts feature events)."""
        return self._local.has_osc

    def post(self, event: FeatureEvent, at: float | None = None) -> None:
        """Send a feature event to every OSC target that maps it."""
        self._local.post(event, at)

    def set_value(self, feature: str, value: float, **data: Any) -> None:
        """Send a named value to every OSC target that maps it."""
        self._local.set_value(feature, value, **data)

    def kick(self, now: float | None = None) -> None:
        """Send every output now instead of at its next slot ("low-latency flash").

        Writes one byte to a non-blocking pipe: no lock, no allocation, never blocks (a full
        pipe already holds kicks the child has not read; a dead child's pipe is ignored). The
        child kicks on its own clock, which is the same system-wide monotonic clock as ``now``.
        """
        fd = self._kick_w
        if fd >= 0:
            try:
                os.write(fd, b"k")
            except OSError:  # full (a kick is pending anyway), or closed by stop()
                pass
        if self._local.senders:  # OSC targets here (their scheduler's wake-up takes a lock)
            self._local.kick(now)

    def tick(self, now: float) -> int:
        """Drive the in-process (OSC) outputs once at ``now``; the DMX senders run in the child."""
        return self._local.tick(now)

    # -- data --------------------------------------------------------------------------------------

    def timing(self) -> list[OutputTiming]:
        """Rate and latency offset of every enabled output, in config order."""
        return [OutputTiming(c.name, c.type, c.rate, c.latency_ms) for c in self.configs if c.enabled]

    @property
    def lead(self) -> float:
        """Seconds the show must render ahead: the largest latency offset (0 without outputs)."""
        return max((c.latency_ms for c in self.configs if c.enabled), default=0.0) / 1000.0

    def snapshot(self) -> list[OutputSnapshot]:
        """Counters of every output in config order: the child's latest report for DMX outputs
        (at most ``stats_interval`` old; zeros before the first), live ones for OSC targets."""
        local = {s.name: s for s in self._local.snapshot()}
        latest, base = self._reports
        out = []
        for c in self.configs:
            if not c.enabled:
                continue
            if c.name not in self._dmx_names:
                out.append(local[c.name])
                continue
            snap = latest.get(c.name) or OutputStats().snapshot(c.name, c.type, c.rate, c.latency_ms)  # zeros
            carried = base.get(c.name)
            if carried:
                snap = dataclasses.replace(snap, **{k: getattr(snap, k) + v for k, v in carried.items()})
            out.append(snap)
        return out

    @property
    def pid(self) -> int | None:
        """The child's process id (None when no child runs)."""
        proc = self._proc
        return proc.pid if proc is not None and proc.is_alive() else None

    @property
    def alive(self) -> bool:
        """True while a child runs (always False for a show without DMX outputs)."""
        return self.pid is not None

    # -- running -----------------------------------------------------------------------------------

    def start(self, *, realtime_priority: int | None = None) -> None:
        """Start the OSC scheduler here and the DMX child; wait until the child's senders are open.

        Raises :class:`OutputError` with the child's message when an output cannot be set up
        (a serial port that does not exist, a socket that cannot bind); everything started is
        stopped again first.
        """
        if self._started:
            return
        self._started = True
        self.realtime_priority = realtime_priority
        self._local.start(realtime_priority=realtime_priority)
        if not self._dmx:
            return
        r, w = self._ctx.Pipe(duplex=False)
        self._kick_r = r
        os.set_blocking(w.fileno(), False)
        self._kick_w = os.dup(w.fileno())  # a plain fd: kick() writes raw bytes, never pickles
        w.close()
        kind, text = self._spawn()
        if kind != "ready":
            self.stop()
            raise OutputError(text)
        self._supervisor = threading.Thread(target=self._supervise, name="beamsync-output-supervisor", daemon=True)
        self._supervisor.start()

    def _spawn(self) -> tuple[str, str]:
        """Start one child and wait for its answer: ``("ready", notes)`` or ``("error", message)``."""
        spec = _ChildSpec(self._dmx, self.buffer.name, self.realtime_priority, self.nice, self.stats_interval,
                          logging.getLogger().getEffectiveLevel())
        parent_end, child_end = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(target=_child_main, args=(spec, child_end, self._kick_r), name="beamsync-output",
                                 daemon=True)
        proc.start()
        child_end.close()  # ours: so the child's death reads as end-of-file here
        self._proc, self._control = proc, parent_end
        deadline = time.monotonic() + self.start_timeout
        answer: tuple[str, str] | None = None
        while answer is None and time.monotonic() < deadline and not self._stopping.is_set():
            try:
                if not parent_end.poll(0.1):
                    continue
                msg = parent_end.recv()
            except (EOFError, OSError):
                proc.join(2)
                answer = ("error", f"the output process exited during start-up (exit code {proc.exitcode})")
                break
            if msg[0] in ("ready", "error"):
                answer = (msg[0], msg[1])
            else:
                self._handle(msg)
        if answer is None:
            answer = ("error", f"the output process did not start within {self.start_timeout:g} s")
        if answer[0] == "ready":
            self._ready_at = time.monotonic()
            if answer[1]:
                self._note_priority(answer[1])
        else:
            self._end_child()
        return answer

    def _end_child(self) -> None:
        """Make sure the current child is gone and its pipe closed (not the engine loop's path)."""
        proc, control = self._proc, self._control
        if proc is not None:
            proc.join(0.5)
            if proc.is_alive():
                proc.kill()
                proc.join(2)
        if control is not None:
            control.close()
        self._proc = self._control = None

    def _handle(self, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "stats":
            self._reports = ({s.name: s for s in msg[1]}, self._reports[1])
            if msg[2]:
                self._note_priority(msg[2])
        elif kind == "log":
            logging.getLogger(msg[2]).log(msg[1], "output process: %s", msg[3])

    def _note_priority(self, why: str) -> None:
        self.priority_error = why if not self.priority_error or why in self.priority_error else \
            f"{self.priority_error}; {why}"
        if why != self._said_priority:
            self._said_priority = why
            log.info("output process keeps a normal priority (%s)", why)

    def _supervise(self) -> None:
        """Receive the child's reports; restart it when it dies unexpectedly."""
        while True:
            control = self._control
            try:
                msg = control.recv()
            except (EOFError, OSError, AttributeError):
                if self._stopping.is_set():
                    return
                self._restart()
                if self._stopping.is_set():
                    return
                continue
            self._handle(msg)

    def _restart(self) -> None:
        proc = self._proc
        if proc is not None:
            proc.join(2)
        code = proc.exitcode if proc is not None else None
        # Its last report's counters continue in the next child (they only grow).
        latest, base = self._reports
        carried = {name: dict(acc) for name, acc in base.items()}
        for name, snap in latest.items():
            acc = carried.setdefault(name, dict.fromkeys(_CARRIED, 0))
            for k in _CARRIED:
                acc[k] += getattr(snap, k)
        self._reports = ({}, carried)
        with self._swap:
            if self._stopping.is_set():
                return
            self._end_child()
        self._note(f"output process died (exit code {code}); restarting it")
        # The first death is answered at once (the lights hold their last look meanwhile);
        # children that keep dying young are restarted ever more slowly, up to every 5 s.
        young = time.monotonic() - self._ready_at < 10.0
        self._backoff = min(5.0, max(0.2, 2 * self._backoff)) if young else 0.0
        if self._backoff:
            self._stopping.wait(self._backoff)
        backoff, last_error = max(0.2, self._backoff), None
        while not self._stopping.is_set():
            with self._swap:
                if self._stopping.is_set():
                    return
                kind, text = self._spawn()
            if kind == "ready":
                self.restarts += 1
                self._note(f"output process restarted ({self.restarts} restart(s) so far)", logging.INFO)
                return
            if text != last_error:  # say why once, not at every retry
                last_error = text
                self._note(f"output process not restarted, still retrying: {text}")
            self._stopping.wait(backoff)
            backoff = min(5.0, backoff * 2)

    def _note(self, line: str, level: int = logging.WARNING) -> None:
        self.events.append(line)
        log.log(level, line)

    def stop(self) -> None:
        """Stop the child (its senders send stream termination and close) and the OSC targets;
        release the shared buffer. Safe to call more than once."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        with self._swap:
            control = self._control
            if control is not None:
                try:
                    control.send("stop")
                except (OSError, ValueError):
                    pass
        supervisor = self._supervisor
        if supervisor is not None:
            supervisor.join(5)  # it reads the child's last report, then end-of-file
        proc = self._proc
        if proc is not None:
            proc.join(3)
        with self._swap:
            self._end_child()
        if self._kick_w >= 0:
            fd, self._kick_w = self._kick_w, -1
            os.close(fd)
        if self._kick_r is not None:
            self._kick_r.close()
            self._kick_r = None
        self._local.stop()
        self.buffer.close()

    def __enter__(self) -> "OutputProcess":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

