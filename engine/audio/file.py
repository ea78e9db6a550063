"""Reading audio files (anything libsndfile reads: WAV, FLAC, OGG, MP3) with resampling by soxr."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.audio.errors import AudioError

#: Sample rates a file may declare. A header is untrusted: a declared 1 Hz file resampled to
#: 48 kHz would grow 48,000-fold in memory, so rates outside what any recorder writes are refused.
MIN_FILE_RATE = 1000
MAX_FILE_RATE = 768_000
#: Samples (frames x channels) read per step, about 4 MB. The frame count in a header (e.g.
#: FLAC's STREAMINFO) is not trusted for the allocation: the file is read in blocks until it
#: really ends.
_READ_SAMPLES = 1 << 20


def load_audio(path: str | Path, target_rate: int | None = None, *, mono: bool = True) -> tuple[np.ndarray, int]:
    """Read a whole file as ``float32``; mono ``(n,)`` (channel mean) or ``(n, channels)``.

    Resamples to ``target_rate`` with soxr when given and different. Raises :class:`AudioError`
    naming the file when it is missing, unreadable, not audio, or declares a sample rate
    outside :data:`MIN_FILE_RATE`..:data:`MAX_FILE_RATE`. Memory follows the audio actually in
    the file, never the size its header declares.
    """
    import soundfile as sf

    p = Path(path)
    if not p.exists():
        raise AudioError(f"{p}: no such file")
    if p.is_dir():
        raise AudioError(f"{p}: is a directory, not an audio file")
    try:
        with sf.SoundFile(str(p)) as f:
            rate = int(f.samplerate)
            if not MIN_FILE_RATE <= rate <= MAX_FILE_RATE:
                raise AudioError(f"{p}: declares a sample rate of {rate} Hz "
                                 f"(beamsync reads {MIN_FILE_RATE}..{MAX_FILE_RATE} Hz)")
            step = max(1024, _READ_SAMPLES // max(1, f.channels))
            blocks = []
            while True:
                block = f.read(step, dtype="float32", always_2d=True)
                if not len(block):
                    break
                if mono:
                    with np.errstate(over="ignore", invalid="ignore"):  # absurd samples: refused below
                        block = block.mean(axis=1, dtype=np.float32)
                blocks.append(block)
                if len(block) < step:
                    break
    except PermissionError:
        raise AudioError(f"{p}: permission denied") from None
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
        raise AudioError(f"{p}: not a readable audio file ({exc})") from None
    if not blocks:
        raise AudioError(f"{p}: contains no audio frames")
    data = np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
    _check_finite(data, rate, p)
    if target_rate and target_rate != rate:
        import soxr

        frames = len(data)
        data = soxr.resample(data, rate, target_rate).astype(np.float32, copy=False)
        if not len(data):  # e.g. one frame at 768 kHz read at 48 kHz (found by fuzzing)
            raise AudioError(f"{p}: too short: {frames} frame(s) at {rate} Hz leave nothing at {target_rate} Hz")
        rate = target_rate
        _check_finite(data, rate, p)  # finite samples near float32's limit can resample to inf
    return np.ascontiguousarray(data, dtype=np.float32), int(rate)


def _check_finite(data: np.ndarray, rate: int, p: Path) -> None:
    """Refuse NaN/inf samples (a corrupt or hostile float file): one such sample would poison
    every streaming filter's state downstream for the rest of the run."""
    finite = np.isfinite(data)
    if not finite.all():
        frame = int(np.argmin(finite.all(axis=1) if finite.ndim == 2 else finite))
        raise AudioError(f"{p}: contains samples that are not finite numbers (NaN or infinity, or too large "
                         f"to process), first at {frame / rate:.3f} s: a corrupt file")
