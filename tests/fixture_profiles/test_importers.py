"""Importers: synthetic OFL/QLC+ files with known content, safety of the XML parser, and every
real file in ../shared/fixtures (imports or fails with its reason)."""

from __future__ import annotations

import collections
import json
import time
from pathlib import Path

import pytest

from engine.fixtures.errors import ImportFailure
from engine.fixtures.importers import import_file
from engine.fixtures.patch import parse_patch
from engine.fixtures.profile import ProfileLibrary, load_profile
from engine.fixtures.render import Renderer

OFL_SPOT = {
    "$schema": "https://raw.githubusercontent.com/OpenLightingProject/open-fixture-library/master/schemas/fixture.json",
    "name": "Test Spot",
    "categories": ["Moving Head"],
    "physical": {"lens": {"degreesMinMax": [12, 12]}, "bulb": {"colorTemperature": 7000}, "power": 100},
    "wheels": {
        "Color Wheel": {"slots": [{"type": "Open"}, {"type": "Color", "name": "Red", "colors": ["#ff0000"]},
                                  {"type": "Color", "name": "Blue", "colors": ["#0000ff"]}]},
        "Gobo Wheel": {"slots": [{"type": "Open"}, {"type": "Gobo", "name": "Star"}]},
    },
    "availableChannels": {
        "Pan": {"fineChannelAliases": ["Pan fine"], "defaultValue": "50%",
                "capability": {"type": "Pan", "angleStart": "0deg", "angleEnd": "630deg"}},
        "Tilt": {"capability": {"type": "Tilt", "angleStart": "-135deg", "angleEnd": "135deg"}},
        "Shutter": {"capabilities": [
            {"dmxRange": [0, 9], "type": "ShutterStrobe", "shutterEffect": "Closed"},
            {"dmxRange": [10, 19], "type": "ShutterStrobe", "shutterEffect": "Open"},
            {"dmxRange": [20, 255], "type": "ShutterStrobe", "shutterEffect": "Strobe", "speedStart": "1Hz", "speedEnd": "20Hz"}]},
        "Dimmer": {"fineChannelAliases": ["Dimmer fine"], "capability": {"type": "Intensity"}},
        "Color Wheel": {"capabilities": [
            {"dmxRange": [0, 9], "type": "WheelSlot", "slotNumber": 1},
            {"dmxRange": [10, 19], "type": "WheelSlot", "slotNumber": 2},
            {"dmxRange": [20, 29], "type": "WheelSlot", "slotNumber": 2.5},
            {"dmxRange": [30, 255], "type": "WheelSlot", "slotNumber": 3}]},
        "Gobo Wheel": {"capabilities": [
            {"dmxRange": [0, 127], "type": "WheelSlot", "slotNumber": 1},
            {"dmxRange": [128, 255], "type": "WheelSlot", "slotNumber": 2}]},
        "Blades": {"capability": {"type": "BladeInsertion", "blade": "Top"}},
        "Mode": {"capabilities": [
            {"dmxRange": [0, 127], "type": "NoFunction", "switchChannels": {"Speed / Macro": "Speed"}},
            {"dmxRange": [128, 255], "type": "Maintenance", "comment": "reset", "switchChannels": {"Speed / Macro": "Macro"}}]},
        "Speed": {"capability": {"type": "PanTiltSpeed", "speedStart": "fast", "speedEnd": "slow"}},
        "Macro": {"capability": {"type": "Effect", "effectName": "Macros"}},
        "Indigo": {"capability": {"type": "ColorIntensity", "color": "Indigo"}},
    },
    "modes": [
        {"name": "Extended", "channels": ["Pan", "Pan fine", "Tilt", "Shutter", "Dimmer", "Dimmer fine",
                                          "Color Wheel", "Gobo Wheel", "Mode", "Speed / Macro", None, "Indigo"]},
        {"name": "Basic", "channels": ["Pan", "Tilt", "Dimmer fine", "Nonexistent"]},
    ],
}

