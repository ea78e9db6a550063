"""sACN sender cost, cadence and loss: beamsync vs the sacn package (same as ``beamsync bench output``)."""

import sys

from engine.output.bench import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
