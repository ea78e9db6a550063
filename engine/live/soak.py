"""``beamsync bench soak``: the whole engine for a long time; resources and counters over time.

The engine runs as ``beamsync run`` runs it: the audio input in its supervised process (a JACK
dummy server at 256-frame blocks, fed by a player that loops music into it) or a paced file
source, the analysis + show + outputs in the worker process, with a large generated show
(about 1,000 fixtures on 64 universes: 32 sACN + 32 Art-Net, all to 127.0.0.1, counted by two
receivers in this process).

Every ``--sample-every`` seconds it records, per process (main, worker, audio, and the worker's
output process when the DMX senders run in one): resident memory,
threads and open file descriptors; and the engine's counters: PortAudio xruns, JACK's own
xruns (from the player), frames lost to ring overflow, audio skipped by graceful degradation,
show frames and late show frames, output sender ticks, cadence slots missed, send errors and
jitter. At the end it fits a line to each process's memory after a warm-up (MB per hour; a
slope, not first-vs-last) and prints the figures next to the goals (docs/reliability.md):
memory growth < 5 MB/h, zero missed output frames, zero xruns at 256 frames.

``run_soak()`` is the library form; ``tests/reliability/test_soak.py`` runs a short one.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from engine.errors import BeamsyncError

SR = 48000
REPO = Path(__file__).resolve().parents[2]
GOAL_MB_PER_HOUR = 5.0


class SoakError(BeamsyncError):
    """The soak could not run (no JACK server, the engine did not start)."""


# -- the show ----------------------------------------------------------------------------------
def write_soak_show(path: Path, sacn_port: int, artnet_port: int, copies: int = 32) -> int:
    """Write the soak show: the club show's looks, signals and rules on ``copies`` copies of the
    club rig, each on two universes (``2 * copies`` universes; the first half sACN, the second
    Art-Net). Returns the number of fixtures."""
    club = (REPO / "shows" / "club-edm.yaml").read_text()
    looks_and_rules = "palettes:" + club.split("palettes:", 1)[1]
    lines: list[str] = []
    count = 0
    for k in range(copies):
        u, y = 2 * k + 1, float(k)
        lines += [
            f"  - {{name: par{k}-, profile: led-par-rgbw, mode: 7ch, universe: {u}, address: 1, count: 8, "
            f"position: [-3.5, {y}, 4], spacing: [1, 0, 0], tags: [pars]}}",
            f"  - {{name: wash{k}-, profile: wash-mover-zoom, mode: 16ch, universe: {u}, address: 101, count: 4, "
            f"position: [-3, {y}, 5], spacing: [2, 0, 0], tags: [washes, movers]}}",
            f"  - {{name: spot{k}-, profile: spot-moving-head, mode: 14ch, universe: {u}, address: 201, count: 4, "
            f"position: [-3, {y}, 5], spacing: [2, 0, 0], tags: [spots, movers]}}",
            f"  - {{name: strobe{k}-, profile: led-strobe-rgbw, universe: {u}, address: 301, count: 2, "
            f"position: [-2, {y}, 4], spacing: [4, 0, 0], tags: [strobes]}}",
            f"  - {{name: haze{k}, profile: haze-machine, universe: {u}, address: 401, tags: [haze]}}",
            f"  - {{name: pixel{k}-, profile: pixel-bar-12-rgbw, mode: 48ch, universe: {u + 1}, address: 1, count: 4, "
            f"position: [-3, {y}, 3], spacing: [2, 0, 0], tags: [pixels]}}",
        ]
        count += 8 + 4 + 4 + 2 + 1 + 4
    half = copies  # universes 1..copies on sACN, the rest on Art-Net
    groups = "\n".join(f"  {g}: {{tag: {g}}}" for g in ("pars", "washes", "spots", "movers", "strobes", "haze", "pixels"))
    path.write_text(
        "show: soak (club show on a 64-universe rig)\n"
        "settings: {frame_rate: 100, beats_per_bar: 4, transition: 1/2 beat, seed: 7}\n"
        "outputs:\n"
        f"  - {{type: sacn, name: sacn, universes: 1-{half}, destinations: [127.0.0.1], port: {sacn_port}, rate: 44}}\n"
        f"  - {{type: artnet, name: artnet, universes: {half + 1}-{2 * copies}, destinations: [127.0.0.1], "
        f"port: {artnet_port}, rate: 44}}\n"
        "fixtures:\n" + "\n".join(lines) + "\ngroups:\n" + groups + "\n" + looks_and_rules
    )
    return count


# -- receivers and process figures --------------------------------------------------------------
class PacketCounter(threading.Thread):
    """Counts E1.31 or ArtDmx packets arriving on a loopback port, per universe."""

    def __init__(self, kind: str) -> None:
        super().__init__(daemon=True, name=f"soak-rx-{kind}")
        self.kind = kind
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.packets = 0
        self.universes: dict[int, int] = {}
        self._halt = threading.Event()

    def _universe(self, data: bytes) -> int | None:
        if self.kind == "sacn":
            if len(data) >= 126 and data[4:16] == b"ASC-E1.17\x00\x00\x00" and data[117] == 0x02:
                return struct.unpack("!H", data[113:115])[0]
        elif len(data) >= 18 and data[:8] == b"Art-Net\x00" and data[8:10] == b"\x00\x50":
            return struct.unpack("<H", data[14:16])[0]
        return None

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                data = self.sock.recv(2048)
            except socket.timeout:
                continue
            except OSError:
                return
            u = self._universe(data)
            if u is None:
                continue
            self.packets += 1
            self.universes[u] = self.universes.get(u, 0) + 1

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(2)
        self.sock.close()


def process_figures(pid: int | None) -> dict[str, float] | None:
    """Resident memory (MB), threads, open fds and CPU seconds of a process (Linux /proc)."""
    if pid is None:
        return None
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        threads = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("Threads:"))
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    return {"rss_mb": rss_kb / 1024.0, "threads": float(threads), "fds": float(fds), "cpu_s": cpu}


def slope_per_hour(t: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of ``y`` against ``t`` (seconds), per hour; nan with fewer than 3 points."""
    if len(t) < 3 or float(np.ptp(t)) <= 0:
        return float("nan")
    return float(np.polyfit(t / 3600.0, y, 1)[0])


