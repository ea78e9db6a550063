"""Auto mode: roles from the rig, the generated show, its export, live controls, the flash guard."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from engine.auto.generate import AutoError, AutoOptions, generate_show_text, load_auto_show, write_auto_show
from engine.auto.guard import FlashGuard, FlashMeter
from engine.auto.roles import RoleError, classify
from engine.features import FeatureEvent
from engine.show.loader import check_show, load_show
from engine.show.runtime import ShowRuntime
from engine.show.stream import replay, synthetic_stream

ROOT = Path(__file__).resolve().parents[2]
CLUB = ROOT / "shows" / "rigs" / "club-rig.yaml"
PIXEL_SHOW = ROOT / "shows" / "pixel-bar.yaml"

OUTPUTS = "outputs:\n  - {type: sacn, name: o, universes: [1], destinations: [127.0.0.1]}\n"


@pytest.fixture(scope="module")
def stream():
    # 40 s at 128 BPM: about 21 bars, so the 8-bar phrase clock turns twice; build-up, drop and
    # breakdown in bars 3, 4 and 7.
    return synthetic_stream(40.0)


def _rig(tmp_path: Path, body: str, name: str = "rig.yaml") -> Path:
    p = tmp_path / name
    p.write_text(OUTPUTS + body, encoding="utf-8")
    return p


def _with(frames, values=None, events_at=None):
    """A copy of ``frames`` with extra values on every frame and extra events at given frames."""
    out = []
    for k, f in enumerate(frames):
        vals = dict(f.values)
        vals.update(values or {})
        evs = list(f.events) + list((events_at or {}).get(k, []))
        out.append(dataclasses.replace(f, values=vals, events=evs))
    return out


def _attrs(show, frames):
    rt = ShowRuntime(show)
    out = []
    for f in frames:
        a = rt.tick(f)
        out.append((np.nan_to_num(a.intensity).copy(), np.nan_to_num(a.pan).copy(), rt.status()))
    assert not rt.faults, rt.faults
    return out


# --------------------------------------------------------------------------------- roles


def test_roles_of_the_club_rig():
    show = load_show(CLUB)
    rr = classify(show.patch)
    assert rr.group_roles["pars"] == "front_wash"
    assert rr.group_roles["washes"] == "mover"
    assert rr.group_roles["spots"] == "spot"
    assert rr.group_roles["strobes"] == "strobe"
    assert rr.group_roles["pixels"] == "pixel"
    assert rr.group_roles["movers"] == "mixed: mover, spot"
    assert rr.fixture_roles[show.patch.index("haze")] == "fx"


def test_roles_of_the_pixel_show():
    rr = classify(load_show(PIXEL_SHOW).patch)
    assert set(rr.group_roles.values()) == {"pixel"}


def test_roles_of_the_rock_band_rig():
    # blinders (two lamps, i.e. two cells) are strobes, not pixel bars; dimmers without a
    # position are front washes; the group named 'backs' marks its pars as back washes
    rr = classify(load_show(ROOT / "shows" / "rock-band.yaml").patch)
    assert rr.group_roles["blinders"] == "strobe"
    assert rr.group_roles["fronts"] == "front_wash"
    assert rr.group_roles["backs"] == "back_wash"
    assert rr.group_roles["movers"] == "mover"


@pytest.mark.parametrize("show", ["rigs/club-rig.yaml", "pixel-bar.yaml", "ambient.yaml", "rock-band.yaml", "starter.yaml"])
def test_every_example_rig_exports_a_clean_show(tmp_path, show):
    out = tmp_path / "auto.yaml"
    out.write_text(generate_show_text(ROOT / "shows" / show), encoding="utf-8")
    res = check_show(out)
    assert res.ok, [str(e) for e in res.errors]
    assert not res.warnings, [str(w) for w in res.warnings]


def test_back_wash_from_position_tags_and_overrides(tmp_path):
    rig = _rig(tmp_path, """
fixtures:
  - {name: front, profile: led-par-rgb, mode: 5ch, address: 1, count: 2, position: [-1, 0, 3]}
  - {name: back, profile: led-par-rgb, mode: 5ch, address: 11, count: 2, position: [-1, 4, 3]}
  - {name: side, profile: led-par-rgb, mode: 5ch, address: 21, position: [3, 0, 3], tags: [role.strobe]}
