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
from ruamel.yaml.composer import Composer, ComposerError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError

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


def one_line(text: str) -> str:
    """``text`` with its non-printable characters escaped (``\\n``, ``\\x00``, ...): a name read from
    a file (a YAML scalar can hold newlines) then keeps a message on one line (found by fuzzing)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


class ConfigError(BeamsyncError):
    """A problem in a configuration file, with where it is and what was expected.

    The message is kept on one line (:func:`one_line`): it often quotes names from the file.
    """

    def __init__(
        self,
        message: str,
        location: Location | None = None,
        path: Sequence[PathPart] = (),
        *,
        severity: str = "error",
    ) -> None:
        self.message = one_line(message)
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


#: Largest configuration file read (show, rig, profile, MIDI map). Real ones are a few KB; the
#: pure-Python round-trip parser reads about 70 KB/s on a loaded 2-core machine, so 1 MiB already
#: takes ~15 s. The bound also keeps ``include: /dev/zero`` or a runaway file from eating memory.
MAX_CONFIG_BYTES = 1 << 20


def read_config_text(source: str | Path) -> str:
    """A configuration file's text, refusing what is not a plain file of bounded size.

    FIFOs and devices (``/dev/zero``, ``/dev/stdin``) would block or never end, so only regular
    files are read (symlinks are followed); at most :data:`MAX_CONFIG_BYTES` are read even when
    the file grows meanwhile. Raises :class:`ConfigError` (``"file not found"`` when missing).
    """
    import os
    import stat

    name = str(source)
    try:
        st = os.stat(source)
        if stat.S_ISDIR(st.st_mode):
            raise ConfigError("cannot read file: it is a directory", Location(name))
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError("cannot read file: not a regular file (a device, FIFO or socket)", Location(name))
        if st.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"file too large ({st.st_size} bytes; the limit is {MAX_CONFIG_BYTES})", Location(name))
        with open(source, "rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError("file not found", Location(name)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror or exc}", Location(name)) from None
    except ValueError:  # a NUL byte in the path (found by fuzzing an include)
        raise ConfigError("cannot read file: the path contains a NUL character", Location(name.replace("\0", "\\0"))) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"file too large (more than {MAX_CONFIG_BYTES} bytes)", Location(name))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"cannot read file: not UTF-8 text (byte {exc.start})", Location(name, line)) from None


#: Values a document may stand for once its aliases are expanded. Anchors and aliases (``&a`` /
#: ``*a``) are shared, not copied, by the parser, but whatever walks the data later (validation,
#: and ruamel itself when it formats a duplicate-key message) sees the expanded tree: nine lines
#: of aliases can stand for a billion values ("billion laughs"). A 1 MiB file has well under
#: 250,000 values of its own.
MAX_EXPANDED_NODES = 250_000
#: Longest integer literal read (10**24 and 0x ffff... of 22 digits still convert to float).
MAX_INTEGER_TEXT = 24


class _BoundedComposer(Composer):
    """ruamel's composer that measures each collection's expanded size as it is built, before
    anything is constructed, and refuses a document beyond :data:`MAX_EXPANDED_NODES`. Each
    node is measured once from its children's sizes, so the check costs the file's size, not
    the expansion's."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._sizes: dict[int, int] = {}

    def compose_scalar_node(self, anchor: Any) -> Any:
        node = super().compose_scalar_node(anchor)
        # YAML integers have no size limit: a few thousand digits make Python's int() raise
        # ValueError inside the constructor, and 10**400 makes float() raise OverflowError
        # wherever a setting becomes a number. No setting needs more than 24 characters.
        if len(node.value) > MAX_INTEGER_TEXT and str(getattr(node.tag, "value", node.tag)).endswith(":int"):
            raise ComposerError(problem=f"a whole number of {len(node.value)} characters is too large",
                                problem_mark=node.start_mark)
        return node

    def compose_sequence_node(self, anchor: Any) -> Any:
        node = super().compose_sequence_node(anchor)
        self._measure(node, node.value)
        return node

    def compose_mapping_node(self, anchor: Any) -> Any:
        node = super().compose_mapping_node(anchor)
        self._measure(node, [part for pair in node.value for part in pair])
        return node

    def _measure(self, node: Any, children: list[Any]) -> None:
        total = 1 + sum(self._sizes.get(id(c), 1) for c in children)
        if total > MAX_EXPANDED_NODES:
            raise ComposerError(problem=f"aliases expand to more than {MAX_EXPANDED_NODES} values (an alias bomb?)",
                                problem_mark=node.start_mark)
        self._sizes[id(node)] = total


def _yaml() -> YAML:
    y = YAML(typ="rt", pure=True)
    y.allow_duplicate_keys = False
    y.Composer = _BoundedComposer
    return y


def load_yaml(source: str | Path, *, text: str | None = None) -> Any:
    """Parse one YAML document, keeping node positions.

    ``source`` is a path; pass ``text`` to parse a string and name it ``source`` in messages.
    Raises :class:`ConfigError` with file, line and column on any syntax error, and for the
    limits on untrusted input: files over :data:`MAX_CONFIG_BYTES` or not regular files, alias
    expansion over :data:`MAX_EXPANDED_NODES`, integer literals over :data:`MAX_INTEGER_TEXT`.
    """
    name = str(source)
    if text is None:
        text = read_config_text(source)
    try:
        root = _yaml().load(io.StringIO(text))
    except ReaderError as exc:  # a character YAML does not allow (NUL, DEL, control codes)
        before = text[: max(0, exc.position)]
        loc = Location(name, before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1)
        ch = exc.character
        code = f"U+{ch:04X}" if isinstance(ch, int) else f"U+{ord(ch):04X}" if isinstance(ch, str) and len(ch) == 1 else repr(ch)
        raise ConfigError(f"invalid YAML: character {code} is not allowed in YAML", loc) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(name, mark.line + 1, mark.column + 1) if mark else Location(name)
        problem = " ".join(" ".join(str(p).split()) for p in (exc.context, exc.problem) if p) or "invalid YAML"
        if len(problem) > 300:  # e.g. a duplicate key's message quotes its whole value
            problem = problem[:300] + "..."
        raise ConfigError(f"invalid YAML: {problem}", loc) from None
    except YAMLError as exc:
        raise ConfigError(f"invalid YAML: {' '.join(str(exc).split())}", Location(name)) from None
    except RecursionError:
        raise ConfigError("invalid YAML: nesting too deep", Location(name)) from None
    return root


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
