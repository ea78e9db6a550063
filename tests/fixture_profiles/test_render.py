"""Attribute rendering: known attribute values -> exact DMX bytes."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from engine.fixtures.attributes import kelvin_to_linear, parse_color, srgb_to_linear
from engine.output.frame import DmxFrame

from .conftest import rig, slots


def test_16bit_dimmer_splits_coarse_and_fine() -> None:
    patch, r = rig(
        {"name": "d", "profile": "generic-dimmer-16bit", "address": 1, "count": 5},
        {"name": "e", "profile": "generic-dimmer-16bit", "mode": "8-bit", "address": 11},
    )
    a, f = r.new_attributes(), r.new_frame()
    a.intensity[:] = [1.0, 0.5, 0.25, 300 / 65535, 0.0, 0.5]
    r.render(a, f)
    assert slots(f, 1, 1, 11) == [255, 255, 128, 0, 64, 0, 1, 44, 0, 0, 128]


def test_pan_tilt_degrees_to_16bit_with_range_clip_and_inversion() -> None:
    patch, r = rig(
        {"name": "s", "profile": "spot-moving-head", "address": 1, "count": 5},
        {"name": "inv", "profile": "spot-moving-head", "address": 101, "invert_pan": True, "invert_tilt": True},
        {"name": "lo", "profile": "spot-moving-head", "mode": "9ch", "address": 201},
    )
    a, f = r.new_attributes(), r.new_frame()
    a.pan[:] = [0, 270, -270, 400, 90, 90, 90]
    a.tilt[:] = [np.nan, 135, -135, 0, 45, 45, 45]
    r.render(a, f)
    pan_tilt = [slots(f, 1, 1 + 14 * i, 4) for i in range(5)]
    assert pan_tilt[:4] == [
        [128, 0, 128, 0],  # centre; tilt NaN -> the channel default (128 -> 32768)
        [255, 255, 255, 255],  # +half range
        [0, 0, 0, 0],  # -half range
        [255, 255, 128, 0],  # clipped to the 540 degree range
    ]
    # exact arithmetic for the non-trivial ones
    v = round((90 / 540 + 0.5) * 65535)
    t = round((45 / 270 + 0.5) * 65535)
    assert pan_tilt[4] == [v >> 8, v & 255, t >> 8, t & 255]
    vi = round((0.5 - 90 / 540) * 65535)
    ti = round((0.5 - 45 / 270) * 65535)
    assert slots(f, 1, 101, 4) == [vi >> 8, vi & 255, ti >> 8, ti & 255]
    assert slots(f, 1, 201, 2) == [round((90 / 540 + 0.5) * 255), round((45 / 270 + 0.5) * 255)]


def test_rgbw_white_extraction() -> None:
    patch, r = rig({"name": "p", "profile": "led-par-rgbw", "mode": "7ch", "address": 1, "count": 3})
    a, f = r.new_attributes(), r.new_frame()
    w = kelvin_to_linear(6000)  # the profile's white emitter
    a.intensity[:] = 1.0
    a.color[0] = [1, 1, 1]
    a.color[1] = 0.5 * w  # exactly half the white emitter: white only
    a.color[2] = [1, 0, 0]  # no white in pure red
    r.render(a, f)
    rest = np.rint((np.ones(3) - w) * 255).astype(int).tolist()
    assert slots(f, 1, 1, 5) == [255, *rest, 255]
    assert slots(f, 1, 8, 5) == [255, 0, 0, 0, 128]
    assert slots(f, 1, 15, 5) == [255, 255, 0, 0, 0]


def test_rgb_without_dimmer_carries_intensity_in_the_emitters() -> None:
    patch, r = rig({"name": "p", "profile": "led-par-rgb", "mode": "3ch", "address": 1})
    a, f = r.new_attributes(), r.new_frame()
    a.intensity[0] = 0.5
    a.color[0] = [1, 0.2, 0]
    r.render(a, f)
    assert slots(f, 1, 1, 3) == [128, 26, 0]
    a.color[0] = np.nan  # unset colour is white
    r.render(a, f)
    assert slots(f, 1, 1, 3) == [128, 128, 128]


def test_amber_extraction_and_uv() -> None:
    patch, r = rig(
        {"name": "a", "profile": "led-par-rgba", "address": 1},
        {"name": "u", "profile": "led-par-rgbwauv", "mode": "6ch", "address": 11},
    )
    a, f = r.new_attributes(), r.new_frame()
    amber = srgb_to_linear([1.0, 0xB0 / 255, 0.0])  # the profile's amber_color
    a.intensity[:] = 1.0
    a.color[0] = amber
    a.color[1] = [0, 0, 0]
    a.uv[1] = 1.0
    r.render(a, f)
    assert slots(f, 1, 1, 6) == [255, 0, 0, 0, 255, 3]  # dimmer, r, g, b, amber, strobe open [0, 7]
    assert slots(f, 1, 11, 6) == [0, 0, 0, 0, 0, 255]


def test_rgbwauv_emitters_add_back_up_to_the_colour() -> None:
    patch, r = rig({"name": "u", "profile": "led-par-rgbwauv", "mode": "8ch", "address": 1})
    prof = patch.fixtures[0].profile
    w, am = kelvin_to_linear(prof.physical.white_temperature), np.array(prof.physical.amber_color)
    a, f = r.new_attributes(), r.new_frame()
    a.intensity[0] = 1.0
    for color in ([1.0, 0.6, 0.2], [0.3, 0.9, 0.8], [1, 1, 1], [0.9, 0.45, 0.0]):
        a.color[0] = color
        r.render(a, f)
        d, R, G, B, W, A, uv, strobe = slots(f, 1, 1, 8)
        mixed = np.array([R, G, B]) / 255 + W / 255 * w + A / 255 * am
        assert mixed == pytest.approx(color, abs=2.5 / 255), color
        assert uv == 0 and d == 255


def test_cmy_subtracts_the_colour_from_white() -> None:
    patch, r = rig({"name": "w", "profile": "cmy-wash", "address": 1})
    a, f = r.new_attributes(), r.new_frame()
    a.intensity[0] = 1.0
    a.color[0] = [1, 0, 0]
    r.render(a, f)
    # pan pan-fine tilt tilt-fine speed shutter dimmer dimmer-fine C M Y cto zoom control
    assert slots(f, 1, 1, 14) == [128, 0, 128, 0, 0, 47, 255, 255, 0, 255, 255, 0, 128, 0]


def test_colour_wheel_nearest_slot_explicit_slot_and_default() -> None:
    patch, r = rig({"name": "s", "profile": "spot-moving-head", "address": 1, "count": 4})
    a, f = r.new_attributes(), r.new_frame()
    a.color[0] = [0.9, 0.01, 0.02]  # nearest: Red [10, 19]
    a.color[1] = parse_color("#ff9000")  # nearest: Orange [20, 29]
    a.color[2] = [1, 0, 0]
    a.wheel[2] = 4  # explicit slot wins: Green [40, 49]
    r.render(a, f)  # fixture 4: neither -> the default 0
    assert [slots(f, 1, 6 + 14 * i, 1)[0] for i in range(4)] == [14, 24, 44, 0]


def test_gobo_by_index_and_name() -> None:
    patch, r = rig({"name": "s", "profile": "spot-moving-head", "address": 1, "count": 2})
    a, f = r.new_attributes(), r.new_frame()
    a.gobo[0] = 2
    a.gobo[1] = r.gobo_index(1, "Spiral")
    r.render(a, f)
    assert [slots(f, 1, 7 + 14 * i, 1)[0] for i in range(2)] == [16, 24]
    with pytest.raises(KeyError, match="did you mean 'star'"):
        r.gobo_index(0, "stars")


def test_strobe_rate_maps_to_the_profile_range() -> None:
    patch, r = rig({"name": "p", "profile": "led-par-rgbw", "mode": "7ch", "address": 1, "count": 6})
    a, f = r.new_attributes(), r.new_frame()
    a.strobe[:] = [0, 1, 25, 13, 100, np.nan]
    r.render(a, f)
    # open = middle of [0, 9]; 1..25 Hz over [10, 255]; clipped above; NaN = no strobe
    assert [slots(f, 1, 6 + 7 * i, 1)[0] for i in range(6)] == [4, 10, 255, 132, 255, 4]


def test_shutter_without_strobe_range_is_held_open() -> None:
    from engine.fixtures.profile import ProfileLibrary, profile_from_data

    lib = ProfileLibrary()
    for key, caps in {
        "open-close": [{"dmx": [0, 9], "type": "closed"}, {"dmx": [10, 255], "type": "open"}],
        "closed-strobe": [{"dmx": [0, 9], "type": "closed"}, {"dmx": [10, 19], "type": "nothing"},
                          {"dmx": [20, 255], "type": "strobe", "hz": [1, 10]}],
    }.items():
        lib.add(profile_from_data({"name": key, "channels": {"d": {"attribute": "intensity"}, "s": {
            "attribute": "strobe", "capabilities": caps}}, "modes": [{"name": "m", "channels": ["d", "s"]}]}, key))
    patch, r = rig(
        {"name": "a", "profile": "open-close", "address": 1},
        {"name": "b", "profile": "closed-strobe", "address": 3},
        library=lib,
    )
    a, f = r.new_attributes(), r.new_frame()
    a.intensity[:] = 1.0
    a.strobe[:] = 4.0
    r.render(a, f, time=0.2)  # phase 0.8: the emulated strobe of 'a' is off
    assert slots(f, 1, 1, 4) == [0, 132, 255, 98]  # 'a' open (middle of [10, 255]); 'b' strobes at 4 Hz
    a.strobe[:] = 0.0
    r.render(a, f)
    assert slots(f, 1, 1, 4) == [255, 132, 255, 10]  # no strobe: 'b' goes to its no-function range, not closed


def test_strobe_is_emulated_by_intensity_without_a_strobe_channel() -> None:
    patch, r = rig(
        {"name": "rgb", "profile": "led-par-rgb", "mode": "3ch", "address": 1},
        {"name": "rgbw", "profile": "led-par-rgbw", "mode": "7ch", "address": 10},
    )
    a, f = r.new_attributes(), r.new_frame()
    a.intensity[:] = 1.0
    a.color[:] = [1, 0, 0]
    a.strobe[:] = 2.0
    r.render(a, f, time=0.1)  # phase 0.2: on
    assert slots(f, 1, 1, 3) == [255, 0, 0]
    r.render(a, f, time=0.3)  # phase 0.6: off
    assert slots(f, 1, 1, 3) == [0, 0, 0]
    assert slots(f, 1, 10, 1) == [255]  # a fixture with a strobe channel is not gated


def test_zoom_focus_fog_and_relay() -> None:
    patch, r = rig(
        {"name": "w", "profile": "wash-mover-zoom", "mode": "11ch", "address": 1, "count": 2},
        {"name": "fog", "profile": "fog-machine", "address": 30},
        {"name": "sw", "profile": "generic-relay", "address": 31, "count": 3},
        {"name": "laser", "profile": "laser-basic", "address": 40},
    )
    a, f = r.new_attributes(), r.new_frame()
    a.zoom[:2] = [0.0, 0.25]  # the profile inverts zoom
    a.fog[2] = 0.5
    a.intensity[3:6] = [0.49, 0.5, 1.0]
    a.intensity[6] = 1.0
    a.color[6] = [0, 0, 1]
    r.render(a, f)
    assert [slots(f, 1, 10 + 11 * i, 1)[0] for i in range(2)] == [255, 191]
    assert slots(f, 1, 30, 1) == [130]  # 0.5 over the profile's output range [6, 255]
    assert slots(f, 1, 31, 3) == [0, 128, 128]
    assert slots(f, 1, 40, 7) == [150, 0, 79, 128, 128, 128, 0]  # on, pattern, Blue slot, defaults
    r.render(a, f, blackout=True)
    assert slots(f, 1, 31, 3) == [0, 0, 0] and slots(f, 1, 40, 1) == [0]


def test_proportional_range_of_a_shared_channel_and_off_below_it() -> None:
    from engine.fixtures.profile import ProfileLibrary, profile_from_data

    lib = ProfileLibrary()
    shared = {
        "name": "dimmer/strobe",
        "channels": {"d": {"attribute": "intensity", "capabilities": [
            {"dmx": [0, 127], "type": "intensity"}, {"dmx": [128, 255], "type": "strobe", "hz": [1, 10]}]}},
        "modes": [{"name": "m", "channels": ["d"]}],
    }
    lib.add(profile_from_data(shared, "dimstrobe"))
    patch, r = rig(
        {"name": "d", "profile": "dimstrobe", "address": 1, "count": 3},
        {"name": "fog", "profile": "fog-machine", "address": 10, "count": 3},
        library=lib,
    )
    a, f = r.new_attributes(), r.new_frame()
    a.intensity[:3] = [0.0, 0.5, 1.0]
    a.fog[3:] = [0.0, 0.5, 1.0]
    r.render(a, f)
    assert slots(f, 1, 1, 3) == [0, 64, 127]  # the dimmer part of the channel only
    assert slots(f, 1, 10, 3) == [0, 130, 255]  # exactly 0 -> "No fog", then [6, 255]


def test_master_blackout_curves_and_gamma() -> None:
    patch, r = rig(
        {"name": "lin", "profile": "generic-dimmer", "address": 1},
        {"name": "sq", "profile": "generic-dimmer", "address": 2, "curve": "square"},
        {"name": "s", "profile": "generic-dimmer", "address": 3, "curve": "s-curve"},
        {"name": "g", "profile": "generic-dimmer", "address": 4, "gamma": 2.0},
    )
    a, f = r.new_attributes(), r.new_frame()
    a.intensity[:] = [0.5, 0.5, 0.25, 0.25]
    r.render(a, f)
    assert slots(f, 1, 1, 4) == [128, 64, 40, 128]
    r.render(a, f, master=0.5)
    assert slots(f, 1, 1, 1) == [64]
    r.render(a, f, master=1.0, blackout=True)
    assert slots(f, 1, 1, 4) == [0, 0, 0, 0]


def test_pixel_bar_cells_with_master_dimmer_and_without() -> None:
    patch, r = rig(
        {"name": "b", "profile": "pixel-bar-8", "mode": "26ch", "address": 1},
        {"name": "c", "profile": "pixel-bar-8", "mode": "24ch", "address": 31},
    )
    a, f = r.new_attributes(), r.new_frame()
    a.intensity[:] = 0.2
    for fx in range(2):
        cells = a.cells(fx)
        ci, cc = a.cell_intensity[cells], a.cell_color[cells]
        ci[:2] = [1.0, 0.5]
        cc[0] = [1, 0, 0]
    r.render(a, f)
    # master dimmer = the highest cell; cells relative to it; unset cells take the fixture's values
    assert slots(f, 1, 1, 2 + 9) == [255, 4, 255, 0, 0, 128, 128, 128, 51, 51, 51]
    assert slots(f, 1, 31, 9) == [255, 0, 0, 128, 128, 128, 51, 51, 51]


def test_only_patched_slots_are_written() -> None:
    patch, r = rig(
        {"name": "p", "profile": "spot-moving-head", "address": 10},  # 14ch mode has one unused slot
        {"name": "d", "profile": "generic-dimmer", "address": 100, "universe": 3},
    )
    f = DmxFrame([1, 2, 3, 9])  # more universes than the patch uses
    f.data[:] = 7
    a = r.new_attributes()
    a.intensity[:] = 1.0
    r.render(a, f)
    changed = np.argwhere(f.data != 7)
    rows = {f.row(1): set(range(9, 9 + 13)), f.row(3): {99}}
    for row, slot in changed.tolist():
        assert slot in rows.get(row, set()), (f.universes[row], slot + 1)
    assert f.universe(1)[9 + 13] == 7  # the unused 14th slot of the spot


def test_frame_missing_a_universe_and_shape_mismatch_raise() -> None:
    patch, r = rig({"name": "d", "profile": "generic-dimmer", "address": 1, "universe": 4})
    with pytest.raises(ValueError, match="lacks universes \\[4\\]"):
        r.render(r.new_attributes(), DmxFrame([1]))
    from engine.fixtures.attributes import AttributeFrame

    with pytest.raises(ValueError, match="attribute frame has 2 fixtures"):
        r.render(AttributeFrame(2), r.new_frame())


def _big_rig(universes: int):
    specs = []
    for u in range(1, universes + 1):
        specs.append({"name": f"par{u}", "profile": "led-par-rgbw", "mode": "7ch", "universe": u, "address": 1, "count": 10})
        specs.append({"name": f"bar{u}", "profile": "pixel-bar-8", "mode": "26ch", "universe": u, "address": 71, "count": 4})
    return rig(*specs)


def test_render_allocates_nothing_that_grows_with_the_rig() -> None:
    """numpy keeps transient cast buffers of at most 8192 elements; no array per fixture is created."""
    peaks = []
    for universes in (200, 400):
        patch, r = _big_rig(universes)
        a, f = r.new_attributes(), r.new_frame()
        rng = np.random.default_rng(0)
        a.intensity[:] = rng.random(a.n_fixtures)
        a.color[:] = rng.random((a.n_fixtures, 3))
        a.strobe[:] = 3.0
        r.render(a, f)  # first call caches the frame layout
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        r.render(a, f, master=0.7, time=0.1)
        peaks.append(tracemalloc.get_traced_memory()[1] - base)
        tracemalloc.stop()
        assert r.n_units > 9000
    # doubling the rig (9,200 -> 18,400 light units) leaves the peak where it was
    assert peaks[1] < 1.1 * peaks[0] + 4096, peaks


def test_an_empty_patch_renders_nothing() -> None:
    patch, r = rig()
    f = r.new_frame()
    r.render(r.new_attributes(), f)
    assert f.data.shape == (0, 512)


def test_24bit_channel_splits_into_three_bytes() -> None:
    from engine.fixtures.profile import ProfileLibrary, profile_from_data

    lib = ProfileLibrary()
    lib.add(profile_from_data({"name": "d24", "channels": {"d": {"attribute": "intensity", "fine": ["d fine", "d ultra"]}},
                               "modes": [{"name": "m", "channels": ["d", "d fine", "d ultra"]}]}, "d24"))
    patch, r = rig({"name": "d", "profile": "d24", "address": 1, "count": 3}, library=lib)
    a, f = r.new_attributes(), r.new_frame()
    a.intensity[:] = [1.0, 0.5, 1000 / 16777215]
    r.render(a, f)
    assert slots(f, 1, 1, 9) == [255, 255, 255, 128, 0, 0, 0, 3, 232]
