"""Beat and downbeat activations from BeatNet's CRNNs, exported to ONNX, run one frame per call.

BeatNet 1.1.3 ships three trainings of one CRNN (CC BY 4.0, see ``models/beatnet/MODEL_CARD.md``),
each trained with a different data set held out. Their softmax outputs, averaged, are the
activations (an ensemble: measured better than any one of them on the development set, see the
model card). By default the three run as **one ONNX graph**
(``models/beatnet/beatnet_crnn_ensemble.onnx``: one input frame, the mean of the three outputs,
the three LSTM states stacked ``[3, 2, 1, 150]``), one onnxruntime call per frame. Each model is
also shipped alone (``beatnet_crnn.onnx``, ``beatnet_crnn_2.onnx``, ``beatnet_crnn_3.onnx``,
states ``[2, 1, 150]``): give one path to run one model, or several to average them side by side.
Every graph takes one 272-value frame and its recurrent state, and returns probabilities
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
#: The three shipped single models (BeatNet's models 1, 2, 3).
DEFAULT_MODELS = (DEFAULT_MODEL, resource_path("models", "beatnet", "beatnet_crnn_2.onnx"),
                  resource_path("models", "beatnet", "beatnet_crnn_3.onnx"))
#: The three in one graph with averaged outputs: the default.
DEFAULT_ENSEMBLE = resource_path("models", "beatnet", "beatnet_crnn_ensemble.onnx")


class _Graph:
    """One onnxruntime session with its state buffers and two prebuilt input/output bindings.

    The state ping-pongs between two buffer pairs (frame ``n`` reads pair ``k`` and writes pair
    ``1 - k``), and every input and output is bound to memory allocated here once, so a frame
    costs one ``run_with_iobinding`` call and allocates no arrays.
    """

    def __init__(self, session, features: np.ndarray, path: Path) -> None:
        self.session = session
        inputs = {i.name: i.shape for i in session.get_inputs()}
        outputs = {o.name for o in session.get_outputs()}
        if set(inputs) != {"features", "h_in", "c_in"} or outputs != {"probs", "h_out", "c_out"}:
            raise AnalysisError(f"{path}: not a beat model (inputs {sorted(inputs)}, outputs {sorted(outputs)}; "
                                "expected features, h_in, c_in -> probs, h_out, c_out)")
        shape = inputs["h_in"]
        if not all(isinstance(d, int) for d in shape):
            raise AnalysisError(f"{path}: beat model state shape {shape} is not fixed")
        self.h = [np.zeros(shape, np.float32) for _ in range(2)]
        self.c = [np.zeros(shape, np.float32) for _ in range(2)]
        self.probs = np.zeros((1, 3), np.float32)
        self.bindings = []
        for k in range(2):
            b = session.io_binding()
            b.bind_cpu_input("features", features)
            b.bind_cpu_input("h_in", self.h[k])
            b.bind_cpu_input("c_in", self.c[k])
            b.bind_output("probs", "cpu", 0, np.float32, [1, 3], self.probs.ctypes.data)
            b.bind_output("h_out", "cpu", 0, np.float32, list(shape), self.h[1 - k].ctypes.data)
            b.bind_output("c_out", "cpu", 0, np.float32, list(shape), self.c[1 - k].ctypes.data)
            self.bindings.append(b)
        self.k = 0

    def reset(self) -> None:
        for a in (*self.h, *self.c):
            a[...] = 0.0
        self.k = 0

    def step(self) -> None:
        self.session.run_with_iobinding(self.bindings[self.k])
        self.k = 1 - self.k


class BeatActivations:
    """Stateful frame-by-frame runner of the beat/downbeat CRNN(s) on onnxruntime.

    ``model_path``: one ONNX file, several (their outputs are averaged), or None for the
    shipped three-model graph (:data:`DEFAULT_ENSEMBLE`).
    """

    def __init__(self, model_path: str | Path | Sequence[str | Path] | None = None, *, threads: int = 1) -> None:
        import onnxruntime as ort

        if model_path is None:
            paths = [Path(DEFAULT_ENSEMBLE)]
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
        # One frame is tiny (0.05 ms a model): threading only adds wake-up latency.
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self._features = np.zeros((1, BEAT_FEATURES), np.float32)  # shared input of all graphs
        self._graphs: list[_Graph] = []
        for p in paths:
            try:
                session = ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"])
            except Exception as exc:  # onnxruntime raises its own untyped errors for unreadable files
                raise AnalysisError(f"{p}: not a usable beat model ({type(exc).__name__}: {exc})") from None
            self._graphs.append(_Graph(session, self._features, p))

    def reset(self) -> None:
        """Zero the recurrent states (a new stream)."""
        for g in self._graphs:
            g.reset()

    def step(self, features: np.ndarray) -> tuple[float, float]:
        """Advance one frame; returns (beat, downbeat) probabilities (beat excludes downbeats),
        the mean over the graphs given."""
        self._features[0] = features
        beat = down = 0.0
        for g in self._graphs:
            g.step()
            beat += float(g.probs[0, 0])
            down += float(g.probs[0, 1])
        n = len(self._graphs)
        return beat / n, down / n

    def run(self, frames: np.ndarray) -> np.ndarray:
        """Advance over ``(n, 272)`` frames; returns ``(n, 2)`` (beat, downbeat)."""
        out = np.empty((len(frames), 2), np.float32)
        for i, f in enumerate(frames):
            out[i] = self.step(f)
        return out
