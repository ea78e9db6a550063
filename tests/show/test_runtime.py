"""Show evaluation: beat timing against latency, layers and blends, rules, operators, effects,
failure isolation. Every test runs the real loader and runtime in fixed steps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.show import effects as effects_module
from engine.show.loader import load_show
from engine.show.runtime import ShowRuntime

from .conftest import clocked, event

PARS = "include: [rig.yaml]\n"


def runtime(write, text: str) -> ShowRuntime:
    return ShowRuntime(load_show(write(text)))


def beat_frames(rt: ShowRuntime, frames: int, **kw) -> list[int]:
    out = []
    for k in range(frames):
        rt.tick(clocked(k, **kw))
        if rt.domains[0].values["beat"] == 1.0:
            out.append(k)
    return out


def test_beats_fire_at_the_predicted_time(write):
    rt = runtime(write, PARS)
    # 120 BPM: beats at 0.5 s, 1.0 s, 1.5 s = frames 50, 100, 150
    assert beat_frames(rt, 160) == [0, 50, 100, 150]


def test_beats_fire_early_by_the_output_latency(write, tmp_path):
    write(PARS)
    rig = tmp_path / "rig.yaml"
    rig.write_text(rig.read_text().replace("latency_ms: 0", "latency_ms: 40"))
    rt = ShowRuntime(load_show(tmp_path / "show.yaml"))
    # light lands on the beat: the frame that is shown 40 ms later is the one nearest the beat
    # (the beat at 0 s is already past when the first frame is shown at 40 ms)
    assert beat_frames(rt, 160) == [46, 96, 146]


def test_settings_latency_adds_to_the_output_latency(write, tmp_path):
    write(PARS + "settings: {latency_ms: 20}\n")
    rig = tmp_path / "rig.yaml"
    rig.write_text(rig.read_text().replace("latency_ms: 0", "latency_ms: 10"))
    rt = ShowRuntime(load_show(tmp_path / "show.yaml"))
    assert beat_frames(rt, 60) == [47]


def test_each_output_latency_is_its_own_timing_domain(write, tmp_path):
    rig = """\
outputs:
  - {type: sacn, name: slow, universes: [1], latency_ms: 0}
  - {type: sacn, name: fast, universes: [2], latency_ms: 30}
fixtures:
  - {name: a, profile: generic-dimmer, universe: 1, address: 1}
  - {name: b, profile: generic-dimmer, universe: 2, address: 1}
"""
    (tmp_path / "rig.yaml").write_text(rig)
    path = tmp_path / "show.yaml"
    path.write_text("include: [rig.yaml]\nlooks:\n  on: [{group: all, intensity: 1}]\n  off: [{group: all, intensity: 0}]\n"
                    "layers: [{name: main, look: off}]\nrules:\n  - when: beat\n    do: {look: on}\n")
    rt = ShowRuntime(load_show(path))
    assert sorted(d.lead for d in rt.domains) == [0.0, 0.03]
    first_on = {}
    for k in range(60):
        attrs = rt.tick(clocked(k))
        for f in (0, 1):
            if attrs.intensity[f] == 1.0 and f not in first_on:
                first_on[f] = k
    assert first_on == {0: 0, 1: 47}  # beats at 0 s and 0.5 s; the 30 ms output is 3 frames early


def test_without_a_clock_tracker_beats_drive_the_show(write):
    rt = runtime(write, PARS)
    fired = []
    for k in range(100):
        evs = [event("beat", k, position=1 if k == 20 else 2)] if k in (20, 60) else []
        rt.tick(clocked(k, events=evs, running=False))
        if rt.domains[0].values["beat"] == 1.0:
            fired.append((k, rt.domains[0].values["downbeat"]))
    assert fired == [(20, 1.0), (60, 0.0)]
    assert rt.domains[0].values["bpm"] == pytest.approx(150.0)  # 0.4 s between the two beats


def test_clock_beats_ignore_late_tracker_beat_events(write):
    rt = runtime(write, PARS)
    fired = []
    for k in range(120):
        evs = [event("beat", k - 3)] if k in (53, 103) else []  # the tracker reports 30 ms late
        rt.tick(clocked(k, events=evs))
        if rt.domains[0].values["beat"] == 1.0:
            fired.append(k)
    assert fired == [0, 50, 100]


LAYERS = PARS + """\
looks:
  base: [{group: pars, intensity: 0.3, colour: red}]
  top: [{group: [GROUP], intensity: 0.6, colour: blue}]