groups:
  fronts: [front 1, front 2]
  backs: [back 1, back 2]
""")
    patch = load_show(rig).patch
    rr = classify(patch)
    assert rr.group_roles == {"fronts": "front_wash", "backs": "back_wash"}
    assert rr.fixture_roles[patch.index("side")] == "strobe"
    rr2 = classify(patch, {"backs": "front_wash"})
    assert rr2.group_roles["backs"] == "front_wash"
    with pytest.raises(RoleError, match="unknown role 'mover_'.*did you mean 'mover'"):
        classify(patch, {"backs": "mover_"})
    with pytest.raises(RoleError, match="unknown group 'bakcs'"):
        classify(patch, {"bakcs": "spot"})


# ------------------------------------------------------------------------ generated show


def test_generated_show_checks_clean_and_is_seeded(tmp_path):
    text = generate_show_text(CLUB)
    out = tmp_path / "auto.yaml"
    out.write_text(text, encoding="utf-8")
    res = check_show(out)
    assert res.ok, res.errors
    assert not res.warnings, [str(w) for w in res.warnings]
    assert generate_show_text(CLUB) == text  # reproducible
    other = generate_show_text(CLUB, AutoOptions(seed=5))
    assert other != text
    assert "seed: 5" in other
    # strobes stay at one flash a beat under the photosensitivity limit, faster only without it
    assert "sync: 1/2 beat" not in text
    assert "sync: 1/2 beat" in generate_show_text(CLUB, AutoOptions(flash_limit=0))
    # every role of the rig is used
    for group in ("pars", "washes", "spots", "pixels", "strobes"):
        assert f"group: {group}\n" in text


def test_export_equals_the_live_auto_graph(tmp_path, stream):
    from engine.cli import main

    out = tmp_path / "exported.yaml"
    assert main(["auto", str(CLUB), "--export", str(out), "--seed", "3"]) == 0
    exported = load_show(out)
    live = load_auto_show(CLUB, AutoOptions(seed=3))
    frames = stream[:1500]  # build-up, drop and a phrase change
    a = replay(exported, frames)
    b = replay(live, frames)
    assert len(a) == len(frames)
    assert a == b
    # and the run --auto file is the same show again
    cached = write_auto_show(CLUB, AutoOptions(seed=3), directory=tmp_path / "cache")
    assert cached.read_text(encoding="utf-8") == out.read_text(encoding="utf-8")


def test_music_drives_the_show(stream):
    show = load_auto_show(CLUB)
    res = _attrs(show, stream)
    patch = show.patch
    pars = patch.group("pars")
    strobes = patch.group("strobes")
    t = np.array([f.time for f in stream])
    par = np.array([r[0][pars].mean() for r in res])
    strobe = np.array([r[0][strobes].max() for r in res])
    bar = 60 / 128 * 4
    # the kick pumps the pars: a clear swing inside every bar of the groove
    groove = (t > 0.5) & (t < 3 * bar)
    assert par[groove].max() - par[groove].min() > 0.2
    # strobes only in build-up and drop (bars 3..4 and the drop's 4 bars), dark before
    assert strobe[t < 2 * bar].max() == 0
    assert strobe[(t > 3 * bar) & (t < 4 * bar)].max() > 0.5
    # looks rotate on the phrase clock and change on downbeat frames only
    looks = [r[2]["layers"]["base"]["look"] for r in res]
    changes = [k for k in range(1, len(looks)) if looks[k] != looks[k - 1]]
    assert len(changes) >= 2
    assert len(set(looks)) >= 3
    for k in changes:
        # on a downbeat: within one frame, after the output's 15 ms latency lead
        off = t[k] - bar * round(t[k] / bar)
        assert -0.015 - 0.0101 <= off <= 0.0101, (k, t[k], off)


@pytest.mark.parametrize("kind", ["dimmers", "pixels"])
def test_single_kind_rigs_still_give_a_show(tmp_path, stream, kind):
    body = {
        "dimmers": "fixtures:\n  - {name: dim, profile: generic-dimmer, address: 1, count: 6}\n",
        "pixels": "fixtures:\n  - {name: bar, profile: pixel-bar-8, mode: 24ch, address: 1, count: 4}\n",
    }[kind]
    rig = _rig(tmp_path, body)
    show = load_auto_show(rig)
    frames = stream[:1500]
    dmx = np.array([np.frombuffer(b, np.uint8) for b in replay(show, frames)], dtype=float)
    lit = dmx[:, : (6 if kind == "dimmers" else 4 * 24)]
    assert lit.mean() > 20  # not dark
    # and it moves with the music: the per-frame brightness varies by a clear amount
    assert lit.mean(axis=1).std() > 5


def test_a_rig_with_nothing_to_drive_is_an_error(tmp_path):
    rig = _rig(tmp_path, "fixtures:\n  - {name: r, profile: generic-relay, address: 1}\n")
    with pytest.raises(AutoError, match="no fixture the auto show can drive"):
        generate_show_text(rig)
    with pytest.raises(AutoError, match="no 'fixtures'"):
        generate_show_text(_rig(tmp_path, "", "empty.yaml"))


# ------------------------------------------------------------------------- live controls


def test_excitement_and_background_faders(stream):
    show = load_auto_show(CLUB)
    frames = stream[:600]
    pars = show.patch.group("pars")

    def mean_pars(values):
        return np.mean([r[0][pars].mean() for r in _attrs(show, _with(frames, values))])

    calm = mean_pars({"fader.excitement": 0.0, "fader.background": 0.0})
    wild = mean_pars({"fader.excitement": 1.0, "fader.background": 0.0})
    bright_bg = mean_pars({"fader.excitement": 0.0, "fader.background": 1.0})
    assert wild > calm + 0.05
    assert bright_bg > calm + 0.1


def test_mover_range_limits_the_figures(stream):
    show = load_auto_show(CLUB)
    frames = stream[:600]
    washes = show.patch.group("washes")
    still = np.array([r[1][washes] for r in _attrs(show, _with(frames, {"fader.mover_range": 0.0}))])
    wide = np.array([r[1][washes] for r in _attrs(show, _with(frames, {"fader.mover_range": 1.0}))])
    assert np.ptp(still) < 1.0
    assert np.ptp(wide) > 20.0


def test_hold_and_next_look(stream):
    show = load_auto_show(CLUB)
    held = [r[2]["layers"]["base"]["look"] for r in _attrs(show, _with(stream[:2500], {"fader.hold": 1.0}))]
    assert len(set(held)) == 1
    # button.next: a new look on the next downbeat after the press (at 2.5 s, inside the
    # first phrase, whose look starts on the first downbeat the show sees at 1.875 s)
    k = 250
    press = {k: [FeatureEvent("button.next", stream[k].frame, stream[k].frame, 1.0, {})]}
    base = [r[2]["layers"]["base"]["look"] for r in _attrs(show, stream[:400])]
    nxt = [r[2]["layers"]["base"]["look"] for r in _attrs(show, _with(stream[:400], events_at=press))]
    diff = [i for i in range(400) if base[i] != nxt[i]]
    assert diff, "button.next changed nothing"
    bar = 60 / 128 * 4
    first = stream[diff[0]].time
    assert diff[0] > k and abs(first - bar * round(first / bar)) <= 0.026


def test_blackout_fader(tmp_path, stream):
    # every DMX slot of a dimmer rig goes to 0 while the blackout fader is up, and comes back
    dims = load_auto_show(_rig(tmp_path, "fixtures:\n  - {name: dim, profile: generic-dimmer, address: 1, count: 6}\n"))
    frames = _with(stream[:200], {"fader.blackout": 1.0}) + _with(stream[200:400], {"fader.blackout": 0.0})
    out = [np.frombuffer(b, np.uint8)[:6] for b in replay(dims, frames)]
    assert all(b.max() == 0 for b in out[:200])
    assert max(b.max() for b in out[200:]) > 0


# -------------------------------------------------------------------------- flash guard


def _strobe_show(tmp_path, sync: str | None = None, hz: float | None = None):
    effect = f"strobe: {{sync: {sync}, duty: 0.5}}" if sync else f"strobe: {hz}"
    rig = _rig(tmp_path, f"""
