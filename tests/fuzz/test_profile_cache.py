"""The fixture-profile cache of ``engine.fixtures.profile.load_profile``: an unchanged file is
parsed once and its (immutable) profile shared; any edit is seen on the next load, whatever the
file's size and timestamps; broken files are never cached; the cache is bounded and safe to use
from the hot-reload watcher thread and the main thread at once."""

from __future__ import annotations

import copy
import dataclasses
import os
import pickle
import threading
from pathlib import Path
from typing import Iterator

import pytest

from engine.config import ConfigErrors
from engine.fixtures import profile as profile_mod
from engine.fixtures.profile import clear_profile_cache, load_profile, profile_cache_info
from engine.show.loader import load_show
from engine.show.reload import ShowWatcher

PROFILE = """\
name: Cache Test Par
manufacturer: Acme
categories: [par]
channels:
  dimmer: {attribute: intensity, default: 0}
  red: {attribute: red}
  green: {attribute: green}
  blue: {attribute: blue}
  strobe:
    attribute: strobe
    capabilities:
      - {dmx: [0, 9], type: open, name: Open}
      - {dmx: [10, 255], type: strobe, name: Strobe, hz: [1, 20]}
modes:
  - name: 5ch
    channels: [dimmer, red, green, blue, strobe]
physical:
  beam_angle: 25
  cells: [1]
"""

SHOW = """\
show: Cache
outputs:
  - {type: sacn, name: main, universes: [1], destinations: [127.0.0.1]}
fixtures:
  - {name: par, profile: cachetest-par, mode: 5ch, universe: 1, address: 1, count: 2}
groups:
  pars: [par 1, par 2]
looks:
  main: [{group: pars, intensity: 1, colour: red}]
layers: [{name: main, look: main}]
"""


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    clear_profile_cache()
    yield
    clear_profile_cache()


def write_keeping_stat(path: Path, text: str, *, mtime_ns: int | None = None) -> None:
    """Rewrite ``path`` (same size required) and set its mtime to ``mtime_ns`` (default: the
    old one, so size and mtime both look unchanged)."""
    old = path.stat()
    assert len(text.encode()) == old.st_size, "the edit must keep the size"
    path.write_text(text)
    t = old.st_mtime_ns if mtime_ns is None else mtime_ns
    os.utime(path, ns=(t, t))


def test_an_unchanged_file_is_parsed_once_and_shared(tmp_path: Path) -> None:
    f = tmp_path / "par.yaml"
    f.write_text(PROFILE)
    a = load_profile(f)
    b = load_profile(f)
    c = load_profile(tmp_path / "." / "par.yaml")  # the same file by another spelling
    assert b is a and c is a
    assert profile_cache_info()["hits"] == 2 and profile_cache_info()["misses"] == 1
    # Touching the file (new mtime, same bytes) needs no new parse.
    os.utime(f, ns=(f.stat().st_mtime_ns + 10**9,) * 2)
    assert load_profile(f) is a


def test_an_edit_of_the_same_size_with_a_new_mtime_is_seen(tmp_path: Path) -> None:
    f = tmp_path / "par.yaml"
    f.write_text(PROFILE)
    before = load_profile(f)
    assert before.channels["strobe"].capabilities[1].name == "Strobe"
    write_keeping_stat(f, PROFILE.replace("name: Strobe", "name: Flashy"), mtime_ns=f.stat().st_mtime_ns + 1_000_000)
    after = load_profile(f)
    assert after is not before
    assert after.channels["strobe"].capabilities[1].name == "Flashy"


def test_an_edit_with_the_same_size_and_mtime_is_seen(tmp_path: Path) -> None:
    # Linux stamps files from a clock that ticks every few milliseconds: two saves of the same
    # size in quick succession can share mtime and size. The cache compares the bytes.
    f = tmp_path / "par.yaml"
    f.write_text(PROFILE)
    assert load_profile(f).physical.beam_angle == (25.0, 25.0)
    write_keeping_stat(f, PROFILE.replace("beam_angle: 25", "beam_angle: 40"))
    assert load_profile(f).physical.beam_angle == (40.0, 40.0)
    write_keeping_stat(f, PROFILE)  # and back: the old version is parsed again, not stale
    assert load_profile(f).physical.beam_angle == (25.0, 25.0)