layers:
  - {name: base, look: base}
  - {name: top, look: top, blend: BLEND, opacity: OPACITY}
"""


def layered(write, blend: str, opacity: float = 1.0, group: str = "par 1"):
    text = LAYERS.replace("BLEND", blend).replace("OPACITY", str(opacity)).replace("[GROUP]", group)
    rt = runtime(write, text)
    return rt.tick(clocked(0))


def test_htp_takes_the_highest_intensity_and_latest_colour(write):
    a = layered(write, "htp")
    np.testing.assert_allclose(a.intensity[:4], [0.6, 0.3, 0.3, 0.3])
    np.testing.assert_allclose(a.color[0], [0, 0, 1])
    np.testing.assert_allclose(a.color[1], [1, 0, 0])
    assert np.isnan(a.intensity[4])  # the pixel bars are in no look


def test_htp_never_lowers_intensity(write):
    text = LAYERS.replace("intensity: 0.6", "intensity: 0.1")
    rt = runtime(write, text.replace("BLEND", "htp").replace("OPACITY", "1").replace("[GROUP]", "pars"))
    np.testing.assert_allclose(rt.tick(clocked(0)).intensity[:4], [0.3] * 4)


def test_ltp_replaces_and_mix_crossfades_by_opacity(write):
    a = layered(write, "ltp", group="pars")
    np.testing.assert_allclose(a.intensity[:4], [0.6] * 4)
    a = layered(write, "mix", 0.25, group="pars")
    np.testing.assert_allclose(a.intensity[:4], [0.3 + 0.25 * 0.3] * 4, rtol=1e-6)
    np.testing.assert_allclose(a.color[0], [0.75, 0, 0.25], rtol=1e-6)


def test_multiply_scales_the_intensity_below(write):
    a = layered(write, "multiply", group="pars")
    np.testing.assert_allclose(a.intensity[:4], [0.18] * 4, rtol=1e-6)
    np.testing.assert_allclose(a.color[0], [1, 0, 0])  # colour untouched


def test_zero_opacity_layer_has_no_effect(write):
    a = layered(write, "ltp", 0.0, group="pars")
    np.testing.assert_allclose(a.intensity[:4], [0.3] * 4)


TRANSITION = PARS + """\
looks:
  dark: [{group: pars, intensity: 0, gobo: 1}]
  bright: [{group: pars, intensity: 1, gobo: 3}]
layers: [{name: main, look: dark}]
rules:
  - when: drop
    do: {look: bright, transition: 1 s, for: 2 beats}
"""


def test_look_transition_crossfades_then_reverts_after_for(write):
    rt = runtime(write, TRANSITION)
    seen = {}
    for k in range(260):
        evs = [event("section", k, section="drop")] if k == 10 else []
        a = rt.tick(clocked(k, events=evs))
        seen[k] = (float(a.intensity[0]), float(a.gobo[0]))
    assert seen[9] == (0.0, 1.0)
    assert seen[10][0] == pytest.approx(0.0)
    assert seen[60][0] == pytest.approx(0.5, abs=1e-6)
    assert seen[59][1] == 1.0 and seen[60][1] == 3.0  # discrete attributes switch half-way
    assert seen[110] == (1.0, 3.0)
    # `for: 2 beats` (1 s at 120 BPM) from frame 10: reverts at frame 110 with the same transition
    assert seen[160][0] == pytest.approx(0.5, abs=1e-6)
    assert seen[215][0] == pytest.approx(0.0)


def test_rule_every_nth_time_and_counter_signal(write):
    text = PARS + """\
