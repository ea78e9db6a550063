"""The worker process logs through the parent's handlers (``--log-json`` / ``--log-file``)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np

from engine.audio.filesource import FileSource
from engine.control.service import setup_logging
from engine.live.engine import LiveEngine

SR = 48000
SHOW = """\
show: log test
outputs:
  - {type: sacn, name: test, universes: [1], destinations: [127.0.0.1], port: 59931, rate: 10}
fixtures:
  - {name: lamp, profile: generic-dimmer, universe: 1, address: 1}
looks:
  main:
    - {group: lamp, intensity: 0.5}
layers:
  - {name: main, look: main}
"""


def test_worker_records_reach_the_parents_json_log_file(tmp_path: Path):
    show = tmp_path / "show.yaml"
    show.write_text(SHOW)
    log_file = tmp_path / "beamsync.log"
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    src = FileSource(samples=np.zeros(SR * 4, np.float32), sample_rate=SR, block_size=256, realtime=True,
                     loop=True, shared=True)
    try:
        setup_logging(json_lines=True, file=log_file, level=logging.INFO)
        engine = LiveEngine(show, src, mode="process")  # the worker spec takes the level set here
        engine.start(timeout=60)
        engine.post("no-such-command", 1)  # the worker answers with a warning record
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "no-such-command" not in log_file.read_text():
            time.sleep(0.1)
        engine.close()
        for h in root.handlers:
            h.flush()
        records = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
            h.close()
        for h in saved_handlers:
            root.addHandler(h)
        root.setLevel(saved_level)
    hits = [r for r in records if "no-such-command" in r["msg"]]
    assert hits, records
    assert hits[0]["level"] == "warning" and hits[0]["logger"].startswith("beamsync")
