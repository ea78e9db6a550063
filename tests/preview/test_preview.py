"""Offline preview: the real engine over the demo clip, drawn to frames, a video and a timeline.

The PNGs (frames around beats, the timeline, the analysis plot) go to a folder the tests print
(``-s`` shows it), so a person can look at them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

from engine.audio.demo import demo_clip  # noqa: E402
from engine.preview import PreviewError  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
STARTER = ROOT / "shows" / "starter.yaml"
SECONDS = 8.0
FPS = 25.0
SIZE = (320, 180)


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("preview-pngs")
    print(f"\npreview test pictures: {d}")
    return d


@pytest.fixture(scope="module")
def clip() -> tuple[np.ndarray, int]:
    c = demo_clip()
    return c.samples[: int(SECONDS * c.sample_rate)].copy(), c.sample_rate


@pytest.fixture(scope="module")
def wav(clip, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import soundfile as sf

    p = tmp_path_factory.mktemp("audio") / "demo.wav"
    sf.write(p, clip[0], clip[1])
    return p


def _raw_run(clip, show_path: Path = STARTER, **kw):
    """Frames (as arrays, before encoding), the recording and the renderer of one run."""
    from engine.preview.frames import FrameRenderer
    from engine.preview.record import run_preview
    from engine.show.loader import load_show

    samples, sr = clip
    show = load_show(show_path)
    renderer = FrameRenderer(show.patch, SIZE, samples=samples, sample_rate=sr)
    frames: list[np.ndarray] = []
    states = []

    def on_stage(state):
        states.append(state)
        frames.append(renderer.render_rgb(state))

    rec = run_preview(show, samples, sr, fps=FPS, on_stage=on_stage, **kw)
    return np.stack(frames), rec, renderer, states


@pytest.fixture(scope="module")
def raw(clip):
    return _raw_run(clip)


def _save(rgb: np.ndarray, path: Path) -> None:
    from PySide6.QtGui import QImage

    h, w, _ = rgb.shape
    assert QImage(np.ascontiguousarray(rgb).tobytes(), w, h, 3 * w, QImage.Format_RGB888).save(str(path))


def _stage_diffs(frames: np.ndarray, stage_height: int) -> np.ndarray:
    """Mean absolute change of the stage area from the previous frame (frame 0: 0)."""
    f = frames[:, :stage_height].astype(np.int16)
    return np.concatenate([[0.0], np.abs(np.diff(f, axis=0)).mean(axis=(1, 2, 3))])


def test_one_frame_per_video_tick_and_every_state_on_the_grid(raw):
    frames, rec, renderer, states = raw
    assert frames.shape == (int(SECONDS * FPS), SIZE[1], SIZE[0], 3)
    assert [s.index for s in states] == list(range(len(states)))
    np.testing.assert_allclose([s.time for s in states], np.arange(len(states)) / FPS)
    # each state shows the show frame nearest its time: one show frame per 1/FPS, give or take
    # one show period (the starter show runs at 100 Hz)
    shown = np.array([s.view.frame for s in states[1:]]) / rec.sample_rate
    steps = np.diff(shown)
    assert np.all(np.abs(steps - 1.0 / FPS) <= 0.01 + 1e-6)


def test_frames_change_on_the_shows_beats(raw, out_dir):
    frames, rec, renderer, _ = raw
    d = _stage_diffs(frames, int(renderer.stage_rect.height()))
    beats = rec.show_beats
    assert len(beats) >= 10, "the show should fire a beat every ~0.48 s of the demo clip"
    # peaks: frames that change clearly more than both neighbours' typical decay steps
    threshold = 4 * np.median(d[d > 0])
    peaks = np.flatnonzero(d > threshold)
    beat_frames = np.round(beats * FPS).astype(int)
    beat_frames = beat_frames[(beat_frames > 0) & (beat_frames < len(frames))]
    for b in beat_frames:  # every beat makes the picture jump within one frame
        near = peaks[np.abs(peaks - b) <= 1]
        assert len(near), f"no change peak within one frame of the show's beat at frame {b}: {np.round(d[b - 2:b + 3], 2)}"
    for k in peaks:  # and the picture jumps nowhere else
        assert np.min(np.abs(beat_frames - k)) <= 1, f"frame {k} changes ({d[k]:.2f}) away from every beat"
    # the analysis beats the show follows line up with them too (after the tracker's first beat)
    analysis = np.array([e.time / rec.sample_rate for e in rec.events if e.name == "beat"])
    assert len(analysis) >= 8
    for t in analysis[analysis < SECONDS - 0.1]:
        assert np.min(np.abs(beats - t)) <= 1.0 / FPS
    b = int(beat_frames[len(beat_frames) // 2])
    for k in (b - 1, b, b + 3):
        _save(frames[k], out_dir / f"frame-{k:03d}{'-beat' if k == b else ''}.png")


def test_same_input_gives_identical_frames(raw, clip):
    frames, rec, _, _ = raw
    again, rec2, _, _ = _raw_run(clip)
    np.testing.assert_array_equal(frames, again)
    np.testing.assert_array_equal(rec.lit, rec2.lit)
    np.testing.assert_array_equal(rec.show_beats, rec2.show_beats)


def test_render_command_writes_video_with_audio_and_timeline(wav, raw, out_dir, tmp_path, capsys):
    from engine.cli import main
    from engine.preview.video import read_video

    video, timeline = tmp_path / "preview.mp4", out_dir / "timeline-starter.png"
    rc = main(["render", str(STARTER), str(wav), "-o", str(video), "--timeline", str(timeline),
               "--size", f"{SIZE[0]}x{SIZE[1]}", "--fps", str(FPS), "--start", "2", "--duration", "4"])
    assert rc == 0
    assert "wrote" in capsys.readouterr().err
    meta, frames = read_video(video)
    assert meta["size"] == SIZE
    assert meta["fps"] == FPS
    assert meta["audio_codec"] == "aac"
    assert len(frames) == int(4 * FPS)
    assert abs(meta["duration"] - 4.0) < 0.1
    # The video shows the same pictures as the raw frames of the whole run from 2 s on
    # (H.264 is lossy: close, not equal).
    raw_frames = raw[0][int(2 * FPS): int(6 * FPS)]
    err = np.abs(np.stack(frames).astype(np.int16) - raw_frames.astype(np.int16)).mean()
    assert err < 3.0, f"decoded video differs from the drawn frames by {err:.2f} on average"
    # encoding is reproducible too: the same command gives the same bytes
    again = tmp_path / "again.mp4"
    assert main(["render", str(STARTER), str(wav), "-o", str(again), "--size", f"{SIZE[0]}x{SIZE[1]}",
                 "--fps", str(FPS), "--start", "2", "--duration", "4", "--quiet"]) == 0
    assert again.read_bytes() == video.read_bytes()
    # the plan view is another picture of the same show
    plan = tmp_path / "plan.mp4"
    assert main(["render", str(STARTER), str(wav), "-o", str(plan), "--size", f"{SIZE[0]}x{SIZE[1]}",
                 "--fps", str(FPS), "--start", "2", "--duration", "1", "--view", "plan", "--quiet"]) == 0
    _, plan_frames = read_video(plan)
    assert len(plan_frames) == int(FPS)
    assert np.abs(plan_frames[0].astype(int) - frames[0].astype(int)).mean() > 1.0


PULSE_SHOW = """
show: Pulse
fixtures:
  - {name: par, profile: led-par-rgb, mode: 5ch, universe: 1, address: 1, count: 4}
  - {name: spare, profile: led-par-rgb, mode: 5ch, universe: 1, address: 40}
