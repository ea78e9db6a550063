"""Hot reload: broken saves keep the running show, good saves swap at the next frame, state
survives, includes are watched, and the background thread delivers without blocking frames."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from engine.show.loader import load_show
from engine.show.reload import ShowWatcher
from engine.show.runtime import ShowRuntime

from .conftest import clocked, event

SHOW = """\
include: [rig.yaml]
palettes: {p: [red, green, blue, white]}
signals:
  every2: {counter: beat, every: 2}
looks:
  a: [{group: pars, intensity: LEVEL, colour: p}]
layers: [{name: main, look: a}]
rules:
  - {name: step, when: beat, do: {palette_step: p}}
"""


def save(path: Path, text: str) -> None:
    """Write and move the modification time forward (file systems with coarse timestamps)."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))


def test_broken_save_keeps_the_running_show_frame_for_frame(write):
    path = write(SHOW.replace("LEVEL", "0.5"))
    show = load_show(path)
    rt, control = ShowRuntime(show), ShowRuntime(load_show(path))
    watcher = ShowWatcher.for_show(show, rt.swap)
    errors = []
    watcher.on_error = errors.append
    assert watcher.poll() is None  # nothing changed yet
    for k in range(40):
        assert rt.render(clocked(k)).data.tobytes() == control.render(clocked(k)).data.tobytes()
    save(path, SHOW.replace("LEVEL", "0.5 +* 1"))
    assert watcher.poll() is False
    assert len(errors) == 1 and not watcher.status.ok
    assert str(watcher.status.errors[0]) == f"{path}:6:37: error at looks.a[0].intensity: unexpected '*'"
    for k in range(40, 120):  # every frame still goes out, identical to the unchanged show
        assert rt.render(clocked(k)).data.tobytes() == control.render(clocked(k)).data.tobytes()
    assert rt.frames == control.frames == 120
    assert watcher.poll() is None  # the broken version is not retried until it changes again


def test_fixed_save_is_live_at_the_next_frame_and_state_survives(write):
    path = write(SHOW.replace("LEVEL", "0.5"))
    show = load_show(path)
    rt = ShowRuntime(show)
    watcher = ShowWatcher.for_show(show, rt.swap)
    for k in range(120):  # beats at frames 0, 50, 100
        rt.tick(clocked(k))
    d = rt.domains[0]
    before = (d.beat_count, d.palettes["p"].index, d.signals["every2"].count, d.rules["step"].count)
    assert before == (3, 3, 3, 3)
    save(path, SHOW.replace("LEVEL", "0.25"))
    assert watcher.poll() is True
    assert watcher.status.generation == 1
    a = rt.tick(clocked(120))  # the very next frame runs the new show
    np.testing.assert_allclose(a.intensity[:4], [0.25] * 4)
    d = rt.domains[0]
    assert (d.beat_count, d.palettes["p"].index, d.signals["every2"].count, d.rules["step"].count) == before
    assert d.beat_time == 1.0 and d.values["beats"] == 2.0 + 0.2 * 2
    for k in range(121, 151):
        rt.tick(clocked(k))
    assert rt.domains[0].palettes["p"].index == 4  # counting goes on from where it was


def test_a_look_removed_on_reload_falls_back_to_the_layer_start_look(write):
    text = SHOW.replace("LEVEL", "1") + "  - {when: drop, do: {look: b}}\n"
    text = text.replace("looks:\n", "looks:\n  b: [{group: pars, intensity: 0.1}]\n")
    path = write(text)
    show = load_show(path)
    rt = ShowRuntime(show)
    watcher = ShowWatcher.for_show(show, rt.swap)
    rt.tick(clocked(0, events=[event("section", 0, section="drop")]))
    assert rt.domains[0].layers["main"].look == "b"
    save(path, SHOW.replace("LEVEL", "0.75"))
    assert watcher.poll() is True
    a = rt.tick(clocked(1))
    assert rt.domains[0].layers["main"].look == "a"
    np.testing.assert_allclose(a.intensity[:4], [0.75] * 4)


def test_includes_and_profiles_are_watched(write, tmp_path):
    path = write(SHOW.replace("LEVEL", "1"))
    show = load_show(path)
    shows = []
    watcher = ShowWatcher.for_show(show, shows.append)
    assert sorted(p.name for p in watcher.files) == ["led-par-rgbw.yaml", "pixel-bar-8.yaml", "rig.yaml", "show.yaml",
                                                      "spot-moving-head.yaml"]
    rig = tmp_path / "rig.yaml"
    save(rig, rig.read_text().replace("count: 4", "count: 5").replace("[par 1, par 2, par 3, par 4]", "[par 1, par 2, par 3, par 4, par 5]").replace("address: 101", "address: 301"))
    assert watcher.poll() is True
    assert shows[0].patch.n_fixtures == show.patch.n_fixtures + 1


