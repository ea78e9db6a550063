"""``beamsync bench ui``: what the monitor window costs the engine: callback jitter and output cadence, window vs headless.

One run, one engine: a private JACK dummy server gives a real, paced PortAudio callback
(128-frame blocks at 48 kHz); ``LiveEngine`` runs the club show in its worker process (the
default ``beamsync run`` layout), sending sACN to a loopback port; a separate receiver process
timestamps every packet. The main process — the one with the audio callback — goes through
four phases of equal length:

1. ``headless``: the terminal loop of ``beamsync run --headless`` (sleep, read the status);
2. ``window``: the monitor window open and refreshing at its normal rate, in this process
   (``beamsync run --engine thread``, or ``BEAMSYNC_UI_PROCESS=0``);
3. ``ui-process``: the same window in its own process, the default of ``beamsync run`` with the
   process engine (this process only forwards commands and messages);
4. ``headless-2``: window closed again (shows drift of the machine's own load).

Per phase: the audio callback interval (from the callback's own timestamps in the ring's block
metadata: p50, p99, max, std), blocks flagged with xruns, and per universe the sACN packet
rate, packet interval std, p99 and the longest gap. Run from the repository root::

    .venv/bin/beamsync bench ui --seconds 10            # or .venv/bin/python bench/bench_ui.py
    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python bench/bench_ui.py --platform xcb

Figures depend on the machine and its other load (print the load average with them).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import socket
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from engine.audio.ring import META_CALLBACK_TIME, META_FLAGS

REPO = Path(__file__).resolve().parents[2]


def _receiver(port: int, stop, out) -> None:  # noqa: ANN001 - multiprocessing objects
    """Timestamps every E1.31 data packet on 127.0.0.1:port (its own process: no GIL sharing)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    sock.settimeout(0.05)
    rows = []
    out.put("ready")
    while not stop.is_set():
        try:
            data = sock.recv(2048)
        except socket.timeout:
            continue
        t = time.monotonic()
        if data[4:16] == b"ASC-E1.17\x00\x00\x00" and len(data) > 125:
            rows.append((t, struct.unpack("!H", data[113:115])[0]))
    sock.close()
    out.put(np.array(rows, dtype=np.float64).reshape(-1, 2))


def _player(server: str, stop, out) -> None:  # noqa: ANN001 - multiprocessing objects
    """Plays the demo clip (looped) into every PortAudio input port of the JACK server, from its own
    process, so the engine hears music and the show (and so the output) changes every frame."""
    os.environ["JACK_DEFAULT_SERVER"] = server
    os.environ["JACK_NO_START_SERVER"] = "1"
    import jack

    from engine.audio.demo import demo_clip

    clip = demo_clip(48000).samples.astype(np.float32)
    client = jack.Client("beamsync-bench-player", servername=server, no_start_server=True)
    port = client.outports.register("out")
    pos = [0]

    @client.set_process_callback
    def process(frames: int) -> None:
        buf = port.get_array()
        i, n = pos[0], len(clip)
        if i + frames <= n:
            buf[:] = clip[i : i + frames]
        else:
            k = n - i
            buf[:k] = clip[i:]
            buf[k:] = clip[: frames - k]
        pos[0] = (i + frames) % n

    client.activate()
    out.put("ready")
    linked: set[str] = set()
    while not stop.is_set():
        for p in client.get_ports("PortAudio", is_input=True, is_audio=True):
            if p.name not in linked:
                client.connect(port, p)
                linked.add(p.name)
        time.sleep(0.2)
    client.deactivate()
    client.close()


def _club_show(folder: Path, port: int) -> Path:
    shutil.copytree(REPO / "shows" / "rigs", folder / "rigs", dirs_exist_ok=True)
    rig = folder / "rigs" / "club-rig.yaml"
    rig.write_text(rig.read_text().replace("destinations: [127.0.0.1]", f"destinations: [127.0.0.1]\n    port: {port}", 1))
    show = folder / "show.yaml"
    show.write_text((REPO / "shows" / "club-edm.yaml").read_text())
    return show


def _free_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _callbacks(meta: np.ndarray, t0: float, t1: float) -> dict[str, float]:
    t = meta[:, META_CALLBACK_TIME]
    sel = (t >= t0) & (t < t1)
    iv = np.diff(t[sel]) * 1000.0
    if len(iv) < 2:
        return {"callbacks": 0, "p50": np.nan, "p99": np.nan, "max": np.nan, "std": np.nan, "xruns": 0}
    return {"callbacks": int(sel.sum()), "p50": float(np.percentile(iv, 50)), "p99": float(np.percentile(iv, 99)),
            "max": float(iv.max()), "std": float(iv.std()), "xruns": int(np.count_nonzero(meta[sel, META_FLAGS]))}


