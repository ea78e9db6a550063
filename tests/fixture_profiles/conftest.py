"""Helpers for the fixture-layer tests: build patches and renderers from plain specs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from engine.fixtures.patch import Patch, patch_from_specs
from engine.fixtures.render import Renderer


def rig(*specs: dict[str, Any], groups: dict[str, Any] | None = None, **kw: Any) -> tuple[Patch, Renderer]:
    """A patch of the given fixtures and its renderer."""
    patch = patch_from_specs(list(specs), groups, **kw)
    return patch, Renderer(patch)


def slots(frame: Any, universe: int, address: int, count: int) -> list[int]:
    """``count`` slot values from ``address`` (1-based) of ``universe``."""
    return frame.universe(universe)[address - 1 : address - 1 + count].tolist()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
