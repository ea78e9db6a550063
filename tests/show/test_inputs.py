"""The show's input names: how feature events from the analysis map to names a show reads."""

from __future__ import annotations

import math

from engine.features import FeatureEvent
from engine.show.inputs import BeatClock, all_feature_names, event_names, is_event_name, is_feature_name
from engine.show.loader import load_show
from engine.show.runtime import ShowRuntime

from .conftest import clocked, event


def ev(name: str, **data) -> FeatureEvent:
    return FeatureEvent(name, 0, 0, 1.0, data)


def test_event_names_follow_the_analysis_conventions():
    assert event_names(ev("onset", stem="mix", label="kick")) == ("onset", "onset.kick")
    assert event_names(ev("onset", stem="drums", label="snare")) == ("onset", "onset.drums", "onset.snare")
    assert event_names(ev("onset", stem="vocals")) == ("onset", "onset.vocals")
    assert event_names(ev("beat", position=1)) == ("beat", "downbeat")
    assert event_names(ev("beat", position=3)) == ("beat",)
    assert event_names(ev("section", kind="drop")) == ("section", "drop")
    assert event_names(ev("section", kind="breakdown_start")) == ("section", "breakdown_start", "breakdown")
    assert event_names(ev("button.go")) == ("button.go",)


def test_catalogue():
    names = all_feature_names()
    for n in ("level.drums", "onset.hihat", "beat.phase", "bar.phase", "beat.in_bar", "tempo", "note_on", "note_off",
              "pitch_class", "energy", "buildup", "drop", "breakdown", "tap", "pitch_class.Cs", "chord.root"):
        assert n in names, n
    assert is_event_name("button.anything") and not is_event_name("fader.x")
    assert is_feature_name("fader.x") and not is_feature_name("levle")
    assert BeatClock(bpm=120, phase=0.5, beat_in_bar=3, next_beat=1).bar_phase == 0.625


def test_harmony_events_set_values(write):
    rt = ShowRuntime(load_show(write("include: [rig.yaml]\nsignals:\n  r: chord.root + key.tonic\n")))
    chord = FeatureEvent("chord", 0, 0, 0.9, {"root": 9, "name": "Am", "quality": "min"})
    rt.tick(clocked(0, events=[chord, event("key", 0, tonic=2), event("pitch_class.E", 0, pitch_class=4, pitch=64)]))
    v = rt.domains[0].values
    assert (v["chord.root"], v["key.tonic"], v["pitch_class"], v["pitch_class.E"], v["r"]) == (9.0, 2.0, 4.0, 1.0, 11.0)
    rt.tick(clocked(1, events=[FeatureEvent("chord", 480, 480, 1.0, {"root": None, "name": "N", "quality": "N"})]))
    assert math.isnan(rt.domains[0].values["chord.root"])