def test_the_key_is_part_of_the_identity(tmp_path: Path) -> None:
    f = tmp_path / "par.yaml"
    f.write_text(PROFILE)
    assert load_profile(f).key == "par"
    assert load_profile(f, "other-key").key == "other-key"
    assert load_profile(f).key == "par"


def test_a_broken_profile_is_never_cached(tmp_path: Path) -> None:
    f = tmp_path / "par.yaml"
    f.write_text(PROFILE)
    good = load_profile(f)
    broken = PROFILE.replace("attribute: red", "attribute: rde")
    f.write_text(broken)
    for _ in range(3):  # the same located error every time, never the old good profile
        with pytest.raises(ConfigErrors) as info:
            load_profile(f)
        (err,) = info.value.errors
        assert err.location.file == str(f)
        assert (err.location.line, err.location.column) == (6, 9)  # the channel's mapping
        assert "rde" in err.message
    assert profile_cache_info()["entries"] == 1  # only the good version's entry
    f.write_text(PROFILE)
    again = load_profile(f)
    assert again == good
    f.write_text("name: [unclosed\n")  # a YAML syntax error: located too, every time
    for _ in range(2):
        with pytest.raises(Exception) as info2:
            load_profile(f)
        assert str(f) in str(info2.value) and ":1:" in str(info2.value)


def test_a_missing_file_is_a_located_error(tmp_path: Path) -> None:
    with pytest.raises(Exception) as info:
        load_profile(tmp_path / "nope.yaml")
    assert "file not found" in str(info.value) and "nope.yaml" in str(info.value)


def test_a_shared_profile_cannot_be_changed_by_one_show(tmp_path: Path) -> None:
    """The cache hands the same objects to every show: any attempt to change them fails, so
    one show cannot leak a change into another."""
    (tmp_path / "cachetest-par.yaml").write_text(PROFILE)
    show_file = tmp_path / "show.yaml"
    show_file.write_text(SHOW)
    first = load_show(show_file, profile_dirs=[tmp_path])
    p = first.patch.fixtures[0].profile
    mode = first.patch.fixtures[0].mode
    ch = p.channels["strobe"]
    attempts = [
        lambda: p.channels.__setitem__("dimmer", ch),
        lambda: p.channels.pop("dimmer"),
        lambda: p.channels.update({}),
        lambda: p.channels.clear(),
        lambda: p.data["channels"].__delitem__("red"),
        lambda: p.data["modes"].append({}),
        lambda: p.data["modes"][0]["channels"].__setitem__(0, "red"),
        lambda: p.data["modes"][0]["channels"].sort(),
        lambda: p.physical.extra.setdefault("x", 1),
        lambda: setattr(p, "name", "x"),
        lambda: setattr(mode, "name", "x"),
        lambda: setattr(ch, "attribute", "intensity"),
        lambda: setattr(ch.capabilities[1], "hz", (1.0, 99.0)),
        lambda: setattr(p.physical, "beam_angle", (1.0, 1.0)),
    ]
    for attempt in attempts:
        with pytest.raises((TypeError, AttributeError, dataclasses.FrozenInstanceError)):
            attempt()
    with pytest.raises(TypeError):
        p.data["modes"][0]["channels"] += ["x"]
    second = load_show(show_file, profile_dirs=[tmp_path])
    assert second.patch.fixtures[0].profile is p  # shared, and unchanged:
    clear_profile_cache()
    fresh = load_profile(tmp_path / "cachetest-par.yaml")
    assert fresh is not p
    assert fresh == p and fresh.data == p.data and fresh.physical.extra == p.physical.extra
    assert p.data["modes"][0]["channels"] == ["dimmer", "red", "green", "blue", "strobe"]


def test_every_profile_object_freezes_what_it_is_given() -> None:
    from engine.fixtures.profile import Capability, Physical

    extra = {"lamps": ["led", {"watts": [5, 5]}]}
    phys = Physical(extra=extra)
    extra["lamps"].append("x")  # the caller's own dict stays theirs
    assert phys.extra == {"lamps": ["led", {"watts": [5, 5]}]}
    with pytest.raises(TypeError):
        phys.extra["lamps"][1]["watts"].append(6)
    cap = Capability((0, 9), "color", color_text=["#ff0000", "#00ff00"])
    with pytest.raises(TypeError):
        cap.color_text[0] = "#0000ff"


