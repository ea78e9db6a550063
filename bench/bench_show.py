"""Show evaluation per frame: 500 fixtures, 30 rules, 10 layers (same as ``beamsync bench show``)."""

import sys

from engine.show.bench import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
