"""beamsync's monitor window (PySide6 + pyqtgraph) for VJs: input, analysis, stage, DMX,
controls and health, reading engine snapshots only (see ``docs/ui.md``).

- :mod:`engine.ui.stage`: the stage renderer and DMX grid (usable without an engine);
- :mod:`engine.ui.feed`: what the window reads (status, telemetry, audio ring view);
- :mod:`engine.ui.panels`, :mod:`engine.ui.window`: the widgets and the main window;
- :mod:`engine.ui.app`: ``run_window`` for ``beamsync run``, device switching;
- :mod:`engine.ui.remote`: the window in its own process beside the process engine;
- :mod:`engine.ui.recorded`: a feed from a fixed-step run of a file (screenshots, previews).

Importing this package does not import Qt; the submodules that draw do.
"""
