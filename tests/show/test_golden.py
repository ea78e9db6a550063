"""Golden DMX: a recorded feature stream through each example show gives byte-identical frames.

The test records a deterministic feature stream to JSON (in tmp_path), reads it back, replays
it through the show in fixed steps twice (the runs must agree byte for byte) and compares with
``tests/show/golden/<show>.txt``: a digest of every block of 100 frames plus readable hex dumps
of sampled frames, so a change in behaviour shows as a readable diff. After an intended
change, regenerate with ``BEAMSYNC_UPDATE_GOLDEN=1 pytest tests/show/test_golden.py``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from engine.show.loader import load_show
from engine.show.runtime import ShowRuntime
from engine.show.stream import load_stream, save_stream, synthetic_stream

from .conftest import SHOWS

GOLDEN = Path(__file__).parent / "golden"
SECONDS = 12.0
SAMPLE_EVERY = 60
BLOCK = 100
EXAMPLES = ["club-edm", "rock-band", "ambient", "pixel-bar", "starter"]


def render_all(show, frames) -> tuple[list[bytes], tuple[int, ...], np.ndarray]:
    rt = ShowRuntime(show)
    out = [rt.render(f).data.tobytes() for f in frames]
    used = np.zeros((len(rt.dmx.universes), 512), dtype=bool)
    for fx in show.patch.fixtures:
        row = rt.dmx.row(fx.universe)
        used[row, fx.address - 1: fx.address - 1 + fx.footprint] = True
    return out, rt.dmx.universes, used


def golden_text(name: str, frames: list[bytes], universes: tuple[int, ...], used: np.ndarray) -> str:
    lines = [
        f"# beamsync golden DMX: shows/{name}.yaml over synthetic_stream({SECONDS}) at 100 frames/s",
        "# regenerate after an intended change: BEAMSYNC_UPDATE_GOLDEN=1 pytest tests/show/test_golden.py",
        f"frames {len(frames)} universes {' '.join(map(str, universes))}",
    ]
    for start in range(0, len(frames), BLOCK):
        block = frames[start:start + BLOCK]
        digest = hashlib.sha256(b"".join(block)).hexdigest()[:32]
        lines.append(f"digest {start:04d}-{start + len(block) - 1:04d} {digest}")
    for k in range(0, len(frames), SAMPLE_EVERY):
        data = np.frombuffer(frames[k], dtype=np.uint8).reshape(len(universes), 512)
        for row, u in enumerate(universes):
            slots = np.flatnonzero(used[row])
            if not len(slots):
                continue
            last = int(slots[-1]) + 1
            for a in range(0, last, 32):
                chunk = data[row, a:min(a + 32, last)]
                lines.append(f"f{k:04d} u{u} {a + 1:03d}: " + " ".join(f"{b:02x}" for b in chunk))
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> list:
    path = tmp_path_factory.mktemp("stream") / "features.json"
    save_stream(path, synthetic_stream(SECONDS), 48000)
    return load_stream(path)


def test_recorded_stream_round_trips(recorded):
    direct = synthetic_stream(SECONDS)
    assert len(recorded) == len(direct) == int(SECONDS * 100)
    for a, b in zip(recorded[::97], direct[::97]):
        assert a.frame == b.frame and a.values == b.values and a.clock == b.clock
        assert [(e.name, e.time, e.data) for e in a.events] == [(e.name, e.time, e.data) for e in b.events]


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_show_matches_golden_dmx(recorded, name: str):
    show = load_show(SHOWS / f"{name}.yaml")
    first, universes, used = render_all(show, recorded)
    second, _, _ = render_all(load_show(SHOWS / f"{name}.yaml"), recorded)
    assert first == second, "two runs over the same stream differ"
    assert len(set(first)) > 10, "the show does not react to the stream"
    text = golden_text(name, first, universes, used)
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("BEAMSYNC_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden file {path}; create it with BEAMSYNC_UPDATE_GOLDEN=1"
    expected = path.read_text()
    if text != expected:
        import difflib

        diff = "".join(list(difflib.unified_diff(expected.splitlines(True), text.splitlines(True),
                                                 "golden", "now", n=0))[:60])
        pytest.fail(f"DMX output of {name} changed (first lines of the diff):\n{diff}")
