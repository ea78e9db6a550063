"""Notes and harmony reach the show: audio → the live engine's analysis pipeline (``run --notes``)
→ feature bus → show runtime → DMX.

A synthesised chord progression (C, Am, F, G7 with their bass notes) runs through
:class:`EngineCore` in fixed-step mode; one dimmer per feature shows what the show saw:
values (``chord.root``, ``key.tonic``, ``pitch_class``, ``note.pitch``, ``notes.count``) are
written as intensities, events (``note_on``, ``chord``, ``key``, ``pitch_class.C``) as
pulses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.analysis.pipeline import AnalysisOptions
from engine.audio.filesource import FileSource
from engine.features import FeatureEvent
from engine.live.core import EngineCore
from engine.show.loader import load_show

from .conftest import render

SR = 48000
CHORD_S = 1.6
START = 0.5
# (name, root pitch class, MIDI notes): bass note plus a close voicing
PROGRESSION = [
    ("C", 0, (36, 60, 64, 67)),
    ("Am", 9, (45, 60, 64, 69)),
    ("F", 5, (41, 60, 65, 69)),
    ("G7", 7, (43, 59, 62, 65, 67)),
]

SHOW = """\
show: harmony wiring test
fixtures:
  - {name: root, profile: generic-dimmer, universe: 1, address: 1}
  - {name: tonic, profile: generic-dimmer, universe: 1, address: 2}
  - {name: pc, profile: generic-dimmer, universe: 1, address: 3}
  - {name: pitch, profile: generic-dimmer, universe: 1, address: 4}
  - {name: count, profile: generic-dimmer, universe: 1, address: 5}
  - {name: onlamp, profile: generic-dimmer, universe: 1, address: 6}
  - {name: chordlamp, profile: generic-dimmer, universe: 1, address: 7}
  - {name: keylamp, profile: generic-dimmer, universe: 1, address: 8}
  - {name: clamp, profile: generic-dimmer, universe: 1, address: 9}
looks:
  main:
    - {group: root, intensity: (chord.root + 1) / 12}
    - {group: tonic, intensity: (key.tonic + 1) / 12}
    - {group: pc, intensity: (pitch_class + 1) / 12}
    - {group: pitch, intensity: note.pitch / 127}
    - {group: count, intensity: notes.count / 10}
    # Envelopes count from the event's own time (docs/show-format.md), which for notes lies
    # ~0.2 s before it is known: a pulse meant to be seen needs a longer decay than that.
    - {group: onlamp, pulse: {trigger: note_on, decay: 1 s}}
    - {group: chordlamp, pulse: {trigger: chord, decay: 1 s}}
    - {group: keylamp, pulse: {trigger: key, decay: 1 s}}
    - {group: clamp, pulse: {trigger: pitch_class.C, decay: 1 s}}
layers:
  - {name: main, look: main}
