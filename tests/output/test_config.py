"""The outputs: section: typed configs, every error with field, value, line and column."""

from __future__ import annotations

import json
import os

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.config import ConfigErrors, load_yaml
from engine.output.config import (
    ArtnetOutputConfig,
    EnttecProOutputConfig,
    OpenDmxOutputConfig,
    OscOutputConfig,
    SacnOutputConfig,
    UniverseRoute,
    default_outputs,
    outputs_json_schema,
    parse_outputs,
)


def parse(text: str):
    return parse_outputs(load_yaml("show.yaml", text=text)["outputs"], "show.yaml")


def errors_of(text: str) -> list:
    with pytest.raises(ConfigErrors) as info:
        parse(text)
    return info.value.errors


GOOD = """\
outputs:
  - type: sacn
    name: stage
    universes: [1-3, {rig: 9, universe: 109, priority: 150, destinations: [127.0.0.2]}]
    sync_universe: 7000
    priority: 120
    latency_ms: 12.5
  - type: artnet
    universes: 1-2
    sync: true
  - type: artnet
    name: far
    universes: [{rig: 4, port_address: 300}]
    offset: 0
  - type: osc
    port: 7000
    preset: resolume
    map: {beat: "/my/beat/{stem}", tempo: null}
  - type: enttec-pro
    device: /dev/ttyUSB0
    universe: 1
  - type: open-dmx
    serial_number: A12345
    universe: 2
    channels: 64
"""


def test_parses_every_output_kind_into_typed_frozen_configs() -> None:
    sacn, artnet, far, osc, pro, opendmx = parse(GOOD)
    assert isinstance(sacn, SacnOutputConfig) and sacn.name == "stage"
    assert sacn.routes == (
        UniverseRoute(1, 1, (("127.0.0.1", 5568),), 120),
        UniverseRoute(2, 2, (("127.0.0.1", 5568),), 120),
        UniverseRoute(3, 3, (("127.0.0.1", 5568),), 120),
        UniverseRoute(9, 109, (("127.0.0.2", 5568),), 150),
    )
    assert sacn.sync_universe == 7000 and sacn.latency_ms == 12.5 and sacn.rate == 44.0
    assert (sacn.location.line, sacn.location.column) == (2, 5)
    # Art-Net default mapping: port-address = rig universe - 1
    assert isinstance(artnet, ArtnetOutputConfig) and artnet.name == "artnet-1"
    assert [(r.rig, r.number) for r in artnet.routes] == [(1, 0), (2, 1)] and artnet.sync
    assert [(r.rig, r.number) for r in far.routes] == [(4, 300)]
    assert isinstance(osc, OscOutputConfig) and osc.port == 7000
    amap = osc.address_map()
    assert amap["beat"] == "/my/beat/{stem}" and amap["tempo"] is None
    assert amap["downbeat"] == "/composition/tempocontroller/resync"
    assert isinstance(pro, EnttecProOutputConfig) and pro.universe == 1 and pro.channels == 512
    assert isinstance(opendmx, OpenDmxOutputConfig) and opendmx.serial_number == "A12345" and opendmx.channels == 64
    with pytest.raises(AttributeError):
        sacn.rate = 10  # type: ignore[misc]


def test_absent_outputs_is_empty_and_default_is_loopback_only() -> None:
    assert parse_outputs(None) == []
    (d,) = default_outputs([1, 2])
    assert all(dest[0] == "127.0.0.1" for r in d.routes for dest in r.destinations)
    assert not d.multicast and not d.discovery


def test_errors_name_field_value_line_and_column() -> None:
    errs = errors_of(
        """\
outputs:
  - type: sacn
    universes: [0, 64000]
    rate: fast
    priorty: 3
    destinations: [1.2.3]
  - type: artnet
    universes: 40000
  - type: osk
  - type: open-dmx
    universe: 1
  - type: osc
    port: 70000
"""
    )
    text = [str(e) for e in errs]
    expect = [
        "show.yaml:3:17: error at outputs[0].universes[0]: rig universe must be in 1..65535, found 0",
        "show.yaml:3:20: error at outputs[0].universes[1]: sACN universe must be in 1..63999; found 64000",
        "show.yaml:4:11: error at outputs[0].rate: 'rate' must be a number in 1..1000 Hz, found text 'fast'",
        "show.yaml:5:5: error at outputs[0].priorty: unknown field 'priorty' (did you mean 'priority'?)",
        "show.yaml:6:20: error at outputs[0].destinations[0]: 'destinations' entries must be IPv4 addresses"
        " (optionally ADDRESS:PORT), found text '1.2.3'",
        "show.yaml:8:16: error at outputs[1].universes: Art-Net port-address must be in 0..32767;"
        " rig universe 40000 maps to 39999 (offset -1)",
        "show.yaml:9:11: error at outputs[2].type: 'type' must be one of sacn, artnet, osc, enttec-pro, open-dmx;"
        " found text 'osk' (did you mean 'osc'?)",
        "show.yaml:10:5: error at outputs[3]: open-dmx needs exactly one of 'device'",
        "show.yaml:13:11: error at outputs[4].port: 'port' must be in 1..65535, found 70000",
    ]
    assert len(text) == len(expect)
    for got in expect:
        assert any(t.startswith(got) for t in text), (got, text)


