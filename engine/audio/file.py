"""Reading audio files (anything libsndfile reads: WAV, FLAC, OGG, MP3) with resampling by soxr."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.audio.errors import AudioError


def load_audio(path: str | Path, target_rate: int | None = None, *, mono: bool = True) -> tuple[np.ndarray, int]:
    """Read a whole file as ``float32``; mono ``(n,)`` (channel mean) or ``(n, channels)``.

    Resamples to ``target_rate`` with soxr when given and different. Raises :class:`AudioError`
    naming the file when it is missing, unreadable or not audio.
    """
    import soundfile as sf

    p = Path(path)
    if not p.exists():
        raise AudioError(f"{p}: no such file")
    if p.is_dir():
        raise AudioError(f"{p}: is a directory, not an audio file")
    try:
        data, rate = sf.read(str(p), dtype="float32", always_2d=True)
    except PermissionError:
        raise AudioError(f"{p}: permission denied") from None
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
        raise AudioError(f"{p}: not a readable audio file ({exc})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{p}: contains no audio frames")
    if mono:
        data = data.mean(axis=1, dtype=np.float32)
    if target_rate and target_rate != rate:
        import soxr

        data = soxr.resample(data, rate, target_rate).astype(np.float32, copy=False)
        rate = target_rate
    return np.ascontiguousarray(data, dtype=np.float32), int(rate)
