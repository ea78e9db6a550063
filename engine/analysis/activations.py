"""Beat and downbeat activations from BeatNet's CRNN, exported to ONNX, run one frame per call.

The model (``models/beatnet/beatnet_crnn.onnx``, CC BY 4.0, see its MODEL_CARD.md) takes one
272-value front-end frame and the LSTM state, and returns softmax probabilities
(beat, downbeat, no beat) and the new state. The state lives in this object, so feeding the
frames in any grouping gives identical activations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.analysis.frontend import BEAT_FEATURES, AnalysisError
from engine.resources import resource_path

#: The shipped model, relative to the repository root.
DEFAULT_MODEL = resource_path("models", "beatnet", "beatnet_crnn.onnx")
_LAYERS, _HIDDEN = 2, 150


class BeatActivations:
    """Stateful frame-by-frame runner of the beat/downbeat CRNN on onnxruntime."""

    def __init__(self, model_path: str | Path | None = None, *, threads: int = 1) -> None:
        import onnxruntime as ort

        path = Path(model_path) if model_path else DEFAULT_MODEL
        if not path.is_file():
            raise AnalysisError(f"{path}: beat model not found (it ships in models/beatnet/)")
        opts = ort.SessionOptions()
        # One frame is tiny (0.07 ms): threading only adds wake-up latency.
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self._feed = {
            "features": np.zeros((1, BEAT_FEATURES), np.float32),
            "h_in": np.zeros((_LAYERS, 1, _HIDDEN), np.float32),
            "c_in": np.zeros((_LAYERS, 1, _HIDDEN), np.float32),
        }
        self.reset()

    def reset(self) -> None:
        """Zero the recurrent state (a new stream)."""
        self._feed["h_in"][...] = 0.0
        self._feed["c_in"][...] = 0.0

    def step(self, features: np.ndarray) -> tuple[float, float]:
        """Advance one frame; returns (beat, downbeat) probabilities (beat excludes downbeats)."""
        self._feed["features"][0] = features
        probs, h, c = self._session.run(None, self._feed)
        self._feed["h_in"] = h
        self._feed["c_in"] = c
        return float(probs[0, 0]), float(probs[0, 1])

    def run(self, frames: np.ndarray) -> np.ndarray:
        """Advance over ``(n, 272)`` frames; returns ``(n, 2)`` (beat, downbeat)."""
        out = np.empty((len(frames), 2), np.float32)
        for i, f in enumerate(frames):
            out[i] = self.step(f)
        return out
