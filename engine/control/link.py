"""Ableton Link (aalink): share tempo and phase with other programs and other beamsync machines.

Two modes (``beamsync run --link follow|lead``):

- **follow**: the Link session's tempo and phase drive the beat clock. On every Link beat the
  engine gets a ``tap`` (the tracker sets tempo and phase from taps), and on every bar start
  (beat ≡ 0 mod quantum) a ``resync`` (that beat is a downbeat). While peers are present the
  tracker is in ``manual`` mode so the audio does not pull the grid away from the session;
  alone (no peers: the session is only our own placeholder tempo) the audio drives the beat.
- **lead**: beamsync's detected tempo is published to the session (when the tracker is
  confident), and the session's beat is moved onto the engine's beat when they drift apart by
  more than ``max_phase_error`` beats (Link's ``force_beat``: the bridge-from-an-external-clock
  operation), so Resolume, Traktor, Ableton or other beamsync machines follow the music.

Link needs an asyncio loop: :class:`LinkSync` runs one on its own thread, which mostly waits
(``await link.sync(1)`` wakes it at each beat; lead mode wakes ten times a second).
The decisions are pure functions (:func:`phase_error`, :class:`Leader`), tested without a
network. Link multicasts on every interface once enabled: tests enable it only inside a
network namespace they create (``tests/control/test_link.py``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import statistics
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable

from engine.control.beat import BeatPosition
from engine.control.errors import ControlError
from engine.control.operator import Operator

log = logging.getLogger("beamsync.control.link")


def phase_error(ours: float, theirs: float, quantum: float) -> float:
    """How far ``theirs`` is ahead of ``ours`` within one quantum, in -quantum/2..quantum/2 beats."""
    d = (theirs - ours) % quantum
    return d - quantum if d > quantum / 2 else d


@dataclass
class LeadAction:
    tempo: float | None = None  # set the session tempo
    beat: float | None = None  # force the session beat to this value now


class Leader:
    """Decides, from the engine's beat and the session's, what to change in the session.

    The offset between the two is split into the beat phase (within ±half a beat) and whole
    beats (the bar position). The beat phase is corrected when the median of the last
    ``window`` readings is off by more than ``max_phase_error``; the bar position only when
    the engine has kept the same different downbeat for ``bar_window`` readings in a row
    (a tracker's downbeat guess can flip on material without accents; every jump of the
    session's bar jolts all followers).
    """

    def __init__(self, quantum: float = 4.0, *, min_confidence: float = 0.5, tempo_step: float = 0.05,
                 max_phase_error: float = 0.05, hold_s: float = 1.0, window: int = 1,
                 bar_window: int = 1) -> None:
        self.quantum = quantum
        self.min_confidence = min_confidence
        self.tempo_step = tempo_step
        self.max_phase_error = max_phase_error
        self.hold_s = hold_s
        self.window = window
        self.bar_window = bar_window
        self._frac: list[float] = []
        self._whole: list[int] = []
        self._tempi: list[float] = []
        self._last_force = -math.inf
        self._bar_set = False  # the first correction after a (re)join also sets the bar
        self.forced = 0

    def reset(self) -> None:
        """Forget the readings and the hold time (a peer joined: its timeline is the session's now)."""
        self._frac, self._whole, self._tempi = [], [], []
        self._last_force = -math.inf
        self._bar_set = False

    def step(self, now: float, ours: tuple[float, float] | None, confidence: float,
             session_beat: float, session_tempo: float) -> LeadAction:
        act = LeadAction()
        if ours is None or confidence < self.min_confidence:
            return act  # not sure of the music: leave the session as it is
        beats, bpm = ours
        err = phase_error(beats, session_beat, self.quantum)
        frac = (err + 0.5) % 1.0 - 0.5
        self._tempi = (self._tempi + [bpm])[-self.window:]
        self._frac = (self._frac + [frac])[-self.window:]
        self._whole = (self._whole + [int(round(err - frac))])[-self.bar_window:]
        if len(self._tempi) < self.window:
            return act
        tempo = statistics.median(self._tempi)
        if abs(tempo - session_tempo) > self.tempo_step:
            act.tempo = tempo
            # Offsets read under the old tempo drift; a correction from them would leave a
            # residual below the threshold for good. Measure again at the new tempo first.
            self._frac, self._whole = [], []
            return act
        if len(self._frac) < self.window or now - self._last_force < self.hold_s:
            return act
        shift = 0.0
        if abs(statistics.median(self._frac)) > self.max_phase_error:
            # Correct by the newest half of the window: the offset as it is now, still averaged.
            shift += statistics.median(self._frac[-max(1, self.window // 2):])
        # The bar: at the first correction after joining (the session's bar is arbitrary then)
        # when the window agrees, later only when the engine's downbeat has held bar_window readings.
        needed = self.window if not self._bar_set else self.bar_window
        recent = self._whole[-needed:]
        if len(recent) == needed and len(set(recent)) == 1 and recent[0] != 0:
            shift += recent[0]
        elif not self._bar_set and len(recent) == needed and len(set(recent)) == 1:
            self._bar_set = True  # already on the engine's bar
        if shift:
            act.beat = session_beat - shift  # the session's beat moved onto ours
            self._bar_set = self._bar_set or (len(recent) == needed and len(set(recent)) == 1)
            self._last_force = now
            self._frac, self._whole = [], []
            self.forced += 1
        return act


class LinkSync:
    """Runs Link on its own thread in ``follow`` or ``lead`` mode.

    ``engine_status`` is the engine's status block (read for lead mode); ``link_factory`` builds
    the aalink object inside the thread's loop (injected by tests).
    """

    def __init__(self, mode: str, operator: Operator, engine_status: Any = None, *, quantum: float = 4.0,
                 link_factory: Callable[[float], Any] | None = None, enable: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if mode not in ("follow", "lead"):
            raise ControlError(f"--link expects follow or lead, not {mode!r}")
        if not quantum > 0:
            raise ControlError(f"--link-quantum must be positive, got {quantum:g}")
        self.mode = mode
        self.operator = operator
        self.engine_status = engine_status
        self.quantum = float(quantum)
        self.enable = enable
        self.clock = clock
        self.link_factory = link_factory or _aalink
        # Thresholds above the jitter of the engine's status (published every 0.2 s): the session
        # should not twitch at every wobble of the tracker (measured: ±0.1 BPM, ±0.05 beat).
        self.leader = Leader(self.quantum, tempo_step=0.15, max_phase_error=0.05, hold_s=2.0, window=10,
                             bar_window=40)
        self.position = BeatPosition()
        self.counts = {"beats": 0, "bars": 0, "missed": 0, "tempo_sets": 0, "beat_forces": 0}
        self.peers = 0
        self.tempo = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 5.0) -> None:
        self._thread = threading.Thread(target=self._run, name="beamsync-link", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            self.stop()
            raise ControlError(f"Ableton Link did not start: {self._error or 'timeout'}")
        log.info("Ableton Link %s mode, quantum %g", self.mode, self.quantum)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported through start() or the health snapshot
            self._error = exc
            self._ready.set()
            log.error("Ableton Link stopped: %s", exc)

    async def _main(self) -> None:
        link = self.link_factory(120.0)
        link.quantum = self.quantum
        link.enabled = self.enable
        self._ready.set()
        try:
            if self.mode == "follow":
                await self._follow(link)
            else:
                await self._lead(link)
        finally:
            link.enabled = False

    async def _follow(self, link: Any) -> None:
        following = False
        joined_at = None
        last_beat = -math.inf
        while not self._stop.is_set():
            try:
                # A long timeout: cancelling a sync that is merely late would lose that beat's tap.
                beat = await asyncio.wait_for(link.sync(1), 2.0)
            except asyncio.TimeoutError:
                continue  # re-check stop (slower than 30 BPM: no beat in 2 s)
            if beat <= last_beat:
                await asyncio.sleep(0.01)
                continue  # the same beat again (sync called right at it)
            if beat > last_beat + 1 and last_beat > -math.inf:
                self.counts["missed"] += int(beat - last_beat - 1)
            last_beat = beat
            self.peers, self.tempo = link.num_peers, link.tempo
            now = self.clock()
            if self.peers == 0:
                # Alone, the session is only our own 120 BPM: let the audio drive the beat.
                joined_at = None
                if following:
                    following = False
                    self.operator.apply("beat_mode", ["auto"])
                    log.warning("Link: no peers left; the beat follows the audio again")
                continue
            if joined_at is None:
                joined_at = now
            if now - joined_at < 0.5:
                continue  # just joined: the session timeline settles over the first beats
            if not following:
                following = True
                self.operator.apply("beat_mode", ["manual"])  # the session holds the grid, not the audio
                log.info("Link: following a session of %d peer(s) at %.1f BPM", self.peers, self.tempo)
            self.operator.apply("tap")
            self.counts["beats"] += 1
            if round(beat) % round(self.quantum) == 0:
                self.operator.apply("resync")
                self.counts["bars"] += 1
            await asyncio.sleep(0.05)  # sync(1) right at the beat would return this beat again

    async def _lead(self, link: Any) -> None:
        while not self._stop.is_set():
            await asyncio.sleep(0.1)
            if link.num_peers != self.peers:
                self.leader.reset()  # joining adopts the older session's timeline: correct it at once
            self.peers, self.tempo = link.num_peers, link.tempo
            if self.engine_status is None:
                continue
            st = self.engine_status.snapshot()
            now = self.clock()
            act = self.leader.step(now, self.position.read(st, now), float(st.get("confidence", 0.0)),
                                   link.beat, link.tempo)
            if act.tempo is not None:
                link.tempo = act.tempo
                self.counts["tempo_sets"] += 1
            if act.beat is not None:
                log.info("Link: moving the session's beat by %+.3f onto the music", act.beat - link.beat,
                         extra={"fields": {"event": "link_force", "shift": round(act.beat - link.beat, 4)}})
                link.force_beat(act.beat)
                self.counts["beat_forces"] += 1

    def stats(self) -> dict[str, Any]:
        return {"mode": self.mode, "peers": self.peers, "tempo": round(self.tempo, 2), **self.counts,
                **({"error": str(self._error)} if self._error else {})}

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(3.0)
            self._thread = None


def _aalink(bpm: float) -> Any:
    import aalink

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return aalink.Link(bpm, asyncio.get_running_loop())
