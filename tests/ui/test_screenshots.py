"""The window driven by a recorded feature stream, grabbed to PNG, panel by panel.

The stream is the club show run fixed-step over the first 10 s of the demo clip (beats,
onsets, levels, DMX and fixture attributes as the live engine would publish them), plus the
clip's own annotations for what the live analysis does not produce yet (notes of its chords,
its sections, drum and bass onsets as stems). Each panel must have real content: not blank,
lit fixtures in colour on the stage, filled DMX cells, beat and onset marks.

The PNGs go to ``$BEAMSYNC_SCREENSHOTS`` or a pytest temporary folder; the test prints where.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from engine.features import FeatureEvent

_spec = importlib.util.spec_from_file_location("ui_helpers", Path(__file__).with_name("helpers.py"))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

SR = 48000
SECONDS = 10.0
CHORDS = [(57, 60, 64), (57, 60, 64), (53, 57, 60), (55, 59, 62)]  # the demo clip's bars (A, A, F, G)
SECTION_OF = {"intro": "music_start", "groove": "phrase", "breakdown": "breakdown", "drop": "drop"}


def clip_annotations(demo) -> list[FeatureEvent]:
    """Ground truth of the synthetic clip as events: chord notes per bar, sections, stem onsets."""
    out: list[FeatureEvent] = []
    bar = 4 * 60.0 / demo.bpm
    for k, t in enumerate(demo.downbeats):
        if t > SECONDS:
            break
        start, end = int(t * SR), int((t + bar * 0.9) * SR)
        for pitch in CHORDS[k % 4]:
            out.append(FeatureEvent("note_on", start, start, 0.8, {"pitch": pitch, "velocity": 90}))
            out.append(FeatureEvent("note_off", end, end, 0.0, {"pitch": pitch, "velocity": 0}))
    for t, name in demo.sections:
        if t <= SECONDS:
            f = int(t * SR)
            out.append(FeatureEvent("section", f, f, 1.0, {"kind": SECTION_OF.get(name, "phrase")}))
    for i, t in enumerate(demo.beats):
        if t > SECONDS:
            break
        f = int(t * SR)
        out.append(FeatureEvent("onset", f, f, 1.0, {"stem": "drums", "label": "kick"}))
        if i % 2 == 0 and t > 7.7:  # bass from the groove on
            out.append(FeatureEvent("onset", f, f, 0.7, {"stem": "bass"}))
    return out


@pytest.fixture(scope="module")
def shots_dir(tmp_path_factory) -> Path:
    d = Path(os.environ.get("BEAMSYNC_SCREENSHOTS") or tmp_path_factory.mktemp("ui-screenshots"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def _panels(win) -> dict[str, object]:
    return {"window": win, "stage": win.stage, "input": win.docks["input"].widget(),
            "analysis": win.docks["analysis"].widget(), "control": win.docks["control"].widget(),
            "dmx": win.docks["dmx"].widget(), "health": win.docks["health"].widget()}


def test_every_panel_has_content_and_is_saved_as_png(qtbot, club_show, demo, shots_dir, settings):
    from PySide6.QtWidgets import QApplication

    from engine.ui import theme
    from engine.ui.recorded import recorded_feed
    from engine.ui.stage import StageRenderer
    from engine.ui.window import MonitorWindow

    theme.apply(QApplication.instance())
    feed = recorded_feed(club_show, demo.samples, SR, seconds=SECONDS, extra_events=clip_annotations(demo))
    win = MonitorWindow(feed, settings=settings)
    qtbot.addWidget(win)
    win.timer.stop()  # refresh by hand: the recording does not move
    win.resize(1600, 1000)
    win.show()
    qtbot.waitExposed(win)
    win.tick()
    win.tick()
    win.tick()  # the third tick refreshes the DMX grid and the health figures
    qtbot.wait(50)

    print(f"\nUI screenshots: {shots_dir}")
    images = {}
    for name, widget in _panels(win).items():
        pix = widget.grab()
        path = shots_dir / f"ui-{name}.png"
        assert pix.save(str(path)), path
        print(f"  {path}")
        images[name] = helpers.to_array(pix)

    for name, arr in images.items():  # nothing blank
        assert arr.shape[0] > 50 and arr.shape[1] > 50, name
        assert helpers.distinct_colours(arr) >= 20, f"{name} looks blank"
        assert float(arr.std()) > 8.0, f"{name} looks blank"

    # stage: the fixtures the recording lit are drawn in their colours at their places
    stage = images["stage"]
    v = feed.telemetry.read_fixtures()
    patch = win.show_obj.patch
    lit = [i for i in range(patch.n_fixtures) if not np.isnan(v.intensity[i]) and v.intensity[i] > 0.2
           and not patch.fixtures[i].cells and np.nanmax(v.color[i]) - np.nanmin(v.color[i]) > 0.5]
    assert len(lit) >= 4, "the recording should light coloured fixtures"
    from PySide6.QtCore import QRectF

    centres = StageRenderer(patch).pixel_positions(QRectF(0, 0, stage.shape[1], stage.shape[0]))
    for i in lit:
        x, y = (int(round(c)) for c in centres[i])
        px = stage[y, x].astype(int)
        assert px.max() - px.min() > 40, f"{patch.fixtures[i].name} not drawn in colour at its place: {px}"
    assert helpers.saturated_pixels(stage) > 500

    # DMX grid: cells with values are filled, universe 1 is shown
    assert win.universe.currentData() == 1
    assert int(win.dmx.values.max()) > 0
    assert helpers.distinct_colours(images["dmx"]) > 50

    # analysis: tempo found, beat lamp lit, onsets and notes drawn, the section named
    assert "BPM" in win.analysis.tempo.text() and not win.analysis.tempo.text().startswith("---")
    assert win.analysis.beat.beat in (1, 2, 3, 4)
    assert win.analysis.section.text() == "PHRASE"  # the groove (from 7.7 s)
    assert len(win.history.notes) >= 12 and len(win.history.onsets) > 20
    assert helpers.saturated_pixels(images["analysis"]) > 1000

    # input: the waveform of the last seconds is drawn
    assert win.feed.audio.write > 0
    assert win.health.values["fill"].text() == "0%"
    assert helpers.saturated_pixels(images["input"], min_chroma=100) > 300
    win.close()
