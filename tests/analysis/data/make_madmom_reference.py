"""Regenerate ``madmom_logspec_reference.npz``: BeatNet's madmom feature pipeline on a synthetic signal.

Run in a separate venv with madmom 0.16.1 and BeatNet 1.1.3 (see FIELD_NOTES: madmom builds
with numpy 1.23.5; stub modules named ``pyaudio`` and ``librosa`` on PYTHONPATH are enough):

    PYTHONPATH=stubs /path/to/madmom-venv/bin/python tests/analysis/data/make_madmom_reference.py

The signal is generated here with numpy from a fixed formula (no audio file is shipped), and
the test regenerates it with the same formula.
"""

from pathlib import Path

import numpy as np


def test_signal() -> np.ndarray:
    """1.5 s at 22,050 Hz: a 60→6000 Hz exponential chirp, decaying clicks every 0.3 s, noise."""
    sr = 22050
    t = np.arange(int(1.5 * sr)) / sr
    chirp = 0.3 * np.sin(2 * np.pi * 60 * (100 ** (t / 1.5) - 1) * 1.5 / np.log(100))
    clicks = np.zeros_like(t)
    for start in np.arange(0.1, 1.5, 0.3):
        k = int(start * sr)
        n = min(2000, len(t) - k)
        clicks[k : k + n] += 0.8 * np.exp(-np.arange(n) / 300.0) * np.sin(2 * np.pi * 180 * np.arange(n) / sr)
    noise = 0.02 * np.random.default_rng(7).standard_normal(len(t))
    return (chirp + clicks + noise).astype(np.float32)


if __name__ == "__main__":
    from BeatNet.log_spect import LOG_SPECT

    proc = LOG_SPECT(sample_rate=22050, win_length=int(64 * 0.001 * 22050), hop_size=int(20 * 0.001 * 22050),
                     n_bands=[24], mode="online")
    feats = proc.process_audio(test_signal()).T.astype(np.float32)
    out = Path(__file__).with_name("madmom_logspec_reference.npz")
    np.savez_compressed(out, features=feats)
    print(out, feats.shape)
