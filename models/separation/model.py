"""The beamsync separator network (torch; training and export only, never imported by engine/).

A causal STFT mask estimator: per frame, the log magnitude spectrum goes through a layer norm
(which makes it independent of the input gain), a linear projection, a unidirectional LSTM and
a linear layer giving one mask per stem and bin; a softmax over the stems makes the masks sum to
one, so the four estimates always sum back to the mixture.

Latency: the STFT uses a ``N_FFT``-sample analysis window (sqrt-Hann) with hop ``HOP``; frame
``k`` covers samples ``[k*HOP, k*HOP + N_FFT)`` and is available once its last sample has
arrived, so with overlap-add the output lags the input by ``N_FFT - HOP`` samples plus the
partially filled hop: at most ``N_FFT`` samples (1024 / 44,100 Hz = 23.2 ms).
"""

from __future__ import annotations

import torch
from torch import nn

SR = 44100
N_FFT = 1024
HOP = 256
N_BINS = N_FFT // 2 + 1
STEMS = ("drums", "bass", "vocals", "other")
LOG_EPS = 1e-4


def window() -> torch.Tensor:
    """Periodic sqrt-Hann: analysis × synthesis windows sum to a constant at 75 % overlap."""
    return torch.hann_window(N_FFT, periodic=True).sqrt()


class SepNet(nn.Module):
    """Causal mask estimator; ``forward`` takes and returns the LSTM state."""

    def __init__(self, hidden: int = 192, layers: int = 2) -> None:
        super().__init__()
        self.hidden = hidden
        self.layers = layers
        self.norm = nn.LayerNorm(N_BINS)
        self.inp = nn.Linear(N_BINS, hidden)
        self.rnn = nn.LSTM(hidden, hidden, layers, batch_first=True)
        self.out = nn.Linear(2 * hidden, len(STEMS) * N_BINS)

    def initial_state(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.zeros(self.layers, batch, self.hidden)
        return z, z.clone()

    def forward(self, mag: torch.Tensor, h: torch.Tensor, c: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """mag [B, T, N_BINS] magnitudes → masks [B, T, 4, N_BINS], new (h, c)."""
        feat = self.norm(torch.log(mag + LOG_EPS))
        z = torch.tanh(self.inp(feat))
        y, (h, c) = self.rnn(z, (h, c))
        logits = self.out(torch.cat([y, z], dim=-1))
        b, t, _ = logits.shape
        masks = torch.softmax(logits.view(b, t, len(STEMS), N_BINS), dim=2)
        return masks, h, c


def stft(x: torch.Tensor) -> torch.Tensor:
    """Causal framing (no centre padding): x [B, N] → [B, T, N_BINS] complex."""
    return torch.stft(x, N_FFT, HOP, window=window(), center=False, return_complex=True).transpose(1, 2)


def istft(spec: torch.Tensor, length: int) -> torch.Tensor:
    """Inverse of ``stft`` for spec [B, T, N_BINS]; the first N_FFT-HOP samples are partial."""
    return torch.istft(spec.transpose(1, 2), N_FFT, HOP, window=window(), center=False, length=length)