def test_duplicates_are_reported() -> None:
    errs = errors_of(
        """\
outputs:
  - type: sacn
    universes: [1, 1-2]
  - type: sacn
    name: a
    universes: [{rig: 1, universe: 5}, {rig: 2, universe: 5}]
  - type: osc
    name: a
    port: 9000
"""
    )
    text = "\n".join(str(e) for e in errs)
    assert "outputs[0].universes[1]: rig universe 1 is listed twice" in text
    assert "outputs[1].universes[1]: sACN universe 5 is used twice in this output" in text
    assert "show.yaml:8:11: error at outputs[2].name: output name 'a' is already used by outputs[1]" in text


def test_wrong_shapes() -> None:
    assert "must be a list of outputs" in str(errors_of("outputs: {type: sacn}\n")[0])
    assert "missing field 'universes'" in str(errors_of("outputs:\n  - type: sacn\n")[0])
    assert "missing field 'port'" in str(errors_of("outputs:\n  - type: osc\n")[0])
    e = errors_of("outputs:\n  - type: osc\n    port: 9000\n    map: {beat: 'no slash'}\n")[0]
    assert "OSC address for 'beat' must start with '/'" in str(e) and e.path == ("outputs", 0, "map", "beat")
    e = errors_of("outputs:\n  - type: sacn\n    universes: 1\n    multicast: yes please\n")[0]
    assert "'multicast' must be true or false, found text 'yes please'" in str(e)


@settings(max_examples=60, deadline=None)
@given(u=st.integers(min_value=-5, max_value=70000))
def test_sacn_universe_range(u: int) -> None:
    text = f"outputs:\n  - type: sacn\n    universes: {u}\n"
    if 1 <= u <= 63999:
        assert parse(text)[0].routes[0].number == u
    else:
        assert len(errors_of(text)) == 1


@settings(max_examples=60, deadline=None)
@given(pa=st.integers(min_value=-3, max_value=33000))
def test_artnet_port_address_range(pa: int) -> None:
    text = f"outputs:\n  - type: artnet\n    universes: [{{rig: 1, port_address: {pa}}}]\n"
    if 0 <= pa <= 32767:
        assert parse(text)[0].routes[0].number == pa
    else:
        assert f"found {pa}" in str(errors_of(text)[0])


def test_json_schema_is_valid_and_agrees_on_examples() -> None:
    schema = outputs_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    v = jsonschema.Draft202012Validator(schema)
    good = json.loads(json.dumps(load_yaml("s", text=GOOD)["outputs"]))
    assert list(v.iter_errors(good)) == []
    assert list(v.iter_errors([{"type": "sacn", "universes": 1, "priority": 201}]))
    assert list(v.iter_errors([{"type": "sacn", "universes": 1, "priorty": 1}]))
    assert list(v.iter_errors([{"type": "osc"}]))


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-70000, 70000), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["sacn", "artnet", "osc", "open-dmx", "enttec-pro", "1-4", "127.0.0.1", "/a/{stem}", "x:1", ""]),
    st.text(max_size=8),
)
_keys = st.sampled_from([
    "type", "name", "universes", "rate", "latency_ms", "destinations", "priority", "port", "map", "device",
    "universe", "rig", "sync_universe", "offset", "multicast", "beat", "serial_number", "channels", "bogus",
])  # fmt: skip
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=5),
                       max_leaves=12)  # fmt: skip


# BEAMSYNC_FUZZ_EXAMPLES=3000 for a longer hunt (3000 ran clean once).
@settings(max_examples=int(os.environ.get("BEAMSYNC_FUZZ_EXAMPLES", "120")), deadline=None)
@given(node=st.lists(st.dictionaries(_keys, _values, max_size=7), max_size=3) | _values)
def test_any_input_gives_configs_or_config_errors_never_a_crash(node) -> None:
    try:
        result = parse_outputs(node, "fuzz.yaml")
    except ConfigErrors as exc:
        assert exc.errors and all(e.message for e in exc.errors)
    else:
        assert isinstance(result, list)
