"""Colour helpers and the HTP/LTP merge of attribute layers."""

from __future__ import annotations

import numpy as np
import pytest

from engine.fixtures.attributes import (
    AttributeFrame,
    hex_to_linear,
    hsv_to_linear,
    kelvin_to_linear,
    linear_to_srgb,
    parse_color,
    srgb_to_linear,
)


def test_srgb_round_trip_and_known_points() -> None:
    assert srgb_to_linear([0.0, 1.0, 0.5]).tolist() == pytest.approx([0.0, 1.0, 0.21404114])
    x = np.linspace(0, 1, 11)
    assert linear_to_srgb(srgb_to_linear(x)) == pytest.approx(x)


def test_hsv_primaries_and_grey() -> None:
    assert hsv_to_linear(0, 1, 1).tolist() == [1.0, 0.0, 0.0]
    assert hsv_to_linear(120, 1, 1).tolist() == [0.0, 1.0, 0.0]
    assert hsv_to_linear(240, 1, 1).tolist() == [0.0, 0.0, 1.0]
    assert hsv_to_linear(60, 1, 1).tolist() == [1.0, 1.0, 0.0]
    assert hsv_to_linear(360 + 300, 1, 1).tolist() == [1.0, 0.0, 1.0]  # hue wraps
    grey = hsv_to_linear(77, 0, 0.5)
    assert grey.tolist() == pytest.approx([0.21404114] * 3)
    # vectorized over hues
    assert hsv_to_linear(np.array([0, 120, 240]), 1, 1).shape == (3, 3)


def test_kelvin_warm_is_red_heavy_and_cool_is_blue_heavy() -> None:
    warm, cool = kelvin_to_linear(2700), kelvin_to_linear(10000)
    assert warm.max() == pytest.approx(1.0) and cool.max() == pytest.approx(1.0)
    assert warm[0] == pytest.approx(1.0) and warm[2] < 0.2
    assert cool[2] == pytest.approx(1.0) and cool[0] < 0.9
    # around 6500 K all three primaries are close to equal
    assert kelvin_to_linear(6500).min() > 0.9


def test_parse_color_forms_and_errors() -> None:
    assert parse_color("red").tolist() == [1.0, 0.0, 0.0]
    assert parse_color("#00ff00").tolist() == [0.0, 1.0, 0.0]
    assert parse_color("Warm_White").tolist() == pytest.approx(hex_to_linear("#ffd6aa").tolist())
    assert parse_color("3200K").tolist() == pytest.approx(kelvin_to_linear(3200).tolist())
    assert parse_color([0.2, 0.4, 2.0]).tolist() == [0.2, 0.4, 1.0]
    with pytest.raises(ValueError, match="did you mean 'amber'"):
        parse_color("ambre")
    with pytest.raises(ValueError, match="three numbers"):
        parse_color([1, 2])


def test_merge_htp_intensity_ltp_rest() -> None:
    base = AttributeFrame(3, [0, 0, 2, 2])
    top = base.like()
    base.intensity[:] = [0.2, 0.9, np.nan]
    top.intensity[:] = [0.5, 0.1, np.nan]
    base.color[0] = [1, 0, 0]
    top.color[0] = [0, 0, 1]
    top.color[1] = [0, 1, 0]
    base.pan[:] = [10, 20, 30]
    top.pan[:] = [np.nan, -5, np.nan]
    base.cell_intensity[:] = [0.3, np.nan]
    top.cell_intensity[:] = [0.1, 0.4]
    base.merge(top)
    assert base.intensity[:2].tolist() == pytest.approx([0.5, 0.9])  # highest wins
    assert np.isnan(base.intensity[2])  # nobody set it
    assert base.color[0].tolist() == [0, 0, 1]  # latest wins
    assert base.color[1].tolist() == [0, 1, 0]
    assert np.isnan(base.color[2]).all()
    assert base.pan.tolist() == [10, -5, 30]  # NaN in the layer leaves the value
    assert base.cell_intensity.tolist() == pytest.approx([0.3, 0.4])
    assert base.cells(1) == slice(0, 2)


def test_frames_of_different_shape_do_not_merge() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        AttributeFrame(2).merge(AttributeFrame(3))
    with pytest.raises(ValueError, match="cell_offsets"):
        AttributeFrame(2, [0, 3, 1])


def test_clear_and_copy() -> None:
    a = AttributeFrame(2)
    a.intensity[:] = 1
    b = a.like()
    b.copy_from(a)
    assert b.intensity.tolist() == [1, 1]
    b.clear()
    assert np.isnan(b.intensity).all()