palettes:
  p: [red, green, blue]
signals:
  third: {counter: beat, every: 3}
looks:
  a: [{group: pars, intensity: 1, colour: p}]
layers: [{name: main, look: a}]
rules:
  - name: every other beat
    when: beat
    every: 2
    do: {palette_step: p}
"""
    rt = runtime(write, text)
    steps, thirds = [], []
    for k in range(460):
        rt.tick(clocked(k))
        steps.append(rt.domains[0].palettes["p"].index)
        if rt.domains[0].values["third"] == 1.0:
            thirds.append(k)
    # beats at 0, 50, ..., 450: the rule acts on the 1st, 3rd, 5th ... beat
    assert steps[0] == 1
    assert [k for k in range(1, 460) if steps[k] != steps[k - 1]] == [100, 200, 300, 400]
    assert thirds == [0, 150, 300, 450]


def test_edge_triggered_condition_fires_once_per_crossing(write):
    text = PARS + """\
palettes: {p: [red, blue]}
looks: {a: [{group: pars, colour: p}]}
layers: [{name: main, look: a}]
rules:
  - when: level > 0.5
    do: {palette_step: p}
"""
    rt = runtime(write, text)
    levels = [0.1] * 5 + [0.9] * 10 + [0.2] * 5 + [0.8] * 3
    for k, lv in enumerate(levels):
        rt.tick(clocked(k, values={"level": lv}))
    assert rt.domains[0].palettes["p"].index == 2


def test_absent_feature_leaves_attribute_unset_and_rule_idle(write):
    text = PARS + """\
looks: {a: [{group: pars, intensity: level.vocals}]}
layers: [{name: main, look: a}]
rules:
  - when: level.vocals > 0.1
    do: {blackout: true}
"""
    rt = runtime(write, text)
    a = rt.tick(clocked(0))
    assert np.all(np.isnan(a.intensity[:4]))
    assert rt.domains[0].blackout is False
    a = rt.tick(clocked(1, values={"level.vocals": 0.5}))
    np.testing.assert_allclose(a.intensity[:4], [0.5] * 4)
    assert rt.domains[0].blackout is True


def test_envelope_smooth_threshold_map_quantize(write):
    text = PARS + """\
signals:
  kick: {envelope: onset.kick, attack: 0ms, hold: 0ms, decay: 100ms}
  sm: {smooth: level, attack: 0ms, release: 100ms}
  gate: {threshold: level, on: 0.6, off: 0.4}
  m: {map: level, from: [0, 0.5], to: [10, 20], curve: square}
  q: {quantize: onset.snare, to: 1 beat}
