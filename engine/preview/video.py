"""Encode RGB frames to an H.264 MP4 with the audio muxed in.

The encoder is the ffmpeg binary that the ``imageio-ffmpeg`` wheel ships (no system ffmpeg).
Frames go to its standard input as raw RGB; the audio is cut from the original file by ffmpeg
itself (``-ss``/``-t``), so the preview keeps the file's channels and quality.
"""

from __future__ import annotations

import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from engine.preview import PreviewError


def ffmpeg_exe() -> str:
    """Path of the bundled ffmpeg binary (a :class:`PreviewError` saying how to install it)."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise PreviewError("rendering video needs the imageio-ffmpeg package: pip install 'beamsync[preview]'") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


class VideoWriter:
    """Writes (h, w, 3) uint8 frames at ``fps`` to ``path``; with ``audio`` muxes
    ``audio[start : start + duration]`` (seconds) as AAC. Use as a context manager."""

    def __init__(self, path: str | Path, size: tuple[int, int], fps: float, *, audio: str | Path | None = None,
                 audio_start: float = 0.0, audio_duration: float | None = None, crf: int = 20,
                 preset: str = "veryfast") -> None:
        self.path = Path(path)
        if not self.path.parent.exists():
            raise PreviewError(f"-o {self.path}: folder {self.path.parent} does not exist")
        self.size = (int(size[0]), int(size[1]))
        self.fps = float(fps)
        self.frames = 0
        rate = Fraction(self.fps).limit_denominator(1001)
        w, h = self.size
        cmd = [ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error", "-nostdin",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(rate), "-i", "-"]
        if audio is not None:
            cmd += ["-ss", f"{audio_start:.6f}"]
            if audio_duration is not None:
                cmd += ["-t", f"{audio_duration:.6f}"]
            cmd += ["-i", str(audio), "-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac", "-b:a", "192k"]
        cmd += ["-c:v", "libx264", "-preset", preset, "-crf", str(int(crf)), "-pix_fmt", "yuv420p",
                # the same frames give the same file (no encoder version/time stamps in it)
                "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1",
                "-movflags", "+faststart", str(self.path)]
        self._log = tempfile.TemporaryFile()
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log)

    def write(self, rgb: np.ndarray) -> None:
        """Append one frame."""
        w, h = self.size
        if rgb.shape != (h, w, 3) or rgb.dtype != np.uint8:
            raise ValueError(f"frame must be ({h}, {w}, 3) uint8, not {rgb.shape} {rgb.dtype}")
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(np.ascontiguousarray(rgb).tobytes())
        except BrokenPipeError:
            self._fail()
        self.frames += 1

    def _fail(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()
        self._log.seek(0)
        msg = self._log.read().decode(errors="replace").strip().splitlines()
        raise PreviewError(f"ffmpeg could not write {self.path}: {msg[-1] if msg else 'no message'}")

    def close(self) -> None:
        """Finish the file (waits for the encoder)."""
        proc = self._proc
        if proc is None:
            return
        assert proc.stdin is not None
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass
        if proc.wait() != 0:
            self._fail()
        self._proc = None
        self._log.close()

    def abort(self) -> None:
        """Stop the encoder and remove the partial file."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def read_video(path: str | Path) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Decode a video back into (metadata, RGB frames) (tests and checks; small files only)."""
    import imageio_ffmpeg

    gen = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    meta = next(gen)
    w, h = meta["size"]
    frames = [np.frombuffer(b, np.uint8).reshape(h, w, 3) for b in gen]
    return meta, frames