"""


def progression_audio() -> np.ndarray:
    notes = [(p, START + i * CHORD_S, CHORD_S - 0.05) for i, (_, _, chord) in enumerate(PROGRESSION) for p in chord]
    return render(notes, START + len(PROGRESSION) * CHORD_S + 0.8, rate=SR)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, model: object) -> tuple[np.ndarray, list[FeatureEvent]]:
    """(show frame, DMX slots 1..9) for the whole progression, through the live engine's
    pipeline, and every event the analysis published."""
    del model  # only makes the test skip when the Basic Pitch model is missing
    path = Path(tmp_path_factory.mktemp("harmony")) / "show.yaml"
    path.write_text(SHOW)
    src = FileSource(samples=progression_audio(), sample_rate=SR, block_size=256, realtime=False)
    rows: list[list[int]] = []
    core = EngineCore(src, load_show(path), analysis=AnalysisOptions(notes=True), start_outputs=False,
                      on_frame=lambda f, dmx: rows.append([f, *dmx.universe(1)[:9].tolist()]))
    core.events_log = []
    with src:
        core.run_fixed()
    core.stop()
    assert not core.disabled_analysers and core.analyser_crashes == 0
    return np.array(rows), core.events_log


@pytest.fixture(scope="module")
def frames(run: tuple[np.ndarray, list[FeatureEvent]]) -> np.ndarray:
    return run[0]


def at(frames: np.ndarray, seconds: float, slot: int) -> int:
    """DMX value of ``slot`` (1-based) in the last show frame at or before ``seconds``."""
    i = int(np.searchsorted(frames[:, 0], seconds * SR, side="right")) - 1
    return int(frames[i, slot])


def level_to_index(value: int, scale: int = 12) -> int:
    return round(value / 255 * scale) - 1


def test_chord_root_follows_the_progression(frames: np.ndarray) -> None:
    # Sampled late in each chord: the note-ons arrive ~0.2 s after the onsets.
    roots = [level_to_index(at(frames, START + (i + 0.8) * CHORD_S, 1)) for i in range(len(PROGRESSION))]
    assert roots == [root for _, root, _ in PROGRESSION]


def test_key_tonic_and_pitch_values_are_set(run: tuple[np.ndarray, list[FeatureEvent]]) -> None:
    frames, events = run
    end = START + len(PROGRESSION) * CHORD_S - 0.1
    assert level_to_index(at(frames, end, 2)) == 0  # C major (tonic C)
    before = frames[frames[:, 0] < START * SR]
    assert (before[:, 1:6] == 0).all()  # nothing heard yet: every harmony value absent
    # At mid-chord times the show's values equal what the analysis had published by then.
    ons = [e for e in events if e.name == "note_on"]
    offs = [e for e in events if e.name == "note_off"]
    for i in range(len(PROGRESSION)):
        t = START + (i + 0.5) * CHORD_S
        frame = t * SR
        last = [e for e in ons if e.detected_at <= frame][-1]  # the show keeps the last one published
        sounding = sum(e.detected_at <= frame for e in ons) - sum(e.detected_at <= frame for e in offs)
        assert level_to_index(at(frames, t, 3)) == last.data["pitch"] % 12
        assert round(at(frames, t, 4) / 255 * 127) == last.data["pitch"]
        assert round(at(frames, t, 5) / 255 * 10) == sounding
        assert sounding >= len(PROGRESSION[i][2])  # every note of the chord sounds (octave ghosts may add)


def pulse_times(frames: np.ndarray, slot: int) -> np.ndarray:
    v = frames[:, slot]
    up = np.flatnonzero((v[1:] >= 150) & (v[:-1] < 150)) + 1
    return frames[up, 0] / SR


def test_events_fire_once_per_change(frames: np.ndarray) -> None:
    pulses = pulse_times(frames, 7)
    chord_pulses = pulses[pulses < START + len(PROGRESSION) * CHORD_S]
    assert len(chord_pulses) == len(PROGRESSION)  # (after the end: one more, to "no chord")
    for i, t in enumerate(chord_pulses):
        onset = START + i * CHORD_S
        assert onset < t < onset + 0.4, (i, t)
    # every chord's notes start together: one note_on pulse per chord
    on = pulse_times(frames, 6)
    for i in range(len(PROGRESSION)):
        onset = START + i * CHORD_S
        assert ((on > onset) & (on < onset + 0.4)).sum() == 1
    # pitch_class.C: C, Am and F contain a C; G7 does not
    c = pulse_times(frames, 9)
    has_c = [((c > START + i * CHORD_S) & (c < START + (i + 1) * CHORD_S)).any() for i in range(len(PROGRESSION))]
    assert has_c == [True, True, True, False]
    assert len(pulse_times(frames, 8)) >= 1  # the key was published


def test_example_harmony_show_follows_the_chords(model: object) -> None:
    """shows/harmony.yaml on the progression: the pars' hue follows the notes, the washes walk
    their palette on every chord, the spots flash on a C."""
    del model
    repo = Path(__file__).resolve().parents[2]
    show = load_show(repo / "shows" / "harmony.yaml")
    pars, washes, spots = (show.patch.group(g) for g in ("pars", "washes", "spots"))
    src = FileSource(samples=progression_audio(), sample_rate=SR, block_size=256, realtime=False)
    seen: list[tuple[int, np.ndarray, np.ndarray, float]] = []
    core = EngineCore(src, show, analysis=AnalysisOptions(notes=True, beats=False, structure=False),
                      start_outputs=False)
    core.on_frame = lambda f, dmx: seen.append(
        (f, core.runtime.attrs.color[pars[0]].copy(), core.runtime.attrs.color[washes[0]].copy(),
         float(core.runtime.attrs.intensity[spots[0]])))
    with src:
        core.run_fixed()
    core.stop()

    def sample(seconds: float) -> tuple[int, np.ndarray, np.ndarray, float]:
        return next(s for s in seen if s[0] >= seconds * SR)

    mid = [sample(START + (i + 0.7) * CHORD_S) for i in range(len(PROGRESSION))]
    par_colours = {tuple(np.round(m[1], 3)) for m in mid}
    wash_colours = [tuple(np.round(m[2], 3)) for m in mid]
    assert len(par_colours) >= 3  # different last notes, different hues
    assert all(a != b for a, b in zip(wash_colours, wash_colours[1:]))  # a palette step per chord
    flashes = [np.nanmax([s[3] for s in seen if START + i * CHORD_S < s[0] / SR < START + (i + 1) * CHORD_S] + [0.0])
               for i in range(len(PROGRESSION))]
    # C in Am and F; none in G7 (the first chord's C lands while the look fades in from "waiting")
    assert min(flashes[1:3]) > 0.5 and flashes[3] < 0.1
