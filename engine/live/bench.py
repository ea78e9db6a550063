"""``beamsync bench latency``: sound-to-packet latency through the real audio path.

A JACK dummy server runs the engine's PortAudio input at 128-frame blocks; a player client
plays a click track (clicks at known sample positions, 120 BPM) into it. The engine runs a
show in the separate analysis process with 16 sACN universes to 127.0.0.1: one dimmer flashes
on every onset, one on every beat (fired from the predicted beat time), the rest is a
512-fixture look for load. A UDP receiver on loopback timestamps every packet.

The true time of each click is measured on the engine's own sample clock: a monitor reader of
the audio ring finds each click's first sample and maps its frame to ``time.monotonic()`` by the
same ADC-time fit the engine uses. Reported:

- onset-triggered latency: click → first packet with the onset lamp lit;
- beat-locked error: first packet with the beat lamp lit − click (negative = early), after the
  tracker has locked (clicks after 6 s);
- CPU of the audio process and the analysis process (% of one core), xruns, lost frames.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

SR = 48000

SHOW = """\
show: latency bench
settings: {{frame_rate: 100}}
outputs:
  - {{type: sacn, name: bench, universes: 1-16, destinations: [127.0.0.1], port: {port}, rate: 44, latency_ms: {latency}}}
fixtures:
  - {{name: beatlamp, profile: generic-dimmer, universe: 1, address: 1}}
  - {{name: hitlamp, profile: generic-dimmer, universe: 1, address: 2}}
{filler}
groups:
  b: [beatlamp]
  h: [hitlamp]
  load: {{tag: load}}
palettes:
  p: [red, blue, green, magenta]
looks:
  main:
    - group: b
      pulse: {{trigger: beat, decay: 80ms}}
    - group: h
      pulse: {{trigger: onset, decay: 80ms}}
    - group: load
      colour: {{palette: p, spread: 1}}
      chase: {{period: 1 bar, width: 0.25}}
layers:
  - {{name: main, look: main}}
rules:
  - when: downbeat
    do: {{palette_step: p}}