groups:
  pars: [par 1, par 2, par 3, par 4]
looks:
  main:
    - group: pars
      colour: red
      pulse: {decay: 1/4 beat, floor: 0}
layers:
  - {name: main, look: main}
"""


def test_timeline_has_analysis_lanes_and_lit_group_lanes(clip, out_dir, tmp_path):
    from PySide6.QtGui import QImage

    from engine.preview.plot import LABEL_W
    from engine.preview.qt import image_to_rgb
    from engine.preview.timeline import render_timeline

    show = tmp_path / "pulse.yaml"
    show.write_text(PULSE_SHOW)
    _, rec, _, _ = _raw_run(clip, show)
    path = out_dir / "timeline-pulse.png"
    lanes = render_timeline(rec, path, width=900)
    names = [n for n, _, _ in lanes]
    for want in ("level", "beats / downbeats", "onsets", "group:pars", "layer main"):
        assert want in names, names
    img = image_to_rgb(QImage(str(path)))
    background = np.array([12, 12, 14])
    by_name = {n: (top, h) for n, top, h in lanes}
    for name in ("level", "beats / downbeats", "onsets"):
        top, h = by_name[name]
        region = img[top: top + h, 130:-10]
        assert np.any(np.abs(region.astype(int) - background).sum(axis=2) > 60), f"lane {name} is blank"
    # the pars lane: lit (non-black) exactly where the show lights the pars
    top, h = by_name["group:pars"]
    plot_w = 900 - LABEL_W - 8
    row = img[top + 2, LABEL_W:LABEL_W + plot_w].astype(int)  # first fixture's row, the plot columns
    lit = rec.lit[:, 0].max(axis=1)
    cols = ((rec.times - rec.start) / (rec.end - rec.start) * plot_w).astype(int).clip(0, plot_w - 1)
    # what each column should show: the brightest sample in it (or in the last column with one)
    expected = np.full(plot_w, np.nan)
    np.fmax.at(expected, cols, lit)
    for k in range(1, plot_w):
        if np.isnan(expected[k]):
            expected[k] = expected[k - 1]
    on, off = expected > 0.05, expected == 0.0
    assert on.sum() > 100 and off.sum() > 100  # flashes on the beats, dark in between
    assert np.all(row[on].sum(axis=1) > 30), "a lit moment is drawn dark"
    assert np.all(row[off].sum(axis=1) == 0), "a dark moment is drawn lit"
    top, h = by_name["group:other"]  # the spare par: never lit, drawn black
    assert not img[top + 1: top + h - 1, LABEL_W:LABEL_W + plot_w].any()


def test_group_lanes_show_the_finest_grouping():
    from engine.preview.timeline import group_lanes

    names = [f"f{i}" for i in range(7)]
    groups = {"pars": np.array([0, 1, 2, 3]), "left": np.array([0, 1]), "right": np.array([2, 3]),
              "movers": np.array([4, 5])}
    got = [(n, i.tolist()) for n, i in group_lanes(names, groups)]
    assert got == [("left", [0, 1]), ("right", [2, 3]), ("movers", [4, 5]), ("other", [6])]


def test_club_show_frame_draws_beams_glow_and_cells(clip, out_dir):
    frames, rec, renderer, states = _raw_run(clip, ROOT / "shows" / "club-edm.yaml", start=6.0, duration=0.4)
    assert len(frames) == 10
    stage = frames[:, : int(renderer.stage_rect.height())]
    assert stage.reshape(-1, 3).max(axis=0).min() > 150  # bright light somewhere on stage
    _save(frames[-1], out_dir / "club-edm-frame.png")


def test_plot_analysis_draws_the_lanes_of_an_analyze_document(clip, out_dir):
    from engine.analysis.analyze import analyze_samples
    from engine.preview.plot import plot_analysis

    samples, sr = clip
    doc = json.loads(json.dumps(analyze_samples(samples, sr).to_json()))
    lanes = plot_analysis(doc, out_dir / "analysis.png")
    assert {"beats / downbeats", "onsets"} <= set(lanes)
    assert (out_dir / "analysis.png").stat().st_size > 2000
    with pytest.raises(PreviewError, match="not an analyze document"):
        plot_analysis({"beats": [{"time": 1.0}]}, out_dir / "bad.png")


@pytest.mark.parametrize("size", ["640", "0x0", "641x360", "axb"])
def test_bad_size_is_a_clear_error(size):
    from engine.preview.frames import parse_size

    with pytest.raises(PreviewError, match="--size"):
        parse_size(size)


def test_bad_options_exit_2_with_one_line(wav, tmp_path, capsys):
    from engine.cli import main

    assert main(["render", str(STARTER), str(wav), "-o", str(tmp_path / "x.mp4"), "--start", "99"]) == 2
    err = capsys.readouterr().err
    assert "--start 99" in err and "8.00 s long" in err and "Traceback" not in err
    assert main(["render", str(STARTER), str(wav)]) == 2
    assert "nothing to render" in capsys.readouterr().err
    assert main(["render", str(STARTER), str(wav), "-o", str(tmp_path / "no" / "x.mp4")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "shows").glob("*.yaml")))
def test_every_example_show_renders_a_frame_and_a_timeline(name, clip, out_dir):
    from engine.preview.timeline import render_timeline

    short = (clip[0][: int(3.0 * clip[1])], clip[1])
    frames, rec, renderer, states = _raw_run(short, ROOT / "shows" / f"{name}.yaml", start=2.0)
    assert len(frames) == int(1.0 * FPS)
    _save(frames[-1], out_dir / f"example-{name}.png")
    lanes = render_timeline(rec, out_dir / f"example-{name}-timeline.png", width=600)
    assert any(n.startswith("group:") for n, _, _ in lanes)


def test_analyze_plot_option_draws_the_lanes(wav, out_dir, tmp_path):
    from engine.cli import main
    from engine.preview.plot import plot_analysis

    doc_path, png = tmp_path / "a.json", out_dir / "analyze-plot.png"
    assert main(["analyze", str(wav), "--json", str(doc_path), "--notes", "--plot", str(png), "--quiet"]) == 0
    assert png.stat().st_size > 2000
    doc = json.loads(doc_path.read_text())
    lanes = plot_analysis(doc, tmp_path / "again.png")
    assert {"beats / downbeats", "onsets", "sections"} <= set(lanes)
    assert ("notes" in lanes) == bool(doc["notes"])
    assert (tmp_path / "again.png").read_bytes() == png.read_bytes()


def test_notes_and_every_lane_of_a_full_document(tmp_path):
    from engine.preview.plot import plot_analysis

    doc = {"duration": 4.0,
           "beats": [{"time": 0.5 * k, "position": k % 4 + 1} for k in range(8)],
           "tempo": [{"time": 1.0, "bpm": 120.0}, {"time": 3.0, "bpm": 121.0}],
           "onsets": [{"time": 0.5 * k, "stem": "drums", "label": "kick"} for k in range(8)],
           "sections": [{"time": 0.0, "kind": "music_start"}, {"time": 2.0, "kind": "drop"}],
           "notes": [{"onset": 0.5, "offset": 1.0, "pitch": 60}, {"onset": 1.0, "offset": 2.5, "pitch": 67}]}
    lanes = plot_analysis(doc, tmp_path / "full.png", width=800)
    assert lanes == ["beats / downbeats", "onsets", "sections", "notes", "tempo 120–121"]


def test_strobing_fixtures_flash_at_their_rate_in_the_video():
    from engine.live.telemetry import FixtureView
    from engine.preview.frames import FrameRenderer
    from engine.preview.record import StageState
    from engine.show.loader import load_show

    patch = load_show(STARTER).patch
    n = patch.n_fixtures
    r = FrameRenderer(patch, (320, 180))
    nan = np.full(n, np.nan, np.float32)
    strobe = np.zeros(n, np.float32)
    strobe[0] = 5.0  # par 1 strobes at 5 Hz, the others burn steadily
    view = FixtureView(0, np.ones(n, np.float32), np.ones((n, 3), np.float32), nan, nan, nan, strobe,
                       np.zeros(0, np.float32), np.zeros((0, 3), np.float32))
    px = r.stage.pixel_positions(r.stage_rect).round().astype(int)

    def brightness(t: float) -> np.ndarray:
        img = r.render_rgb(StageState(0, t, view, 1.0, False, {}, 120.0))
        return np.array([int(img[y, x].sum()) for x, y in px])

    on, off = brightness(0.05), brightness(0.15)  # 5 Hz: on for 0..0.1 s, off for 0.1..0.2 s
    assert on[0] > 600 and off[0] < 100
    np.testing.assert_array_equal(on[1:], off[1:])
    assert on[1:].min() > 600
