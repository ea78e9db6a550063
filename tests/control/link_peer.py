"""A Link peer for tests/control/test_link.py, run as a subprocess inside the test's network
namespace (``ip netns exec``). Prints one JSON object at the end on stdout.

    link_peer.py plain SECONDS BPM [AT NEWBPM]   a plain aalink peer; samples (t, tempo, beat, peers)
    link_peer.py follow SECONDS                  LinkSync follow with a recording operator
    link_peer.py lead SECONDS BPM T0 OFFSET      LinkSync lead over a fake engine whose beat is
                                                 (t - T0) * BPM / 60 + OFFSET
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import warnings


def plain(seconds: float, bpm: float, at: float | None, new_bpm: float | None) -> dict:
    import aalink

    async def main() -> dict:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            link = aalink.Link(bpm, asyncio.get_running_loop())
        link.quantum = 4
        link.enabled = True
        t0 = time.monotonic()
        samples = []
        changed = False
        while time.monotonic() - t0 < seconds:
            await asyncio.sleep(0.05)
            if at is not None and not changed and time.monotonic() - t0 >= at:
                link.tempo = new_bpm
                changed = True
            samples.append((time.monotonic(), link.tempo, link.beat, link.num_peers))
        link.enabled = False
        return {"samples": samples}

    return asyncio.run(main())


def follow(seconds: float) -> dict:
    from engine.control.link import LinkSync
    from engine.control.operator import Operator

    events = []
    op = Operator(lambda c, v: events.append((time.monotonic(), c, v)))
    sync = LinkSync("follow", op)
    sync.start()
    time.sleep(seconds)
    stats = sync.stats()
    sync.stop()
    return {"events": events, "stats": stats}


class FakeEngineStatus:
    def __init__(self, bpm: float, t0: float, offset: float) -> None:
        self.bpm, self.t0, self.offset = bpm, t0, offset

    def snapshot(self) -> dict:
        now = time.monotonic()
        beats = (now - self.t0) * self.bpm / 60 + self.offset
        return {"bpm": self.bpm, "beat_phase": beats % 1.0, "beat_in_bar": int(beats) % 4 + 1,
                "heartbeat": now, "confidence": 0.9,
                "analysis_lag_ms": 0.0}


def lead(seconds: float, bpm: float, t0: float, offset: float) -> dict:
    from engine.control.link import LinkSync
    from engine.control.operator import Operator

    sync = LinkSync("lead", Operator(lambda c, v: None), FakeEngineStatus(bpm, t0, offset))
    sync.start()
    time.sleep(seconds)
    stats = sync.stats()
    sync.stop()
    return {"stats": stats}


if __name__ == "__main__":
    role, secs = sys.argv[1], float(sys.argv[2])
    if role == "plain":
        extra = [float(x) for x in sys.argv[4:6]] if len(sys.argv) > 4 else [None, None]
        out = plain(secs, float(sys.argv[3]), *extra)
    elif role == "follow":
        out = follow(secs)
    else:
        out = lead(secs, float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
    print(json.dumps(out))
