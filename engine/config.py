"""YAML loading that keeps file, line and column for every node, and the error type that reports them.

Show files, rig files and fixture profiles are all read through :func:`load_yaml`. It uses
ruamel.yaml's round-trip loader, which builds only plain mappings, sequences and scalars (it
never constructs Python objects from tags), and keeps the position of every key and item so
that validation errors can point at the exact place in the file.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from engine.errors import BeamsyncError

PathPart = str | int


@dataclass(frozen=True)
class Location:
    """A place in a source file; ``line`` and ``column`` count from 1 (0 when unknown)."""

    file: str | None = None
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        parts = [self.file or "<string>"]
        if self.line:
            parts.append(str(self.line))
            if self.column:
                parts.append(str(self.column))
        return ":".join(parts)


def format_path(path: Sequence[PathPart]) -> str:
    """``("outputs", 0, "universe")`` -> ``outputs[0].universe``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class ConfigError(BeamsyncError):
    """A problem in a configuration file, with where it is and what was expected."""

    def __init__(
        self,
        message: str,
        location: Location | None = None,
        path: Sequence[PathPart] = (),
        *,
        severity: str = "error",
    ) -> None:
        self.message = message
        self.location = location or Location()
        self.path = tuple(path)
        self.severity = severity
        super().__init__(str(self))

    def __str__(self) -> str:
        where = str(self.location)
        at = f" at {format_path(self.path)}" if self.path else ""
        return f"{where}: {self.severity}{at}: {self.message}"


class ConfigErrors(BeamsyncError):
    """Several configuration problems found in one pass (``beamsync check`` prints them all)."""

    def __init__(self, errors: Iterable[ConfigError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


def _yaml() -> YAML:
    y = YAML(typ="rt", pure=True)
    y.allow_duplicate_keys = False
    return y


def load_yaml(source: str | Path, *, text: str | None = None) -> Any:
    """Parse one YAML document, keeping node positions.

    ``source`` is a path; pass ``text`` to parse a string and name it ``source`` in messages.
    Raises :class:`ConfigError` with file, line and column on any syntax error.
    """
    name = str(source)
    if text is None:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError("file not found", Location(name)) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read file: {exc}", Location(name)) from None
    try:
        return _yaml().load(io.StringIO(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(name, mark.line + 1, mark.column + 1) if mark else Location(name)
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise ConfigError(f"invalid YAML: {problem}", loc) from None
    except YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", Location(name)) from None
    except RecursionError:
        raise ConfigError("invalid YAML: nesting too deep", Location(name)) from None


def location_of(node: Any, key: PathPart | None = None, file: str | None = None) -> Location:
    """Where ``node[key]`` (or ``node`` itself when ``key`` is None) starts in the file."""
    try:
        if key is not None and isinstance(node, CommentedMap) and key in node:
            line, col = node.lc.key(key)
            return Location(file, line + 1, col + 1)
        if key is not None and isinstance(node, CommentedSeq) and isinstance(key, int):
            line, col = node.lc.item(key)
            return Location(file, line + 1, col + 1)
        if isinstance(node, (CommentedMap, CommentedSeq)):
            return Location(file, node.lc.line + 1, node.lc.col + 1)
    except (AttributeError, KeyError, IndexError, TypeError):
        pass
    return Location(file)


def value_location(node: Any, key: PathPart, file: str | None = None) -> Location:
    """Where the *value* of ``node[key]`` starts (falls back to the key's position)."""
    try:
        if isinstance(node, CommentedMap) and key in node:
            line, col = node.lc.value(key)
            return Location(file, line + 1, col + 1)
    except (AttributeError, KeyError, TypeError):
        pass
    return location_of(node, key, file)


def suggest(name: str, candidates: Iterable[str]) -> str:
    """" (did you mean 'x'?)" for the closest candidate, or ""."""
    import difflib

    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""
