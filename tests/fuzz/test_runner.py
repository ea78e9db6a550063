"""The long fuzz runner ``bench/fuzz.py``: a run split into parts (``--start``) or across worker
processes (``--jobs``) runs exactly the inputs a single run does, with the same outcomes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]


def _runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("beamsync_bench_fuzz", REPO / "bench" / "fuzz.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _counts(s) -> tuple[int, int, int, int, int]:  # type: ignore[no-untyped-def]
    return (s.inputs, s.accepted, s.refused, s.crashes, s.hangs)


def test_parts_and_jobs_run_the_same_inputs_as_one_run() -> None:
    fuzz = _runner()
    whole = fuzz.run_target("audio", 90, 3, 5.0, None, 0.0)
    first = fuzz.run_target("audio", 40, 3, 5.0, None, 0.0)
    rest = fuzz.run_target("audio", 90, 3, 5.0, None, 0.0, jobs=2, start=40)
    assert whole.inputs == 90 and first.inputs == 40 and rest.inputs == 50
    assert not rest.interrupted
    summed = tuple(a + b for a, b in zip(_counts(first), _counts(rest)))
    assert summed == _counts(whole)
    assert whole.accepted > 0 and whole.refused > 0  # both outcomes occur in this range