@dataclass
class Sample:
    """One row of the soak's time series."""

    t: float
    load1: float
    procs: dict[str, dict[str, float]]
    xruns: int
    jack_xruns: int
    lost_frames: int
    skipped_frames: int
    show_frames: int
    show_late: int
    output_frames: int
    output_missed: int
    output_errors: int
    output_jitter_p99_ms: float
    analysis_load: float
    degraded: int
    analyser_crashes: int
    packets_sacn: int
    packets_artnet: int
    input_losses: int = 0  # the supervised audio input was lost and restarted


@dataclass
class SoakResult:
    """Everything a soak measured; :meth:`summary` gives the figures the report prints."""

    config: dict[str, Any]
    samples: list[Sample] = field(default_factory=list)
    messages: list[tuple[str, str]] = field(default_factory=list)
    universes_sacn: int = 0
    universes_artnet: int = 0
    realtime: bool | None = None
    warmup_s: float = 0.0
    failed: str | None = None
    #: Cycles jackd named a client for (``JackEngine::XRun: client = NAME was not finished``):
    #: ``PortAudio`` is the engine's input, ``beamsync-loop`` the soak's music player.
    late_clients: dict[str, int] = field(default_factory=dict)

    def series(self, proc: str, key: str, after: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        rows = [(s.t, s.procs[proc][key]) for s in self.samples if proc in s.procs and s.t >= after]
        a = np.array(rows, dtype=np.float64).reshape(-1, 2)
        return a[:, 0], a[:, 1]

    def summary(self) -> dict[str, Any]:
        if not self.samples:
            return {"failed": self.failed or "no samples"}
        last, first = self.samples[-1], self.samples[0]
        out: dict[str, Any] = {"seconds": last.t, "failed": self.failed}
        procs = sorted({p for s in self.samples for p in s.procs})
        mem: dict[str, Any] = {}
        for p in procs:
            t, rss = self.series(p, "rss_mb")
            tw, rw = self.series(p, "rss_mb", after=self.warmup_s)
            _, fds = self.series(p, "fds")
            _, thr = self.series(p, "threads")
            _, cpu = self.series(p, "cpu_s")
            mem[p] = {
                "rss_start_mb": float(rss[0]), "rss_end_mb": float(rss[-1]), "rss_max_mb": float(rss.max()),
                "rss_slope_mb_per_h": slope_per_hour(tw, rw), "fds_min": int(fds.min()), "fds_max": int(fds.max()),
                "threads_min": int(thr.min()), "threads_max": int(thr.max()),
                "cpu_percent": 100.0 * float(cpu[-1] - cpu[0]) / max(1e-9, float(t[-1] - t[0])),
            }
        total_t = np.array([s.t for s in self.samples if s.t >= self.warmup_s])
        total_r = np.array([sum(v["rss_mb"] for v in s.procs.values()) for s in self.samples if s.t >= self.warmup_s])
        out["processes"] = mem
        out["rss_slope_total_mb_per_h"] = slope_per_hour(total_t, total_r)
        out["load1_mean"] = float(np.mean([s.load1 for s in self.samples]))
        for k in ("xruns", "jack_xruns", "lost_frames", "skipped_frames", "show_frames", "show_late", "output_frames",
                  "output_missed", "output_errors", "degraded", "analyser_crashes", "packets_sacn", "packets_artnet",
                  "input_losses"):
            out[k] = int(getattr(last, k))
        out["output_jitter_p99_ms_max"] = float(max(s.output_jitter_p99_ms for s in self.samples))
        out["analysis_load_mean"] = float(np.mean([s.analysis_load for s in self.samples[1:] or self.samples]))
        dt = max(1e-9, last.t - first.t)
        out["show_fps"] = (last.show_frames - first.show_frames) / dt
        out["universes_sacn"], out["universes_artnet"] = self.universes_sacn, self.universes_artnet
        out["late_clients"] = dict(self.late_clients)
        return out


# -- the run ------------------------------------------------------------------------------------
def run_soak(minutes: float = 60.0, *, source: str = "jack", block: int = 256, stems: bool = False,
             notes: bool = False, sample_every: float = 10.0, warmup_minutes: float | None = None,
             copies: int = 32, on_sample: Callable[[Sample], None] | None = None,
             extra_analysers: list[str] | None = None, lift_priority: bool = True) -> SoakResult:
    """Run the engine for ``minutes`` of real time on ``source`` ("jack" or "file") and sample it.

    ``extra_analysers`` are handed to the worker (``"module:factory"``, see
    :class:`~engine.live.engine.WorkerSpec`); ``lift_priority=False`` leaves the worker at normal
    priority (the starvation benchmark compares both).
    """
    from engine.audio.demo import demo_clip
    from engine.audio.filesource import FileSource
    from engine.live.engine import LiveEngine

    if source not in ("jack", "file"):
        raise SoakError(f"--source must be jack or file, not {source!r}")
    duration = 60.0 * minutes
    warmup = 60.0 * warmup_minutes if warmup_minutes is not None else min(300.0, max(3 * sample_every, 0.2 * duration))
    config = {"minutes": minutes, "source": source, "block": block, "rate": SR, "stems": stems, "notes": notes,
              "universes": 2 * copies, "sample_every": sample_every, "warmup_s": warmup,
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
              "load_at_start": os.getloadavg()[0]}
    result = SoakResult(config, warmup_s=warmup)
    tmp = Path(tempfile.mkdtemp(prefix="beamsync-soak-"))
    rx_sacn, rx_art = PacketCounter("sacn"), PacketCounter("artnet")
    config["fixtures"] = write_soak_show(tmp / "soak.yaml", rx_sacn.port, rx_art.port, copies)
    clip = demo_clip(SR).samples.astype(np.float32)
    server = player = None
    old_env = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    jack_xruns = {"n": 0}
    engine = None
    warnings = _Collect(result.messages)  # the worker's log records reach this process's loggers
    logging.getLogger("beamsync").addHandler(warnings)
    try:
        if source == "jack":
            from engine.audio.errors import AudioError
            from engine.audio.jackserver import JackDummyServer
            from engine.audio.process import AudioProcess

            try:
                server = JackDummyServer(rate=SR, period=block, log=tmp / "jackd.log")
            except AudioError as exc:
                raise SoakError(f"no JACK dummy server ({exc}); use --source file") from None
            result.realtime = server.realtime
            os.environ.update(JACK_DEFAULT_SERVER=server.name, JACK_NO_START_SERVER="1")
            src: Any = AudioProcess(None, SR, block, [0])
        else:
            src = FileSource(samples=clip, sample_rate=SR, block_size=block, loop=True, shared=True)
        engine = LiveEngine(tmp / "soak.yaml", src, analysis={"stems": stems, "notes": notes},
                            extra_analysers=extra_analysers)
        if not lift_priority:
            engine.spec.loop_priority = engine.spec.worker_nice = None
        rx_sacn.start()
        rx_art.start()
        engine.start(timeout=120)
        if server is not None:
            np.save(tmp / "music.npy", clip)
            player = subprocess.Popen([sys.executable, "-m", "engine.live.jackloop", str(tmp / "music.npy"),
                                       "PortAudio:in_.*"], env=server.env(), stdout=subprocess.PIPE, text=True,
                                      cwd=REPO)

            def read_player() -> None:
                assert player is not None and player.stdout is not None
                for line in player.stdout:
                    try:
                        jack_xruns["n"] = int(json.loads(line).get("xruns", jack_xruns["n"]))
                    except ValueError:
                        pass

            threading.Thread(target=read_player, daemon=True, name="soak-player-reader").start()
        t0 = time.monotonic()
        next_sample = t0
        while True:
            now = time.monotonic()
            result.messages.extend(engine.poll_messages())
            if not engine.alive:
                result.failed = "the engine worker exited: " + "; ".join(t for k, t in result.messages if k == "error")
                break
            if player is not None and player.poll() is not None:
                result.failed = f"the music player left (exit {player.returncode}); the input would be silence"
                break
            if now >= next_sample:
                s = _sample(now - t0, engine, src, jack_xruns["n"], rx_sacn, rx_art)
                result.samples.append(s)
                if on_sample is not None:
                    on_sample(s)
                next_sample += sample_every
                if now - t0 >= duration:
                    break
            time.sleep(min(0.2, max(0.0, next_sample - time.monotonic())))
    finally:
        if player is not None:
            player.terminate()
            try:
                player.wait(5)
            except subprocess.TimeoutExpired:
                player.kill()
                player.wait()
        if engine is not None:
            engine.close()
        rx_sacn.stop()
        rx_art.stop()
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if server is not None:
            server.stop()
            result.late_clients = dict(server.late_clients())
        shutil.rmtree(tmp, ignore_errors=True)
        logging.getLogger("beamsync").removeHandler(warnings)
    result.universes_sacn = len(rx_sacn.universes)
    result.universes_artnet = len(rx_art.universes)
    config["load_at_end"] = os.getloadavg()[0]
    return result


class _Collect(logging.Handler):
    """Keeps the engine's warnings (degradation, input loss) as ("log", text) messages."""

    def __init__(self, into: list[tuple[str, str]]) -> None:
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(("log", record.getMessage()))


def _output_child(worker_pid: int | None) -> int | None:
    """The worker's output process (engine/output/process.py): its spawned child, told apart
    from multiprocessing's resource tracker by its command line. None when the senders run in
    the worker (``BEAMSYNC_OUTPUT_PROCESS=0``) or between a crash and the restart."""
    if worker_pid is None:
        return None
    try:
        tasks = os.listdir(f"/proc/{worker_pid}/task")
    except OSError:
        return None
    for task in tasks:
        try:
            with open(f"/proc/{worker_pid}/task/{task}/children") as f:
                kids = [int(k) for k in f.read().split()]
        except (OSError, ValueError):
            continue
        for kid in kids:
            try:
                with open(f"/proc/{kid}/cmdline", "rb") as f:
                    if b"spawn_main" in f.read():
                        return kid
            except OSError:
                continue
    return None


def _sample(t: float, engine: Any, src: Any, jack_xruns: int, rx_sacn: PacketCounter, rx_art: PacketCounter) -> Sample:
    st = engine.status.snapshot()
    procs: dict[str, dict[str, float]] = {}
    worker = getattr(engine, "_worker", None)
    wpid = getattr(worker, "pid", None)
    for name, pid in (("main", os.getpid()), ("worker", wpid), ("audio", getattr(src, "pid", None)),
                      ("output", _output_child(wpid))):
        fig = process_figures(pid)
        if fig is not None:
            procs[name] = fig
    stats = src.stats()
    return Sample(
        t=t, load1=os.getloadavg()[0], procs=procs, xruns=stats.xruns, jack_xruns=jack_xruns,
        lost_frames=stats.lost_frames + int(st["lost_frames"]), skipped_frames=int(st["skipped_frames"]),
        show_frames=int(st["show_frames"]), show_late=int(st["show_late"]), output_frames=int(st["output_frames"]),
        output_missed=int(st["output_missed"]), output_errors=int(st["output_errors"]),
        output_jitter_p99_ms=float(st["output_jitter_p99_ms"]), analysis_load=float(st["analysis_load"]),
        degraded=int(st["degraded"]), analyser_crashes=int(st["analyser_crashes"]),
        packets_sacn=rx_sacn.packets, packets_artnet=rx_art.packets, input_losses=int(getattr(src, "losses", 0)),
    )


def _row(s: Sample) -> str:
    rss = " ".join(f"{p}={v['rss_mb']:.1f}" for p, v in s.procs.items())
    fds = "/".join(str(int(v["fds"])) for v in s.procs.values())
    thr = "/".join(str(int(v["threads"])) for v in s.procs.values())
    return (f"t={s.t:7.0f}s load={s.load1:4.2f} rss_mb[{rss}] fds={fds} threads={thr} xruns={s.xruns} "
            f"jack_xruns={s.jack_xruns} lost={s.lost_frames} skipped={s.skipped_frames} show_frames={s.show_frames} "
            f"late={s.show_late} out_ticks={s.output_frames} missed={s.output_missed} errors={s.output_errors} "
            f"jitter_p99={s.output_jitter_p99_ms:.2f}ms load_an={s.analysis_load:.3f} degraded={s.degraded} "
            f"rx={s.packets_sacn}+{s.packets_artnet} input_losses={s.input_losses}")


def report(result: SoakResult) -> str:
    """The figures as printed at the end of ``beamsync bench soak``."""
    c, s = result.config, result.summary()
    if "processes" not in s:
        return f"soak failed: {s.get('failed')}"
    lines = [
        f"# beamsync bench soak: {c['date']}, {c['cpus']} CPUs, load average {c['load_at_start']:.2f} at start, "
        f"{c.get('load_at_end', float('nan')):.2f} at end, {s['load1_mean']:.2f} mean",
        f"source {c['source']} {c['rate']} Hz / {c['block']} frames"
        + (f" (JACK dummy, {'SCHED_FIFO' if result.realtime else 'no-rt'})" if c["source"] == "jack" else " (paced file)")
        + f"; analysis: beats, onsets, levels, structure{', stems' if c['stems'] else ''}{', notes' if c['notes'] else ''};"
        f" show {c['fixtures']} fixtures on {c['universes']} universes (sACN + Art-Net to 127.0.0.1)",
        f"ran {s['seconds']:.0f} s ({s['seconds'] / 60:.1f} min); memory slope fitted after {result.warmup_s:.0f} s warm-up",
    ]
    if result.failed:
        lines.append(f"FAILED: {result.failed}")
    for p, m in s["processes"].items():
        lines.append(
            f"  {p:6s} RSS {m['rss_start_mb']:7.1f} -> {m['rss_end_mb']:7.1f} MB (max {m['rss_max_mb']:.1f}), slope "
            f"{m['rss_slope_mb_per_h']:+7.2f} MB/h; fds {m['fds_min']}-{m['fds_max']}; threads "
            f"{m['threads_min']}-{m['threads_max']}; CPU {m['cpu_percent']:.1f}% of a core")
    lines += [
        f"  total RSS slope {s['rss_slope_total_mb_per_h']:+.2f} MB/h (goal < {GOAL_MB_PER_HOUR:g})",
        f"audio: PortAudio xruns {s['xruns']}, JACK xruns {s['jack_xruns']} (goal 0), frames lost to ring overflow "
        f"{s['lost_frames']}, skipped by degradation {s['skipped_frames']}, input losses (restarted) "
        f"{s['input_losses']}; analysis {s['analysis_load_mean']:.3f} s per "
        f"audio s, degraded {s['degraded']}, analyser crashes {s['analyser_crashes']}",
    ]
    if c["source"] == "jack":
        named = sum(result.late_clients.values())
        who = ", ".join(f"{k} {v}" for k, v in sorted(result.late_clients.items())) or "none"
        lines.append(f"  late JACK clients named by jackd: {who}; xruns no client was named for (the server's own, approximately): "
                     f"{max(0, s['jack_xruns'] - named)}")
    lines += [
        f"show: {s['show_frames']} frames ({s['show_fps']:.1f}/s incl. onset/beat frames), late {s['show_late']}",
        f"outputs: {s['output_frames']} sender ticks, cadence slots missed {s['output_missed']} (goal 0), send errors "
        f"{s['output_errors']}, jitter p99 (worst sample) {s['output_jitter_p99_ms_max']:.2f} ms; received "
        f"{s['packets_sacn']} sACN + {s['packets_artnet']} Art-Net packets on {s['universes_sacn']} + "
        f"{s['universes_artnet']} universes",
    ]
    fitted = s["seconds"] - result.warmup_s
    if fitted < 300:  # a slope over a few minutes is the warm-up, not a trend
        mem = f"not judged ({fitted:.0f} s after the warm-up; run 10 minutes or more)"
    else:
        mem = "met" if s["rss_slope_total_mb_per_h"] < GOAL_MB_PER_HOUR else "NOT met"
    lines.append(f"goals: memory {mem}; missed output frames "
                 f"{'met' if s['output_missed'] == 0 else 'NOT met'}; xruns "
                 f"{'met' if s['xruns'] + s['jack_xruns'] == 0 else 'NOT met'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="beamsync bench soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=60.0, help="how long to run (default 60)")
    p.add_argument("--source", choices=["jack", "file"], default="jack",
                   help="JACK dummy server with a looping player (default), or the paced file source")
    p.add_argument("--block", type=int, default=256, help="frames per audio callback (default 256)")
    p.add_argument("--stems", action="store_true", help="also run stem separation and per-stem features")
    p.add_argument("--notes", action="store_true", help="also run note transcription (Basic Pitch) and harmony")
    p.add_argument("--sample-every", type=float, default=10.0, metavar="S", help="seconds between samples (default 10)")
    p.add_argument("--warmup-minutes", type=float, metavar="M",
                   help="exclude this start from the memory slope (default 20%% of the run, at most 5 min)")
    p.add_argument("--json", metavar="FILE", help="also write every sample and the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no line per sample")
    args = p.parse_args(argv)
    r = run_soak(args.minutes, source=args.source, block=args.block, stems=args.stems, notes=args.notes,
                 sample_every=args.sample_every, warmup_minutes=args.warmup_minutes,
                 on_sample=None if args.quiet else (lambda s: print(_row(s), flush=True)))
    print(report(r), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"config": r.config, "summary": r.summary(),
                                               "samples": [asdict(s) for s in r.samples],
                                               "messages": r.messages}, indent=1, default=str))
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