def _packets(rows: np.ndarray, t0: float, t1: float) -> dict[int, dict[str, float]]:
    out = {}
    for u in sorted(set(rows[:, 1].astype(int).tolist())):
        t = rows[(rows[:, 1] == u) & (rows[:, 0] >= t0) & (rows[:, 0] < t1), 0]
        iv = np.diff(t) * 1000.0
        if len(iv) < 2:
            continue
        out[u] = {"fps": len(t) / (t1 - t0), "std": float(iv.std()), "p99": float(np.percentile(iv, 99)),
                  "max": float(iv.max())}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="beamsync bench ui", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=10.0, help="seconds per phase (default 10)")
    p.add_argument("--platform", default=os.environ.get("QT_QPA_PLATFORM") or "offscreen",
                   help="Qt platform plugin for the window phase (offscreen, or xcb under xvfb-run)")
    p.add_argument("--switch-interval", type=float, default=None,
                   help="sys.setswitchinterval (seconds) during the in-process window phase (default: Python's 0.005)")
    p.add_argument("--block", type=int, default=128)
    p.add_argument("--rate", type=int, default=48000)
    args = p.parse_args(argv)
    os.environ["QT_QPA_PLATFORM"] = args.platform

    from engine.audio.devices import rescan
    from engine.audio.jackserver import JackDummyServer

    server = JackDummyServer(rate=args.rate, period=args.block)
    os.environ["JACK_DEFAULT_SERVER"] = server.name
    os.environ["JACK_NO_START_SERVER"] = "1"
    rescan()
    tmp = Path(tempfile.mkdtemp(prefix="beamsync-bench-ui-"))
    port = _free_port()
    show = _club_show(tmp, port)
    ctx = mp.get_context("spawn")
    stop, q = ctx.Event(), ctx.Queue()
    rx = ctx.Process(target=_receiver, args=(port, stop, q), daemon=True)
    rx.start()
    q.get(timeout=30)
    pq = ctx.Queue()
    player = ctx.Process(target=_player, args=(server.name, stop, pq), daemon=True)
    player.start()
    pq.get(timeout=30)
    ui_cost = {}
    engine = None
    ticks: list[float] = []
    phases: list[tuple[str, float, float, float]] = []  # name, t0, t1, main-process CPU %
    metas: list[np.ndarray] = []
    try:
        from engine.audio.stream import AudioInput
        from engine.live.engine import LiveEngine

        src = AudioInput(None, args.rate, args.block, channels=[0], shared=True)
        meta_view = src.ring.reader_view()
        engine = LiveEngine(show, src, mode="process")
        engine.start()
        time.sleep(2.0)  # settle: the worker's show and outputs are running
        meta_view.read_meta()

        def headless(name: str) -> None:
            c0, t0 = time.process_time(), time.monotonic()
            next_meta = t0
            while time.monotonic() - t0 < args.seconds:  # what `beamsync run --headless` does
                time.sleep(0.05)
                engine.poll_messages()
                engine.status.snapshot()
                if time.monotonic() >= next_meta:
                    metas.append(meta_view.read_meta())
                    next_meta += 0.25
            t1 = time.monotonic()
            metas.append(meta_view.read_meta())
            phases.append((name, t0, t1, 100.0 * (time.process_time() - c0) / (t1 - t0)))

        headless("headless")

        from PySide6.QtCore import QSettings, QTimer

        from engine.ui.app import make_app
        from engine.ui.feed import MonitorFeed
        from engine.ui.window import MonitorWindow

        app = make_app()
        win = MonitorWindow(MonitorFeed.from_engine(engine, "JACK dummy"),
                            settings=QSettings(str(tmp / "monitor.ini"), QSettings.IniFormat))
        win.resize(1600, 1000)
        win.show()
        orig_tick = win.tick

        def timed_tick() -> None:
            orig_tick()
            ticks.append(win.tick_seconds)

        win.timer.timeout.disconnect()
        win.timer.timeout.connect(timed_tick)
        for _ in range(20):  # first paint and layout outside the measured phase
            app.processEvents()
            time.sleep(0.01)
        ticks.clear()
        meta_timer = QTimer()
        meta_timer.timeout.connect(lambda: metas.append(meta_view.read_meta()))
        meta_timer.start(250)
        QTimer.singleShot(int(args.seconds * 1000), app.quit)
        old_switch = sys.getswitchinterval()
        if args.switch_interval:
            sys.setswitchinterval(args.switch_interval)
        c0, t0 = time.process_time(), time.monotonic()
        app.exec()
        t1 = time.monotonic()
        sys.setswitchinterval(old_switch)
        phases.append(("window", t0, t1, 100.0 * (time.process_time() - c0) / (t1 - t0)))
        meta_timer.stop()
        metas.append(meta_view.read_meta())
        win.close()
        app.processEvents()

        # the same window in its own process (the default of `beamsync run` with the process engine)
        from engine.ui.app import EngineHost
        from engine.ui.remote import UiProcess

        host = EngineHost(engine, src, "JACK dummy")
        ui = UiProcess(host)
        ui.start()
        if not ui.ready.wait(60):
            raise RuntimeError("the UI process did not open its window")
        time.sleep(1.0)  # first paint and layout outside the measured phase
        metas.append(meta_view.read_meta())
        c0, t0 = time.process_time(), time.monotonic()
        next_meta = t0
        while time.monotonic() - t0 < args.seconds:  # what run_window does while the UI process runs
            ui.closed.wait(0.1)
            for kind, text in engine.poll_messages():
                ui.forward(kind, text)
            if time.monotonic() >= next_meta:
                metas.append(meta_view.read_meta())
                next_meta += 0.25
        t1 = time.monotonic()
        metas.append(meta_view.read_meta())
        phases.append(("ui-process", t0, t1, 100.0 * (time.process_time() - c0) / (t1 - t0)))
        ui.stop()
        ui_cost["exit"] = ui.process.exitcode
        headless("headless-2")
        status = engine.status.snapshot()
    finally:
        if engine is not None:
            engine.close()
        stop.set()
        rows = q.get(timeout=30) if rx.is_alive() or not q.empty() else np.zeros((0, 2))
        rx.join(5)
        player.join(5)
        os.environ.pop("JACK_DEFAULT_SERVER", None)
        rescan()
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    meta = np.concatenate([m for m in metas if len(m)])
    period = 1000.0 * args.block / args.rate
    print(f"# beamsync bench ui: JACK dummy {args.rate} Hz, {args.block}-frame blocks (period {period:.3f} ms), "
          f"{'SCHED_FIFO' if server.realtime else 'no-realtime'}; engine in a worker process; window platform "
          f"'{args.platform}'; switch interval in the window phase {args.switch_interval or sys.getswitchinterval():g} s; "
          f"{args.seconds:g} s per phase; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f}; show fps {status['show_fps']:.0f}")
    print(f"{'phase':<12}{'main CPU%':>10}{'callbacks':>10}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'std ms':>8}"
          f"{'xruns':>6}  sACN per universe: fps, interval std/p99/max ms")
    results = {}
    for name, t0, t1, cpu in phases:
        cb = _callbacks(meta, t0, t1)
        pk = _packets(rows, t0, t1)
        results[name] = (cb, pk)
        outs = "; ".join(f"U{u} {v['fps']:.1f} fps {v['std']:.2f}/{v['p99']:.1f}/{v['max']:.1f}" for u, v in pk.items())
        print(f"{name:<12}{cpu:>10.1f}{cb['callbacks']:>10}{cb['p50']:>8.3f}{cb['p99']:>8.3f}{cb['max']:>8.3f}"
              f"{cb['std']:>8.3f}{cb['xruns']:>6}  {outs}")
    if ticks:
        t = np.array(ticks) * 1000.0
        print(f"window refreshes: {len(t)} in {args.seconds:g} s ({len(t) / args.seconds:.1f}/s), cost mean "
              f"{t.mean():.2f} ms, p99 {np.percentile(t, 99):.2f} ms, max {t.max():.2f} ms (plus Qt's own painting)")
    h = results["headless"][0]
    for name in ("window", "ui-process"):
        if name in results:
            w = results[name][0]
            print(f"{name} / headless: callback p99 {w['p99'] / h['p99']:.2f}x, std {w['std'] / h['std']:.2f}x, "
                  f"max {w['max'] / h['max']:.2f}x, xruns {w['xruns']} vs {h['xruns']}")
    return 0

