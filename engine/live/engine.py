"""The live engine: the audio source in this process, analysis + show + outputs in a worker.

As decided in ``docs/architecture.md``: the PortAudio callback (or the paced file source)
writes a shared-memory ring in the main process, whose other threads only wait; the worker
process attaches the ring and runs :class:`~engine.live.core.EngineCore` (analysis, show,
OSC output threads); the DMX senders run in a third process started by the worker
(:class:`~engine.output.process.OutputProcess`), reading the frames from shared memory, so
analysis work in the worker cannot delay them. ``output_process=False`` (or the environment
variable ``BEAMSYNC_OUTPUT_PROCESS=0``) keeps them as threads of the worker instead. Commands
(tap, blackout …) travel over a queue; the status comes back in a shared
:class:`~engine.live.status.StatusBlock`.

``mode="thread"`` runs the same worker in a thread of this process instead (for debugging,
and where spawning a process is not wanted).
"""

from __future__ import annotations

import importlib
import logging
import logging.handlers
import multiprocessing as mp
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.audio.ring import RingBuffer, RingLayout
from engine.audio.source import AudioSource, RingReader
from engine.errors import BeamsyncError
from engine.live.status import StatusBlock
from engine.live.telemetry import Telemetry

log = logging.getLogger("beamsync.engine")


class EngineError(BeamsyncError):
    """The engine could not start (bad show, outputs that cannot open, worker failure)."""


@dataclass
class WorkerSpec:
    """What the worker needs to rebuild its side (picklable)."""

    show_path: str
    sample_rate: int
    layout: RingLayout
    ring_name: str | None
    status_name: str | None
    telemetry_name: str | None = None
    channels: list[int] | None = None
    hot_reload: bool = True
    low_latency_flash: bool = True
    on_audio_loss: str = "hold"
    flash_limit: float = 0.0
    analysis: dict[str, Any] = field(default_factory=dict)
    log_level: int = logging.WARNING
    #: Process mode: SCHED_FIFO priority of the engine loop (below the sender threads' 10 and the
    #: audio callback), and the nice value of every other worker thread; None leaves them alone.
    loop_priority: int | None = 5
    worker_nice: int | None = -10
    #: Extra analysers as "module:factory" references, each called with the sample rate (the
    #: starvation benchmark and reliability tests add a synthetic load this way).
    extra_analysers: list[str] = field(default_factory=list)
    #: DMX senders in their own process (OutputProcess); False: threads of the worker.
    output_process: bool = True


def output_process_default() -> bool:
    """Whether the live engine puts its DMX senders in a process of their own: yes, unless the
    environment variable ``BEAMSYNC_OUTPUT_PROCESS`` is ``0``/``no``/``false``/``off``."""
    return os.environ.get("BEAMSYNC_OUTPUT_PROCESS", "1").strip().lower() not in ("0", "no", "false", "off")


def _relay_logs(q: Any) -> None:
    """Parent side of the worker's log queue: hand each record to the parent's logging."""
    while True:
        try:
            record = q.get()
        except (EOFError, OSError):  # the queue was closed under us
            return
        if record is None:
            return
        try:
            logging.getLogger(record.name).handle(record)
        except Exception:  # a broken handler must not end the relay (logging reports it itself)
            pass


def _lift_priority(spec: WorkerSpec, *, fifo: bool) -> None:
    """Raise the worker above ordinary jobs (process mode only; best effort, needs CAP_SYS_NICE).

    Why (``beamsync bench starvation``, docs/reliability.md): the sender threads run at
    SCHED_FIFO but need the GIL; when a normal-priority thread of this process holds it and is
    preempted by other jobs, sends wait tens of milliseconds (priority inversion). Measured with
    a pinned busy loop on a 2-core machine at load 7.5-8.4 (two 120 s runs): missed cadence slots
    449 of 11,165 -> 0 of 12,254, late show frames 7,801 -> 9. ``nice`` applies to the calling
    thread and the threads it starts later, so it is set first; the loop's SCHED_FIFO is set just
    before it runs.
    """
    import sys

    try:
        if fifo and spec.loop_priority is not None and (os.cpu_count() or 1) >= 2:
            # (On one core a realtime loop over budget would starve everything else.)
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(spec.loop_priority))
            # A sender waiting for the GIL waits up to one switch interval (5 ms by default)
            # before the holder is asked to let go; 1 ms bounds that wait closer to the goal.
            sys.setswitchinterval(0.001)
        elif not fifo and spec.worker_nice is not None:
            os.setpriority(os.PRIO_PROCESS, 0, spec.worker_nice)  # this thread (Linux nice is per thread)
    except (OSError, AttributeError) as exc:
        log.info("engine worker keeps its normal priority (%s)", exc)