OFL_BAR = {
    "name": "Test Bar",
    "categories": ["Pixel Bar"],
    "matrix": {"pixelCount": [4, 1, 1], "pixelGroups": {"Master": "all"}},
    "availableChannels": {"Dimmer": {"capability": {"type": "Intensity"}}},
    "templateChannels": {
        "Red $pixelKey": {"capability": {"type": "ColorIntensity", "color": "Red"}},
        "Green $pixelKey": {"capability": {"type": "ColorIntensity", "color": "Green"}},
        "Blue $pixelKey": {"capability": {"type": "ColorIntensity", "color": "Blue"}},
    },
    "modes": [
        {"name": "12ch", "channels": [{"insert": "matrixChannels", "repeatFor": "eachPixelXYZ", "channelOrder": "perPixel",
                                       "templateChannels": ["Red $pixelKey", "Green $pixelKey", "Blue $pixelKey"]}]},
        {"name": "per channel", "channels": ["Dimmer", {"insert": "matrixChannels", "repeatFor": ["4", "3"],
                                             "channelOrder": "perChannel", "templateChannels": ["Red $pixelKey", "Blue $pixelKey"]}]},
        {"name": "master", "channels": ["Red Master", "Green Master", "Blue Master"]},
    ],
}


def _write_ofl(tmp_path: Path, manufacturer: str, key: str, doc: dict) -> Path:
    d = tmp_path / "ofl" / manufacturer
    d.mkdir(parents=True, exist_ok=True)
    (tmp_path / "ofl" / "manufacturers.json").write_text(json.dumps({manufacturer: {"name": "Acme Lights"}}))
    f = d / f"{key}.json"
    f.write_text(json.dumps(doc))
    return f


def test_ofl_channels_fine_wheels_strobe_switching(tmp_path: Path) -> None:
    r = import_file(_write_ofl(tmp_path, "acme", "test-spot", OFL_SPOT))
    p = r.profile
    assert r.key == "acme-test-spot" and p.manufacturer == "Acme Lights" and p.name == "Test Spot"
    assert p.physical.pan_range == 630 and p.physical.tilt_range == 270
    assert p.physical.white_temperature == 7000 and p.physical.beam_angle == (12.0, 12.0)
    ch = p.channels
    assert ch["Pan"].attribute == "pan" and ch["Pan"].fine == ("Pan fine",) and ch["Pan"].default_fraction == 0.5
    shutter = ch["Shutter"]
    assert shutter.attribute == "strobe"
    assert [(c.type, c.dmx) for c in shutter.capabilities] == [("closed", (0, 9)), ("open", (10, 19)), ("strobe", (20, 255))]
    assert shutter.capabilities[2].hz == (1.0, 20.0)
    wheel = ch["Color Wheel"]
    assert wheel.attribute == "color_wheel"
    assert [(c.type, c.name) for c in wheel.capabilities] == [
        ("color", "Open"), ("color", "Red"), ("generic", "WheelSlot"), ("color", "Blue")]
    assert ch["Gobo Wheel"].attribute == "gobo"
    assert [c.gobo for c in ch["Gobo Wheel"].capabilities] == ["open", "Star"]
    assert ch["Blades"].attribute == "generic"
    assert ch["Mode"].attribute == "control" and ch["Mode"].capabilities[1].type == "reset"
    ext = p.mode("Extended")
    assert ext.footprint == 12
    assert [s.channel for s in ext.slots][8:11] == ["Mode", "Speed", None]  # switched at the default (0)
    assert ext.find("pan")[0].offsets == (0, 1) and ext.find("intensity")[0].offsets == (4, 5)
    basic = p.mode("Basic")
    assert [s.channel for s in basic.slots] == ["Pan", "Tilt", None, None]
    notes = "\n".join(r.notes)
    assert "switching channel 'Speed / Macro': mapped to 'Speed' (in effect at the default of 'Mode'); 'Macro' not reachable" in notes
    assert "channel 'Indigo': Indigo emitter has no beamsync attribute" in notes
    assert "mode 'Basic': fine channel 'Dimmer fine' without 'Dimmer', slot left unused" in notes
    assert "mode 'Basic': channel 'Nonexistent' is not defined, slot left unused" in notes


