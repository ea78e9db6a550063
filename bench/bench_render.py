"""Render 1,000 fixtures (40 universes) from attributes to DMX; prints time per frame.

Usage: .venv/bin/python bench/bench_render.py [--fixtures N] [--frames N]
(the same as ``beamsync bench render``).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.fixtures.bench import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