"""
    rt = runtime(write, text)
    vals = []
    levels = [1.0, 0.5, 0.5, 0.3, 0.3]
    for k in range(60):
        evs = [event("onset", 0, stem="drums", label="kick")] if k == 2 else []
        if k == 12:
            evs.append(event("onset", 12, stem="drums", label="snare"))
        rt.tick(clocked(k, values={"level": levels[min(k, 4)]}, events=evs))
        vals.append(dict(rt.domains[0].values))
    # the kick happened at frame 0 though reported at frame 2: the envelope counts from its own
    # time, but from no earlier than the frame before the one it arrived in (so a late event's
    # flash is seen near its peak instead of half over)
    assert vals[2]["kick"] == pytest.approx(0.9)
    assert vals[12]["kick"] == 0.0
    assert vals[0]["sm"] == 1.0
    assert vals[1]["sm"] == pytest.approx(0.5 + 0.5 * math.exp(-0.1))
    assert [vals[k]["gate"] for k in range(5)] == [1.0, 1.0, 1.0, 0.0, 0.0]
    assert vals[0]["m"] == 20.0 and vals[4]["m"] == pytest.approx(10 + 10 * 0.36)
    assert [k for k in range(60) if vals[k]["q"] == 1.0] == [50]  # the snare at 0.12 s waits for the beat


def test_a_late_event_still_flashes_a_short_envelope(write):
    """Notes arrive ~0.2 s after they sound: a 100 ms envelope on them must still light."""
    text = PARS + "signals:\n  nflash: {envelope: note_on, attack: 0ms, hold: 0ms, decay: 100ms}\n"
    rt = runtime(write, text)
    vals = []
    for k in range(40):
        evs = [event("note_on", 5, pitch=60, velocity=0.8)] if k == 25 else []  # 0.2 s late
        rt.tick(clocked(k, events=evs))
        vals.append(rt.domains[0].values["nflash"])
    assert max(vals[:25]) == 0.0
    assert vals[25] == pytest.approx(0.9) and vals[30] == pytest.approx(0.4) and vals[36] == 0.0


def test_lfo_and_random_signals_follow_the_beat(write):
    text = PARS + "signals:\n  w: {lfo: saw, period: 2 beats}\n  r: {random: 1 beat, min: 10, max: 20}\n"
    rt = runtime(write, text)
    w, r = [], []
    for k in range(200):
        rt.tick(clocked(k))
        w.append(rt.domains[0].values["w"])
        r.append(rt.domains[0].values["r"])
    assert w[75] == pytest.approx(0.75)  # 1.5 beats since the first beat (frame 0), period 2 beats
    assert w[100] == pytest.approx(0.0)
    assert r[60] == r[99] and r[100] != r[99] and 10 <= r[60] < 20


def test_effects_chase_pulse_strobe_move_and_pixels(write):
    text = PARS + """\
looks:
  a:
    - {group: pars, chase: {period: 4 beats, width: 0.25}}
    - {group: spots, intensity: 1, circle: {period: 4 beats, size: 10, pan: 5, tilt: -20}}
    - {group: bars, colour: red, vu: {input: level}}
layers: [{name: main, look: a}]
"""
    rt = runtime(write, text)
    for k in range(51):
        a = rt.tick(clocked(k, values={"level": 0.5}))
    # frame 50: one beat after the first -> a quarter of the way: par 2
    np.testing.assert_allclose(a.intensity[:4], [0, 1, 0, 0], atol=1e-6)
    # circle: a quarter cycle in -> pan = 5 + 10 sin(pi/2), tilt = -20 + 10 cos(pi/2)
    np.testing.assert_allclose(a.pan[6:8], [15, 15], atol=1e-4)
    np.testing.assert_allclose(a.tilt[6:8], [-20, -20], atol=1e-4)
    cells = a.cell_intensity.reshape(2, 8)
    np.testing.assert_array_equal(cells, [[1, 1, 1, 1, 0, 0, 0, 0]] * 2)
    np.testing.assert_allclose(a.cell_color[0], [1, 0, 0])


def test_pulse_effect_and_software_strobe(write):
    text = PARS + """\
looks:
  a:
    - {group: [par 1, par 2], pulse: {decay: 1/2 beat, floor: 0.2}}
    - {group: [par 3, par 4], intensity: 0.5, strobe: {sync: 1/2 beat, duty: 0.5}}
layers: [{name: main, look: a}]
"""
    text = text.replace("[par 1, par 2]", "pars12").replace("[par 3, par 4]", "pars34")
    text = text.replace("include: [rig.yaml]\n", "include: [rig.yaml]\n")
    path = write(text)
    rig = path.parent / "rig.yaml"
    rig.write_text(rig.read_text() + "  pars12: [par 1, par 2]\n  pars34: [par 3, par 4]\n")
    rt = ShowRuntime(load_show(path))
    out = {}
    for k in range(80):
        out[k] = rt.tick(clocked(k)).intensity[:4].copy()
    np.testing.assert_allclose(out[50][:2], [1.0, 1.0])
    np.testing.assert_allclose(out[60][:2], [0.2 + 0.8 * 0.6] * 2, rtol=1e-5)  # 0.1 s of a 0.25 s decay
    np.testing.assert_allclose(out[75][:2], [0.2, 0.2])
    np.testing.assert_allclose(out[52][2:], [0.5, 0.5])  # first half of each half beat: on
    np.testing.assert_allclose(out[65][2:], [0.0, 0.0])


def test_a_failing_part_is_isolated_and_the_frame_still_goes_out(write, monkeypatch):
    text = PARS + """\
