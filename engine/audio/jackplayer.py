"""Play a .npy signal into a JACK input port once (run as a subprocess by tests and benchmarks).

Usage: python -m engine.audio.jackplayer SIGNAL.npy TARGET_PORT LEAD_IN_SECONDS. Waits for TARGET_PORT to exist,
connects, plays silence for LEAD_IN seconds, then the signal, then prints a JSON line with the
xruns JACK reported while playing and exits.
"""

import gc
import json
import sys
import threading
import time

import numpy as np


def main(argv: list[str]) -> int:
    import jack  # the JACK-Client package (test/bench extra)

    signal = np.load(argv[0]).astype(np.float32)
    target = argv[1]
    lead_in = float(argv[2])

    client = jack.Client("beamsync-player", no_start_server=True)
    out = client.outports.register("out")
    state = {"pos": -1, "xruns": 0, "lead": 0}
    done = threading.Event()

    @client.set_xrun_callback
    def _xrun(delay):  # noqa: ANN001
        # Count only while the signal plays: JACK may report one when the graph changes as
        # clients connect, which is not a missed deadline of the running stream.
        if state["pos"] >= 0 and state["lead"] <= 0 and not done.is_set():
            state["xruns"] += 1

    @client.set_process_callback
    def _process(frames):  # noqa: ANN001
        buf = out.get_array()
        if state["pos"] < 0:
            buf[:] = 0
            return
        if state["lead"] > 0:
            buf[:] = 0
            state["lead"] -= frames
            return
        p = state["pos"]
        n = max(0, min(frames, len(signal) - p))
        buf[:n] = signal[p : p + n]
        buf[n:] = 0
        state["pos"] = p + frames
        if p + frames >= len(signal):
            done.set()

    gc.freeze()  # a full collection inside the process callback would overrun the cycle (see engine/audio/process.py)
    with client:
        deadline = time.monotonic() + 10
        while not (ports := client.get_ports(target, is_input=True)):
            if time.monotonic() > deadline:
                print(json.dumps({"error": f"port {target} never appeared"}), flush=True)
                return 1
            time.sleep(0.02)
        client.connect(out, ports[0])
        state["lead"] = int(lead_in * client.samplerate)
        state["pos"] = 0
        done.wait(timeout=len(signal) / client.samplerate + lead_in + 10)
        time.sleep(0.1)
        print(json.dumps({"xruns": state["xruns"], "frames": len(signal)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
