"""Every class of show error: the exact message, file, line, column and document path."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.show.loader import ShowErrors, check_show, load_show

CASES = [
    ("unknown key", "looks:\n  a:\n    - group: pars\n      intensty: 1\n",
     "show.yaml:4:7: error at looks.a[0].intensty: unknown key 'intensty' (did you mean 'intensity'?)"),
    ("wrong type", "settings:\n  frame_rate: fast\n",
     "show.yaml:2:15: error at settings.frame_rate: expected a number from 1 to 1000, found text 'fast'"),
    ("out of range", "settings:\n  master: 1.5\n",
     "show.yaml:2:11: error at settings.master: expected a number from 0 to 1, found a number (1.5)"),
    ("unknown feature name", "signals:\n  s: levl * 2\n",
     "show.yaml:2:6: error at signals.s: unknown name 'levl' (did you mean 'level'?)"),
    ("misspelt event in a rule", "rules:\n  - when: downbaet\n    do: {blackout: true}\n",
     "show.yaml:2:11: error at rules[0].when: unknown name 'downbaet' (did you mean 'downbeat'?)"),
    ("expression syntax, quoted", "signals:\n  s: \"level * * 2\"\n",
     "show.yaml:2:15: error at signals.s: unexpected '*'"),
    ("unknown function", "signals:\n  s: sinn(level)\n",
     "show.yaml:2:6: error at signals.s: unknown function 'sinn' (did you mean 'sin'?)"),
    ("per-fixture variable outside a look", "signals:\n  s: pos * 2\n",
     "show.yaml:2:6: error at signals.s: 'pos' is a per-fixture variable; it is only available in looks and effects"),
    ("unknown look", "layers:\n  - name: main\n    look: ful\nlooks:\n  full: []\n",
     "show.yaml:3:11: error at layers[0].look: unknown look 'ful' (did you mean 'full'?)"),
    ("unknown group", "include: [rig.yaml]\nlooks:\n  a:\n    - group: parz\n      intensity: 1\n",
     "show.yaml:4:14: error at looks.a[0].group: unknown group 'parz' (did you mean 'pars'?)"),
    ("include not found", "include: [nope.yaml]\n",
     "show.yaml:1:11: error at include[0]: included file not found: {dir}/nope.yaml"),
    ("unknown section", "rulez: []\n",
     "show.yaml:1:1: error at rulez: unknown section 'rulez' (did you mean 'rules'?)"),
    ("missing required key", "rules:\n  - do: {palette_step: x}\n",
     "show.yaml:2:5: error at rules[0]: missing required key 'when' (rule)"),
    ("signal loop", "signals:\n  a: b + 1\n  b: a + 1\n",
     "show.yaml:2:3: error at signals.a: signals depend on each other in a loop: a -> b -> a"),
    ("bad duration", "signals:\n  k: {envelope: beat, decay: 2 beets}\n",
     "show.yaml:2:30: error at signals.k.decay: expected a duration like '500ms', '2 beats' or '1 bar', found '2 beets'"),
    ("unknown palette colour", "palettes:\n  p: [redd]\n",
     "show.yaml:2:7: error at palettes.p[0]: unknown colour 'redd' (did you mean 'red'?)"),
    ("unknown colour in a look", "include: [rig.yaml]\nlooks:\n  a:\n    - group: pars\n      colour: warmm\npalettes:\n  warm: [red]\n",
     "show.yaml:5:15: error at looks.a[0].colour: unknown colour or palette 'warmm' (did you mean 'warm'?)"),
    ("YAML syntax", "looks:\n  a: [\n",
     "show.yaml:3:1: error: invalid YAML: while parsing a flow node expected the node content, but found '<stream end>'"),
    ("duplicate YAML key", "settings:\n  master: 1\n  master: 0.5\n",
     "show.yaml:3:3: error: invalid YAML: while constructing a mapping found duplicate key \"master\" with value \"0.5\" (original value: \"1\")"),
    ("unknown action", "rules:\n  - when: beat\n    do: {palete_step: x}\n",
     "show.yaml:3:10: error at rules[0].do.palete_step: unknown action 'palete_step' (did you mean 'palette_step'?)"),
    ("unknown operator", "signals:\n  k: {envelop: beat}\n",
     "show.yaml:2:7: error at signals.k.envelop: unknown operator 'envelop' (did you mean 'envelope'?)"),
    ("unknown effect parameter", "include: [rig.yaml]\nlooks:\n  a:\n    - group: pars\n      chase: {perod: 1 beat}\n",
     "show.yaml:5:15: error at looks.a[0].chase.perod: unknown key 'perod' (did you mean 'period'?)"),
    ("two effects in one part", "include: [rig.yaml]\nlooks:\n  a:\n    - group: pars\n      chase: {}\n      pulse: {}\n",
     "show.yaml:4:7: error at looks.a[0]: a look part has at most one effect; found chase, pulse"),
    ("unknown palette in an action", "palettes:\n  warm: [red]\nrules:\n  - when: downbeat\n    do: {palette_step: wram}\n",
     "show.yaml:5:24: error at rules[0].do.palette_step: unknown palette 'wram' (did you mean 'warm'?)"),
    ("unknown layer in an action", "looks:\n  a: []\nlayers:\n  - {name: main, look: a}\nrules:\n  - when: drop\n    do: {look: a, layer: mian}\n",
     "show.yaml:7:26: error at rules[0].do.layer: unknown layer 'mian' (did you mean 'main'?)"),
    ("threshold off above on", "signals:\n  gate: {threshold: level, on: 0.2, off: 0.5}\n",
     "show.yaml:2:3: error at signals.gate.off: 'off' (0.5) must not be above 'on' (0.2)"),
    ("signal shadows a feature", "signals:\n  level: 1\n",
     "show.yaml:2:3: error at signals.level: signal name 'level' is already a built-in name; choose another"),
    ("wrong type for a signal", "signals:\n  s: [1, 2]\n",
     "show.yaml:2:6: error at signals.s: expected an expression or an operator mapping, found a list"),
    ("outputs in two files", "include: [rig.yaml]\noutputs: []\n",
     "show.yaml:2:1: error at outputs: 'outputs' is already defined in {dir}/rig.yaml:1:1; define it in one file"),
    ("groups without fixtures", "groups:\n  a: []\n",
     "show.yaml:1:1: error at groups: 'groups' needs a 'fixtures' section"),
    ("groups apart from fixtures", "include: [rig.yaml]\ngroups:\n  a: []\n",
     "show.yaml:2:1: error at groups: 'groups' is already defined in {dir}/rig.yaml:10:1; define it in one file"),
    ("a cue starting a cue", "cues:\n  a: {do: [{cue: b}]}\n  b: {}\n",
     "show.yaml:2:12: error at cues.a.do[0]: a cue cannot start another cue"),
    ("look action without layers", "looks:\n  a: []\nrules:\n  - {when: drop, do: {look: a}}\n",
     "show.yaml:4:29: error at rules[0].do.look: a look action needs a layer, and the show has no layers"),
    ("include that is not a file name", "include: [3]\n",
     "show.yaml:1:11: error at include[0]: an include is a file name, found a number (3)"),
    ("invalid name", "looks:\n  9lives: []\n",
     "show.yaml:2:3: error at looks.9lives: '9lives' is not a valid name (letters, digits, '_' and '-', not starting with a digit)"),
    ("two actions in one", "rules:\n  - {when: drop, do: {look: a, cue: b}}\n",
     "show.yaml:2:18: error at rules[0].do: an action has exactly one of look, palette_step, fade, cue, blackout, master; found look, cue"),
    ("expression in a palette", "palettes:\n  p: [[level, 0, 0]]\n",
     "show.yaml:2:7: error at palettes.p[0]: a palette colour must be a constant (a name, '#rrggbb' or three numbers)"),
    ("misspelt effect", "include: [rig.yaml]\nlooks:\n  a:\n    - {group: pars, chaes: {}}\n",
     "show.yaml:4:21: error at looks.a[0].chaes: unknown key 'chaes' (did you mean 'chase'?)"),
    ("not a mapping", "- just\n- a list\n",
     "show.yaml:1:1: error: a show file must be a mapping of sections, found a list"),
]


@pytest.mark.parametrize("name, text, expected", CASES, ids=[c[0] for c in CASES])
def test_error_message_line_and_column(write, tmp_path: Path, name: str, text: str, expected: str):
    path = write(text)
    result = check_show(path)
    assert not result.ok
    assert [str(e) for e in result.errors] == [f"{tmp_path}/{expected.format(dir=tmp_path)}"]


def test_error_in_an_included_file_names_that_file(write, tmp_path: Path):
    (tmp_path / "looks.yaml").write_text("looks:\n  a:\n    - group: pars\n      intensity: levle\n")
    path = write("include: [rig.yaml, looks.yaml]\n")
    result = check_show(path)
    assert [str(e) for e in result.errors] == [
        f"{tmp_path}/looks.yaml:4:18: error at looks.a[0].intensity: unknown name 'levle' (did you mean 'level'?)"
    ]


def test_include_cycle(write, tmp_path: Path):
    (tmp_path / "cyc.yaml").write_text("include: [show.yaml]\n")
    path = write("include: [cyc.yaml]\n")
    result = check_show(path)
    assert [str(e) for e in result.errors] == [
        f"{tmp_path}/cyc.yaml:1:11: error at include[0]: include cycle: show.yaml -> cyc.yaml -> show.yaml"
    ]


def test_name_defined_in_two_files(write, tmp_path: Path):
    (tmp_path / "pal.yaml").write_text("palettes:\n  p: [blue]\n")
    path = write("include: [pal.yaml]\npalettes:\n  p: [red]\n")
    result = check_show(path)
    assert [str(e) for e in result.errors] == [
        f"{tmp_path}/show.yaml:3:3: error at palettes.p: 'p' is already defined at {tmp_path}/pal.yaml:2:3"
    ]


def test_all_errors_are_reported_in_one_pass(write, tmp_path: Path):
    path = write("settings:\n  master: 2\nsignals:\n  a: levl\n  b: {smooth: energy, attack: soon}\nrulez: 1\n")
    result = check_show(path)
    assert [(e.location.line, e.location.column) for e in result.errors] == [(2, 11), (5, 31), (6, 1)]
    # the expression is only linked once the sections are valid; a second pass finds it
    fixed = write("signals:\n  a: levl\n  b: ghost + 1\n")
    result = check_show(fixed)
    assert [(e.location.line, e.location.column, e.message) for e in result.errors] == [
        (2, 6, "unknown name 'levl' (did you mean 'level'?)"),
        (3, 6, "unknown name 'ghost' (did you mean 'onset'?)"),
    ]


def test_patch_errors_come_from_the_fixture_module_with_positions(write, tmp_path: Path):
    path = write("fixtures:\n  - {name: p, profile: led-par-rgbz, universe: 1, address: 1}\n", rig=False)
    result = check_show(path)
    assert len(result.errors) == 1
    e = result.errors[0]
    assert (e.location.file, e.location.line) == (str(path), 2)
    assert "unknown fixture profile 'led-par-rgbz'" in e.message and "did you mean" in e.message


def test_load_show_raises_with_every_error(write):
    path = write("settings:\n  master: 2\n  seed: -1\n")
    with pytest.raises(ShowErrors) as info:
        load_show(path)
    assert len(info.value.errors) == 2
    assert str(info.value).count("\n") == 1  # one line per error


def test_absent_features_are_warnings_and_the_show_loads(write, tmp_path: Path):
    path = write("signals:\n  v: {smooth: level.vocals}\n  k: level.drums + level\nrules:\n  - when: drop\n    do: {blackout: false}\n")
    result = check_show(path, available_features=["level", "beat", "downbeat"])
    assert result.ok
    assert [str(w) for w in result.warnings] == [
        f"{tmp_path}/show.yaml:2:15: warning at signals.v.smooth: feature 'level.vocals' is not produced by the current analysis; this stays idle until it is",
        f"{tmp_path}/show.yaml:3:6: warning at signals.k: feature 'level.drums' is not produced by the current analysis; this stays idle until it is",
        f"{tmp_path}/show.yaml:5:11: warning at rules[0].when: feature 'drop' is not produced by the current analysis; this stays idle until it is",
    ]


def test_manual_inputs_need_no_declaration(write):
    path = write("signals:\n  dim: fader.master * 2\nrules:\n  - when: button.go\n    do: {cue: next}\n")
    assert check_show(path).ok


def test_attribute_the_group_cannot_show_is_a_warning(write, tmp_path: Path):
    path = write("include: [rig.yaml]\nlooks:\n  a:\n    - group: pars\n      intensity: 1\n      pan: 30\n"
                 "    - {group: spots, color: red, gobo: 2}\n    - {group: all, zoom: 0.5}\n")
    result = check_show(path)
    assert result.ok
    assert [str(w) for w in result.warnings] == [
        f"{tmp_path}/show.yaml:6:7: warning at looks.a[0].pan: 'pan' has no effect on group 'pars': none of its fixtures has a pan channel",
        f"{tmp_path}/show.yaml:8:20: warning at looks.a[2].zoom: 'zoom' has no effect on group 'all': none of its fixtures has a zoom channel",
    ]


def test_groups_may_live_in_the_show_over_a_shared_rig(write, tmp_path: Path):
    (tmp_path / "bare.yaml").write_text("fixtures:\n  - {name: p, profile: generic-dimmer, universe: 1, address: 1, count: 3}\n")
    path = write("include: [bare.yaml]\ngroups:\n  odd: [p 1, p 3]\n  bad: [p 4]\n", rig=False)
    result = check_show(path)
    assert [str(e) for e in result.errors] == [
        f"{tmp_path}/show.yaml:4:9: error at groups.bad[0]: unknown fixture or group 'p 4' (did you mean 'p 3'?)"
    ]
    path.write_text("include: [bare.yaml]\ngroups:\n  odd: [p 1, p 3]\n")
    show = load_show(path)
    assert show.patch.group("odd").tolist() == [0, 2]