looks:
  a:
    - {group: pars, intensity: 0.5, chase: {period: 1 beat}}
    - {group: spots, intensity: 0.7}
layers: [{name: main, look: a}]
rules:
  - {name: fine, when: beat, do: {blackout: false}}
"""
    def broken(*args, **kw):
        raise ZeroDivisionError("boom")

    monkeypatch.setitem(effects_module.EFFECTS, "chase", broken)
    rt = runtime(write, text)
    for k in range(3):
        dmx = rt.render(clocked(k))
    assert list(rt.faults) == ["looks.a[0]"]
    f = rt.faults["looks.a[0]"]
    assert (f.message, f.first_frame) == ("ZeroDivisionError: boom", 1)
    assert f.count == 1  # marked: skipped afterwards, not re-raised every frame
    np.testing.assert_allclose(rt.attrs.intensity[6:8], [0.7, 0.7], rtol=1e-6)
    assert dmx.data.any()


def test_a_failing_rule_is_marked_and_the_others_still_run(write, monkeypatch):
    text = PARS + """\
palettes: {p: [red, blue]}
looks: {a: [{group: pars, colour: p}]}
layers: [{name: main, look: a}]
rules:
  - {name: bad, when: beat, do: {fade: main, to: 0.5}}
  - {name: good, when: beat, do: {palette_step: p}}
"""
    rt = runtime(write, text)
    original = ShowRuntime._act

    def act(self, d, a, t, bpb):
        if a.kind == "fade":
            raise RuntimeError("broken action")
        return original(self, d, a, t, bpb)

    monkeypatch.setattr(ShowRuntime, "_act", act)
    for k in range(160):
        rt.render(clocked(k))
    assert set(rt.faults) == {"rules.bad"}
    assert rt.faults["rules.bad"].message == "RuntimeError: broken action"
    assert rt.domains[0].palettes["p"].index == 4  # beats at 0, 50, 100, 150


def test_blackout_and_master_reach_the_dmx(write):
    text = PARS + """\
looks: {a: [{group: [par 1], intensity: 1, colour: white}]}
layers: [{name: main, look: a}]
rules:
  - {when: drop, do: {master: 0.5}}
  - {when: breakdown, do: {blackout: true}}
"""
    text = text.replace("[par 1]", "par 1")
    rt = runtime(write, text)
    assert rt.render(clocked(0)).data[0, 0] == 255  # par 1 dimmer at address 1
    assert rt.render(clocked(1, events=[event("section", 1, section="drop")])).data[0, 0] == 128
    assert rt.render(clocked(2, events=[event("section", 2, section="breakdown")])).data[0, 0] == 0


def test_note_events_set_pitch_values(write):
    rt = runtime(write, PARS + "signals:\n  hue: pitch_class * 30\n")
    rt.tick(clocked(0, events=[event("note_on", 0, pitch=62, velocity=127)]))
    v = rt.domains[0].values
    assert (v["note_on"], v["note.pitch"], v["pitch_class"], v["note.velocity"], v["hue"]) == (1.0, 62.0, 2.0, 1.0, 60.0)
    rt.tick(clocked(1))
    assert rt.domains[0].values["note_on"] == 0.0


def test_included_settings_merge_key_by_key_and_scenes_alias(write, tmp_path):
    (tmp_path / "base.yaml").write_text("settings: {master: 0.5, beats_per_bar: 3}\nscenes:\n  s: [{group: all, intensity: 1}]\n")
    path = write("include: [rig.yaml, base.yaml]\nsettings: {master: 0.25}\nlayers: [{name: l, look: s}]\n")
    show = load_show(path)
    assert (show.settings.master, show.settings.beats_per_bar, show.settings.frame_rate) == (0.25, 3, 100.0)
    assert list(show.model.looks) == ["s"]
    assert [p.name for p in show.files] == ["rig.yaml", "base.yaml", "show.yaml"]


def test_cues_next_previous_and_named(write):
    text = PARS + """\
