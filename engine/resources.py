"""Where the files that ship beside the code live: models, fixture profiles, example shows.

A source checkout keeps ``models/``, ``fixtures/`` and ``shows/`` next to ``engine/``. A wheel
cannot put them there, so ``pyproject.toml`` installs them as data files under
``<prefix>/share/beamsync/`` (``models/`` only the exported ``.onnx`` files with their model
cards and licences; the training scripts stay in the source tree). :func:`resource_dir` looks in
the checkout first, then under the installation prefixes, so the same code finds them either way.
"""

from __future__ import annotations

import site
import sys
from pathlib import Path

#: The folders that ship as data (each exists in a source checkout beside ``engine/``).
KINDS = ("models", "fixtures", "shows")

SOURCE_ROOT = Path(__file__).resolve().parents[1]
SHARE = Path("share") / "beamsync"


def _prefixes() -> list[Path]:
    """Installation prefixes in the order pip would have used them (venv, then user, then base)."""
    out = [Path(sys.prefix), Path(sys.base_prefix)]
    try:
        out.append(Path(site.getuserbase()))
    except Exception:  # pragma: no cover - site may be stripped in embedded interpreters
        pass
    seen: list[Path] = []
    for p in out:
        if p not in seen:
            seen.append(p)
    return seen


def resource_dir(kind: str, *, source_root: Path | None = None, prefixes: list[Path] | None = None) -> Path:
    """The folder for ``kind`` (one of :data:`KINDS`): the checkout's, else the installed one.

    When neither exists, the checkout path is returned so that error messages name the place a
    developer would look (callers check for the files they need and say what is missing).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown resource kind {kind!r} (one of {', '.join(KINDS)})")
    root = SOURCE_ROOT if source_root is None else source_root
    local = root / kind
    if local.is_dir():
        return local
    for prefix in _prefixes() if prefixes is None else prefixes:
        installed = prefix / SHARE / kind
        if installed.is_dir():
            return installed
    return local


def resource_path(kind: str, *parts: str) -> Path:
    """A file or folder inside :func:`resource_dir` (``resource_path("models", "beatnet", "x.onnx")``)."""
    return resource_dir(kind).joinpath(*parts)
