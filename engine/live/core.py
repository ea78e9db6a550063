"""The engine loop: audio blocks → analysis → feature bus → show graph → DMX frames → outputs.

One :class:`EngineCore` runs in one thread (in the analysis process, see
``docs/architecture.md``). Stage order per iteration, as in Chromatik's engine loop:

1. drain operator commands (tap, blackout, master, look, reload) queued by other threads;
2. read every block the ring holds and run the analysers on it (events go to the bus);
3. when a show frame is due, build its inputs from the bus and the beat clock, evaluate the
   show, render DMX into the frame buffer and publish it;
4. the output scheduler's own threads send the newest frame on each output's cadence (in the
   live engine those of the DMX outputs run in a process of their own,
   :class:`~engine.output.process.OutputProcess`, so analysis work cannot delay them).

Two ways to drive it: :meth:`run_live` follows the wall clock (show frames at the show's rate,
the frame time taken from the audio sample clock), :meth:`run_fixed` steps through a file
with a fixed show-frame grid and no sleeping (``analyze``, ``render``, tests, benchmarks),
which makes its output reproducible.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable


from engine.analysis.pipeline import AnalysisOptions, AnalysisPipeline
from engine.audio.source import AudioSource
from engine.features import FeatureEvent
from engine.live.bus import FeatureBus
from engine.output.frame import DmxFrame
from engine.output.runtime import Outputs

log = logging.getLogger("beamsync.engine")


@dataclass
class StageCost:
    """Seconds spent in a stage and how much work it did (for status, logs and the UI)."""

    seconds: float = 0.0
    count: int = 0
    worst: float = 0.0

    def add(self, dt: float) -> None:
        self.seconds += dt
        self.count += 1
        if dt > self.worst:
            self.worst = dt


@dataclass
class EngineStats:
    analysis: StageCost = field(default_factory=StageCost)
    show: StageCost = field(default_factory=StageCost)
    audio_frames: int = 0  # frames analysed
    show_frames: int = 0
    show_late: int = 0  # show frames computed more than one period late
    skipped_frames: int = 0  # audio dropped because analysis fell behind (graceful degradation)
    analysis_lag_frames: int = 0  # newest written frame minus newest analysed frame
    events: int = 0

    def analysis_load(self, sample_rate: int) -> float:
        """Analysis CPU seconds per second of audio (1.0 = exactly real time)."""
        return self.analysis.seconds / (self.audio_frames / sample_rate) if self.audio_frames else 0.0


class EngineCore:
    """Analysis, show and outputs for one input stream.

    ``show`` is a loaded :class:`engine.show.loader.Show`. ``start_outputs`` starts the output
    scheduler's threads (off for fixed-step runs that only want the frames).

    ``output_process``: run the DMX senders in a supervised child process that reads the
    frames from shared memory (:class:`~engine.output.process.OutputProcess`), out of reach of
    this process's interpreter lock; the live engine's worker does this by default. Off (the
    default here), the senders are threads of this process (:class:`Outputs`): what
    fixed-step runs, injected clocks and tests use.
    """

    def __init__(
        self,
        source: AudioSource,
        show: Any,
        *,
        analysis: AnalysisOptions | None = None,
        start_outputs: bool = True,
        clock: Callable[[], float] = time.monotonic,
        on_frame: Callable[[int, DmxFrame], None] | None = None,
        telemetry: Any = None,
        low_latency_flash: bool = True,
        output_process: bool = False,
    ) -> None:
        from engine.show.runtime import ShowRuntime

        self.source = source
        self.sample_rate = source.sample_rate
        self.clock = clock
        self.pipeline = AnalysisPipeline(self.sample_rate, analysis)
        self.beat = next((a for a in self.pipeline.analysers if hasattr(a, "clock") and hasattr(a, "tap")), None)
        self.bus = FeatureBus(self.sample_rate)
        self.show = show
        self.runtime = ShowRuntime(show)
        self.frame_rate = float(show.settings.frame_rate)
        self.output_process = output_process
        self.outputs: Any = self._make_outputs(show.outputs, self.runtime.dmx.universes)
        self.buffer = self.outputs.buffer
        #: What drives the sends (``snapshot``, ``kick``, ``tick``, ``timing``): the in-process
        #: :class:`~engine.output.scheduler.OutputScheduler`, or the OutputProcess itself.
        self.scheduler = _driver(self.outputs)
        self.start_outputs = start_outputs
        #: SCHED_FIFO priority for the sender threads (below the audio callback's); None = normal.
        self.output_priority: int | None = 10
        self.on_frame = on_frame
        self.telemetry = telemetry  # engine.live.telemetry.Telemetry, or None
        #: On an onset, render a show frame at once and send it on every output without waiting
        #: for the next frame slot (sACN and Art-Net accept frames at any time up to their
        #: maximum rate; the scheduler's cadence restarts from the early frame).
        self.low_latency_flash = low_latency_flash
        self.flash_frames = 0
        self.commands: "queue.SimpleQueue[tuple[str, Any]]" = queue.SimpleQueue()
        self.blackout = False
        self.master = 1.0
        self.stats = EngineStats()
        #: Analysis may use this share of real time before an analyser is asked to cheapen itself.
        self.budget = 0.7
        self.budget_window = 5.0  # seconds of audio per check
        self.max_lag = 1.0  # seconds of backlog before audio is dropped
        self.live = False  # budget checks only in live runs; fixed-step runs never drop audio
        self.degraded: list[str] = []
        self.analysis_load_now = 0.0
        self._costs = [0.0] * len(self.pipeline.analysers)
        self._window_audio = 0
        self._warned_budget = False
        self.disabled_analysers: set[int] = set()
        self.analyser_crashes = 0
        self.fallbacks: list[str] = []  # analysers now on their fallback (e.g. "StemAnalyser: DSP separator")
        self._crashes: dict[int, list[float]] = {}
        self._warned_lag = False
        self.analysed_to = 0  # frame index one past the newest analysed frame
        self.events_log: list[FeatureEvent] | None = None  # set to a list to keep every event
        self._pending_show: Any = None
        self._pending_outputs: Outputs | None = None
        self._outputs_started = False
        self.rig_reloads = 0  # hot reloads that replaced the outputs (new destinations/universes)
        self.show_errors: list[str] = []
        self.next_beat_frame: int | None = None  # the clock's next predicted beat (input frames)
        self.beat_frames = 0
        self._expected_beat: tuple[int, int] | None = None
        self._delivered_beat: int | None = None
        #: What the lights do while the audio input is lost: "hold" (keep running the show on
        #: no new audio), "blackout", or "look:NAME" (switch the bottom layer to a safe look).
        #: engine.auto.guard.FlashGuard applied to every frame (see set_flash_limit), or None.
        self.flash_guard: Any = None
        self.on_audio_loss = "hold"
        self.audio_lost = False
        self._look_before_loss: str | None = None
        self.frozen = False  # operator "freeze": keep sending the last frame
        self.reload_requested = False  # operator "reload": the worker re-reads the show file

    def _make_outputs(self, configs: Any, universes: Any) -> Any:
        if self.output_process:
            from engine.output.process import OutputProcess

            return OutputProcess(configs, universes, clock=self.clock)
        return Outputs(configs, universes, clock=self.clock)

    def add_analyser(self, analyser: Any) -> None:
        """Run one more analyser after the pipeline's own (its cost counts in the budget checks)."""
        self.pipeline.analysers.append(analyser)
        self._costs.append(0.0)

    # -- commands (any thread) ---------------------------------------------------------------
    def post(self, command: str, value: Any = None) -> None:
        """Queue an operator command for the start of the next iteration (thread-safe)."""
        self.commands.put((command, value))

    def swap_show(self, show: Any) -> None:
        """Install a new show at the next show frame (hot reload; call from the watcher's
        thread: the expensive preparation runs there, the frame loop only takes it over).

        When the new show changes the rig on the wire (its outputs, or the universes its patch
        uses), a new :class:`Outputs` is built and started here, in the caller's thread; the
        frame loop switches to it at the same frame boundary as the show and the old outputs
        are stopped (sACN stream termination) on a thread of their own.
        """
        from engine.show.runtime import ShowRuntime

        prepared = ShowRuntime.prepare(show)
        universes = set(int(u) for u in prepared.dmx.universes)
        outputs = None
        if list(show.outputs) != list(self.show.outputs) or universes != set(int(u) for u in self.runtime.dmx.universes):
            outputs = self._make_outputs(show.outputs, prepared.dmx.universes)
            if self.start_outputs and self._outputs_started:
                try:
                    outputs.start(realtime_priority=self.output_priority)
                except BaseException:  # e.g. the new rig's serial port is missing: keep the old rig
                    outputs.stop()
                    raise
            self.rig_reloads += 1
        # A second reload before the frame loop took the first: its outputs never ran, stop them.
        stale, self._pending_outputs = self._pending_outputs, outputs
        if stale is not None:
            stale.stop()
        self.runtime.swap(prepared)
        self._pending_show = show

    def _drain_commands(self, frame: int) -> None:
        while True:
            try:
                cmd, value = self.commands.get_nowait()
            except queue.Empty:
                return
            if cmd == "blackout":
                self.blackout = bool(value)
            elif cmd == "master":
                self.master = min(1.0, max(0.0, float(value)))
            elif cmd == "tap":
                # A tap may carry its own time.monotonic() (MIDI clock, Link, a UI key press),
                # so it lands on the audio frame it was made at, not on this show frame.
                at = frame
                if isinstance(value, (int, float)) and not isinstance(value, bool) and self.source.clock.ready:
                    at = int(self.source.clock.time_to_frame(float(value)))
                if self.beat is not None:
                    self.beat.tap(at)
                self.bus.post("tap", at)
            elif cmd == "nudge" and self.beat is not None:
                self.beat.nudge(float(value))
            elif cmd == "resync" and self.beat is not None:
                self.beat.resync(frame)
            elif cmd == "beat_mode" and self.beat is not None:
                self.beat.set_mode(str(value))
            elif cmd == "look":
                look, layer = value if isinstance(value, (tuple, list)) else (value, None)
                self.operator_look(str(look), layer)
            elif cmd == "audio_lost":
                self.set_audio_lost(bool(value))
            elif cmd == "freeze":
                self.frozen = bool(value)
            elif cmd == "reload":
                self.reload_requested = True
            elif cmd.startswith(("button.", "fader.")):
                self.bus.post(cmd, frame, 1.0 if value is None else float(value))
            else:
                log.warning("unknown engine command %r ignored", cmd)

    def set_flash_limit(self, max_flashes: float) -> None:
        """Limit full-field flashes to ``max_flashes`` per second (0 turns the guard off)."""
        if max_flashes and max_flashes > 0:
            from engine.auto.guard import FlashGuard

            self.flash_guard = FlashGuard(max_flashes)
        else:
            self.flash_guard = None

    def set_audio_lost(self, lost: bool) -> None:
        """Apply (or undo) the configured reaction to a lost audio input."""
        if lost == self.audio_lost:
            return
        self.audio_lost = lost
        action = self.on_audio_loss
        if action == "blackout":
            self.blackout = lost
        elif action.startswith("look:"):
            layers = self.show.model.layers
            if not layers:
                return
            if lost:
                d = self.runtime.domains[0]
                st = d.layers.get(layers[0].name)
                self._look_before_loss = st.look if st is not None else layers[0].look
                self.operator_look(action[5:])
            elif self._look_before_loss:
                self.operator_look(self._look_before_loss)
        log.warning("audio input %s: %s", "lost" if lost else "back", action)

    def operator_look(self, look: str, layer: str | None = None) -> bool:
        """Switch ``layer`` (default: the bottom layer) to ``look`` with the show's transition.

        The operator's scene buttons; returns False (and logs) for an unknown look or layer.
        """
        model = self.show.model
        if look not in model.looks:
            log.warning("no look named %r in the show", look)
            return False
        layer = layer or (model.layers[0].name if model.layers else None)
        if layer is None:
            return False
        bpm = self.beat.clock(self.analysed_to).bpm if self.beat is not None else 0.0
        dur = model.settings.transition.seconds(bpm or 120.0, model.settings.beats_per_bar)
        switched = False
        for d in self.runtime.domains:
            st = d.layers.get(layer)
            if st is not None:
                st.set_look(look, d.t_prev if d.t_prev is not None else 0.0, dur)
                switched = True
        if not switched:
            log.warning("no layer named %r in the show", layer)
        return switched

    # -- stages ------------------------------------------------------------------------------
    def pump_audio(self, max_blocks: int = 64, deadline: float | None = None) -> int:
        """Analyse what the ring holds (up to ``max_blocks`` reads, and no read started after
        ``deadline`` on the engine clock, so show frames are never starved); returns frames analysed."""
        done = 0
        for _ in range(max_blocks):
            if deadline is not None and done and self.clock() >= deadline:
                break
            block = self.source.read()
            if block is None:
                break
            t0 = time.perf_counter()
            events: list[FeatureEvent] = []
            costs = self._costs
            for i, analyser in enumerate(self.pipeline.analysers):
                if i in self.disabled_analysers:
                    continue
                ta = time.perf_counter()
                try:
                    events.extend(analyser.process(block))
                except Exception as exc:  # one analyser's bug must not stop the show
                    self._analyser_failed(i, analyser, exc)
                costs[i] += time.perf_counter() - ta
            self.stats.analysis.add(time.perf_counter() - t0)
            self._window_audio += len(block.samples)
            self.bus.publish(events)
            if events and self.outputs.has_osc:
                for ev in events:
                    self.outputs.post(ev)
            if self.telemetry is not None and events:
                self.telemetry.publish_events(events)
            if self.events_log is not None:
                self.events_log.extend(events)
            self.stats.events += len(events)
            n = len(block.samples)
            self.stats.audio_frames += n
            self.analysed_to = block.end_frame
            done += n
        self.stats.analysis_lag_frames = self.source.ring.write_position - self.analysed_to
        if self.live and self._window_audio >= self.sample_rate * self.budget_window:
            self._check_budget()
        return done

    def _analyser_failed(self, i: int, analyser: Any, exc: BaseException) -> None:
        """Restart a crashed analyser (``reset()``); after three crashes within a minute of
        audio, switch it off. The show keeps running on the other features. Logged once per
        restart, not per block."""
        name = type(analyser).__name__
        now = self.analysed_to / self.sample_rate
        times = [t for t in self._crashes.get(i, []) if now - t < 60.0] + [now]
        self._crashes[i] = times
        self.analyser_crashes += 1
        if len(times) >= 3:
            # An analyser with a cheaper, model-free way to work (the DSP separator for a
            # failing network) switches to it instead of going off.
            fallback = getattr(analyser, "fallback", None)
            try:
                what = fallback() if fallback is not None else None
            except Exception as fb_exc:
                what = None
                log.error("analyser %s: fallback failed (%s)", name, fb_exc)
            if what:
                self._crashes[i] = []
                self.fallbacks.append(f"{name}: {what}")
                log.error("analyser %s failed 3 times within a minute (%s: %s); now running on its fallback: %s",
                          name, type(exc).__name__, exc, what)
                return
            self.disabled_analysers.add(i)
            log.error("analyser %s failed 3 times within a minute (%s: %s); switched off, the show "
                      "runs on the other features", name, type(exc).__name__, exc)
            return
        log.error("analyser %s failed (%s: %s); restarting it", name, type(exc).__name__, exc)
        try:
            analyser.reset()
        except Exception as reset_exc:
            self.disabled_analysers.add(i)
            log.error("analyser %s could not be restarted (%s); switched off", name, reset_exc)

    # -- graceful degradation ----------------------------------------------------------------
    def _check_budget(self) -> None:
        """Every few seconds of audio: if analysis costs more than its share of real time, make
        the most expensive analyser that can cheapen itself do so (an analyser opts in with a
        ``degrade() -> str | None`` method that switches to a cheaper mode and describes it);
        if the backlog still grows past ``max_lag`` seconds, drop the oldest audio so the show
        follows the music instead of falling further behind (counted, logged once)."""
        seconds = self._window_audio / self.sample_rate
        load = sum(self._costs) / seconds
        self.analysis_load_now = load
        if load > self.budget:
            order = sorted(range(len(self._costs)), key=lambda i: -self._costs[i])
            for i in order:
                analyser = self.pipeline.analysers[i]
                degrade = getattr(analyser, "degrade", None)
                what = degrade() if degrade is not None else None
                if what:
                    self.degraded.append(f"{type(analyser).__name__}: {what}")
                    log.warning("analysis at %.0f%% of real time: %s now %s", 100 * load, type(analyser).__name__, what)
                    break
            else:
                if not self._warned_budget:
                    log.warning("analysis at %.0f%% of real time and nothing left to cheapen", 100 * load)
                    self._warned_budget = True
        lag = self.source.ring.write_position - self.analysed_to
        if lag > self.max_lag * self.sample_rate:
            dropped = self.source.ring.skip_to_newest(keep=int(0.05 * self.sample_rate))
            self.stats.skipped_frames += dropped
            if not self._warned_lag:
                log.warning("analysis %.1f s behind the audio: skipped %d frames to catch up (counted in status)",
                            lag / self.sample_rate, dropped)
                self._warned_lag = True
            # The analysers see a splice in the audio; trackers keep their tempo and re-lock.
        self._costs = [0.0] * len(self.pipeline.analysers)
        self._window_audio = 0

    def show_frame(self, frame: int, stamp: float = float("-inf")) -> DmxFrame:
        """Evaluate and publish the show frame at input ``frame``; returns the DMX frame."""
        pending = self._pending_show
        if pending is not None:  # the runtime installs it in this frame's tick
            self._pending_show = None
            self.show = pending
            outputs = self._pending_outputs
            if outputs is not None:  # the rig changed: send from the new outputs from now on
                self._pending_outputs = None
                old, self.outputs = self.outputs, outputs
                self.buffer, self.scheduler = outputs.buffer, _driver(outputs)
                threading.Thread(target=old.stop, name="beamsync-old-outputs", daemon=True).start()
        self._drain_commands(frame)
        if self.frozen:  # keep the outputs on the last published look
            return self.buffer.back
        t0 = time.perf_counter()
        clock = self.beat.clock(frame) if self.beat is not None else None
        inputs = self.bus.take_inputs(frame, clock)
        self._hold_passed_beat(inputs, frame)
        self.next_beat_frame = inputs.clock.next_beat
        attrs = self.runtime.tick(inputs)
        if self.flash_guard is not None:  # photosensitivity: cap full-field flashes per second
            self.flash_guard.apply(attrs, inputs.time)
        domain = self.runtime.domains[0]
        dmx = self.runtime.dmx
        self.runtime.renderer.render(
            attrs,
            dmx,
            self.runtime.master() * self.master,
            domain.blackout or self.blackout,
            time=inputs.time + domain.lead,
        )
        self.outputs.publish(dmx, stamp)
        back = self.buffer.back
        if self.telemetry is not None:
            self.telemetry.publish_frame(frame, back, attrs)
        self.stats.show.add(time.perf_counter() - t0)
        self.stats.show_frames += 1
        if self.on_frame is not None:
            self.on_frame(frame, back)
        return back

    def _hold_passed_beat(self, inputs: Any, frame: int) -> None:
        """Keep a predicted beat that fell between two show frames.

        The show fires a beat when a frame reaches the clock's next predicted beat. Live show
        frames jitter (and onset flashes add frames), so a frame may land just after a beat that
        the previous frame saw as "next"; the clock then already predicts the following beat and
        the passed one would never fire. Hand the show the passed beat once more instead: it
        fires now, less than a frame late, and never twice (the show ignores a second beat
        within half a period).
        """
        c = inputs.clock
        expected = self._expected_beat
        if c.next_beat is None:
            self._expected_beat = None
            return
        if expected is not None and expected[0] <= frame < c.next_beat and expected[0] != self._delivered_beat:
            c.next_beat, c.next_beat_in_bar = expected
            self._delivered_beat = expected[0]
            return
        if c.next_beat <= frame + self.sample_rate / self.frame_rate / 2:
            self._delivered_beat = c.next_beat
        self._expected_beat = (c.next_beat, c.next_beat_in_bar)

    # -- drivers -----------------------------------------------------------------------------
    def start(self) -> None:
        if self.start_outputs:
            self.outputs.start(realtime_priority=self.output_priority)
            self._outputs_started = True

    def stop(self) -> None:
        """Stop the outputs (sACN stream termination; an output process is ended and joined)."""
        pending, self._pending_outputs = self._pending_outputs, None
        if pending is not None:  # a reload the frame loop never took over
            pending.stop()
        self.outputs.stop()

    def run_live(self, should_stop: Callable[[], bool], idle_sleep: float = 0.002) -> None:
        """Follow the wall clock until ``should_stop()``: analyse as audio arrives, render show
        frames at the show's rate at the audio time of "now" (from the sample clock)."""
        period = 1.0 / self.frame_rate
        next_show = self.clock()
        clock = self.source.clock
        beat_due = float("inf")
        self.live = True
        while not should_stop():
            self.pump_audio(deadline=min(next_show, beat_due))
            now = self.clock()
            if self.low_latency_flash and clock.ready and (self.bus.onset_pending or now >= beat_due):
                # An onset arrived, or a predicted beat is due: render a frame now and send it
                # on every output at once instead of at their next cadence slot.
                self.show_frame(int(clock.time_to_frame(now)), stamp=now)
                self.outputs.kick(now)
                if now >= beat_due:
                    self.beat_frames += 1
                else:
                    self.flash_frames += 1
                beat_due = self._beat_due(clock)
            elif now >= next_show:
                if clock.ready:
                    frame = int(clock.time_to_frame(now))
                else:
                    frame = self.analysed_to
                self.show_frame(frame, stamp=now)
                beat_due = self._beat_due(clock)
                next_show += period
                if now - next_show > period:  # fell behind: skip, don't burst
                    missed = int((now - next_show) / period)
                    self.stats.show_late += missed
                    next_show += missed * period
            if self.source.finished:
                break
            delay = min(next_show, beat_due) - self.clock()
            if delay > 0:
                time.sleep(min(delay, idle_sleep))

    def _beat_due(self, clock: Any) -> float:
        """Wall time at which the next predicted beat must be rendered (its audio time minus
        the show's latency lead), or +inf when the clock predicts none."""
        nb = self.next_beat_frame
        if nb is None or not clock.ready:
            return float("inf")
        return clock.frame_to_time(nb) - self.runtime.domains[0].lead

    def run_fixed(self, *, until_frame: int | None = None, tick_outputs: bool = False) -> None:
        """Step through the source with show frames on a fixed grid, as fast as possible.

        A show frame at input frame ``f`` is evaluated once the audio up to ``f`` has been
        analysed, so the result depends only on the input: the same file gives the same frames.
        """
        step = self.sample_rate / self.frame_rate
        k = 0
        while True:
            got = self.pump_audio(max_blocks=1)
            while (k + 1) * step <= self.analysed_to:
                frame = int(round(k * step))
                self.show_frame(frame, stamp=frame / self.sample_rate)
                if tick_outputs:
                    self.outputs.tick(frame / self.sample_rate)
                k += 1
            if until_frame is not None and self.analysed_to >= until_frame:
                break
            if got == 0:
                if self.source.finished:
                    break
                time.sleep(0.0005)


def _driver(outputs: Any) -> Any:
    """The object with the scheduler's methods for ``outputs`` (see ``EngineCore.scheduler``)."""
    return getattr(outputs, "scheduler", outputs)
