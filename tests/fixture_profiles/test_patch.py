"""Patch parsing: fixtures, groups, cells, and errors naming file, line and both clashing fixtures."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import numpy as np
import pytest

from engine.config import ConfigErrors, load_yaml
from engine.fixtures.patch import parse_patch, patch_json_schema

SHOW = """\
fixtures:
  - name: front
    profile: led-par-rgbw
    mode: 7ch
    universe: 1
    address: 1
    count: 4
    position: {x: -3, y: 0, z: 4}
    spacing: [2, 0, 0]
    tags: [front, wash]
  - name: spot
    profile: spot-moving-head
    universe: 2
    address: 101
    position: [0, 5, 6, 90]
    tags: [movers]
    invert_pan: true
  - name: bar
    profile: pixel-bar-8
    mode: 26ch
    universe: 2
    address: 1
    tags: [wash]
groups:
  fronts: [front 4, front 1]
  washes: {tags: [wash]}
  everything: {fixtures: [spot, fronts], tag: wash}
"""


def _parse(text: str, name: str = "show.yaml"):
    doc = load_yaml(name, text=text)
    return parse_patch(doc.get("fixtures", doc.get("patch")), doc.get("groups"), name)


def _errors(text: str) -> list[str]:
    with pytest.raises(ConfigErrors) as exc:
        _parse(text)
    return [str(e) for e in exc.value.errors]


def test_fixtures_groups_and_positions() -> None:
    patch = _parse(SHOW)
    assert [f.name for f in patch.fixtures] == ["front 1", "front 2", "front 3", "front 4", "spot", "bar"]
    assert [f.address for f in patch.fixtures[:4]] == [1, 8, 15, 22]  # count steps by the footprint
    assert patch.universes == (1, 2)
    assert patch.positions[:4, 0].tolist() == [-3, -1, 1, 3]
    spot = patch.fixture("spot")
    assert spot.position == (0.0, 5.0, 6.0) and spot.rotation == 90.0 and spot.invert_pan
    assert spot.mode.name == "14ch"  # the profile's first mode by default
    assert patch.group("fronts").tolist() == [3, 0]  # listed order kept
    assert patch.group("washes").tolist() == [0, 1, 2, 3, 5]
    assert patch.group("everything").tolist() == [4, 3, 0, 1, 2, 5]
    assert patch.group("spot").tolist() == [4]  # a fixture is a group of one
    assert patch.tagged("movers").tolist() == [4]
    with pytest.raises(KeyError, match="did you mean 'washes'"):
        patch.group("washs")


def test_pixel_cells_are_addressed_and_placed() -> None:
    patch = _parse(SHOW)
    assert patch.n_cells == 8
    assert patch.cell_offsets.tolist() == [0, 0, 0, 0, 0, 0, 8]
    assert patch.cells(5) == slice(0, 8)
    assert patch.cell_fixture.tolist() == [5] * 8
    xs = patch.cell_positions[:, 0]
    assert xs[1] - xs[0] == pytest.approx(0.125)  # the profile's cell pitch
    assert xs.mean() == pytest.approx(0.0, abs=1e-6)  # centred on the fixture


def test_mapping_form_and_patch_alias() -> None:
    patch = _parse("patch:\n  left: {profile: generic-dimmer, address: 5}\n  right: {profile: generic-dimmer, address: 6}\n")
    assert [(f.name, f.address) for f in patch.fixtures] == [("left", 5), ("right", 6)]


def test_overlap_names_both_fixtures_and_lines() -> None:
    errs = _errors(
        "fixtures:\n"
        "  - {name: a, profile: led-par-rgbw, mode: 7ch, address: 1}\n"
        "  - {name: b, profile: generic-dimmer, address: 20}\n"
        "  - {name: c, profile: led-par-rgbw, mode: 4ch, address: 5}\n"
    )
    assert errs == [
        "show.yaml:4:49: error at fixtures[2].address: fixtures 'a' (universe 1, slots 1-7, show.yaml:2:49) "
        "and 'c' (slots 5-8) overlap"
    ]


def test_same_address_in_other_universe_is_fine() -> None:
    patch = _parse(
        "fixtures:\n  - {name: a, profile: generic-dimmer, address: 1}\n"
        "  - {name: b, profile: generic-dimmer, address: 1, universe: 2}\n"
    )
    assert patch.universes == (1, 2)


def test_past_512_unknown_profile_and_mode() -> None:
    errs = _errors(
        "fixtures:\n"
        "  - name: edge\n    profile: spot-moving-head\n    address: 500\n"
        "  - name: typo\n    profile: led-par-rgbv\n    address: 1\n"
        "  - name: mode\n    profile: led-par-rgbw\n    mode: 8ch\n    address: 1\n"
    )
    assert errs == [
        "show.yaml:4:5: error at fixtures[0].address: fixture 'edge' (spot-moving-head, mode '14ch', 14 slots) "
        "at address 500 ends at slot 513, past 512 in universe 1",
        "show.yaml:6:5: error at fixtures[1].profile: unknown fixture profile 'led-par-rgbv' (did you mean 'led-par-rgb'?)",
        "show.yaml:10:5: error at fixtures[2].mode: profile 'led-par-rgbw' has no mode '8ch' (did you mean '7ch'?)",
    ]


def test_schema_errors_and_group_errors() -> None:
    errs = _errors(
        "fixtures:\n  - name: a\n    profile: generic-dimmer\n    adress: 3\n    universe: 0\n"
        "  - {name: a, profile: generic-dimmer, address: 9}\n"
        "groups:\n  g: [a, b]\n  h: {tags: [nope]}\n"
    )
    text = "\n".join(errs)
    assert "show.yaml:2:5: error at fixtures[0]: unknown key 'adress' (did you mean 'address'?)" in text
    assert "show.yaml:5:5: error at fixtures[0].universe: 0 is less than the minimum of 1" in text


def test_group_errors() -> None:
    errs = _errors(
        "fixtures:\n  - {name: a, profile: generic-dimmer, address: 1}\n"
        "  - {name: a, profile: generic-dimmer, address: 9}\n"
        "groups:\n  g: [a, bb]\n  h: {tags: [nope]}\n  loop1: [loop2]\n  loop2: [loop1]\n"
    )
    text = "\n".join(errs)
    assert "show.yaml:3:6: error at fixtures[1].name: fixture name 'a' is already used at show.yaml:2:5" in text
    assert "show.yaml:5:10: error at groups.g[1]: unknown fixture or group 'bb'" in text
    assert "no fixture has tag 'nope'" in text
    assert "includes itself" in text


def test_profile_dirs_are_searched(tmp_path: Path) -> None:
    (tmp_path / "my-par.yaml").write_text("name: Mine\nchannels:\n  d: {attribute: intensity}\nmodes:\n  - {name: one, channels: [d]}\n")
    doc = load_yaml("s.yaml", text="fixtures:\n  - {name: x, profile: my-par, address: 1}\n")
    patch = parse_patch(doc["fixtures"], None, "s.yaml", [tmp_path])
    assert patch.fixtures[0].profile.name == "Mine"


def test_patch_json_schema_accepts_the_show_sections() -> None:
    doc = load_yaml("show.yaml", text=SHOW)
    schema = {"type": "object", "properties": patch_json_schema()}
    jsonschema.Draft202012Validator.check_schema(schema)
    plain = {"fixtures": [dict(f) for f in doc["fixtures"]], "groups": {k: v for k, v in doc["groups"].items()}}
    plain = __import__("json").loads(__import__("json").dumps(plain))
    assert not list(jsonschema.Draft202012Validator(schema).iter_errors(plain))
    bad = {"fixtures": [{"name": "x", "profile": "p", "address": 600}]}
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(bad))


def test_empty_patch() -> None:
    patch = parse_patch(None, None, None)
    assert patch.n_fixtures == 0 and patch.universes == () and isinstance(patch.cell_offsets, np.ndarray)
