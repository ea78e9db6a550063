"""Note transcription benchmark, streaming vs offline Basic Pitch (same as ``beamsync bench notes``).

    .venv/bin/python bench/eval_notes.py [--seconds 0] [--settle] [--harmony [--audio-songs 4]]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.analysis.notes_eval import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
