"""Photosensitivity guard: no more than N full-field flashes per second.

A *flash* here follows the WCAG idea of a pair of opposing luminance changes: the field (the
mean intensity over every fixture of the rig, a multi-cell fixture counting as the mean of its
cells) rises by at least ``delta`` from a trough and later falls back. :class:`FlashGuard` counts
the rises in a sliding one-second window; a rise that would exceed ``max_flashes`` in that
window is held back by scaling the whole frame's intensities so that the field stays just
under ``trough + delta`` until the window has room again. Hardware strobe rates (the
``strobe`` attribute, which the renderer also emulates on fixtures without a strobe channel)
are clamped to ``max_flashes`` Hz.

The guard works on the :class:`~engine.fixtures.attributes.AttributeFrame` between the show
graph and the renderer, in place (a few small numpy temporaries per frame; its cost is in
``bench/eval_auto.py``). :class:`FlashMeter` is the same counting without limiting,
for benchmarks and tests. :func:`install_flash_guard` applies a guard to an
:class:`~engine.live.core.EngineCore` (it wraps the core's show runtime), until the engine's
render stage applies it itself (see docs/auto.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np

DEFAULT_MAX_FLASHES = 3.0
DEFAULT_DELTA = 0.1  # a change of 10% of full scale counts (WCAG's relative-luminance step)


class _FlashCounter:
    """Rises of a field level of at least ``delta`` from its last trough, with their times."""

    def __init__(self, max_flashes: float, delta: float, window: float) -> None:
        if max_flashes <= 0:
            raise ValueError("max_flashes must be positive")
        self.max_flashes = float(max_flashes)
        self.delta = float(delta)
        self.window = float(window)
        # times of the most recent flashes (a ring big enough for the allowed count + 1)
        self._times = np.full(int(np.ceil(max_flashes)) + 1, -np.inf)
        self._head = 0
        self.reset()

    def reset(self) -> None:
        self._times[:] = -np.inf
        self._head = 0
        self.rising = False  # True after a counted rise, until the level falls by delta
        self.trough = 0.0
        self.peak = 0.0
        self.flashes = 0

    def recent(self, t: float) -> int:
        """Flashes counted in the window ending at ``t`` (exclusive of ``t - window``)."""
        return int(np.count_nonzero(self._times > t - self.window))

    def _record(self, t: float) -> None:
        self._times[self._head] = t
        self._head = (self._head + 1) % len(self._times)
        self.flashes += 1

    def observe(self, level: float, t: float) -> bool:
        """Track ``level``; True when it completes a rise (a flash) at time ``t``."""
        if self.rising:
            if level > self.peak:
                self.peak = level
            elif level <= self.peak - self.delta:
                self.rising = False
                self.trough = level
            return False
        if level < self.trough:
            self.trough = level
        if level - self.trough >= self.delta:
            self.rising = True
            self.peak = level
            self._record(t)
            return True
        return False


def field_level(attrs: Any) -> float:
    """Mean intensity over the rig's fixtures (NaN counts as 0; cells average into their fixture)."""
    n = attrs.n_fixtures
    if n == 0:
        return 0.0
    inten = np.nan_to_num(attrs.intensity, nan=0.0)
    if attrs.n_cells:
        offs = attrs.cell_offsets
        has_cells = np.diff(offs) > 0
        cells = attrs.cell_intensity
        fix = np.repeat(np.arange(n), np.diff(offs))
        eff = np.where(np.isnan(cells), inten[fix], cells)
        sums = np.bincount(fix, weights=eff, minlength=n)
        counts = np.maximum(np.diff(offs), 1)
        inten = np.where(has_cells, sums / counts, inten)
    return float(np.clip(inten, 0.0, 1.0).mean())


class FlashGuard:
    """Limits full-field flashes to ``max_flashes`` per ``window`` seconds (default 3 per s)."""

    def __init__(self, max_flashes: float = DEFAULT_MAX_FLASHES, *, delta: float = DEFAULT_DELTA,
                 window: float = 1.0) -> None:
        self.counter = _FlashCounter(max_flashes, delta, window)
        self.limited_frames = 0  # frames whose intensity was held back
        self.clamped_strobes = 0  # frames with a strobe rate clamped

    @property
    def max_flashes(self) -> float:
        return self.counter.max_flashes

    def reset(self) -> None:
        self.counter.reset()
        self.limited_frames = 0
        self.clamped_strobes = 0

    def apply(self, attrs: Any, t: float) -> float:
        """Limit ``attrs`` (an AttributeFrame, changed in place) at time ``t`` seconds; returns
        the scale applied to the intensities (1.0 when nothing was held back)."""
        c = self.counter
        strobe = attrs.strobe
        if np.any(strobe > c.max_flashes):
            np.minimum(strobe, c.max_flashes, out=strobe, where=~np.isnan(strobe))
            self.clamped_strobes += 1
        level = field_level(attrs)
        scale = 1.0
        if not c.rising and level - min(c.trough, level) >= c.delta and c.recent(t) >= c.max_flashes:
            # this rise would be one flash too many: keep the field just under the step
            target = c.trough + 0.95 * c.delta
            scale = target / level if level > 0 else 0.0
            attrs.intensity *= scale
            if attrs.n_cells:
                attrs.cell_intensity *= scale
            level = target
            self.limited_frames += 1
        c.observe(level, t)
        return scale


class FlashMeter:
    """Counts full-field flashes (as the guard does) without changing anything."""

    def __init__(self, max_flashes: float = DEFAULT_MAX_FLASHES, *, delta: float = DEFAULT_DELTA,
                 window: float = 1.0) -> None:
        self.counter = _FlashCounter(max_flashes, delta, window)
        self.violations = 0  # flashes that were more than max_flashes in their window
        self.strobe_violations = 0  # frames with a lit fixture strobing faster than allowed

    @property
    def flashes(self) -> int:
        return self.counter.flashes

    def observe(self, attrs: Any, t: float) -> None:
        c = self.counter
        lit = np.nan_to_num(attrs.intensity, nan=0.0) > 0
        if np.any((np.nan_to_num(attrs.strobe, nan=0.0) > c.max_flashes) & lit):
            self.strobe_violations += 1
        if c.observe(field_level(attrs), t) and c.recent(t) > c.max_flashes:
            self.violations += 1


def install_flash_guard(core: Any, max_flashes: float = DEFAULT_MAX_FLASHES, **kw: Any) -> FlashGuard:
    """Apply a :class:`FlashGuard` to every show frame of an EngineCore (wraps its runtime's
    ``tick``, so it survives show reloads, which swap the show inside the same runtime)."""
    guard = FlashGuard(max_flashes, **kw)
    runtime = core.runtime
    tick = runtime.tick

    def guarded_tick(inputs: Any) -> Any:
        attrs = tick(inputs)
        guard.apply(attrs, inputs.time)
        return attrs

    runtime.tick = guarded_tick
    return guard