def test_background_thread_delivers_without_blocking_frames(write):
    path = write(SHOW.replace("LEVEL", "0.5"))
    show = load_show(path)
    rt = ShowRuntime(show)
    arrived = threading.Event()

    def on_show(new):
        rt.swap(new)
        arrived.set()

    with ShowWatcher.for_show(show, on_show, interval=0.01):
        for k in range(5):
            rt.tick(clocked(k))
        save(path, SHOW.replace("LEVEL", "0.125"))
        assert arrived.wait(10.0), "the watcher thread did not reload the changed show"
        a = rt.tick(clocked(5))
    np.testing.assert_allclose(a.intensity[:4], [0.125] * 4)
    assert rt.frames == 6


def test_reloading_an_unchanged_show_changes_nothing(tmp_path):
    """Every piece of running state carries over: swapping in the same show mid-stream gives
    byte-identical DMX to never swapping."""
    from engine.show.stream import synthetic_stream

    from .conftest import SHOWS

    frames = synthetic_stream(6.0)  # build-up at 3.75 s, drop at 5.6 s
    for name in ("club-edm", "pixel-bar"):
        path = SHOWS / f"{name}.yaml"
        plain, swapped = ShowRuntime(load_show(path)), ShowRuntime(load_show(path))
        for k, f in enumerate(frames):
            if k in (123, 456):
                swapped.swap(load_show(path))
            a = plain.render(f).data.tobytes()
            b = swapped.render(f).data.tobytes()
            assert a == b, f"{name}: frame {k} differs after a reload of the same show"


def test_same_size_save_within_one_clock_tick_is_seen(write, monkeypatch):
    """A save that keeps the size and lands in the same tick of the file system's coarse clock
    leaves mtime (and here ctime) unchanged; the content digest of a racy stamp still sees it."""
    import engine.show.reload as reload_mod

    path = write(SHOW.replace("LEVEL", "0.5"))
    show = load_show(path)
    shows = []
    watcher = ShowWatcher.for_show(show, shows.append)
    assert watcher.poll() is None
    # The status the next look sees is the one the last look saw (same tick): only the
    # content differs. Freeze os.stat's times to model the coarse clock.
    real_stat = os.stat
    frozen = real_stat(path)

    def same_tick(p, *a, **kw):
        st = real_stat(p, *a, **kw)
        if Path(p) != path:
            return st
        return os.stat_result(
            (st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid, st.st_gid, st.st_size,
             frozen.st_atime, frozen.st_mtime, frozen.st_ctime),
            {"st_atime_ns": frozen.st_atime_ns, "st_mtime_ns": frozen.st_mtime_ns,
             "st_ctime_ns": frozen.st_ctime_ns},
        )

    monkeypatch.setattr(reload_mod.os, "stat", same_tick)
    path.write_text(SHOW.replace("LEVEL", "0.7"))  # same length
    assert os.stat(path).st_mtime_ns == frozen.st_mtime_ns
    assert watcher.poll() is True
    before = ShowRuntime(show).render(clocked(0)).data
    after = ShowRuntime(shows[-1]).render(clocked(0)).data
    assert before[0, 0] == 128 and after[0, 0] == 178  # intensity 0.5 → 0.7: the new show runs
    assert watcher.poll() is None


def test_a_copy_that_keeps_mtime_and_size_is_seen(write, tmp_path):
    """``cp -p`` / ``rsync -t`` of an edited show with the old modification time and size."""
    path = write(SHOW.replace("LEVEL", "0.5"))
    old = path.stat()
    os.utime(path, ns=(old.st_atime_ns - 10**10, old.st_mtime_ns - 10**10))  # an old file
    show = load_show(path)
    shows = []
    watcher = ShowWatcher.for_show(show, shows.append)
    assert watcher.poll() is None
    kept = path.stat()
    edited = tmp_path / "edited.yaml"
    edited.write_text(SHOW.replace("LEVEL", "0.9"))
    os.utime(edited, ns=(kept.st_atime_ns, kept.st_mtime_ns))
    os.replace(edited, path)  # what an editor or rsync does: a new file renamed over the old
    assert path.stat().st_mtime_ns == kept.st_mtime_ns and path.stat().st_size == kept.st_size
    assert watcher.poll() is True and len(shows) == 1
    assert watcher.poll() is None
