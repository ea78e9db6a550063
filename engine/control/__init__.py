"""beamsync control: steering and synchronising a headless engine (``docs/control.md``).

- :mod:`engine.control.operator` — the operator controls every surface ends in;
- :mod:`engine.control.osc` — OSC control server (loopback by default, allow-list, feedback);
- :mod:`engine.control.midi` — MIDI controllers (mapping file, LEDs, clock in/out);
  ``beamsync midi`` in :mod:`engine.control.commands`;
- :mod:`engine.control.link` — Ableton Link follow/lead;
- :mod:`engine.control.health` — the status snapshot answered to ``/beamsync/status``;
- :mod:`engine.control.service` — systemd notify/watchdog, signals, JSON/rotating logs;
- :mod:`engine.control.controls` — the wiring into ``beamsync run``.

Heavy dependencies (mido, aalink) are imported only when their surface is used.
"""