fixtures:
  - {{name: par, profile: led-par-rgb, mode: 5ch, address: 1, count: 8}}
looks:
  flash:
    - {{group: all, intensity: 1, colour: white, {effect}}}
layers:
  - {{name: main, look: flash}}
""", "strobe.yaml")
    return load_show(rig)


def test_flash_guard_caps_a_20_hz_strobe(tmp_path):
    # 1/8 beat at 150 BPM = 20 flashes per second, on every fixture of the rig
    show = _strobe_show(tmp_path, sync="1/8 beat")
    frames = synthetic_stream(4.0, bpm=150.0, frame_rate=200.0)
    free, capped = FlashMeter(3), FlashMeter(3)
    guard = FlashGuard(3)
    rt_free, rt_guard = ShowRuntime(show), ShowRuntime(show)
    counts = []
    for f in frames:
        free.observe(rt_free.tick(f), f.time)
        a = rt_guard.tick(f)
        guard.apply(a, f.time)
        capped.observe(a, f.time)
        counts.append(capped.counter.recent(f.time))
    assert free.flashes >= 70  # about 20 per second unguarded
    assert free.violations > 0
    assert capped.violations == 0
    assert max(counts) <= 3
    assert 3 * 3 <= capped.flashes <= 3 * 4 + 1  # the allowed rate is used, not more
    assert guard.limited_frames > 0


def test_flash_guard_clamps_hardware_strobe_rates(tmp_path):
    show = _strobe_show(tmp_path, hz=20)
    rt = ShowRuntime(show)
    guard = FlashGuard(3)
    f = synthetic_stream(0.1)[0]
    a = rt.tick(f)
    assert float(np.nanmax(a.strobe)) == 20
    guard.apply(a, f.time)
    assert float(np.nanmax(a.strobe)) == 3
    meter = FlashMeter(3)
    meter.observe(a, f.time)
    assert meter.strobe_violations == 0


def test_flash_guard_leaves_a_slow_pulse_alone(tmp_path):
    # one flash per beat at 120 BPM = 2 per second: under the limit, nothing is changed
    show = _strobe_show(tmp_path, sync="1 beat")
    frames = synthetic_stream(4.0, bpm=120.0)
    rt, guard = ShowRuntime(show), FlashGuard(3)
    for f in frames:
        a = rt.tick(f)
        before = np.nan_to_num(a.intensity).copy()
        assert guard.apply(a, f.time) == 1.0
        assert np.array_equal(np.nan_to_num(a.intensity), before)
    assert guard.limited_frames == 0


def test_palette_button_moves_to_the_next_group_on_a_downbeat(stream):
    show = load_auto_show(CLUB)
    k = 250  # 2.5 s: between two downbeats (1.875 s and 3.75 s)
    press = {k: [FeatureEvent("button.palette", stream[k].frame, stream[k].frame, 1.0, {})]}
    rt = ShowRuntime(show)
    idx = []
    for f in _with(stream[:450], events_at=press):
        rt.tick(f)
        idx.append(rt.status()["palettes"]["main"])
    steps = [i for i in range(1, len(idx)) if idx[i] != idx[i - 1]]
    after = [i for i in steps if i > k]
    assert after, "button.palette changed nothing"
    i = after[0]
    assert (idx[i] - idx[i - 1]) % len(show.model.palettes["main"]) == 3  # the next group of three
    bar = 60 / 128 * 4
    assert abs(stream[i].time - bar * round(stream[i].time / bar)) <= 0.026


def test_vocals_bring_the_spots_onto_the_singer(stream):
    show = load_auto_show(CLUB)
    frames = stream[:600]
    spots = show.patch.group("spots")
    without = np.array([r[1][spots] for r in _attrs(show, _with(frames, {"level.vocals": 0.0}))])
    sung = np.array([r[1][spots] for r in _attrs(show, _with(frames, {"level.vocals": 0.8}))])
    # without vocals the spots draw their figure; with them they settle on fixed pans that
    # point each spot towards the centre of the stage (the singer's default place)
    assert np.ptp(without[200:], axis=0).max() > 10.0
    assert np.ptp(sung[200:], axis=0).max() < 0.5
    left, right = sung[-1][0], sung[-1][-1]
    assert left > 0 > right  # the leftmost spot pans right (towards x = 0), the rightmost left
