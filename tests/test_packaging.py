"""A wheel install finds the models, fixture profiles and example shows (not only a checkout).

Builds the wheel from this checkout, installs it without dependencies into a fresh venv and asks
the *installed* ``engine.resources`` where the files are: they must resolve under the venv's
``share/beamsync``, not under the source tree.
"""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from engine.resources import KINDS, resource_dir

REPO = Path(__file__).resolve().parents[1]

SHIPPED = [
    ("models", "beatnet/beatnet_crnn.onnx"),
    ("models", "beatnet/beatnet_crnn_ensemble.onnx"),  # the default beat model
    ("models", "beatnet/MODEL_CARD.md"),
    ("models", "separation/beamsync_sep.onnx"),
    ("fixtures", "led-par-rgb.yaml"),
    ("fixtures", "profile.schema.json"),
    ("shows", "club-edm.yaml"),
    ("shows", "rigs/club-rig.yaml"),
    ("shows", "show.schema.json"),
]


def test_checkout_resources_resolve_beside_engine():
    for kind in KINDS:
        assert resource_dir(kind) == REPO / kind


def test_installed_copy_is_found_under_prefix(tmp_path: Path):
    root = tmp_path / "no-checkout"
    prefix = tmp_path / "prefix"
    (prefix / "share" / "beamsync" / "models").mkdir(parents=True)
    assert resource_dir("models", source_root=root, prefixes=[prefix]) == prefix / "share" / "beamsync" / "models"
    # Neither present: the checkout path comes back, so errors name where a developer looks.
    assert resource_dir("shows", source_root=root, prefixes=[prefix]) == root / "shows"
    with pytest.raises(ValueError, match="unknown resource kind"):
        resource_dir("weights")


def test_wheel_ships_resources_and_installed_engine_finds_them(tmp_path: Path):
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels)],
        capture_output=True, text=True, timeout=240,
    )
    if build.returncode != 0 and "No module named pip" in build.stderr:
        pytest.skip("pip is not available in this interpreter")
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheels.glob("beamsync-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for kind, rel in SHIPPED:
        assert any(n.endswith(f".data/data/share/beamsync/{kind}/{rel}") for n in names), (kind, rel)
    assert not any(n.endswith(".pt") or "/train.py" in n for n in names), "training files must not ship"

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    inst = subprocess.run(
        # --ignore-installed: without it pip, seeing beamsync installed in *this* environment (the
        # developer's editable install), uninstalls it first, and the test run loses its command
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile", "--ignore-installed", "--prefix",
         str(env_dir), str(wheel)],
        capture_output=True, text=True, timeout=240,
    )
    assert inst.returncode == 0, inst.stderr[-2000:]
    probe = (
        "import engine.resources as r, sys\n"
        "print(r.__file__)\n"
        f"for kind, rel in {SHIPPED!r}:\n"
        "    p = r.resource_path(kind, *rel.split('/'))\n"
        "    print(p)\n"
        "    assert p.is_file(), p\n"
        "    assert str(p).startswith(sys.prefix), p\n"
    )
    run = subprocess.run([str(py), "-I", "-c", probe], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert str(env_dir) in run.stdout.splitlines()[0], "the installed engine, not the checkout, must be imported"
