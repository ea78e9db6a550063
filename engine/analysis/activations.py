"""Beat and downbeat activations from BeatNet's CRNNs, exported to ONNX, run one frame per call.

BeatNet 1.1.3 ships three trainings of one CRNN (CC BY 4.0, see ``models/beatnet/MODEL_CARD.md``),
each trained with a different data set held out. All three are exported
(``models/beatnet/beatnet_crnn.onnx``, ``beatnet_crnn_2.onnx``, ``beatnet_crnn_3.onnx``) and by
default run side by side on the same front-end frame; their softmax outputs are averaged (an
ensemble: measured better than any one of them on the development set, see the model card).
Each model takes one 272-value frame and its LSTM state, and returns probabilities
(beat, downbeat, no beat) and the new state. The states live in this object, so feeding the
frames in any grouping gives identical activations.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engine.analysis.frontend import BEAT_FEATURES, AnalysisError
from engine.resources import resource_path

#: The shipped model trained without GTZAN (BeatNet's model 1).
DEFAULT_MODEL = resource_path("models", "beatnet", "beatnet_crnn.onnx")
#: All shipped models (BeatNet's models 1, 2, 3), averaged by default.
DEFAULT_MODELS = (DEFAULT_MODEL, resource_path("models", "beatnet", "beatnet_crnn_2.onnx"),
                  resource_path("models", "beatnet", "beatnet_crnn_3.onnx"))
_LAYERS, _HIDDEN = 2, 150


class BeatActivations:
    """Stateful frame-by-frame runner of the beat/downbeat CRNN(s) on onnxruntime.

    ``model_path``: one ONNX file, several (their outputs are averaged), or None for the
    shipped ensemble (:data:`DEFAULT_MODELS`).
    """

    def __init__(self, model_path: str | Path | Sequence[str | Path] | None = None, *, threads: int = 1) -> None:
        import onnxruntime as ort

        if model_path is None:
            paths = [Path(p) for p in DEFAULT_MODELS]
        elif isinstance(model_path, (str, Path)):
            paths = [Path(model_path)]
        else:
            paths = [Path(p) for p in model_path]
        if not paths:
            raise AnalysisError("no beat model given")
        for path in paths:
            if not path.is_file():
                raise AnalysisError(f"{path}: beat model not found (it ships in models/beatnet/)")
        opts = ort.SessionOptions()
        # One frame is tiny (0.07 ms): threading only adds wake-up latency.
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self._sessions = []
        for p in paths:
            try:
                self._sessions.append(ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"]))
            except Exception as exc:  # onnxruntime raises its own untyped errors for unreadable files
                raise AnalysisError(f"{p}: not a usable beat model ({type(exc).__name__}: {exc})") from None
        self._features = np.zeros((1, BEAT_FEATURES), np.float32)  # shared input of all models
        self._feeds = [{
            "features": self._features,
            "h_in": np.zeros((_LAYERS, 1, _HIDDEN), np.float32),
            "c_in": np.zeros((_LAYERS, 1, _HIDDEN), np.float32),
        } for _ in paths]
        self.reset()

    def reset(self) -> None:
        """Zero the recurrent states (a new stream)."""
        for feed in self._feeds:
            feed["h_in"][...] = 0.0
            feed["c_in"][...] = 0.0

    def step(self, features: np.ndarray) -> tuple[float, float]:
        """Advance one frame; returns (beat, downbeat) probabilities (beat excludes downbeats),
        the mean over the models."""
        self._features[0] = features
        beat = down = 0.0
        for session, feed in zip(self._sessions, self._feeds):
            probs, h, c = session.run(None, feed)
            feed["h_in"] = h
            feed["c_in"] = c
            beat += float(probs[0, 0])
            down += float(probs[0, 1])
        n = len(self._sessions)
        return beat / n, down / n

    def run(self, frames: np.ndarray) -> np.ndarray:
        """Advance over ``(n, 272)`` frames; returns ``(n, 2)`` (beat, downbeat)."""
        out = np.empty((len(frames), 2), np.float32)
        for i, f in enumerate(frames):
            out[i] = self.step(f)
        return out