looks:
  a: [{group: pars, intensity: 0.1}]
  b: [{group: pars, intensity: 0.2}]
  c: [{group: pars, intensity: 0.3}]
layers: [{name: main, look: a}]
cues:
  one: {looks: {main: a}}
  two: {looks: {main: b}}
  three: {looks: {main: c}, do: [{blackout: true}]}
rules:
  - {when: button.next, do: {cue: next}}
  - {when: button.back, do: {cue: previous}}
  - {when: button.three, do: {cue: three}}
"""
    rt = runtime(write, text)
    seq = []
    presses = ["button.next", "button.next", "button.back", "button.three", "button.next"]
    for k, b in enumerate(presses):
        a = rt.tick(clocked(k, events=[event(b, k)]))
        seq.append(round(float(a.intensity[0]), 3))
    assert seq == [0.1, 0.2, 0.1, 0.3, 0.1]
    assert rt.domains[0].blackout is True


def test_quantize_to_the_next_bar(write):
    rt = runtime(write, PARS + "signals:\n  q: {quantize: button.go, to: 1 bar}\n")
    fired = []
    for k in range(420):
        rt.tick(clocked(k, events=[event("button.go", k)] if k == 30 else []))
        if rt.domains[0].values["q"] == 1.0:
            fired.append(k)
    assert fired == [200]  # bars start at 0 s and 2 s (120 BPM, 4/4); pressed at 0.3 s


def test_per_cell_expressions_on_pixel_fixtures(write):
    text = PARS + """\
looks:
  a:
    - group: bars
      intensity: 0.5
      cells:
        intensity: step(0.5, pos)
        colour: {hue: "i * 30", saturation: 1, value: 1}
layers: [{name: main, look: a}]
"""
    rt = runtime(write, text)
    a = rt.tick(clocked(0))
    cells = a.cell_intensity.reshape(2, 8)  # 16 cells across both bars: pos = i / 15
    np.testing.assert_array_equal(cells, [[0] * 8, [1] * 8])
    np.testing.assert_allclose(a.cell_color[0], [1, 0, 0], atol=1e-6)   # hue 0
    np.testing.assert_allclose(a.cell_color[4], [0, 1, 0], atol=1e-6)   # hue 120
    np.testing.assert_allclose(a.intensity[4:6], [0.5, 0.5])


def test_cells_on_a_group_without_cells_is_a_warning(write):
    from engine.show.loader import check_show

    result = check_show(write(PARS + "looks:\n  a:\n    - group: pars\n      cells: {intensity: 1}\n"))
    assert result.ok
    assert [w.message for w in result.warnings] == ["'cells' works on pixel cells, but group 'pars' has no multi-cell fixtures"]


def test_show_lists_the_names_it_reads(write):
    show = load_show(write(PARS + "signals:\n  k: {envelope: onset.kick}\nlooks:\n  a: [{group: pars, intensity: k * level.bass}]\n"
                           "rules:\n  - {when: fader.x > 0.5 and downbeat, do: {blackout: true}}\n"))
    assert show.used_names == {"onset.kick", "k", "level.bass", "fader.x", "downbeat"}


def test_htp_opacity_scales_the_layer_and_priority_orders_layers(write):
    a = layered(write, "htp", 0.5, group="pars")
    np.testing.assert_allclose(a.intensity[:4], [0.3] * 4)  # 0.6 * 0.5 does not beat 0.3
    text = PARS + """\
looks:
  low: [{group: pars, intensity: 0.2, colour: red}]
  high: [{group: pars, intensity: 0.9, colour: blue}]
layers:
  - {name: top, look: high, blend: ltp, priority: 5}
  - {name: bottom, look: low, blend: ltp, priority: 1}
