"""Fuzzing the fixture importers (OFL JSON, QLC+ XML): any file gives a validated profile or an
ImportFailure naming the file on one line. XML bombs, entity expansion and external entities
are refused in every encoding; the regressions below are what this fuzzing found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.fixtures.errors import ImportFailure
from engine.fixtures.importers import import_file

from .conftest import fuzz_settings
from .targets import OFL_SEED, QXF_SEED, XML_BOMB_ENCODINGS, XML_BOMBS, encode_xml, make_ofl, make_qxf


@fuzz_settings(300)
@given(rnd=st.randoms(use_true_random=False))
def test_ofl_inputs_import_or_fail_with_a_reason(check, rnd) -> None:
    assert check("ofl", make_ofl(rnd)) in ("accepted", "refused")


@fuzz_settings(300)
@given(rnd=st.randoms(use_true_random=False))
def test_qxf_inputs_import_or_fail_with_a_reason(check, rnd) -> None:
    assert check("qxf", make_qxf(rnd)) in ("accepted", "refused")


def test_the_seeds_import_cleanly(tmp_path: Path) -> None:
    # the mutations start from valid files: both seeds convert (else the fuzzing only tests refusals)
    (tmp_path / "acme").mkdir()
    (tmp_path / "acme" / "spot.json").write_text(json.dumps(OFL_SEED))
    (tmp_path / "acme" / "bar.qxf").write_text(QXF_SEED)
    ofl = import_file(tmp_path / "acme" / "spot.json")
    qxf = import_file(tmp_path / "acme" / "bar.qxf")
    assert {m.name for m in ofl.profile.modes} == {"Full", "Pixels", "Masters"}
    assert {m.name for m in qxf.profile.modes} == {"Full", "Small"}


def _import_bytes(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.mark.parametrize("encoding", XML_BOMB_ENCODINGS)
@pytest.mark.parametrize("bomb", sorted(XML_BOMBS))
def test_xml_bombs_and_external_entities_are_refused(tmp_path: Path, bomb: str, encoding: str) -> None:
    # UTF-16/32 hide '<!ENTITY' from a byte search: before defusedxml's parser a UTF-16
    # billion-laughs document was expanded (found by fuzzing).
    p = _import_bytes(tmp_path, "bomb.qxf", encode_xml(XML_BOMBS[bomb], encoding))
    with pytest.raises(ImportFailure) as info:
        import_file(p)
    msg = str(info.value)
    assert str(p) in msg and "\n" not in msg
    if encoding in ("utf-8", "utf-16"):  # encodings expat reads: refused for what they declare
        assert "refusing XML" in msg
    else:  # expat cannot read these at all (declared UTF-16-BE, UTF-32): refused as invalid
        assert "refusing XML" in msg or "invalid XML" in msg


def test_bare_doctype_as_qlcplus_writes_it_is_accepted(tmp_path: Path) -> None:
    p = _import_bytes(tmp_path, "ok.qxf", encode_xml(QXF_SEED, "utf-16"))
    assert import_file(p).profile is not None


@pytest.mark.parametrize("original, replacement", [('Min="0" Max="9"', 'Min="nan" Max="9"'),
                                                   ('Min="0" Max="9"', 'Min="0" Max="1e999"'),
                                                   ('Min="0" Max="9"', 'Min="-inf" Max="9"')])
def test_non_finite_numbers_in_qxf_are_left_out_with_a_note(tmp_path: Path, original: str, replacement: str) -> None:
    # Found by fuzzing: int(float("nan")) raised ValueError in the capability converter.
    text = QXF_SEED.replace(original, replacement, 1)
    assert text != QXF_SEED
    r = import_file(_import_bytes(tmp_path, "nan.qxf", text.encode()))
    assert any("without Min/Max" in n for n in r.notes)


def test_undecodable_encoding_declaration_is_an_import_failure(tmp_path: Path) -> None:
    p = _import_bytes(tmp_path, "enc.qxf", QXF_SEED.replace("UTF-8", "nan").encode())
    with pytest.raises(ImportFailure, match="unsupported encoding"):
        import_file(p)


def _ofl(tmp_path: Path, doc: object, name: str = "f.json") -> Path:
    folder = tmp_path / "lib" / "acme"
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return p


def _seed_with(**changes: object) -> dict:
    doc = json.loads(json.dumps(OFL_SEED))
    for dotted, value in changes.items():
        node = doc
        *parents, last = dotted.split("__")
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[int(last) if isinstance(node, list) else last] = value
    return doc


@pytest.mark.parametrize("changes, where", [
    ({"availableChannels": []}, "availableChannels: expected an object, found a list"),
    ({"modes": {"a": 1}}, "modes: expected a list"),
    ({"modes__0": "Full"}, "modes[0]: expected an object, found text"),
    ({"modes__0__channels__0": {"x": 1}}, None),  # an unknown object in a mode: converted with a note or refused
    ({"modes__0__channels__0": 5}, "modes[0].channels[0]: expected a channel name"),
    ({"availableChannels__Dimmer__fineChannelAliases": "Dimmer fine"}, "fineChannelAliases: expected a list"),
    ({"availableChannels__Strobe__capabilities__0__dmxRange": [0, "q"]}, "dmxRange: expected two non-negative numbers"),
    ({"availableChannels__Strobe__capabilities__0__dmxRange": None}, "dmxRange: expected two non-negative numbers"),
    ({"availableChannels__Function__capabilities__0__switchChannels": {"Speed / Effect": [1]}}, "switchChannels"),
    ({"wheels__Colour Wheel__slots": {"a": 1}}, "wheels.Colour Wheel.slots: expected a list"),
    ({"matrix__pixelCount": [3, 10**40, 1]}, "a number beyond"),
    ({"matrix__pixelCount": [3, 32768, 1]}, "98304 pixels (beamsync imports at most 1024)"),
    ({"matrix__pixelCount": [3, -1, 1]}, "matrix.pixelCount: expected three whole numbers"),
    ({"physical__lens__degreesMinMax": [10]}, "physical.lens.degreesMinMax"),
    ({"physical__power": 10**400}, "a number beyond"),
])
def test_malformed_ofl_is_refused_with_the_place(tmp_path: Path, changes: dict, where: str | None) -> None:
    # Found by fuzzing: wrong types reached dict/list/int operations in ~40 places of the converter.
    p = _ofl(tmp_path, _seed_with(**changes))
    if where is None:
        try:
            import_file(p)
        except ImportFailure as exc:
            assert str(p) in str(exc)
        return
    with pytest.raises(ImportFailure) as info:
        import_file(p)
    msg = str(info.value)
    assert msg.startswith(f"{p}: ") and where in msg and "\n" not in msg


@pytest.mark.parametrize("text", ["[" * 100_000, '{"a":' * 5000 + "1" + "}" * 5000,
                                  '{"modes": [], "availableChannels": {"a": ' + "[" * 40 + "1" + "]" * 40 + "}}"])
def test_deeply_nested_json_is_refused(tmp_path: Path, text: str) -> None:
    p = _ofl(tmp_path, text)
    with pytest.raises(ImportFailure, match="nested"):
        import_file(p)


def test_redirects_stay_inside_the_library_and_loops_name_the_file(tmp_path: Path) -> None:
    outside = tmp_path / "secret.json"
    outside.write_text(json.dumps(OFL_SEED))
    p = _ofl(tmp_path, {"redirectTo": "../../secret", "reason": "x"})
    with pytest.raises(ImportFailure, match="not in this library folder"):
        import_file(p)
    loop = _ofl(tmp_path, {"redirectTo": "acme/loop", "reason": "SameAsDifferentBrand"}, "loop.json")
    start = _ofl(tmp_path, {"redirectTo": "acme/loop", "reason": "SameAsDifferentBrand"}, "start.json")
    with pytest.raises(ImportFailure) as info:
        import_file(start)
    assert str(info.value).startswith(f"{start}: redirected to 'acme/loop'") and str(loop) in str(info.value)


def test_invalid_converted_profile_names_the_file(tmp_path: Path) -> None:
    # Found by fuzzing: the message of a converted profile that fails validation named no file.
    p = _ofl(tmp_path, _seed_with(availableChannels__Strobe__capabilities__1__dmxRange=[19, 10]))
    try:
        import_file(p)
    except ImportFailure as exc:
        assert str(exc).startswith(f"{p}: ")
