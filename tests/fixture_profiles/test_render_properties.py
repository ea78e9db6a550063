"""Property tests: any attribute values render to DMX in the patched slots and nowhere else."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from engine.fixtures.profile import ProfileLibrary
from engine.output.frame import DmxFrame

from .conftest import rig

SENTINEL = 7


def _all_modes_rig():
    """Every mode of every shipped profile, packed into universes 1.. with gaps between fixtures."""
    lib = ProfileLibrary()
    specs, universe, address = [], 1, 3
    for key in lib.keys():
        for mode in lib.get(key).modes:
            if address + mode.footprint + 2 > 512:
                universe, address = universe + 1, 3
            specs.append({"name": f"{key}/{mode.name}", "profile": key, "mode": mode.name, "universe": universe, "address": address})
            address += mode.footprint + 3  # leave unpatched slots between fixtures
    return rig(*specs)


PATCH, RENDERER = _all_modes_rig()
N, C = PATCH.n_fixtures, PATCH.n_cells
PATCHED = np.zeros((len(PATCH.universes), 512), dtype=bool)
for fx in PATCH.fixtures:
    for off, slot in enumerate(fx.mode.slots):
        if slot.channel is not None:
            PATCHED[PATCH.universes.index(fx.universe), fx.address - 1 + off] = True


def _values(lo: float, hi: float, shape) -> st.SearchStrategy:
    elems = st.one_of(st.floats(lo, hi, width=32), st.just(float("nan")))
    return arrays(np.float32, shape, elements=elems)


attribute_sets = st.fixed_dictionaries(
    {
        "intensity": _values(0, 1, N),
        "color": _values(0, 1, (N, 3)),
        "uv": _values(0, 1, N),
        "strobe": _values(0, 40, N),
        "pan": _values(-400, 400, N),
        "tilt": _values(-200, 200, N),
        "zoom": _values(0, 1, N),
        "focus": _values(0, 1, N),
        "gobo": _values(0, 10, N),
        "wheel": _values(0, 12, N),
        "fog": _values(0, 1, N),
        "cell_intensity": _values(0, 1, C),
        "cell_color": _values(0, 1, (C, 3)),
        "master": st.floats(0, 1),
        "time": st.floats(0, 100),
    }
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(attribute_sets)
def test_any_attributes_touch_only_patched_slots_and_are_deterministic(values) -> None:
    a = RENDERER.new_attributes()
    for name, v in values.items():
        if name not in ("master", "time"):
            getattr(a, name)[...] = v
    frame = DmxFrame(PATCH.universes)
    frame.data[:] = SENTINEL
    RENDERER.render(a, frame, master=values["master"], time=values["time"])
    assert np.all(frame.data[~PATCHED] == SENTINEL)
    again = RENDERER.new_frame()
    RENDERER.render(a, again, master=values["master"], time=values["time"])
    assert np.array_equal(frame.data[PATCHED], again.data[PATCHED])


@settings(max_examples=60, deadline=None)
@given(
    st.floats(0, 1, width=32),
    st.floats(-300, 300, width=32),
    st.floats(0, 1),
    st.booleans(),
)
def test_dimmer_and_pan_values_follow_the_attributes(intensity, pan, master, invert) -> None:
    patch, r = rig(
        {"name": "d", "profile": "generic-dimmer", "address": 1},
        {"name": "s", "profile": "spot-moving-head", "address": 2, "invert_pan": invert},
    )
    a, f = r.new_attributes(), r.new_frame()
    a.intensity[:] = intensity
    a.pan[1] = pan
    r.render(a, f, master=master)
    u = f.universe(1)
    assert u[0] == np.rint(np.float64(np.float32(intensity)) * master * 255)
    expected = min(1.0, max(0.0, float(np.float32(pan)) / 540 + 0.5))
    if invert:
        expected = 1.0 - expected
    coarse_fine = int(u[1]) * 256 + int(u[2])
    assert abs(coarse_fine - expected * 65535) <= 0.5 + 1e-6
    assert u[12] == np.rint(np.float64(np.float32(intensity)) * master * 255)  # the spot's dimmer
