"""``beamsync run`` opens the monitor on a real X11 server (Xvfb, Qt's xcb platform plugin), in its own
process beside the process engine (the default layout)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("ui_helpers", Path(__file__).with_name("helpers.py"))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run not installed (Debian package xvfb)")
def test_beamsync_run_opens_the_window_under_xvfb(tmp_path, club_show, demo):
    import soundfile as sf
    from PySide6.QtGui import QImage

    wav = tmp_path / "demo.wav"
    sf.write(wav, demo.samples[: 8 * 48000], 48000)
    grab = tmp_path / "xvfb-window.png"
    env = dict(os.environ, QT_QPA_PLATFORM="xcb", BEAMSYNC_UI_GRAB=str(grab), JACK_NO_START_SERVER="1",
               XDG_CONFIG_HOME=str(tmp_path / "config"))  # the window's remembered layout stays in tmp
    env.pop("JACK_DEFAULT_SERVER", None)
    env.pop("DISPLAY", None)
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable, "-m", "engine.cli", "run", str(club_show),
           "--audio", str(wav), "--duration", "4"]
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "monitor window open" in r.stderr
    assert f"window (xcb) saved to {grab}" in r.stderr, r.stderr[-3000:]
    assert "done after" in r.stderr
    arr = helpers.to_array(QImage(str(grab)))
    print(f"\nXvfb screenshot: {grab} ({arr.shape[1]}x{arr.shape[0]})")
    assert arr.shape[0] >= 600 and arr.shape[1] >= 1000
    assert helpers.distinct_colours(arr) > 200
    assert helpers.saturated_pixels(arr) > 2000  # lit fixtures, meters, onset ticks


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", "run", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def test_run_without_a_display_opens_no_window(tmp_path, club_show, demo):
    import soundfile as sf

    wav = tmp_path / "demo.wav"
    sf.write(wav, demo.samples[: 3 * 48000], 48000)
    base = dict(os.environ, JACK_NO_START_SERVER="1")
    for key in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY", "JACK_DEFAULT_SERVER"):
        base.pop(key, None)
    args = [str(club_show), "--audio", str(wav), "--engine", "thread", "--duration", "1.5"]
    r = _run(args, base)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "beamsync: no window (no display (DISPLAY/WAYLAND_DISPLAY unset)); running headless" in r.stderr
    assert "monitor window open" not in r.stderr and "done after" in r.stderr


def test_sigterm_stops_a_run_with_a_window_cleanly(tmp_path, club_show, demo):
    import signal
    import time

    import soundfile as sf

    wav = tmp_path / "demo.wav"
    sf.write(wav, demo.samples[: 3 * 48000], 48000)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", JACK_NO_START_SERVER="1", PYTHONUNBUFFERED="1",
               XDG_CONFIG_HOME=str(tmp_path / "config"))
    env.pop("JACK_DEFAULT_SERVER", None)
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "run", str(club_show), "--audio", str(wav), "--loop",
                             "--engine", "thread"], cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            lines.append(line)
            if "monitor window open" in line or not line:
                break
        assert any("monitor window open" in ln for ln in lines), "".join(lines)
        time.sleep(1.5)
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=30)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, rest[-2000:]
    assert "done after" in rest
    assert (tmp_path / "config" / "beamsync" / "monitor.conf").is_file()  # the layout was saved on close
