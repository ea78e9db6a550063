"""The audio block: samples with the frame index of their first sample."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(slots=True)
class AudioBlock:
    """A run of mono ``float32`` samples read from the ring buffer.

    ``start_frame`` is the stream frame index of ``samples[0]`` (frames count from 0 at stream
    start and never reset); ``sample_rate`` in Hz. Readers may receive a view into a reusable
    buffer: copy it if you keep it past the next read.
    """

    start_frame: int
    samples: np.ndarray
    sample_rate: int

    @property
    def end_frame(self) -> int:
        """Frame index one past the last sample."""
        return self.start_frame + len(self.samples)
