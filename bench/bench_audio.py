#!/usr/bin/env python3
"""Callback jitter and xruns under analysis load: threads vs a separate process.

Same as ``beamsync bench audio``; run from the repository root:
``.venv/bin/python bench/bench_audio.py --seconds 10``.
"""

import sys

from engine.audio.bench import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