def test_read_only_profiles_still_read_copy_and_pickle_like_plain_data(tmp_path: Path) -> None:
    import json

    f = tmp_path / "par.yaml"
    f.write_text(PROFILE)
    p = load_profile(f)
    assert isinstance(p.channels, dict) and isinstance(p.data["modes"], list)
    assert json.loads(json.dumps(p.data))["modes"][0]["name"] == "5ch"
    for clone in (copy.deepcopy(p), pickle.loads(pickle.dumps(p))):
        assert clone == p and clone.data == p.data
        with pytest.raises(TypeError):
            clone.channels["x"] = clone.channels["red"]
    # A copy made by the caller is theirs to change.
    mine = copy.deepcopy(dict(p.data))
    mine["name"] = "Mine"
    assert p.data["name"] == "Cache Test Par"


def test_the_cache_is_bounded_least_recently_used_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(profile_mod._CACHE, "size", 3)
    files = []
    for i in range(5):
        f = tmp_path / f"p{i}.yaml"
        f.write_text(PROFILE.replace("Cache Test Par", f"Par {i}"))
        files.append(f)
    p0 = load_profile(files[0])
    for f in files[1:3]:
        load_profile(f)
    assert load_profile(files[0]) is p0  # p0 is now the most recent; p1 the least
    load_profile(files[3])  # evicts p1
    load_profile(files[4])  # evicts p2
    assert profile_cache_info()["entries"] == 3
    assert load_profile(files[0]) is p0
    misses = profile_cache_info()["misses"]
    load_profile(files[1])
    assert profile_cache_info()["misses"] == misses + 1


def test_concurrent_loads_from_threads_are_all_correct(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # More files than entries, so loads, stores and evictions interleave between threads.
    monkeypatch.setattr(profile_mod._CACHE, "size", 4)
    files = []
    for i in range(8):
        f = tmp_path / f"t{i}.yaml"
        f.write_text(PROFILE.replace("Cache Test Par", f"Par {i}"))
        files.append(f)
    problems: list[str] = []

    def worker(offset: int) -> None:
        try:
            for k in range(40):
                i = (k * 3 + offset) % len(files)
                p = load_profile(files[i])
                if p.name != f"Par {i}" or p.key != f"t{i}":
                    problems.append(f"{files[i].name} gave {p.key}/{p.name}")
        except Exception as exc:  # noqa: BLE001 - any exception in a thread is the failure
            problems.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(j,)) for j in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert problems == []
    info = profile_cache_info()
    assert info["entries"] <= 4 and info["hits"] + info["misses"] == 160


def test_hot_reload_picks_up_a_profile_edit_and_reuses_unchanged_profiles(tmp_path: Path) -> None:
    prof = tmp_path / "cachetest-par.yaml"
    prof.write_text(PROFILE)
    show_file = tmp_path / "show.yaml"
    show_file.write_text(SHOW)
    show = load_show(show_file, profile_dirs=[tmp_path])
    assert prof in show.profile_files
    shows = []
    watcher = ShowWatcher.for_show(show, shows.append, profile_dirs=[tmp_path])
    # The show file is saved, the profile is not: the new show reuses the cached profile.
    stamp = show_file.stat().st_mtime_ns
    show_file.write_text(SHOW.replace("intensity: 1", "intensity: 0.5"))
    os.utime(show_file, ns=(stamp + 10**9,) * 2)
    assert watcher.poll() is True
    assert shows[-1].patch.fixtures[0].profile is show.patch.fixtures[0].profile
    # The profile is edited (same size, later mtime): the reload sees the edit.
    write_keeping_stat(prof, PROFILE.replace("beam_angle: 25", "beam_angle: 40"),
                       mtime_ns=prof.stat().st_mtime_ns + 10**9)
    assert watcher.poll() is True
    assert shows[-1].patch.fixtures[0].profile.physical.beam_angle == (40.0, 40.0)
    # A broken profile edit keeps the running show and reports where.
    errors = []
    watcher.on_error = errors.append
    write_keeping_stat(prof, PROFILE.replace("beam_angle: 25", "beam_angle: []"),
                       mtime_ns=prof.stat().st_mtime_ns + 10**9)
    assert watcher.poll() is False
    assert len(shows) == 2 and errors and "cachetest-par" in str(errors[0].errors[0])