def test_ofl_matrix_templates_become_cells(tmp_path: Path) -> None:
    r = import_file(_write_ofl(tmp_path, "acme", "test-bar", OFL_BAR))
    p = r.profile
    assert p.physical.cells == (4, 1)
    m = p.mode("12ch")
    assert m.cells == 4 and m.footprint == 12
    assert [(s.channel, s.cell) for s in m.slots[:4]] == [("Red 1", 0), ("Green 1", 0), ("Blue 1", 0), ("Red 2", 1)]
    per_channel = p.mode("per channel")
    assert [(s.channel, s.cell) for s in per_channel.slots] == [
        ("Dimmer", None), ("Red 4", 3), ("Red 3", 2), ("Blue 4", 3), ("Blue 3", 2)]
    master = p.mode("master")
    assert [(s.channel, s.cell) for s in master.slots] == [("Red Master", None), ("Green Master", None), ("Blue Master", None)]
    assert not r.notes
    # and it renders: per-cell colour lands in its cell's slots
    lib = ProfileLibrary([])
    lib.add(p)
    patch = parse_patch([{"name": "b", "profile": p.key, "mode": "12ch", "address": 1}], None, None, library=lib)
    rend = Renderer(patch)
    a, f = rend.new_attributes(), rend.new_frame()
    a.intensity[0] = 1.0
    a.cell_color[:] = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]]
    rend.render(a, f)
    assert f.universe(1)[:12].tolist() == [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]


def test_ofl_redirect_followed_or_reported(tmp_path: Path) -> None:
    target = _write_ofl(tmp_path, "acme", "test-spot", OFL_SPOT)
    old = target.parent / "old-name.json"
    old.write_text(json.dumps({"name": "Old", "redirectTo": "acme/test-spot", "reason": "FixtureRenamed"}))
    r = import_file(old)
    assert r.redirected_from == "acme/old-name" and r.profile.name == "Test Spot"
    gone = target.parent / "gone.json"
    gone.write_text(json.dumps({"name": "Gone", "redirectTo": "other/missing", "reason": "SameAsDifferentBrand"}))
    with pytest.raises(ImportFailure, match="redirect to 'other/missing' \\(SameAsDifferentBrand\\); the target is not in this library folder"):
        import_file(gone)


def test_ofl_broken_files_fail_with_a_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x",\n "modes": [}')
    with pytest.raises(ImportFailure, match=r"bad.json:2:\d+: invalid JSON"):
        import_file(bad)
    bad.write_text('{"name": "x"}')
    with pytest.raises(ImportFailure, match="not an Open Fixture Library fixture"):
        import_file(bad)
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(ImportFailure, match="not a fixture format beamsync knows"):
        import_file(tmp_path / "x.txt")


QXF = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE FixtureDefinition>
<FixtureDefinition xmlns="http://www.qlcplus.org/FixtureDefinition">
 <Manufacturer>Acme</Manufacturer>
 <Model>Quad Bar</Model>
 <Type>LED Bar (Pixels)</Type>
 <Channel Name="Dimmer" Preset="IntensityMasterDimmer"/>
 <Channel Name="Dimmer fine" Preset="IntensityMasterDimmerFine"/>
 <Channel Name="Pan coarse" Default="128" Preset="PositionPan"/>
 <Channel Name="Pan (LSB)"><Group Byte="1">Pan</Group></Channel>
 <Channel Name="Shutter">
  <Group Byte="0">Shutter</Group>
  <Capability Min="0" Max="9" Preset="ShutterClose">Closed</Capability>
  <Capability Min="10" Max="19" Preset="ShutterOpen">Open</Capability>
  <Capability Min="20" Max="255" Preset="StrobeFreqRange" Res1="0.5" Res2="12">Strobe</Capability>
 </Channel>
 <Channel Name="Colors">
  <Group Byte="0">Colour</Group>
  <Capability Min="0" Max="9" Preset="ColorMacro" Res1="#ff0000">Red</Capability>
  <Capability Min="10" Max="19" Preset="ColorDoubleMacro" Res1="#ff0000" Res2="#0000ff">Red/Blue</Capability>
  <Capability Min="20" Max="255" Preset="Alias">Mode B
   <Alias Mode="8ch" Channel="Dimmer" With="Shutter"/>
  </Capability>
 </Channel>
 <Channel Name="Hue" Preset="IntensityHue"/>
 <Channel Name="Red 1"><Group Byte="0">Intensity</Group><Colour>Red</Colour></Channel>
 <Channel Name="Red 2"><Group Byte="0">Intensity</Group><Colour>Red</Colour></Channel>
 <Channel Name="Lamp">
  <Group Byte="0">Maintenance</Group>
  <Capability Min="0" Max="99" Preset="LampOff">Lamp off</Capability>
  <Capability Min="100" Max="199" Preset="LampOn">Lamp on</Capability>
  <Capability Min="200" Max="255" Preset="ResetAll">Reset</Capability>
 </Channel>
 <Mode Name="8ch">
  <Channel Number="0">Dimmer</Channel>
  <Channel Number="1">Dimmer fine</Channel>
  <Channel Number="2">Pan coarse</Channel>
  <Channel Number="3">Pan (LSB)</Channel>
  <Channel Number="4">Shutter</Channel>
  <Channel Number="5">Colors</Channel>
  <Channel Number="7">Lamp</Channel>
 </Mode>
 <Mode Name="heads">
  <Channel Number="0">Dimmer</Channel>
  <Channel Number="1">Red 1</Channel>
  <Channel Number="2">Red 2</Channel>
  <Channel Number="3">Hue</Channel>
  <Head><Channel>1</Channel></Head>
  <Head><Channel>2</Channel></Head>
 </Mode>
 <Physical>
  <Bulb Type="LED" Lumens="0" ColourTemperature="5600"/>
  <Lens Name="Other" DegreesMin="8" DegreesMax="30"/>
  <Focus Type="Head" PanMax="540" TiltMax="0"/>
  <Layout Width="2" Height="1"/>
 </Physical>
