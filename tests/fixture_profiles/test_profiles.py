"""The profile format: the shipped profiles, the JSON Schema, and errors with file/line/column."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from engine.config import ConfigErrors, load_yaml
from engine.fixtures.profile import PROJECT_FIXTURES, ProfileLibrary, load_profile, profile_from_data
from engine.fixtures.schema import PROFILE_SCHEMA

REQUIRED_KINDS = {
    "generic-dimmer": "dimmer",
    "led-par-rgb": "RGB par",
    "led-par-rgbw": "RGBW par",
    "led-par-rgba": "RGBA par",
    "led-par-rgbwauv": "RGBWA+UV par",
    "cmy-wash": "CMY wash",
    "spot-moving-head": "colour-wheel + gobo spot with 16-bit pan/tilt",
    "wash-mover-zoom": "zoom wash mover",
    "strobe-1500": "strobe",
    "pixel-bar-8": "LED pixel bar",
    "laser-basic": "DMX laser, basic mode",
    "fog-machine": "fog machine",
    "haze-machine": "haze machine",
    "generic-relay": "1-channel relay",
}


def test_project_ships_at_least_15_valid_profiles() -> None:
    lib = ProfileLibrary()
    assert len(lib.keys()) >= 15
    for key in lib.keys():
        p = lib.get(key)
        assert p.modes and p.channels, key
    assert set(REQUIRED_KINDS) <= set(lib.keys())


def test_every_shipped_profile_passes_the_full_json_schema() -> None:
    validator = jsonschema.Draft202012Validator(PROFILE_SCHEMA)
    for f in sorted(PROJECT_FIXTURES.glob("*.yaml")):
        data = json.loads(json.dumps(load_yaml(f)))
        errors = list(validator.iter_errors(data))
        assert not errors, f"{f.name}: {errors[0].message}"


def test_shipped_schema_file_matches_the_code() -> None:
    shipped = json.loads((PROJECT_FIXTURES / "profile.schema.json").read_text())
    assert shipped == json.loads(json.dumps(PROFILE_SCHEMA))
    jsonschema.Draft202012Validator.check_schema(shipped)


def test_required_capabilities_are_present() -> None:
    lib = ProfileLibrary()
    spot = lib.get("spot-moving-head").mode("14ch")
    pan = spot.find("pan")[0]
    assert pan.n_bytes == 2 and pan.offsets == (0, 1)
    assert spot.gobo_names[:3] == ["open", "dots", "star"]
    assert spot.wheel_colors[:2] == ["White", "Red"]
    bar = lib.get("pixel-bar-8").mode("26ch")
    assert bar.cells == 8 and bar.footprint == 26
    assert [mc.cell for mc in bar.find("red", cell=7)] == [7]
    strobe = lib.get("led-par-rgbw").channels["strobe"].capabilities_of("strobe")[0]
    assert strobe.dmx == (10, 255) and strobe.hz == (1.0, 25.0)
    assert lib.get("led-par-rgbwauv").physical.white_temperature == 6500
    assert lib.get("cmy-wash").physical.beam_angle == (10.0, 50.0)


def _errors(tmp_path: Path, text: str) -> list[str]:
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ConfigErrors) as exc:
        load_profile(f)
    return [str(e) for e in exc.value.errors]


def test_unknown_channel_in_mode_names_file_line_and_suggests(tmp_path: Path) -> None:
    errs = _errors(
        tmp_path,
        "name: X\nchannels:\n  red: {attribute: red}\n  green: {attribute: green}\nmodes:\n"
        "  - name: m\n    channels: [red, gren]\n",
    )
    assert errs == [
        f"{tmp_path / 'bad.yaml'}:7:21: error at modes[0].channels[1]: unknown channel 'gren' (did you mean 'green'?)"
    ]


def test_schema_errors_point_at_the_key(tmp_path: Path) -> None:
    errs = _errors(
        tmp_path,
        "name: X\nchannels:\n  dim:\n    attribute: intensty\n    defualt: 3\nmodes:\n  - name: m\n    channels: [dim]\n",
    )
    text = "\n".join(errs)
    assert "bad.yaml:4:5: error at channels.dim.attribute: 'intensty' is not one of the allowed values (did you mean 'intensity'?)" in text
    assert "bad.yaml:3:3: error at channels.dim: unknown key 'defualt' (did you mean 'default'?)" in text


def test_overlapping_ranges_fine_without_coarse_and_duplicates(tmp_path: Path) -> None:
    errs = _errors(
        tmp_path,
        """name: X
channels:
  pan: {attribute: pan, fine: [pan fine]}
  shutter:
    attribute: strobe
    capabilities:
      - {dmx: [0, 10], type: open}
      - {dmx: [10, 255], type: strobe}
      - {dmx: [30, 20], type: closed}
modes:
  - name: a
    channels: [pan fine]
  - name: a
    channels: [pan, pan]
""",
    )
    text = "\n".join(errs)
    assert "starts after it ends" in text
    assert "capability ranges [0, 10] and [10, 255] overlap" in text
    assert "uses a fine channel of 'pan' without 'pan' itself" in text
    assert "duplicate mode name 'a'" in text
    assert "uses 'pan' twice" in text


def test_cells_and_defaults(tmp_path: Path) -> None:
    data = {
        "name": "T",
        "channels": {
            "dim": {"attribute": "intensity", "default": "50%", "fine": ["dim fine"]},
            "r": {"attribute": "red", "default": 255},
        },
        "modes": [{"name": "m", "channels": ["dim", "dim fine", {"cells": 3, "channels": ["r", None]}, {"channel": "r", "cell": 5}]}],
    }
    p = profile_from_data(data, "t")
    m = p.mode()
    assert m.footprint == 2 + 6 + 1 and m.cells == 6
    assert [s.channel for s in m.slots] == ["dim", "dim", "r", None, "r", None, "r", None, "r"]
    dim = p.channels["dim"]
    assert dim.default_value(1) == 128 and dim.default_value(2) == 32768
    assert p.channels["r"].default_value(2) == 255 * 256
    with pytest.raises(KeyError, match="did you mean 'm'"):
        p.mode("mm")
