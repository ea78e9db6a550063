"""Fuzz tests: budgets and the per-input deadline.

CI runs a fixed, derandomized sample of every target (the whole folder well under two minutes
on two loaded cores). ``BEAMSYNC_FUZZ_EXAMPLES=N`` runs N random examples per target instead
(e.g. ``BEAMSYNC_FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest tests/fuzz``); the long runner
with counts and rates is ``bench/fuzz.py`` (100,000 inputs per target by default).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import HealthCheck, settings

from .targets import OscHarness, Target, run_one, targets

_LONG = os.environ.get("BEAMSYNC_FUZZ_EXAMPLES")
#: Seconds one input may take before it counts as a hang (generous: CI machines are loaded).
DEADLINE_S = float(os.environ.get("BEAMSYNC_FUZZ_DEADLINE", "5"))


def fuzz_settings(ci_examples: int) -> settings:
    """Hypothesis settings: ``ci_examples`` derandomized in CI, or the long count, random."""
    return settings(max_examples=int(_LONG) if _LONG else ci_examples, derandomize=_LONG is None, deadline=None,
                    database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large, HealthCheck.filter_too_much])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder per test module, prepared for every target (rigs, FIFO, library...)."""
    wd = tmp_path_factory.mktemp("fuzz")
    for t in targets().values():
        t.setup(wd)
    return wd


@pytest.fixture
def check(workdir: Path):
    """``check(target_name, item)``: run one input with the deadline; returns its outcome."""
    all_targets = targets()

    def _check(name: str, item: object) -> str:
        target: Target = all_targets[name]
        outcome, _ = run_one(target, item, workdir, DEADLINE_S)
        return outcome

    return _check


@pytest.fixture
def osc_harness() -> Iterator[OscHarness]:
    h = OscHarness.create()
    yield h
    h.close()
