"""Hot reload: watch a show file, its includes and its fixture profiles; load changes off the frame path.

:class:`ShowWatcher` polls the status (modification and change times, size, inode) of the show
file and of every file the last load read. When one changes it loads and validates the show *in the watcher's
thread*; a good show is handed to ``on_show`` (usually :meth:`ShowRuntime.swap`, which
installs it at the next frame boundary), a broken one to ``on_error`` while the running show
carries on unchanged. The frame loop never waits for the watcher: the hand-over is a single
reference assignment.

:meth:`ShowWatcher.poll` does one check synchronously (tests, and engines with their own
housekeeping loop); :meth:`ShowWatcher.start` runs it every ``interval`` seconds in a daemon
thread until :meth:`ShowWatcher.stop`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from engine.config import ConfigError
from engine.show.loader import Show, check_show

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReloadStatus:
    """What the last reload attempt did: ``generation`` counts good loads; ``errors`` are the
    problems of the last failed attempt (empty after a good one)."""

    generation: int
    errors: tuple[ConfigError, ...]
    warnings: tuple[ConfigError, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


#: A file changed less than this long before its stamp was taken may change again within the
#: same tick of the file system's coarse clock (a few ms) and keep the same size: its content
#: digest is compared too until a look finds it older (git's "racily clean" index entries).
RACY_NS = 1_000_000_000


@dataclass(frozen=True)
class _Stamp:
    """What a look at one file saw: its status and, while that is racy, its content digest."""

    status: tuple[int, int, int, int] | None  # (mtime_ns, ctime_ns, size, inode); None: missing
    digest: bytes | None = None


def _digest(path: Path) -> bytes | None:
    try:
        return hashlib.blake2b(path.read_bytes(), digest_size=16).digest()
    except OSError:
        return None


def _stamp(path: Path) -> _Stamp:
    """The file's status; with its content digest when it changed within :data:`RACY_NS`.

    The change time is in the status because nothing but a change sets it: a copy that keeps the
    old modification time and size (``cp -p``, ``rsync -t`` of an edited show) is still seen, and
    so is an editor that saves by renaming a new file over the old one (a new inode).
    """
    now = time.time_ns()
    try:
        st = os.stat(path)
    except OSError:
        return _Stamp(None)
    status = (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)
    if now - max(st.st_mtime_ns, st.st_ctime_ns) < RACY_NS:
        return _Stamp(status, _digest(path))
    return _Stamp(status)


class ShowWatcher:
    """Polls a show and its includes; loads changed shows in the background."""

    def __init__(
        self,
        path: str | Path,
        on_show: Callable[[Show], None],
        *,
        on_error: Callable[[ReloadStatus], None] | None = None,
        interval: float = 0.25,
        available_features: Iterable[str] | None = None,
        profile_dirs: list[Path] | None = None,
        files: Iterable[Path] | None = None,
    ) -> None:
        self.path = Path(path)
        self.on_show = on_show
        self.on_error = on_error
        self.interval = interval
        self._features = list(available_features) if available_features is not None else None
        self._profile_dirs = profile_dirs
        self._files: list[Path] = list(files) if files else [self.path]
        self._stamps = {f: _stamp(f) for f in self._files}
        self.status = ReloadStatus(0, (), ())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def for_show(cls, show: Show, on_show: Callable[[Show], None], **kw: Any) -> "ShowWatcher":
        """A watcher for a show already loaded (watches exactly the files it read)."""
        assert show.path is not None
        return cls(show.path, on_show, files=[*(show.files or [show.path]), *show.profile_files], **kw)

    @property
    def files(self) -> list[Path]:
        """The files being watched."""
        return list(self._files)

    def changed(self) -> bool:
        """Whether any watched file differs from the last look (status, or content while racy)."""
        return self._look()[0]

    def _look(self) -> tuple[bool, dict[Path, _Stamp]]:
        """Stamp every watched file now; whether any differs from the last look, and the stamps.

        When nothing differs the new stamps replace the old ones: same status and content, with
        a digest only while a file is still racy, so an old file stops being hashed each poll.
        """
        changed = False
        fresh: dict[Path, _Stamp] = {}
        for f, seen in self._stamps.items():
            now = fresh[f] = _stamp(f)
            if now.status != seen.status:
                changed = True
            elif seen.digest is not None and (now.digest or _digest(f)) != seen.digest:
                changed = True  # rewritten within the clock tick of the last look
        if not changed:
            self._stamps = fresh
        return changed, fresh

    def poll(self) -> bool | None:
        """Check once. Returns None when nothing changed, True when a new show was handed to
        ``on_show``, False when the changed show was broken (see :attr:`status`)."""
        # The stamps are taken before reading, so a save during the load triggers another reload.
        changed, stamps = self._look()
        if not changed:
            return None
        result = check_show(self.path, available_features=self._features, profile_dirs=self._profile_dirs)
        if result.show is None:
            self._stamps = stamps
            self.status = ReloadStatus(self.status.generation, tuple(result.errors), tuple(result.warnings))
            log.warning("show %s not reloaded (%d errors); the running show continues:\n%s",
                        self.path, len(result.errors), "\n".join(str(e) for e in result.errors))
            if self.on_error is not None:
                self.on_error(self.status)
            return False
        show = result.show
        # Watch the files this version reads (an include may have been added or removed),
        # and always the show file itself.
        files = list(dict.fromkeys([self.path, *show.files, *show.profile_files]))
        self._stamps = {f: stamps.get(f, _stamp(f)) for f in files}
        self._files = files
        self.status = ReloadStatus(self.status.generation + 1, (), tuple(result.warnings))
        log.info("show %s reloaded (generation %d)", self.path, self.status.generation)
        self.on_show(show)
        return True

    def start(self) -> None:
        """Poll every ``interval`` seconds in a daemon thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="show-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the polling thread and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception:  # never let the watcher die silently; the show keeps running
                log.exception("show watcher failed while reloading %s", self.path)

    def __enter__(self) -> "ShowWatcher":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
