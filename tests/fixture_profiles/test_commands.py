"""``beamsync fixtures ...`` commands, run in-process."""

from __future__ import annotations

import json
from pathlib import Path

from engine.cli import main
from engine.fixtures.profile import PROJECT_FIXTURES, load_profile

from .test_importers import OFL_BAR, QXF, _write_ofl


def test_import_writes_profiles_that_load_back_and_reports(tmp_path: Path, capsys) -> None:
    ofl = _write_ofl(tmp_path, "acme", "test-bar", OFL_BAR)
    qxf = tmp_path / "Acme-Quad-Bar.qxf"
    qxf.write_text(QXF)
    broken = tmp_path / "broken.qxf"
    broken.write_text("<FixtureDefinition><Channel></FixtureDefinition>")
    out = tmp_path / "profiles"
    rc = main(["fixtures", "import", str(ofl), str(qxf), str(broken), "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 1  # one file failed
    assert f"imported: {ofl} -> {out / 'acme-test-bar.yaml'}, 3 mode(s)" in text
    assert f"imported with 2 note(s): {qxf} -> {out / 'acme-quad-bar.yaml'}, 2 mode(s)" in text
    assert "    - channel 'Hue': a hue channel has no beamsync attribute, held at default" in text
    assert f"failed    {broken}:1:" in text and "invalid XML" in text
    assert text.rstrip().endswith("1 imported cleanly, 1 with warnings, 1 failed")
    bar = load_profile(out / "acme-test-bar.yaml")
    assert bar.mode("12ch").cells == 4
    quad = load_profile(out / "acme-quad-bar.yaml")
    assert quad.notes and quad.source.startswith("QLC+:")
    # a second run does not overwrite unless asked
    rc = main(["fixtures", "import", str(ofl), "--out", str(out)])
    assert "skipped" in capsys.readouterr().out and rc == 0
    rc = main(["fixtures", "import", str(ofl), "--out", str(out), "--force", "--quiet"])
    assert capsys.readouterr().out.strip() == "1 imported cleanly, 0 with warnings, 0 failed"


def test_list_show_check_and_schema(tmp_path: Path, capsys) -> None:
    assert main(["fixtures", "list"]) == 0
    listing = capsys.readouterr().out
    assert "spot-moving-head" in listing and "14ch (14)" in listing
    assert main(["fixtures", "show", "pixel-bar-8", "--mode", "26ch"]) == 0
    shown = capsys.readouterr().out
    assert "mode '26ch': 26 slots, 8 cells" in shown and "   26  blue cell 8: blue" in shown
    assert main(["fixtures", "show", "spot-moving-hed"]) == 2
    assert "did you mean 'spot-moving-head'" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nchannels: {}\nmodes: []\n")
    good = PROJECT_FIXTURES / "led-par-rgb.yaml"
    assert main(["fixtures", "check", str(bad), str(good)]) == 1
    out = capsys.readouterr().out
    assert "bad.yaml:2:1: error at channels: {} should be non-empty" in out and f"ok        {good}" in out
    assert main(["fixtures", "schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "beamsync fixture profile"
