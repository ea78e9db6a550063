#!/usr/bin/env python3
"""What the monitor window costs the engine: callback jitter and output cadence, window vs headless.

Same as ``beamsync bench ui``; run from the repository root:
``.venv/bin/python bench/bench_ui.py --seconds 10``
(``xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python bench/bench_ui.py --platform xcb``
for the X11 platform plugin).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.ui.bench import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
