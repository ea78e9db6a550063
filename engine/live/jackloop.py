"""Play a .npy signal in a loop into a JACK input port until stopped (soak and starvation benches).

Usage: ``python -m engine.live.jackloop SIGNAL.npy TARGET_PORT``. Waits for TARGET_PORT to exist,
connects, then loops the signal. Once a second it prints one JSON line with the xruns JACK
reported since it connected (``{"xruns": N, "loops": L}``), so a bench can read the server's own
xrun count next to the engine's PortAudio flags. Ends on SIGTERM/SIGINT with a last line.

It runs as its own process (never inside the bench's process): a JACK client is a realtime
thread that must not share a GIL with the bench's bookkeeping.
"""

from __future__ import annotations

import gc
import json
import signal
import sys
import threading
import time

import numpy as np


def main(argv: list[str]) -> int:
    import jack  # the JACK-Client package (test/bench extra)

    data = np.load(argv[0]).astype(np.float32)
    target = argv[1]
    client = jack.Client("beamsync-loop", no_start_server=True)
    out = client.outports.register("out")
    state = {"pos": -1, "xruns": 0, "loops": 0}
    stop = threading.Event()
    n_total = len(data)

    @client.set_xrun_callback
    def _xrun(delay):  # noqa: ANN001
        if state["pos"] >= 0:  # graph changes while connecting are not the stream's xruns
            state["xruns"] += 1

    @client.set_process_callback
    def _process(frames):  # noqa: ANN001
        buf = out.get_array()
        p = state["pos"]
        if p < 0:
            buf[:] = 0
            return
        first = min(frames, n_total - p)
        buf[:first] = data[p : p + first]
        if first < frames:  # wrap around: the loop restarts inside this period
            buf[first:] = data[: frames - first]
            state["pos"] = frames - first
            state["loops"] += 1
        else:
            state["pos"] = p + frames

    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    gc.freeze()  # a full collection inside the process callback would overrun the cycle (see engine/audio/process.py)
    with client:
        deadline = time.monotonic() + 20
        while not (ports := client.get_ports(target, is_input=True)):
            if time.monotonic() > deadline or stop.is_set():
                print(json.dumps({"error": f"port {target} never appeared"}), flush=True)
                return 1
            time.sleep(0.02)
        client.connect(out, ports[0])
        state["pos"] = 0
        while not stop.wait(1.0):
            print(json.dumps({"xruns": state["xruns"], "loops": state["loops"]}), flush=True)
        print(json.dumps({"xruns": state["xruns"], "loops": state["loops"], "final": True}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