</FixtureDefinition>
"""


def test_qlcplus_channels_fine_heads_capabilities(tmp_path: Path) -> None:
    f = tmp_path / "Acme" / "Acme-Quad-Bar.qxf"
    f.parent.mkdir()
    f.write_text(QXF)
    r = import_file(f)
    p = r.profile
    assert r.key == "acme-quad-bar" and p.categories == ("LED Bar (Pixels)",)
    assert p.physical.beam_angle == (8.0, 30.0) and p.physical.pan_range == 540 and p.physical.white_temperature == 5600
    assert p.physical.cells == (2, 1)
    ch = p.channels
    assert ch["Dimmer"].fine == ("Dimmer fine",) and "Dimmer fine" not in ch
    assert ch["Pan coarse"].fine == ("Pan (LSB)",) and ch["Pan coarse"].default == 128
    sh = ch["Shutter"].capabilities
    assert [(c.type, c.dmx, c.hz) for c in sh] == [("closed", (0, 9), None), ("open", (10, 19), None), ("strobe", (20, 255), (0.5, 12.0))]
    colors = ch["Colors"]
    assert colors.attribute == "color_macro"  # the fixture has emitters of its own
    assert [c.type for c in colors.capabilities] == ["color", "color", "generic"]
    assert [c.type for c in ch["Lamp"].capabilities] == ["off", "on", "reset"]
    m = p.mode("8ch")
    assert m.footprint == 8 and m.slots[6].channel is None
    assert m.find("intensity")[0].offsets == (0, 1) and m.find("pan")[0].offsets == (2, 3)
    heads = p.mode("heads")
    assert heads.cells == 2 and [(s.channel, s.cell) for s in heads.slots] == [
        ("Dimmer", None), ("Red 1", 0), ("Red 2", 1), ("Hue", None)]
    notes = "\n".join(r.notes)
    assert "channel 'Hue': a hue channel has no beamsync attribute, held at default" in notes
    assert "channel 'Colors': DMX 20-255 switches 'Dimmer' -> 'Shutter' in mode '8ch'" in notes


@pytest.mark.parametrize(
    "doc, reason",
    [
        ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><FixtureDefinition>&b;</FixtureDefinition>',
         "refusing XML that declares entities"),
        ('<?xml version="1.0"?><!DOCTYPE FixtureDefinition SYSTEM "http://example.invalid/x.dtd"><FixtureDefinition/>',
         "refusing XML with a DTD"),
        ('<?xml version="1.0"?><FixtureDefinition><Channel Name="x"></FixtureDefinition>', r"invalid XML"),
        ('<?xml version="1.0"?><Workspace/>', r"not a QLC\+ fixture definition \(root element <Workspace>\)"),
        ('<?xml version="1.0"?><FixtureDefinition><Model>x</Model></FixtureDefinition>', "no <Channel> definitions"),
    ],
)
def test_qlcplus_unsafe_or_broken_xml_is_refused(tmp_path: Path, doc: str, reason: str) -> None:
    f = tmp_path / "x.qxf"
    f.write_text(doc)
    with pytest.raises(ImportFailure, match=reason):
        import_file(f)


def test_every_shared_fixture_file_imports_or_fails_with_its_reason(shared_dir: Path, tmp_path: Path, capsys) -> None:
    root = shared_dir / "fixtures"
    files = sorted(
        f for f in root.rglob("*") if f.suffix in (".json", ".qxf") and f.name != "manufacturers.json"
    )
    assert len(files) > 1000
    outcome: dict[Path, str] = {}
    detail: dict[Path, str] = {}
    imported: list = []
    reasons: collections.Counter[str] = collections.Counter()
    start = time.perf_counter()
    for f in files:
        try:
            r = import_file(f)
        except ImportFailure as exc:
            msg = str(exc)
            assert msg.startswith(str(f)), msg  # every failure names its file ...
            assert len(msg) > len(str(f)) + 10  # ... and says why
            outcome[f] = f"failed: {msg[len(str(f)) + 2:]}"
            continue
        assert r.profile is not None and r.profile.modes
        if not r.redirected_from:
            imported.append(r.profile)
        outcome[f] = ("redirect+" if r.redirected_from else "") + ("warnings" if r.notes else "clean")
        detail[f] = "; ".join(r.notes)
        for n in r.notes:
            reasons[n.split(":")[0].split("'")[0].strip()] += 1
    elapsed = time.perf_counter() - start
    table = collections.Counter()
    for f, o in outcome.items():
        lib = f.relative_to(root).parts[0]
        table[(lib, o if not o.startswith("failed") else "failed")] += 1
    listing = tmp_path / "import-outcome.tsv"
    listing.write_text("".join(f"{f.relative_to(root)}\t{o}\t{detail.get(f, '')}\n" for f, o in outcome.items()))
    with capsys.disabled():
        print(f"\nimport outcome over {root} ({len(files)} files, {elapsed:.1f} s; per file: {listing}):")
        for (lib, o), n in sorted(table.items()):
            print(f"  {lib:12s} {o:20s} {n:5d}")
        for f, o in outcome.items():
            if o.startswith("failed"):
                print(f"  {f.relative_to(root)}: {o}")
    fixture_files = [f for f in files if f.relative_to(root).parts[0] in ("ofl", "qlcplus")]
    failed = [f for f in fixture_files if outcome[f].startswith("failed")]
    assert not failed, [outcome[f] for f in failed]
    # the JSON Schemas beside the fixtures are not fixtures and say so
    schemas = [f for f in files if f.relative_to(root).parts[0] == "ofl-schemas"]
    assert all("a JSON Schema document, not a fixture" in outcome[f] for f in schemas)
    assert sum(o.startswith("redirect") for o in outcome.values()) >= 1
    _patch_and_render_every_mode(imported)


def _patch_and_render_every_mode(profiles: list) -> None:
    """Every mode of every imported profile patches and renders, touching only its own slots."""
    import numpy as np

    from engine.fixtures.profile import Profile
    from engine.output.frame import DmxFrame

    lib = ProfileLibrary([])
    specs = []
    for i, p in enumerate(profiles):
        key = f"{i}-{p.key}"  # the same fixture can be in both libraries
        lib.add(Profile(**{**p.__dict__, "key": key}))
        for m in p.modes:
            specs.append({"name": f"{key}/{m.name}", "profile": key, "mode": m.name, "universe": len(specs) + 1, "address": 1})
    patch = parse_patch(specs, None, None, library=lib)
    r = Renderer(patch)
    rng = np.random.default_rng(7)
    a = r.new_attributes()
    n = a.n_fixtures
    a.intensity[:] = rng.random(n)
    a.color[:] = rng.random((n, 3))
    a.strobe[:] = rng.choice([0.0, 3.0, 50.0], n)
    a.pan[:] = rng.uniform(-400, 400, n)
    a.tilt[:] = rng.uniform(-200, 200, n)
    a.gobo[:] = rng.integers(0, 12, n)
    a.zoom[:] = rng.random(n)
    a.cell_intensity[:] = rng.random(a.n_cells)
    f = DmxFrame(patch.universes)
    f.data[:] = 7
    r.render(a, f, master=0.8, time=0.13)
    footprint = np.array([fx.footprint for fx in patch.fixtures])
    beyond = np.arange(512)[None, :] >= footprint[:, None]  # one universe per fixture
    assert np.all(f.data[beyond] == 7)


def test_imported_profiles_round_trip_through_yaml(shared_dir: Path, tmp_path: Path) -> None:
    picks = ["ofl/american-dj/illusion-dotz-4-4.json", "ofl/alien-pro/alien-s.json"]
    picks += [str(p.relative_to(shared_dir / "fixtures")) for p in sorted((shared_dir / "fixtures" / "qlcplus").rglob("*.qxf"))[:40:8]]
    for rel in picks:
        r = import_file(shared_dir / "fixtures" / rel)
        out = tmp_path / f"{r.key}.yaml"
        out.write_text(r.to_yaml())
        back = load_profile(out)
        assert back.data == json.loads(json.dumps(r.data)), rel
        assert [m.footprint for m in back.modes] == [m.footprint for m in r.profile.modes]


def test_ofl_shared_channels_take_the_driven_attribute(tmp_path: Path) -> None:
    doc = {
        "name": "Shared",
        "categories": ["Color Changer"],
        "wheels": {"Colors": {"slots": [{"type": "Open"}, {"type": "Color", "name": "Red", "colors": ["#ff0000"]}]}},
        "availableChannels": {
            "Dimmer/Strobe": {"capabilities": [
                {"dmxRange": [0, 127], "type": "Intensity"},
                {"dmxRange": [128, 255], "type": "ShutterStrobe", "shutterEffect": "Strobe"}]},
            "Colors": {"capabilities": [
                {"dmxRange": [0, 15], "type": "WheelSlot", "slotNumber": 1},
                {"dmxRange": [16, 31], "type": "WheelSlot", "slotNumber": 2},
                {"dmxRange": [32, 255], "type": "WheelRotation", "speedStart": "slow CW", "speedEnd": "fast CW"}]},
            "Hue": {"capability": {"type": "Intensity"}},
        },
        "modes": [{"name": "3ch", "channels": ["Dimmer/Strobe", "Colors", "Hue"]}],
    }
    r = import_file(_write_ofl(tmp_path, "acme", "shared", doc))
    ch = r.profile.channels
    assert ch["Dimmer/Strobe"].attribute == "intensity"
    assert ch["Colors"].attribute == "color_wheel"
    assert ch["Hue"].attribute == "generic"
    assert "channel 'Hue': an HSV channel typed as intensity, held at default" in r.notes
    lib = ProfileLibrary([])
    lib.add(r.profile)
    patch = parse_patch([{"name": "x", "profile": r.profile.key, "address": 1}], None, None, library=lib)
    rend = Renderer(patch)
    a, f = rend.new_attributes(), rend.new_frame()
    a.intensity[0] = 1.0
    a.color[0] = [1, 0, 0]
    rend.render(a, f)
    assert f.universe(1)[:3].tolist() == [127, 23, 0]  # dimmer part only; Red slot middle; Hue default


def test_qlcplus_fine_channels_pair_by_name_when_listed_later(tmp_path: Path) -> None:
    f = tmp_path / "mover.qxf"
    f.write_text("""<?xml version="1.0"?><!DOCTYPE FixtureDefinition>
