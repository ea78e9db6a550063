"""Helpers for the show tests: a small rig, writing shows into tmp_path, clocked inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from engine.features import FeatureEvent
from engine.show.inputs import BeatClock, ShowInputs

REPO = Path(__file__).resolve().parents[2]
SHOWS = REPO / "shows"

RIG = """\
outputs:
  - type: sacn
    name: stage
    universes: [1]
    latency_ms: 0
fixtures:
  - {name: par, profile: led-par-rgbw, mode: 7ch, universe: 1, address: 1, count: 4}
  - {name: bar, profile: pixel-bar-8, mode: 24ch, universe: 1, address: 101, count: 2}
  - {name: spot, profile: spot-moving-head, mode: 14ch, universe: 1, address: 201, count: 2}
groups:
  pars: [par 1, par 2, par 3, par 4]
  bars: [bar 1, bar 2]
  spots: [spot 1, spot 2]
"""

SR = 48000
FPS = 100


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """``write(text, name="show.yaml", rig=True)``: a show file in tmp_path (with rig.yaml)."""

    def _write(text: str, name: str = "show.yaml", rig: bool = True) -> Path:
        if rig:
            (tmp_path / "rig.yaml").write_text(RIG)
        p = tmp_path / name
        p.write_text(text)
        return p

    return _write


def clocked(k: int, bpm: float = 120.0, *, values: dict | None = None, events: list[FeatureEvent] | None = None,
            running: bool = True) -> ShowInputs:
    """Inputs of show frame ``k`` (100 fps) with a steady beat clock at ``bpm`` from time 0."""
    now = k * SR // FPS
    period = SR * 60.0 / bpm
    beat = int(now // period)
    nb = int(round((beat + 1) * period))
    clock = BeatClock(bpm=bpm, phase=(now - beat * period) / period, beat_in_bar=beat % 4 + 1, confidence=1.0,
                      next_beat=nb, next_beat_in_bar=(beat + 1) % 4 + 1) if running else BeatClock()
    return ShowInputs(now, SR, dict(values or {}), list(events or []), clock)


def event(name: str, k: int, **data) -> FeatureEvent:
    """A feature event happening at show frame ``k``."""
    t = k * SR // FPS
    return FeatureEvent(name, t, t, 1.0, data)