def _worker(spec: WorkerSpec, commands: Any, stop: Any, errors: Any, *, ring: RingBuffer | None = None,
            status: StatusBlock | None = None, telemetry: Telemetry | None = None, logs: Any = None) -> None:
    """The analysis process main (also run in a thread in thread mode).

    In process mode ``logs`` is a queue: every record goes to the parent, which writes it with its
    own handlers (``--log-json``, ``--log-file``), so one process owns the log file and its rotation.
    """
    if logs is not None:
        _lift_priority(spec, fifo=False)  # first: every thread started from here inherits the nice value
        root = logging.getLogger()
        for h in list(root.handlers):
            root.removeHandler(h)
        root.addHandler(logging.handlers.QueueHandler(logs))
        root.setLevel(spec.log_level)
    else:
        logging.basicConfig(level=spec.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    own_ring = ring is None
    own_status = status is None
    own_telemetry = telemetry is None
    core = watcher = None
    try:
        from engine.analysis.pipeline import AnalysisOptions
        from engine.live.core import EngineCore
        from engine.show.loader import check_show, load_show
        from engine.show.reload import ShowWatcher

        if ring is None:
            ring = RingBuffer.attach(spec.layout, spec.ring_name)  # type: ignore[arg-type]
        if status is None:
            status = StatusBlock(spec.status_name, create=False)
        if telemetry is None and spec.telemetry_name:
            telemetry = Telemetry(spec.telemetry_name, create=False)
        reader = RingReader(ring, spec.sample_rate, spec.channels, is_finished=lambda: status["producer_done"] > 0)
        show = load_show(spec.show_path)
        core = EngineCore(reader, show, analysis=AnalysisOptions(**spec.analysis), telemetry=telemetry,
                          low_latency_flash=spec.low_latency_flash, output_process=spec.output_process)
        core.on_audio_loss = spec.on_audio_loss
        for ref in spec.extra_analysers:
            module_name, _, factory = ref.partition(":")
            core.add_analyser(getattr(importlib.import_module(module_name), factory)(spec.sample_rate))
        core.set_flash_limit(spec.flash_limit)
        core.start()
        if spec.hot_reload and show.path is not None:
            def on_error(st: Any) -> None:
                status["show_reload_errors"] = len(st.errors)
                errors.put(("reload", "\n".join(str(e) for e in st.errors)))

            def on_show(new: Any) -> None:
                core.swap_show(new)
                status["show_reload_errors"] = 0
                status["show_generation"] += 1
                if telemetry is not None:
                    telemetry.set_generation(int(status["show_generation"]))

            watcher = ShowWatcher.for_show(show, on_show, on_error=on_error)
            watcher.start()
        status["state"] = 1
        errors.put(("ready", ""))
        last = {"t": time.monotonic(), "frames": 0, "show": 0.0, "cpu": time.process_time()}
        reloading: list[threading.Thread] = []

        def operator_reload() -> None:
            # Off the engine loop: reading the file and, when the rig changes, starting the new
            # outputs (an output process answers "ready" after ~0.5 s) would stall the show.
            # A thread inherits the loop's SCHED_FIFO: go back to normal scheduling first.
            try:
                os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
            except (OSError, AttributeError):
                pass
            try:
                result = check_show(spec.show_path)
                if result.show is not None:
                    core.swap_show(result.show)
                    status["show_generation"] += 1
                else:
                    status["show_reload_errors"] = len(result.errors)
                    errors.put(("reload", "\n".join(str(e) for e in result.errors)))
            except BeamsyncError as exc:  # e.g. the new rig's outputs cannot open: the old show runs on
                status["show_reload_errors"] = 1
                errors.put(("reload", str(exc)))
            except Exception as exc:
                log.exception("show reload failed")
                errors.put(("reload", f"show reload failed: {type(exc).__name__}: {exc}"))

        def should_stop() -> bool:
            while True:
                try:
                    cmd, value = commands.get_nowait()
                except Exception:  # queue.Empty from either queue type
                    break
                core.post(cmd, value)
            if core.reload_requested and not (reloading and reloading[0].is_alive()):
                core.reload_requested = False  # operator asked for a reload: read the file now
                reloading[:] = [threading.Thread(target=operator_reload, name="beamsync-reload", daemon=True)]
                reloading[0].start()
            now = time.monotonic()
            if now - last["t"] >= 0.2:
                _publish_status(core, status, now, last)
            return stop.is_set()

        if logs is not None:
            _lift_priority(spec, fifo=True)
        core.run_live(should_stop)
        _publish_status(core, status, time.monotonic(), last)
        status["state"] = 2
    except BeamsyncError as exc:
        if status is not None:
            status["state"] = -1
        errors.put(("error", str(exc)))
    except Exception as exc:  # report, so the main process can say what happened
        log.exception("engine worker failed")
        if status is not None:
            status["state"] = -1
        errors.put(("error", f"engine worker failed: {type(exc).__name__}: {exc}"))
    finally:
        if watcher is not None:
            watcher.stop()
        if core is not None:
            core.stop()
        if own_ring and ring is not None:
            ring.close()
        if own_status and status is not None:
            status.close()
        if own_telemetry and telemetry is not None:
            telemetry.close()


def _publish_status(core: Any, status: StatusBlock, now: float, last: dict[str, float]) -> None:
    st = core.stats
    dt = max(1e-6, now - last["t"])
    frames = st.show_frames - last["frames"]
    status["heartbeat"] = now
    status["show_fps"] = frames / dt
    status["show_frames"] = st.show_frames
    status["show_late"] = st.show_late
    status["show_cost_ms"] = 1000.0 * (st.show.seconds - last["show"]) / max(1, frames)
    status["analysis_load"] = st.analysis_load(core.sample_rate)
    status["analysis_lag_ms"] = 1000.0 * st.analysis_lag_frames / core.sample_rate
    status["lost_frames"] = core.source.ring.lost_frames
    status["skipped_frames"] = st.skipped_frames
    status["degraded"] = len(core.degraded)
    status["analyser_crashes"] = core.analyser_crashes
    status["events"] = st.events
    cpu = time.process_time()
    status["cpu_percent"] = 100.0 * (cpu - last["cpu"]) / dt
    values = core.bus.values
    status["level"] = values.get("level", 0.0)
    status["level_db"] = values.get("level.db", -200.0)
    if core.beat is not None:
        c = core.beat.clock(core.analysed_to)
        status["bpm"] = c.bpm
        status["beat_phase"] = c.beat_phase
        status["beat_in_bar"] = c.beat_in_bar
        status["confidence"] = c.confidence
    snaps = core.outputs.snapshot()  # in-process senders, or the output process's latest report
    status["output_packets"] = sum(getattr(s, "packets", 0) for s in snaps)
    status["output_errors"] = sum(getattr(s, "errors", 0) for s in snaps)
    status["output_fps"] = getattr(snaps[0], "fps", 0.0) if snaps else 0.0
    status["output_frames"] = sum(getattr(s, "frames", 0) for s in snaps)
    status["output_missed"] = sum(getattr(s, "missed", 0) for s in snaps)
    status["output_jitter_p99_ms"] = max((getattr(s, "jitter_p99_ms", 0.0) for s in snaps), default=0.0)
    last.update(t=now, frames=st.show_frames, show=st.show.seconds, cpu=cpu)


class LiveEngine:
    """Runs a show on an audio source: ``start()``, ``status``, ``post(cmd)``, ``stop()``.

    ``source`` must have been built with ``shared=True`` in process mode (it is started here).
    ``output_process``: DMX senders in a process of their own (default: yes, unless
    ``BEAMSYNC_OUTPUT_PROCESS=0``; see the module docstring).
    """

    def __init__(self, show_path: str | Path, source: AudioSource, *, mode: str = "process",
                 channels: list[int] | None = None, hot_reload: bool = True,
                 analysis: dict[str, Any] | None = None, low_latency_flash: bool = True,
                 on_audio_loss: str = "hold", flash_limit: float = 0.0,
                 extra_analysers: list[str] | None = None, output_process: bool | None = None) -> None:
        if on_audio_loss not in ("hold", "blackout") and not on_audio_loss.startswith("look:"):
            raise ValueError(f"on_audio_loss must be hold, blackout or look:NAME, not {on_audio_loss!r}")
        if mode not in ("process", "thread"):
            raise ValueError(f"mode must be 'process' or 'thread', not {mode!r}")
        self.mode = mode
        self.source = source
        self.status = StatusBlock(shared=(mode == "process"))
        self.telemetry = Telemetry(shared=(mode == "process"))
        self.spec = WorkerSpec(
            show_path=str(show_path),
            sample_rate=source.sample_rate,
            layout=source.ring.layout,
            ring_name=source.ring.shm_name,
            status_name=self.status.name,
            telemetry_name=self.telemetry.name,
            channels=channels,
            hot_reload=hot_reload,
            low_latency_flash=low_latency_flash,
            on_audio_loss=on_audio_loss,
            flash_limit=flash_limit,
            analysis=dict(analysis or {}),
            extra_analysers=list(extra_analysers or []),
            output_process=output_process_default() if output_process is None else output_process,
            log_level=logging.getLogger().level or logging.WARNING,
        )
        if mode == "process" and source.ring.shm_name is None:
            raise ValueError("process mode needs a source built with shared=True")
        self._ctx = mp.get_context("spawn")
        self._worker: Any = None
        self.errors: Any = None
        self._logs: Any = None
        self._log_thread: threading.Thread | None = None
        self.messages: list[tuple[str, str]] = []

    def start(self, timeout: float = 60.0) -> None:
        """Start the worker, wait until its show is loaded and outputs open, then the audio."""
        if self.mode == "process":
            self.commands = self._ctx.Queue()
            self._stop = self._ctx.Event()
            self.errors = self._ctx.Queue()
            self._logs = self._ctx.Queue()
            self._log_thread = threading.Thread(target=_relay_logs, args=(self._logs,), name="beamsync-worker-logs",
                                                daemon=True)
            self._log_thread.start()
            self._worker = self._ctx.Process(
                target=_worker, args=(self.spec, self.commands, self._stop, self.errors),
                kwargs={"logs": self._logs}, name="beamsync-engine"
            )
            self._worker.start()
        else:
            import queue

            self.commands = queue.SimpleQueue()
            self._stop = threading.Event()
            self.errors = queue.SimpleQueue()
            self._worker = threading.Thread(
                target=_worker, args=(self.spec, self.commands, self._stop, self.errors),
                kwargs={"ring": self.source.ring, "status": self.status, "telemetry": self.telemetry}, name="beamsync-engine", daemon=True,
            )
            self._worker.start()
        kind, text = self._next_message(timeout)
        if kind != "ready":
            self.stop()
            raise EngineError(text or "the engine worker did not start")
        self.source.start()
        if hasattr(self.source, "state"):  # a supervised live input: tell the worker about losses
            self._watch = threading.Thread(target=self._watch_source, name="beamsync-input-watch", daemon=True)
            self._watch.start()

    def _watch_source(self) -> None:
        lost = False
        while self._worker is not None and not self._stop.is_set():
            now_lost = getattr(self.source, "state", "running") == "lost"
            if now_lost != lost:
                lost = now_lost
                self.post("audio_lost", lost)
            time.sleep(0.1)

    def _next_message(self, timeout: float) -> tuple[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = self.errors.get(timeout=0.1)
            except Exception:
                if self._worker is not None and not self._worker.is_alive():
                    return ("error", "the engine worker exited during start-up")
                continue
            self.messages.append(msg)
            return msg
        return ("error", f"the engine worker did not start within {timeout:g} s")

    def poll_messages(self) -> list[tuple[str, str]]:
        """Messages the worker sent since the last call (reload errors, failures)."""
        out = []
        while self.errors is not None:
            try:
                out.append(self.errors.get_nowait())
            except Exception:
                break
        self.messages.extend(out)
        return out

    def post(self, command: str, value: Any = None) -> None:
        """Send an operator command (tap, blackout, master, nudge, resync, beat_mode, button.X, fader.X)."""
        self.commands.put((command, value))

    @property
    def alive(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    def producer_done(self) -> None:
        """Tell the worker the source has ended (a file that does not loop)."""
        self.status["producer_done"] = 1.0

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the audio, then the worker (its outputs send their stream-terminated packets)."""
        try:
            self.source.stop()
        finally:
            if self._worker is not None:
                self._stop.set()
                self._worker.join(timeout)
                if self.mode == "process" and self._worker.is_alive():
                    self._worker.terminate()
                    self._worker.join(2)
                self._worker = None
            if self._log_thread is not None:
                self._logs.put(None)  # after the worker's last record: the relay drains, then ends
                self._log_thread.join(5)
                self._log_thread = None

    def close(self) -> None:
        """Stop, then release the shared memory."""
        self.stop()
        self.status.close()
        self.telemetry.close()
        self.source.ring.close(unlink=True)