<FixtureDefinition xmlns="http://www.qlcplus.org/FixtureDefinition">
 <Manufacturer>Acme</Manufacturer><Model>Mover</Model><Type>Moving Head</Type>
 <Channel Name="Pan" Preset="PositionPan"/><Channel Name="Tilt" Preset="PositionTilt"/>
 <Channel Name="Pan Fine" Preset="PositionPanFine"/><Channel Name="Tilt Fine" Preset="PositionTiltFine"/>
 <Channel Name="Orphan fine"><Group Byte="1">Effect</Group></Channel>
 <Mode Name="m"><Channel Number="0">Pan</Channel><Channel Number="1">Tilt</Channel>
  <Channel Number="2">Pan Fine</Channel><Channel Number="3">Tilt Fine</Channel><Channel Number="4">Orphan fine</Channel></Mode>
</FixtureDefinition>""")
    r = import_file(f)
    m = r.profile.mode("m")
    assert m.find("pan")[0].offsets == (0, 2) and m.find("tilt")[0].offsets == (1, 3)
    assert m.slots[4].channel == "Orphan fine"  # no partner: kept as an 8-bit channel, reported
    assert any("fine channel 'Orphan fine' has no matching coarse channel" in n for n in r.notes)


def test_ofl_16bit_capability_ranges_are_reduced_to_8bit(tmp_path: Path) -> None:
    doc = {
        "name": "Fine", "categories": ["Dimmer"],
        "availableChannels": {"Dimmer": {"fineChannelAliases": ["Dimmer fine"], "dmxValueResolution": "16bit",
                                         "defaultValue": 32768, "capabilities": [
            {"dmxRange": [0, 255], "type": "NoFunction"},
            {"dmxRange": [256, 65535], "type": "Intensity"}]}},
        "modes": [{"name": "16bit", "channels": ["Dimmer", "Dimmer fine"]}],
    }
    r = import_file(_write_ofl(tmp_path, "acme", "fine", doc))
    ch = r.profile.channels["Dimmer"]
    assert [(c.type, c.dmx) for c in ch.capabilities] == [("nothing", (0, 0)), ("intensity", (1, 255))]
    assert ch.default == 128 and ch.default_value(2) == 32768


def test_ofl_switching_channels_inside_templates(tmp_path: Path) -> None:
    doc = {
        "name": "Layers", "categories": ["Strobe"],
        "matrix": {"pixelKeys": [[["White", "RGB"]]]},
        "templateChannels": {
            "$pixelKey Mode": {"capabilities": [
                {"dmxRange": [0, 127], "type": "NoFunction", "switchChannels": {"$pixelKey Rate / Speed": "$pixelKey Rate"}},
                {"dmxRange": [128, 255], "type": "Effect", "effectName": "FX", "switchChannels": {"$pixelKey Rate / Speed": "$pixelKey Speed"}}]},
            "$pixelKey Rate": {"capability": {"type": "StrobeSpeed", "speedStart": "1Hz", "speedEnd": "25Hz"}},
            "$pixelKey Speed": {"capability": {"type": "EffectSpeed", "speedStart": "slow", "speedEnd": "fast"}},
        },
        "modes": [{"name": "m", "channels": ["White Mode", "White Rate / Speed", "RGB Mode", "RGB Rate / Speed"]}],
    }
    r = import_file(_write_ofl(tmp_path, "acme", "layers", doc))
    m = r.profile.mode("m")
    assert [(s.channel, s.cell) for s in m.slots] == [("White Mode", 0), ("White Rate", 0), ("RGB Mode", 1), ("RGB Rate", 1)]
    assert r.profile.channels["White Rate"].capabilities[0].hz == (1.0, 25.0)


def test_qlcplus_mode_entries_match_names_with_stray_spaces(tmp_path: Path) -> None:
    f = tmp_path / "spaces.qxf"
    f.write_text("""<?xml version="1.0"?><FixtureDefinition xmlns="http://www.qlcplus.org/FixtureDefinition">
 <Manufacturer>Acme</Manufacturer><Model>Spaces</Model><Type>Color Changer</Type>
 <Channel Name="Green " Preset="IntensityGreen"/><Channel Name="Red" Preset="IntensityRed"/>
 <Mode Name="m"><Channel Number="0">Red </Channel><Channel Number="1">Green </Channel><Channel Number="2">Green</Channel></Mode>
</FixtureDefinition>""")
    r = import_file(f)
    assert [s.channel for s in r.profile.mode("m").slots] == ["Red", "Green ", None]
    assert "mode 'm': channel 'Green ' appears twice, second use left unused" in r.notes