"""


def click_track(seconds: float, bpm: float = 120.0) -> tuple[np.ndarray, np.ndarray]:
    """A 2 kHz click with a 60 Hz thump on every beat from 0.5 s; returns samples and click frames."""
    n = int(seconds * SR)
    x = np.zeros(n, np.float32)
    starts = np.round(np.arange(0.5, seconds - 0.3, 60.0 / bpm) * SR).astype(int)
    m = int(0.03 * SR)
    env = np.exp(-np.arange(m) / (0.006 * SR))
    rng = np.random.default_rng(3)
    click = (0.6 * np.sin(2 * np.pi * 2000 * np.arange(m) / SR) + 0.3 * rng.standard_normal(m)) * env
    k = int(0.12 * SR)
    kick = 0.8 * np.sin(2 * np.pi * 60 * np.arange(k) / SR) * np.exp(-np.arange(k) / (0.04 * SR))
    for i in starts:
        x[i : i + m] += click[: n - i]
        x[i : i + k] += kick[: max(0, min(k, n - i))]
    x[starts] = 0.9  # a sharp first sample, easy to find exactly on the monitor side
    return x, starts


def _filler() -> str:
    lines = []
    for u in range(1, 17):
        start = 3 if u == 1 else 1
        lines.append(
            f"  - {{name: par{u}-, profile: led-par-rgb, mode: 5ch, universe: {u}, address: {start}, count: 32, "
            f"tags: [load]}}"
        )
    return "\n".join(lines)


class Receiver(threading.Thread):
    """Records (arrival monotonic time, universe, slot 1, slot 2) of every E1.31 data packet."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", port))
        self.sock.settimeout(0.1)
        self.rows: list[tuple[float, int, int, int, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                data = self.sock.recv(2048)
            except socket.timeout:
                continue
            t = time.monotonic()
            if len(data) < 128 or data[4:16] != b"ASC-E1.17\x00\x00\x00" or data[117] != 0x02:
                continue
            universe = struct.unpack("!H", data[113:115])[0]
            seq = data[111]
            self.rows.append((t, universe, data[126], data[127], seq))
        self.sock.close()


def _rises(rows: np.ndarray, col: int) -> np.ndarray:
    v = rows[:, col]
    up = np.flatnonzero((v[1:] >= 128) & (v[:-1] < 128)) + 1
    return rows[up, 0]


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a process so far (Linux /proc), 0 when unknown."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _pct(x: np.ndarray) -> str:
    if len(x) == 0:
        return "n/a"
    return (f"p50 {np.percentile(x, 50):6.2f}  p95 {np.percentile(x, 95):6.2f}  p99 {np.percentile(x, 99):6.2f}  "
            f"max {x.max():6.2f} ms  (n={len(x)})")


def measure(seconds: float = 30.0, block: int = 128, flash: bool = True, latency_ms: float = 0.0,
            output_process: bool = True, device_rate: int = SR) -> dict:
    """Run the click track through JACK → engine → sACN once; return the raw measurements.

    ``output_process``: the sACN sender in its own process (the engine's default; an onset's
    kick crosses a pipe to it) or a thread of the worker (``--in-process-senders``).
    ``device_rate``: the JACK server's rate; other than 48000 the input is resampled to the
    stream's 48 kHz (engine/audio/resample.py; the click track then plays at that rate)."""
    from engine.audio.clock import SampleClock
    from engine.audio.jackserver import JackDummyServer
    from engine.audio.process import AudioProcess
    from engine.live.engine import LiveEngine

    signal, click_frames = click_track(seconds)
    server = JackDummyServer(rate=device_rate, period=block)
    old_env = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    os.environ.update(JACK_DEFAULT_SERVER=server.name, JACK_NO_START_SERVER="1")
    tmp = Path(tempfile.mkdtemp(prefix="beamsync-latency-"))
    rx_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx_sock.bind(("127.0.0.1", 0))
    port = rx_sock.getsockname()[1]
    rx_sock.close()
    show = tmp / "latency.yaml"
    show.write_text(SHOW.format(port=port, latency=latency_ms, filler=_filler()))
    np.save(tmp / "clicks.npy", signal)
    rx = Receiver(port)
    rx.start()
    src = AudioProcess(None, SR, block, [0])
    engine = LiveEngine(show, src, low_latency_flash=flash, output_process=output_process)
    monitor = src.ring.reader_view()
    mclock = SampleClock(SR)
    found: list[float] = []
    buf = np.zeros((8192, 1), np.float32)
    last_hot = -SR
    cpu0 = time.process_time()
    cpu_samples: list[float] = []
    try:
        engine.start()
        t_start = time.monotonic()
        audio_cpu0 = _cpu_seconds(src.pid)
        player = subprocess.Popen([sys.executable, "-m", "engine.audio.jackplayer", str(tmp / "clicks.npy"),
                                   "PortAudio:in_.*", "0.5"], env=server.env(), stdout=subprocess.PIPE, text=True)
        while player.poll() is None or monitor.available() > 0:
            first, n = monitor.read(buf)
            meta = monitor.read_meta()
            if len(meta):
                mclock.update(meta)
            if n:
                for h in np.flatnonzero(np.abs(buf[:n, 0]) > 0.5):
                    f = first + int(h)
                    if f - last_hot > int(0.2 * SR) and mclock.ready:  # a click: 0.2 s after the last
                        # its ADC time on the clock as fitted now (the fit restarts at xruns)
                        found.append(mclock.frame_to_time(f))
                    last_hot = f
            st = engine.status.snapshot()
            if st["cpu_percent"] > 0:
                cpu_samples.append(st["cpu_percent"])
            time.sleep(0.01)
            if time.monotonic() - t_start > seconds + 20:
                break
        time.sleep(0.5)
        wall = time.monotonic() - t_start
        cpu_main = 100.0 * (time.process_time() - cpu0) / wall
        cpu_audio = 100.0 * (_cpu_seconds(src.pid) - audio_cpu0) / wall
        stats = src.stats()
        final = engine.status.snapshot()
    finally:
        engine.close()
        rx.stop.set()
        rx.join(2)
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()

    rows = np.array([r for r in rx.rows if r[1] == 1], dtype=np.float64).reshape(-1, 5)
    clicks = np.array(found)
    # rows: arrival, universe, slot 1 (beat lamp), slot 2 (onset lamp), sequence
    beat_rises = _rises(rows, 2) if len(rows) else np.zeros(0)
    onset_rises = _rises(rows, 3) if len(rows) else np.zeros(0)
    lat, err = [], []
    for c in clicks:
        after = onset_rises[onset_rises >= c - 0.002]
        if len(after) and after[0] - c < 0.2:
            lat.append(1000.0 * (after[0] - c))
        if c - clicks[0] >= 6.0:
            near = beat_rises[np.abs(beat_rises - c) < 0.15]
            if len(near):
                err.append(1000.0 * (near[np.argmin(np.abs(near - c))] - c))
    return {
        "realtime": server.realtime, "clicks_played": len(click_frames), "clicks_found": len(clicks),
        "packets_u1": len(rows), "packets": len(rx.rows), "onset_ms": np.array(lat), "beat_ms": np.array(err),
        "beats_expected": sum(1 for c in clicks if c - clicks[0] >= 6.0) if len(clicks) else 0,
        "cpu_worker": float(np.mean(cpu_samples)) if cpu_samples else 0.0, "cpu_main": cpu_main, "cpu_audio": cpu_audio,
        "analysis_load": final["analysis_load"], "xruns": stats.xruns,
        "lost": stats.lost_frames + int(final["lost_frames"]), "output_errors": int(final["output_errors"]),
        "clock_refits": mclock.discontinuities,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="beamsync bench latency", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=30.0, help="length of the click track (default 30)")
    p.add_argument("--block", type=int, default=128, help="frames per audio callback (default 128)")
    p.add_argument("--no-flash", action="store_true", help="turn off the low-latency flash (onset frames wait for the cadence)")
    p.add_argument("--latency-ms", type=float, default=0.0, help="output latency offset of the show's sACN output")
    p.add_argument("--device-rate", type=int, default=SR,
                   help="the JACK server's rate (default 48000); another rate runs the input resampled to 48 kHz")
    p.add_argument("--in-process-senders", action="store_true",
                   help="run the sACN sender as a thread of the worker instead of its own process (the default)")
    args = p.parse_args(argv)
    r = measure(args.seconds, args.block, not args.no_flash, args.latency_ms, not args.in_process_senders,
                args.device_rate)
    lat_a, err_a = r["onset_ms"], r["beat_ms"]
    resampled = f" (input resampled to {SR} Hz)" if args.device_rate != SR else ""
    print(f"# beamsync bench latency: JACK dummy {args.device_rate} Hz{resampled} / {args.block} frames, {'SCHED_FIFO' if r['realtime'] else 'no-rt'}, "
          f"{args.seconds * SR / args.device_rate:.3g} s click track ({120 * args.device_rate / SR:.4g} BPM), 16 sACN universes on loopback, "
          f"low-latency flash {'off' if args.no_flash else 'on'}, sACN sender "
          f"{'in the worker' if args.in_process_senders else 'in its own process'}, load average {os.getloadavg()[0]:.2f}")
    print(f"clicks played {r['clicks_played']}, found on the sample clock {r['clicks_found']}; packets on universe 1: "
          f"{r['packets_u1']}; all universes: {r['packets']}")
    print(f"onset-triggered sound-to-packet latency: {_pct(lat_a)}; flashes missed: {r['clicks_found'] - len(lat_a)}")
    if len(err_a):
        print(f"beat-locked error (packet - click): median {np.median(err_a):+6.2f} ms, median |error| "
              f"{np.median(np.abs(err_a)):5.2f} ms, p95 |error| {np.percentile(np.abs(err_a), 95):5.2f} ms "
              f"(n={len(err_a)} beats after 6 s; missed {r['beats_expected'] - len(err_a)})")
    else:
        print("beat-locked error: no beat flashes matched")
    worker = "analysis+show+senders" if args.in_process_senders else "analysis+show (senders not counted)"
    print(f"CPU (% of one core): {worker} process {r['cpu_worker']:5.1f}, audio process "
          f"{r['cpu_audio']:5.1f}, pipeline total {r['cpu_worker'] + r['cpu_audio']:5.1f}; main process "
          f"{r['cpu_main']:5.1f} (mostly this benchmark's click monitor); analysis {r['analysis_load']:.3f} s per audio s")
    print(f"audio: xruns {r['xruns']} (clock refits {r['clock_refits']}), lost frames {r['lost']}; "
          f"output errors {r['output_errors']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
