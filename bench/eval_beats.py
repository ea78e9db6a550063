"""Beat, downbeat, tempo and onset evaluation over ../shared/eval (same as ``beamsync bench beats``).

    .venv/bin/python bench/eval_beats.py [--per-file] [--midi 5] [--beatnet-python PY]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.analysis.bench import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
