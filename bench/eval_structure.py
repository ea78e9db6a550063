"""Evaluate the live structure analyser: see :mod:`engine.analysis.structure_eval`.

    .venv/bin/python bench/eval_structure.py [--quick] [--oracle-beats] [--verbose]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.analysis.structure_eval import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