"""
    a = runtime(write, text).tick(clocked(0))
    np.testing.assert_allclose(a.intensity[:4], [0.9] * 4, rtol=1e-6)  # priority, not file order
    np.testing.assert_allclose(a.color[0], [0, 0, 1])


def test_status_snapshot(write):
    text = PARS + """\
palettes: {p: [red, blue]}
signals: {k: {envelope: beat, decay: 1 beat}}
looks: {a: [{group: pars, colour: p}], b: [{group: pars, intensity: 1}]}
layers: [{name: main, look: a}]
rules:
  - {when: downbeat, do: {palette_step: p}}
  - {when: drop, do: {look: b, transition: 1 s}}
"""
    rt = runtime(write, text)
    for k in range(60):
        rt.tick(clocked(k, events=[event("section", k, section="drop")] if k == 55 else []))
    st = rt.status()
    assert st["layers"] == {"main": {"look": "b", "opacity": 1.0, "transition": True}}
    assert st["palettes"] == {"p": 1}
    assert st["beat"] == {"count": 2, "in_bar": 2, "bpm": 120.0}
    assert st["signals"]["k"] == pytest.approx(0.82)  # 90 ms into a 500 ms decay
    assert st["faults"] == [] and st["frames"] == 60 and st["cue"] is None
    import json

    json.dumps(st)  # plain data


def test_every_effect_in_the_format_has_an_implementation():
    from engine.show.model import EFFECTS as SPECS

    assert set(effects_module.EFFECTS) == set(SPECS)


def test_malformed_event_data_is_reported_and_the_show_goes_on(write):
    rt = runtime(write, PARS + "looks: {a: [{group: pars, intensity: 0.5}]}\nlayers: [{name: main, look: a}]\n")
    bad = [event("note_on", 0, pitch="high", velocity=None), event("beat", 0, position="one")]
    a = rt.tick(clocked(0, events=bad, running=False))
    np.testing.assert_allclose(a.intensity[:4], [0.5] * 4)
    assert list(rt.faults) == ["inputs.note_on"]
    assert rt.domains[0].values["note_on"] == 1.0 and rt.domains[0].values["beat"] == 1.0


def test_stage_position_variables(write, tmp_path):
    (tmp_path / "rig.yaml").write_text(
        "fixtures:\n  - {name: p, profile: generic-dimmer, universe: 1, address: 1, count: 3, position: [-2, 1, 3], spacing: [2, 0, 0]}\n"
        "  - {name: bar, profile: pixel-bar-8, mode: 24ch, universe: 1, address: 11, position: [0, 4, 2]}\n")
    path = tmp_path / "show.yaml"
    path.write_text("include: [rig.yaml]\nlooks:\n  a:\n    - {group: all, intensity: 'clamp((x + 2) / 4) * (z > 2.5)'}\n"
                    "    - {group: bar, cells: {intensity: 'x > 0'}}\nlayers: [{name: l, look: a}]\n")
    a = ShowRuntime(load_show(path)).tick(clocked(0))
    np.testing.assert_allclose(a.intensity[:4], [0.0, 0.5, 1.0, 0.0])  # the bar hangs lower
    np.testing.assert_array_equal(a.cell_intensity, [0, 0, 0, 0, 1, 1, 1, 1])  # cells right of centre


@pytest.mark.parametrize("value", ["1e308", "'level * 1e308'", "'-1e308'"])
def test_values_beyond_float32_clamp_like_any_out_of_range_value(write, value):
    # float32 attribute frames: 1e308 becomes inf (as 1/0 does) and renders clamped, without a
    # numpy overflow warning (which a warnings filter set to "error" turned into a look fault)
    rt = runtime(write, PARS + f"looks:\n  on: [{{group: pars, intensity: {value}}}]\nlayers: [{{name: main, look: on}}]\n")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dmx = rt.render(clocked(0, values={"level": 0.5}))
    assert not rt.faults
    assert dmx.data[0, 0] == (0 if value.startswith("'-") else 255)  # par 1 dimmer at address 1
