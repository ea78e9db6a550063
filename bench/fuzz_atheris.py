"""Coverage-guided fuzzing with atheris (libFuzzer) of the same entry points as bench/fuzz.py.

    .venv/bin/pip install "atheris>=2.3,<4"      # optional; not a beamsync dependency
    nice -n 10 .venv/bin/python bench/fuzz_atheris.py show -max_total_time=300
    nice -n 10 .venv/bin/python bench/fuzz_atheris.py osc -runs=200000

The target (show, ofl, qxf, osc, audio) gets libFuzzer's bytes as the whole file or datagram;
the corpus starts from the structure-aware seeds of ``tests/fuzz/targets.py`` (the example
shows, the OFL/QLC+ seeds and the XML bombs, sample datagrams, the audio seeds) written to
``--corpus`` (default: a temporary folder). The outcome checks are the same as in the
structure-aware runs: a crash is any exception other than the target's refusal, a wrong
outcome or an input past the deadline; libFuzzer then stops and writes ``crash-*`` with the
input. Extra arguments go to libFuzzer (``-runs``, ``-max_total_time``, ``-max_len`` ...).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import atheris  # noqa: E402

with atheris.instrument_imports(include=["engine", "pythonosc"]):
    # The entry points are imported here, inside the instrumentation (the targets module
    # imports them lazily).
    import engine.audio.file  # noqa: E402, F401
    import engine.config  # noqa: E402, F401
    import engine.control.osc  # noqa: E402, F401
    import engine.fixtures.importers.ofl  # noqa: E402, F401
    import engine.fixtures.importers.qlcplus  # noqa: E402, F401
    import engine.show.expr  # noqa: E402, F401
    import engine.show.loader  # noqa: E402, F401
    import engine.show.runtime  # noqa: E402, F401
    import pythonosc.osc_packet  # noqa: E402, F401

from tests.fuzz import targets as T  # noqa: E402


def _seeds(name: str) -> list[bytes]:
    if name == "show":
        return [s.encode() for s in T._SHOW_SEEDS] + [T.alias_bomb(4, 4).encode()]
    if name == "ofl":
        import json

        return [json.dumps(T.OFL_SEED).encode()]
    if name == "qxf":
        return [T.QXF_SEED.encode()] + [T.encode_xml(b, "utf-16") for b in T.XML_BOMBS.values()]
    if name == "osc":
        rnd = random.Random(0)
        return [T.make_osc(rnd) for _ in range(50)]
    return list(T._AUDIO_SEEDS.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("target", choices=["show", "ofl", "qxf", "osc", "audio"])
    ap.add_argument("--corpus", type=Path, default=None, help="corpus folder (kept; default: temporary)")
    ap.add_argument("--deadline", type=float, default=5.0, help="seconds per input")
    args, libfuzzer_args = ap.parse_known_args()

    target = T.targets()[args.target]
    workdir = Path(tempfile.mkdtemp(prefix=f"beamsync-atheris-{args.target}-"))
    target.setup(workdir)
    corpus = args.corpus or Path(tempfile.mkdtemp(prefix="beamsync-atheris-corpus-"))
    corpus.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(_seeds(args.target)):
        (corpus / f"seed-{i}").write_bytes(seed)

    def to_item(data: bytes):
        if args.target == "show":
            return {"show.yaml": data}
        if args.target == "audio":
            return ("wav", data)
        return data

    def one_input(data: bytes) -> None:
        T.run_one(target, to_item(data), workdir, args.deadline)

    atheris.Setup([sys.argv[0], *libfuzzer_args, str(corpus)], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
