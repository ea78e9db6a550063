"""Model files missing or corrupt, and a model that fails while the show runs.

At start: the engine refuses to start with one clear message naming the file (no traceback,
no half-running show). While running: an analyser whose network fails is restarted, and after
three failures within a minute of audio it falls back to its model-free DSP mode where one
exists (the stem separator) instead of going off; the show keeps its features.
(Missing/broken separation and note models at construction are tested in
tests/separation/test_separation.py and tests/notes/.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.audio.filesource import FileSource
from engine.live.engine import EngineError, LiveEngine

SR = 48000
SHOW = """\
outputs: [{type: sacn, name: t, universes: [1], destinations: [127.0.0.1], port: 45871}]
fixtures: [{name: d, profile: generic-dimmer, universe: 1, address: 1}]
looks: {main: [{group: d, pulse: {trigger: onset, decay: 60ms}}]}
layers: [{name: base, look: main}]
"""


@pytest.mark.parametrize("damage", ["missing", "corrupt", "truncated"])
def test_a_bad_beat_model_stops_the_start_with_a_message_naming_the_file(tmp_path: Path, damage: str) -> None:
    from engine.analysis.activations import DEFAULT_MODEL

    model = tmp_path / "beat.onnx"
    if damage == "corrupt":
        model.write_bytes(b"\x08\x07not an onnx graph" * 64)
    elif damage == "truncated":
        model.write_bytes(Path(DEFAULT_MODEL).read_bytes()[:5000])
    show = tmp_path / "show.yaml"
    show.write_text(SHOW)
    src = FileSource(samples=np.zeros(SR, np.float32), sample_rate=SR, realtime=False)
    engine = LiveEngine(show, src, mode="thread", analysis={"beat_model": str(model)})
    with pytest.raises(EngineError) as info:
        engine.start(timeout=60)
    engine.close()
    text = str(info.value)
    assert str(model) in text, text
    assert ("not found" if damage == "missing" else "not a usable beat model") in text, text
    assert "engine worker failed" not in text  # a clear error, not an internal failure
    assert "\n" not in text  # one line for the CLI


class _FailingSession:
    """Stands in for an onnxruntime session that starts failing mid-show."""

    def __init__(self) -> None:
        self.calls = 0

    def run(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        self.calls += 1
        raise RuntimeError("onnxruntime: simulated failure while running")

    def get_inputs(self):  # noqa: ANN201
        return []


def test_a_separation_network_failing_while_running_falls_back_to_dsp_and_drums_keep_coming() -> None:
    from engine.analysis.pipeline import AnalysisOptions
    from engine.analysis.stems import StemAnalyser
    from engine.audio.demo import demo_clip
    from engine.live.core import EngineCore
    from engine.show.loader import load_show

    clip = demo_clip(SR).samples[: SR * 12].astype(np.float32)
    src = FileSource(samples=clip, sample_rate=SR, block_size=512, realtime=False)
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        show = Path(d) / "show.yaml"
        show.write_text(SHOW)
        core = EngineCore(src, load_show(show), start_outputs=False,
                          analysis=AnalysisOptions(stems=True, structure=False))
    stem = next(a for a in core.pipeline.analysers if isinstance(a, StemAnalyser))
    if stem.kind != "OnnxMaskModel":
        pytest.skip(f"the separation network is not installed here (running {stem.kind})")
    core.events_log = []
    with src:
        core.run_fixed(until_frame=SR * 4)  # the network works for 4 s
        broken = _FailingSession()
        stem._inner.model.session = broken  # then onnxruntime fails on every call
        core.run_fixed()
    assert broken.calls == 3  # two restarts, then the fallback
    assert core.fallbacks == ["StemAnalyser: DSP separator"], core.fallbacks
    assert stem.kind == "DspMaskModel" and core.analyser_crashes == 3
    assert not core.disabled_analysers  # still running, on DSP
    later = [e for e in core.events_log if e.time > SR * 5 and e.name == "onset" and e.data.get("stem") == "drums"]
    assert {e.data.get("label") for e in later} >= {"kick"}, "no drum hits after the fallback"
    assert any(e.name == "level.drums" and e.time > SR * 5 for e in core.events_log)
