"""The stage renderer draws any (patch, FixtureView) without an engine: colours, intensity, blackout,
beams and pixel cells land where the patch puts the fixtures."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QRectF

from engine.live.telemetry import FixtureView
from engine.show.loader import load_show
from engine.ui.stage import StageRenderer, display_colours, linear_to_srgb, render_stage_image

_spec = importlib.util.spec_from_file_location("ui_helpers", Path(__file__).with_name("helpers.py"))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

SHOW = """\
show: stage test
outputs:
  - {type: sacn, name: t, universes: [1], destinations: [127.0.0.1], port: 9}
fixtures:
  - {name: red par, profile: led-par-rgbw, mode: 7ch, universe: 1, address: 1, position: [-3, 0, 3]}
  - {name: blue par, profile: led-par-rgbw, mode: 7ch, universe: 1, address: 11, position: [0, 0, 3]}
  - {name: dark par, profile: led-par-rgbw, mode: 7ch, universe: 1, address: 21, position: [3, 0, 3]}
  - {name: mover, profile: spot-moving-head, mode: 14ch, universe: 1, address: 101, position: [0, 3, 6]}
  - {name: bar, profile: pixel-bar-12-rgbw, mode: 48ch, universe: 1, address: 201, position: [0, 2, 1]}
looks:
  x:
    - group: all
      intensity: 1
layers:
  - {name: main, look: x}
"""
SIZE = (800, 500)
pytestmark = pytest.mark.usefixtures("qapp")  # fonts and painting need a QGuiApplication


@pytest.fixture(scope="module")
def patch(tmp_path_factory):
    p = tmp_path_factory.mktemp("stage") / "show.yaml"
    p.write_text(SHOW)
    return load_show(p).patch


def view(patch, *, bar_colour=(0.0, 1.0, 0.0)) -> FixtureView:
    n, c = patch.n_fixtures, patch.n_cells
    nan = np.full(n, np.nan, np.float32)
    intensity = np.array([1.0, 1.0, np.nan, 1.0, 1.0], np.float32)
    colour = np.array([[1, 0, 0], [0, 0, 1], [1, 1, 1], [1, 1, 1], [np.nan] * 3], np.float32)
    pan, tilt = nan.copy(), nan.copy()
    pan[3], tilt[3] = 0.0, -30.0  # towards the audience
    cell_i = np.linspace(0.2, 1.0, c).astype(np.float32)
    cell_c = np.tile(np.array(bar_colour, np.float32), (c, 1))
    return FixtureView(1, intensity, colour, pan, tilt, nan.copy(), np.zeros(n, np.float32), cell_i, cell_c)


def pixel(arr, xy) -> np.ndarray:
    x, y = int(round(xy[0])), int(round(xy[1]))
    return arr[y, x].astype(int)


def test_colour_conversion():
    assert np.allclose(linear_to_srgb(np.array([0.0, 1.0, 0.0031308])), [0.0, 1.0, 0.0404492], atol=1e-6)
    d = display_colours(np.array([1.0, 0.5, np.nan]), np.array([[1, 0, 0], [1, 1, 1], [1, 1, 1]]))
    assert d.tolist() == [[255, 0, 0], [188, 188, 188], [0, 0, 0]]  # 0.5 linear = sRGB 188


def test_fixtures_are_drawn_at_their_positions_in_their_colours(patch):
    v = view(patch)
    arr = helpers.to_array(render_stage_image(patch, v, SIZE))
    centres = StageRenderer(patch).pixel_positions(QRectF(0, 0, *SIZE))
    assert pixel(arr, centres[0]).tolist() == [255, 0, 0]
    assert pixel(arr, centres[1]).tolist() == [0, 0, 255]
    assert pixel(arr, centres[2]).max() < 30  # intensity not set: dark
    # pixel cells: green, brighter along the bar
    cells = StageRenderer(patch).pixel_positions(QRectF(0, 0, *SIZE), patch.cell_positions)
    g = [pixel(arr, p) for p in cells]
    assert all(c[1] > 3 * max(c[0], c[2]) + 20 for c in g)
    assert g[-1][1] > g[0][1]


def test_master_and_blackout_scale_what_is_drawn(patch):
    v = view(patch)
    centres = StageRenderer(patch).pixel_positions(QRectF(0, 0, *SIZE))
    half = helpers.to_array(render_stage_image(patch, v, SIZE, dimmer=0.5))
    assert pixel(half, centres[0]).tolist() == [188, 0, 0]
    dark = helpers.to_array(render_stage_image(patch, v, SIZE, blackout=True))
    for c in centres[:2]:
        assert pixel(dark, c).max() < 30
    assert helpers.saturated_pixels(dark, min_chroma=120, min_value=120) < 3000  # only the BLACKOUT caption


def test_a_mover_draws_its_beam_towards_where_it_points(patch):
    r = StageRenderer(patch)
    d = r.beam_direction(0.0, -30.0)
    assert d[2] < 0 and d[1] < 0 and abs(d[0]) < 1e-9  # down and towards the audience
    v = view(patch)
    lit = helpers.to_array(render_stage_image(patch, v, SIZE))
    off = view(patch)
    off.intensity[3] = 0.0
    unlit = helpers.to_array(render_stage_image(patch, off, SIZE))
    # halfway along the beam (mover → floor) the image is brighter with the mover on
    rect = QRectF(0, 0, *SIZE)
    pos = patch.positions[3].astype(float)
    mid = pos + d * (pos[2] / -d[2]) * 0.5
    p = r.pixel_positions(rect, mid[None, :])[0]
    assert pixel(lit, p).sum() > pixel(unlit, p).sum() + 60


def test_plan_projection_and_bad_projection(patch):
    img = helpers.to_array(render_stage_image(patch, view(patch), SIZE, projection="plan"))
    assert helpers.saturated_pixels(img) > 200
    with pytest.raises(ValueError, match="projection"):
        StageRenderer(patch, "side")
