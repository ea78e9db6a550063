"""Streaming note transcription with Spotify's Basic Pitch model (``nmp.onnx``, Apache-2.0).

The model maps a fixed window of 43,844 samples of mono 22,050 Hz audio (about 2 s) to 172
frames (256 samples, 11.6 ms each) of note activations, onset activations and a pitch contour
for the 88 piano keys. It is convolutional with a per-window normalisation, so frames near the
window's right edge lack future context and change when the window slides on.

The streaming transcriber:

1. resamples each input block to 22,050 Hz with ``soxr.ResampleStream`` (chunk-invariant and
   time-aligned: output sample ``n`` is input time ``n / 22050``);
2. every ``hop_frames`` model frames (a multiple of 256 samples, so every window's frame ``j``
   falls on the same global 256-sample grid) runs the model on the latest window — cheaply:
   the graph is split in memory (:class:`BasicPitchModel`) so that only the frames taken from
   this window (plus 10 frames of context) go through its convolution stack, and its CQT
   front is computed from the previous window's (:class:`CqtFront`); the activations are the
   whole-window model's (tested), at about a fifth of the CPU (``beamsync bench notes --whole``);
3. keeps from each window only the frames that lie at least ``margin_frames`` before its right
   edge (they have settled, see ``bench/eval_notes.py --settle``) and have not been kept from
   an earlier window: each global frame is taken exactly once, so hops cannot duplicate or
   split a note;
4. decodes those frames causally into notes with :class:`NoteDecoder` (an onset peak starts a
   note, the note activation sustains it, a run of quiet frames ends it).

Times in the events are input-stream sample frames: ``time`` is the note's onset (or offset)
in the audio, ``detected_at`` the end of the block whose processing emitted the event.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.audio.block import AudioBlock
from engine.errors import BeamsyncError
from engine.features import FeatureEvent

MODEL_RATE = 22050
"""Sample rate the model expects (Hz)."""
WINDOW_SAMPLES = 43844
"""Samples in one model window (2 s minus one 256-sample hop)."""
FRAME_SAMPLES = 256
"""Model frame hop in samples at :data:`MODEL_RATE` (11.6 ms)."""
WINDOW_FRAMES = 172
"""Output frames per window."""
N_PITCHES = 88
"""Piano keys covered by the model: MIDI 21 (A0) .. 108 (C8)."""
LOWEST_MIDI = 21

_INPUT_NAME = "serving_default_input_2:0"
_NOTE_OUTPUT = "StatefulPartitionedCall:1"
_ONSET_OUTPUT = "StatefulPartitionedCall:2"
_MODEL_RELPATH = ("saved_models", "icassp_2022", "nmp.onnx")

DEFAULT_HOP_FRAMES = 9
"""Default hop: 9 model frames = 2304 samples = 104.5 ms."""
BUDGET_HOP_FRAMES = 28
"""Hop of the budget mode (325 ms): a third of the model runs of the default hop."""
DEFAULT_MARGIN_FRAMES = 6
"""Frames kept back from each window's right edge (69.7 ms). Measured with
``bench/eval_notes.py``: frames change less the further they lie from the edge, with no sharp
knee (mean largest change 0.11 at 6 frames, 0.04 at 15), but note F on the evaluation set was
the same for margins 6, 9, 12 and 15 (within 0.01) while each frame adds 11.6 ms of delay."""

STEM_PRESETS: dict[str, dict[str, int]] = {
    # Bass timbres make the model fire the octave above each note as a note of its own; on the
    # Slakh bass stems dropping such octave ghosts raised note F from 0.70 to 0.88.
    "bass": {"octave_ghost_frames": 3},
}
"""Decoder settings per stem name, applied unless the caller sets them explicitly."""

GHOST_INTERVALS = (12, 19, 24)
"""Semitones from a note to its 2nd, 3rd and 4th partials, which the model may report as notes."""

PITCH_CLASS_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


class NoteModelError(BeamsyncError):
    """The Basic Pitch model is missing or cannot be loaded, or a transcriber option is invalid."""


def find_model_path() -> Path:
    """Locate ``nmp.onnx`` inside the installed ``basic-pitch`` package without importing it.

    Importing ``basic_pitch`` pulls TensorFlow-dependent modules and logs warnings; the package
    folder is found through its import spec instead. Raises :class:`NoteModelError` saying how
    to install the package when it or the file is missing.
    """
    hint = "install it with: pip install --no-deps 'basic-pitch>=0.4,<0.5' (see scripts/setup.sh)"
    try:
        spec = importlib.util.find_spec("basic_pitch")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise NoteModelError(f"note transcription needs the 'basic-pitch' package, which is not installed; {hint}")
    for folder in spec.submodule_search_locations:
        path = Path(folder).joinpath(*_MODEL_RELPATH)
        if path.is_file():
            return path
    where = Path(next(iter(spec.submodule_search_locations))).joinpath(*_MODEL_RELPATH)
    raise NoteModelError(f"the Basic Pitch model file is missing: {where}; reinstall the package ({hint})")


TAIL_CONTEXT_FRAMES = 10
"""Frames of left context the model's 2-D convolution stack needs for a frame to come out as
in a whole-window run (its receptive field in time: 9 frames for note activations, 10 for
onsets; checked by ``tests/notes/test_notes.py``)."""


def _split_graph(data: bytes) -> tuple[bytes, bytes, "CqtConstants | None"]:
    """Cut ``nmp.onnx`` in memory into a *front* and a *back* graph (needs the ``onnx`` package).

    The front maps the 43,844-sample window to the normalised log-CQT (172 frames x 309 bins):
    the CQT and the per-window normalisation (minimum and maximum over the whole window) are
    the only parts that see the whole window. The back (batch norm, harmonic stacking and the
    2-D convolutions, about 80% of the model's time) is local in time: it is made to accept any
    number of frames, so a streaming caller runs it only on the frames it keeps plus
    :data:`TAIL_CONTEXT_FRAMES`. Nothing is written to disk. The third value holds the
    front's filters for :class:`CqtFront` (None when the graph is not laid out as expected).
    """
    import onnx
    from onnx import TensorProto, numpy_helper

    model = onnx.shape_inference.infer_shapes(onnx.load_from_string(data))
    graph = model.graph
    # The normalisation ends in the graph's only Where (divide_no_nan) and a Reshape after it.
    where = [n for n in graph.node if n.op_type == "Where"]
    if len(where) != 1:
        raise NoteModelError("unexpected Basic Pitch graph: no single normalisation step to cut at")
    cut_node = next((n for n in graph.node if n.op_type == "Reshape" and n.input[0] == where[0].output[0]), None)
    if cut_node is None:
        raise NoteModelError("unexpected Basic Pitch graph: no reshape after the normalisation")
    cut = cut_node.output[0]
    extractor = onnx.utils.Extractor(model)
    front = extractor.extract_model([_INPUT_NAME], [cut])
    back = extractor.extract_model([cut], [_NOTE_OUTPUT, _ONSET_OUTPUT])
    dims = back.graph.input[0].type.tensor_type.shape.dim
    if len(dims) != 3:
        raise NoteModelError("unexpected Basic Pitch graph: normalised CQT is not (batch, frames, bins)")
    for d in dims:
        d.Clear()
    dims[0].dim_value = 1
    dims[1].dim_param = "frames"
    dims[2].dim_param = "bins"
    for out in back.graph.output:
        for d in out.type.tensor_type.shape.dim:
            d.Clear()
        out.type.tensor_type.shape.dim[1].dim_param = "frames"
    del back.graph.value_info[:]
    # The converter baked the window's 172 frames into the reshapes' target shapes.
    reshape_shapes = {n.input[1] for n in back.graph.node if n.op_type == "Reshape"}
    for init in back.graph.initializer:
        if init.name in reshape_shapes and init.data_type == TensorProto.INT64:
            shape = numpy_helper.to_array(init).copy()
            if WINDOW_FRAMES in shape.tolist():
                shape[shape == -1] = 1  # batch of one
                shape[shape == WINDOW_FRAMES] = -1
                init.CopyFrom(numpy_helper.from_array(shape, init.name))
    return front.SerializeToString(), back.SerializeToString(), _cqt_constants(front)


@dataclass(frozen=True, slots=True)
class CqtConstants:
    """The filters of the model's constant-Q transform (CQT2010v2, as in nnAudio).

    Nine octaves, each computed at half the rate of the one above it: octave level ``k``
    (0 = top) convolves its signal, reflect-padded by 128, with the same 36 complex 256-tap
    kernels at a stride of ``256 >> k`` samples (172 frames); the signal of level ``k + 1`` is
    level ``k`` zero-padded by 127, low-pass filtered (256 taps) and decimated by 2. The 324
    bins (lowest octave first) lose their lowest 15, are scaled per bin, and become power in dB.
    """

    lowpass: np.ndarray  # (256,)
    kernels: np.ndarray  # (256, 72): 36 real then 36 imaginary parts
    bias: np.ndarray  # (72,)
    scale: np.ndarray  # (309,)


def _cqt_constants(front: Any) -> CqtConstants | None:
    from onnx import numpy_helper

    inits = {i.name: numpy_helper.to_array(i) for i in front.graph.initializer}
    lowpass, scale, cqt = None, None, []
    for node in front.graph.node:
        weight = inits.get(node.input[1]) if len(node.input) > 1 else None
        if node.op_type == "Conv" and weight is not None:
            if weight.shape == (1, 1, 1, 256):
                lowpass = weight.reshape(256)
            elif weight.shape == (_CQT_BINS, 1, 1, 256) and len(cqt) < 2:
                bias = inits.get(node.input[2]) if len(node.input) > 2 else None
                cqt.append((weight.reshape(_CQT_BINS, 256), bias if bias is not None else np.zeros(_CQT_BINS)))
        elif node.op_type == "Mul":
            for name in node.input:
                if name in inits and inits[name].shape == (_CQT_KEPT, 1, 1):
                    scale = inits[name].reshape(_CQT_KEPT)
    if lowpass is None or scale is None or len(cqt) != 2:
        return None
    kernels = np.concatenate([cqt[0][0], cqt[1][0]]).T
    bias = np.concatenate([cqt[0][1], cqt[1][1]])
    f32 = np.float32
    return CqtConstants(lowpass.astype(f32), np.ascontiguousarray(kernels, dtype=f32), bias.astype(f32), scale.astype(f32))


_CQT_BINS = 36  # bins per octave
_CQT_LEVELS = 9  # octaves
_CQT_KEPT = 309  # bins the model keeps (the lowest 15 of 324 are dropped)


class CqtFront:
    """The model's front (CQT, power in dB) computed *incrementally* from the previous window.

    A window that slid by a multiple of 256 samples since the previous one shares most of its
    work with it: away from the window's edges (where the graph pads) every decimated sample
    and every CQT frame is the previous window's, shifted. :meth:`update` recomputes only the
    samples and frames that the padding or the new audio touch (for a 9-frame hop: about 1,300
    of the 21,922 top-level low-pass outputs, 11 of the top octave's 172 frames; the lowest
    octaves, whose kernels span more than the window, every time) and copies the rest, so the
    result equals a whole-window computation (checked against the ONNX front when the model
    loads). All products go through ``matmul(rows, taps)``, which returns ``rows`` (n x 256)
    times the 72 CQT kernels plus their bias and ``taps`` (m x 256) times the low-pass filter:
    the model passes one-thread onnxruntime MatMuls, which keep numpy's multi-threaded BLAS
    (slow on a busy 2-core machine) out of it. One instance per stream: it keeps the previous
    window.
    """

    def __init__(self, constants: CqtConstants, matmul: Any = None) -> None:
        self.c = constants
        self.sizes = [WINDOW_SAMPLES]
        for _ in range(_CQT_LEVELS - 1):
            self.sizes.append((self.sizes[-1] - 2) // 2 + 1)
        self._scale2 = np.concatenate([np.zeros(_CQT_LEVELS * _CQT_BINS - _CQT_KEPT, np.float32), constants.scale]) ** 2
        self._matmul = matmul if matmul is not None else self._numpy_matmul
        self._no_taps = np.zeros((1, 256), np.float32)
        swv = np.lib.stride_tricks.sliding_window_view
        # Double-buffered per-level signals, each inside its zero padding (127 a side, as the
        # low-pass step pads), and one reflect-padded copy per level (128 a side, as the CQT
        # step pads); the 256-sample row views over them are made once.
        self._zero = [[np.zeros(n + 254, np.float32) for n in self.sizes] for _ in range(2)]
        self._zero_rows = [[swv(buf, 256) for buf in bufs] for bufs in self._zero]
        self._reflect = [np.zeros(n + 256, np.float32) for n in self.sizes]
        self._reflect_rows = [swv(buf, 256) for buf in self._reflect]
        self._dbs = [np.zeros((WINDOW_FRAMES, _CQT_LEVELS * _CQT_BINS), np.float32) for _ in range(2)]
        self.reset()

    def _numpy_matmul(self, rows: np.ndarray, taps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return rows @ self.c.kernels + self.c.bias, taps @ self.c.lowpass[:, None]

    def reset(self) -> None:
        """Forget the previous window: the next :meth:`update` computes everything."""
        self._start: int | None = None
        self._cur = 0  # which buffer set holds the previous window
        self.computed_frames = 0  # CQT frames computed (not copied), summed over levels and calls
        self.computed_samples = 0  # decimated samples computed (not copied)

    def update(self, window: np.ndarray, start: int | None = None) -> np.ndarray:
        """Power in dB, ``(172, 309)``, of ``window`` (43,844 samples) starting at stream sample ``start``.

        The result is a view into this object's buffers, valid until the next-but-one call.
        """
        shift = None if start is None or self._start is None else start - self._start
        if shift is not None and not (0 <= shift < WINDOW_SAMPLES // 2 and shift % FRAME_SAMPLES == 0):
            shift = None  # not a small step on the 256-sample grid: compute everything
        self._start = start
        old, new = self._cur, 1 - self._cur
        self._cur = new
        db_prev, db = self._dbs[old], self._dbs[new]
        self._zero[new][0][127:-127] = window
        # [lo, hi): samples of the current level equal to the previous window's, shifted.
        lo, hi = (0, self.sizes[0] - shift) if shift is not None else (0, 0)
        fshift = 0 if shift is None else shift // FRAME_SAMPLES
        for k in range(_CQT_LEVELS):
            n_k = self.sizes[k]
            x = self._zero[new][k][127 : 127 + n_k]
            reflect = self._reflect[k]
            reflect[128 : 128 + n_k] = x
            reflect[:128] = x[128:0:-1]
            reflect[128 + n_k :] = x[n_k - 2 : n_k - 130 : -1]
            stride = FRAME_SAMPLES >> k
            cols = slice((_CQT_LEVELS - 1 - k) * _CQT_BINS, (_CQT_LEVELS - k) * _CQT_BINS)
            # CQT frame j reads samples [j*stride - 128, j*stride + 128) (reflect-padded).
            j_lo = -(-(lo + 128) // stride)
            j_hi = min(WINDOW_FRAMES - fshift, (hi - 128) // stride + 1)
            if shift is None or j_lo >= j_hi:
                j_lo = j_hi = 0
            db[j_lo:j_hi, cols] = db_prev[j_lo + fshift : j_hi + fshift, cols]
            frames = np.concatenate((np.arange(j_lo), np.arange(j_hi, WINDOW_FRAMES)))
            rows = self._reflect_rows[k][frames * stride]
            taps = self._no_taps
            if k + 1 < _CQT_LEVELS:
                n = self.sizes[k + 1]
                nxt = self._zero[new][k + 1][127 : 127 + n]
                d = 0 if shift is None else shift >> (k + 1)
                # Decimated sample i reads samples [2i - 127, 2i + 129) (zero-padded).
                i_lo = -(-(lo + 127) // 2)
                i_hi = min(n - d, (hi - 129) // 2 + 1)
                if shift is None or i_lo >= i_hi:
                    i_lo = i_hi = 0
                nxt[i_lo:i_hi] = self._zero[old][k + 1][127 + i_lo + d : 127 + i_hi + d]
                samples = np.concatenate((np.arange(i_lo), np.arange(i_hi, n)))
                if len(samples):
                    taps = self._zero_rows[new][k][2 * samples]
                self.computed_samples += len(samples)
            c, low = self._matmul(rows, taps)
            power = (c[:, :_CQT_BINS] ** 2 + c[:, _CQT_BINS:] ** 2) * self._scale2[cols]
            db[frames, cols] = 10.0 * np.log10(power + np.float32(1e-10))
            self.computed_frames += len(frames)
            if k + 1 < _CQT_LEVELS:
                if len(samples):
                    nxt[samples] = low[:, 0]
                lo, hi = i_lo, i_hi
        return db[:, -_CQT_KEPT:]

    @staticmethod
    def normalise(db: np.ndarray, frames: int) -> np.ndarray:
        """The graph's per-window normalisation (minimum 0, maximum 1 over the whole window) of
        the last ``frames`` frames, shaped ``(1, frames, 309)`` for the back graph."""
        low = db.min()
        top = db.max() - low
        tail = db[-frames:] - low
        if top > 0:
            tail /= top
        else:
            tail[:] = 0.0
        return tail[None].astype(np.float32, copy=False)


class BasicPitchModel:
    """The ONNX session(s) around ``nmp.onnx``: one call maps a window to note and onset activations.

    With ``split=True`` (the default, when the ``onnx`` package is installed) the graph is cut
    in memory into a front (CQT and normalisation over the whole window) and a back (the
    convolution stack, local in time); :meth:`run_tail` then runs the back only on the last
    frames of the window, which gives those frames exactly as a whole-window run does at a
    fraction of the cost, and a streaming caller may hand it a :class:`CqtFront` (from
    :meth:`new_front`) that computes the front incrementally. ``mode`` says which is in use:
    ``"split"`` (with the incremental front), ``"split-onnx-front"`` or ``"whole"``.
    """

    def __init__(self, path: str | Path | None = None, threads: int = 1, split: bool = True) -> None:
        import onnxruntime as ort

        self.path = Path(path) if path is not None else find_model_path()
        if not self.path.is_file():
            raise NoteModelError(f"{self.path}: Basic Pitch model file not found")
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        data = self.path.read_bytes()
        self.mode = "whole"
        self._front: Any = None
        self._back: Any = None
        self._session: Any = None
        self._constants: CqtConstants | None = None
        self._matmul: Any = None
        self._input = np.zeros((1, WINDOW_SAMPLES, 1), dtype=np.float32)
        if split:
            parts = None
            try:
                parts = _split_graph(data)
            except ImportError:  # onnx missing: the whole graph still works, at about 3x the cost
                pass
            except Exception as exc:  # a graph this code does not know: same fallback, said why
                _log().warning("Basic Pitch graph not split (%s); running it whole", exc)
            if parts is not None:
                self._front = self._load(ort, parts[0], options)
                self._back = self._load(ort, parts[1], options)
                self._cut = self._back.get_inputs()[0].name
                self.mode = "split-onnx-front"
                if parts[2] is not None and self._front_matches(parts[2]):
                    self._constants = parts[2]
                    self.mode = "split"
        if self._front is None:
            self._session = self._load(ort, data, options)

    def _load(self, ort: Any, data: bytes, options: Any) -> Any:
        try:
            return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise NoteModelError(f"{self.path}: cannot load the Basic Pitch model ({exc})") from None

    def _front_matches(self, constants: CqtConstants) -> bool:
        """The numpy front must reproduce the ONNX front on a test window (else it is not used)."""
        t = np.arange(WINDOW_SAMPLES) / MODEL_RATE
        rng = np.random.default_rng(11)
        window = (0.3 * np.sin(2 * np.pi * 98.0 * t) * (t > 0.7) + 0.1 * np.sin(2 * np.pi * 1244.5 * t)
                  + 0.01 * rng.standard_normal(WINDOW_SAMPLES)).astype(np.float32)
        self._input[0, :, 0] = window
        (want,) = self._front.run(None, {_INPUT_NAME: self._input})
        self._constants = constants
        front = self.new_front()
        self._constants = None
        assert front is not None
        got = CqtFront.normalise(front.update(window), WINDOW_FRAMES)
        diff = float(np.abs(got - want).max())
        if diff > 1e-3:
            _log().warning("numpy CQT front differs from the model's by %.3g; using the ONNX front", diff)
            return False
        return True

    def new_front(self) -> CqtFront | None:
        """A per-stream incremental front for :meth:`run_tail` (None when not available)."""
        if self._constants is None:
            return None
        if self._matmul is None:
            self._matmul = self._matmul_session(self._constants)
        session = self._matmul
        return CqtFront(self._constants, matmul=lambda rows, taps: session.run(None, {"rows": rows, "taps": taps}))

    def _matmul_session(self, c: CqtConstants) -> Any:
        """``rows @ kernels + bias`` and ``taps @ lowpass`` as a one-thread onnxruntime session
        (built in memory)."""
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper

        f = TensorProto.FLOAT
        graph = helper.make_graph(
            [
                helper.make_node("MatMul", ["rows", "k"], ["p"]),
                helper.make_node("Add", ["p", "b"], ["cqt"]),
                helper.make_node("MatMul", ["taps", "lp"], ["low"]),
            ],
            "cqt_products",
            [helper.make_tensor_value_info("rows", f, ["n", 256]), helper.make_tensor_value_info("taps", f, ["m", 256])],
            [helper.make_tensor_value_info("cqt", f, ["n", 2 * _CQT_BINS]), helper.make_tensor_value_info("low", f, ["m", 1])],
            [
                numpy_helper.from_array(c.kernels, "k"),
                numpy_helper.from_array(c.bias, "b"),
                numpy_helper.from_array(np.ascontiguousarray(c.lowpass[:, None]), "lp"),
            ],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        return self._load(ort, model.SerializeToString(), options)

    def run(self, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Activations ``(note, onset)``, each ``(172, 88)`` in [0, 1], for one window of 43,844 samples."""
        return self.run_tail(window, WINDOW_FRAMES)

    def run_tail(
        self, window: np.ndarray, frames: int, front: CqtFront | None = None, start: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Activations ``(note, onset)`` of the window's last ``frames`` frames, each ``(frames, 88)``.

        Equal to the last rows of :meth:`run`; in split mode only those frames and their
        context go through the convolution stack. ``front`` (from :meth:`new_front`) and the
        window's stream sample ``start`` let the front reuse the previous window's work.
        """
        frames = max(1, min(WINDOW_FRAMES, int(frames)))
        n = min(WINDOW_FRAMES, frames + TAIL_CONTEXT_FRAMES)
        if front is not None and self._back is not None:
            cqt = CqtFront.normalise(front.update(window, start), n)
        elif self._session is not None:
            self._input[0, :, 0] = window
            note, onset = self._session.run([_NOTE_OUTPUT, _ONSET_OUTPUT], {_INPUT_NAME: self._input})
            return note[0, -frames:], onset[0, -frames:]
        else:
            self._input[0, :, 0] = window
            (full,) = self._front.run(None, {_INPUT_NAME: self._input})
            cqt = full[:, -n:]
        note, onset = self._back.run([_NOTE_OUTPUT, _ONSET_OUTPUT], {self._cut: cqt})
        return note[0, -frames:], onset[0, -frames:]


def _log() -> Any:
    import logging

    return logging.getLogger("beamsync.notes")


@dataclass(slots=True)
class Note:
    """A decoded note in model frames (global 256-sample frames at 22,050 Hz)."""

    pitch: int
    onset: int
    offset: int
    velocity: float


class NoteDecoder:
    """Causal decoding of note/onset activation frames into notes, one frame at a time.

    Rules (frame indices are global model frames):

    * an onset at pitch ``p`` in frame ``u`` is a strict local peak (in time) of the onset
      activation that reaches ``onset_threshold``; with ``infer_onsets`` a jump of the note
      activation over the previous two frames also counts as onset strength (Basic Pitch's
      "inferred onsets"). The peak test needs frame ``u + 1``, so onsets are one frame late.
    * the onset starts a note; a note already sounding at ``p`` ends there (re-articulation),
      unless it began fewer than ``min_gap`` frames ago (a double peak of one attack).
    * a note stays on while its note activation reaches ``frame_threshold``; after
      ``release_frames`` frames below it the note ends after its last frame above it.
    * a note is *confirmed* (its note-on is emitted) once it has lasted ``confirm_frames``
      frames; notes that end before are dropped, so they never emit anything.
    * with ``octave_ghost_frames`` > 0 a note is also held back that many frames and dropped
      when a sounding, at least as strong note an octave, a twelfth or two octaves below
      (:data:`GHOST_INTERVALS`) started within that many frames of it (a partial's "ghost"; on bass stems these are most false notes). Off by default:
      real octaves are common.
    """

    def __init__(
        self,
        onset_threshold: float = 0.5,
        frame_threshold: float = 0.3,
        confirm_frames: int = 2,
        release_frames: int = 11,
        min_gap: int = 8,
        infer_onsets: bool = True,
        octave_ghost_frames: int = 0,
        min_pitch: int = LOWEST_MIDI,
        max_pitch: int = LOWEST_MIDI + N_PITCHES - 1,
    ) -> None:
        if not 0 <= octave_ghost_frames <= 20:
            raise NoteModelError(f"note decoder: octave_ghost_frames must lie in 0..20, got {octave_ghost_frames}")
        for name, value in (("onset_threshold", onset_threshold), ("frame_threshold", frame_threshold)):
            if not 0.0 < value < 1.0:
                raise NoteModelError(f"note decoder: {name} must lie in (0, 1), got {value}")
        for name, ivalue in (("confirm_frames", confirm_frames), ("release_frames", release_frames), ("min_gap", min_gap)):
            if ivalue < 1:
                raise NoteModelError(f"note decoder: {name} must be at least 1, got {ivalue}")
        if not LOWEST_MIDI <= min_pitch <= max_pitch <= LOWEST_MIDI + N_PITCHES - 1:
            raise NoteModelError(
                f"note decoder: pitch range {min_pitch}..{max_pitch} must lie within "
                f"{LOWEST_MIDI}..{LOWEST_MIDI + N_PITCHES - 1}"
            )
        self.onset_threshold = float(onset_threshold)
        self.frame_threshold = float(frame_threshold)
        self.confirm_frames = int(confirm_frames)
        self.release_frames = int(release_frames)
        self.min_gap = int(min_gap)
        self.infer_onsets = bool(infer_onsets)
        self.octave_ghost_frames = int(octave_ghost_frames)
        self._pitch_mask = np.zeros(N_PITCHES, dtype=bool)
        self._pitch_mask[min_pitch - LOWEST_MIDI : max_pitch - LOWEST_MIDI + 1] = True
        self.reset()

    def reset(self) -> None:
        """Forget all history: no notes sounding, next frame is frame 0."""
        self._next = 0
        self._note_hist = np.zeros((3, N_PITCHES), dtype=np.float32)  # frames t-3, t-2, t-1
        self._strength_hist = np.zeros((2, N_PITCHES), dtype=np.float32)  # frames t-2, t-1
        self._active = np.zeros(N_PITCHES, dtype=bool)
        self._confirmed = np.zeros(N_PITCHES, dtype=bool)
        self._start = np.zeros(N_PITCHES, dtype=np.int64)
        self._last_above = np.zeros(N_PITCHES, dtype=np.int64)
        self._below = np.zeros(N_PITCHES, dtype=np.int64)
        self._amp_sum = np.zeros(N_PITCHES, dtype=np.float64)
        self._amp_n = np.zeros(N_PITCHES, dtype=np.int64)

    @property
    def next_frame(self) -> int:
        """Index of the next frame :meth:`push` expects."""
        return self._next

    def push(self, note: np.ndarray, onset: np.ndarray) -> tuple[list[Note], list[Note]]:
        """Decode frames ``(n, 88)`` that follow the previous ones; return ``(started, ended)``.

        ``started`` are notes confirmed by these frames (offset not known yet: -1); ``ended``
        are confirmed notes that ended (with their offset frame). Notes that end before they
        are confirmed appear in neither.
        """
        started: list[Note] = []
        ended: list[Note] = []
        for i in range(note.shape[0]):
            self._step(note[i], onset[i], started, ended)
        return started, ended

    def _step(self, note: np.ndarray, onset: np.ndarray, started: list[Note], ended: list[Note]) -> None:
        t = self._next
        self._next += 1
        note = np.where(self._pitch_mask, note, 0.0).astype(np.float32)
        onset = np.where(self._pitch_mask, onset, 0.0).astype(np.float32)
        strength = onset
        if self.infer_onsets:
            prev1, prev2 = self._note_hist[2], self._note_hist[1]
            rise = np.minimum(note - prev1, note - prev2)
            strength = np.maximum(onset, rise)
        # Onset peaks are decided for frame u = t - 1, which needed frame t.
        u = t - 1
        s_prev, s_mid = self._strength_hist[0], self._strength_hist[1]
        peaks = (s_mid >= self.onset_threshold) & (s_mid > s_prev) & (s_mid > strength) if u >= 0 else None

        # Sustain / release of sounding notes with the frame u's successor known: advance with
        # frame u's note activation (kept in history) so that a note started at u counts it.
        mid_note = self._note_hist[2]
        if u >= 0:
            if peaks is not None and peaks.any():
                for p in np.flatnonzero(peaks):
                    if self._active[p]:
                        if u - self._start[p] < self.min_gap:
                            continue
                        self._finish(p, u, ended)
                    self._active[p] = True
                    self._confirmed[p] = False
                    self._start[p] = u
                    self._last_above[p] = u
                    self._below[p] = 0
                    self._amp_sum[p] = 0.0
                    self._amp_n[p] = 0
            active = np.flatnonzero(self._active)
            for p in active:
                value = float(mid_note[p])
                if value >= self.frame_threshold:
                    self._last_above[p] = u
                    self._below[p] = 0
                    self._amp_sum[p] += value
                    self._amp_n[p] += 1
                elif u > self._start[p]:
                    self._below[p] += 1
                    if self._below[p] >= self.release_frames:
                        self._finish(p, int(self._last_above[p]) + 1, ended)
                        continue
                if (
                    not self._confirmed[p]
                    and self._last_above[p] + 1 - self._start[p] >= self.confirm_frames
                    and u - self._start[p] >= self.octave_ghost_frames
                ):
                    if self._is_octave_ghost(p):
                        self._active[p] = False
                        continue
                    self._confirmed[p] = True
                    started.append(Note(int(p) + LOWEST_MIDI, int(self._start[p]), -1, self._velocity(p)))

        self._note_hist[0] = self._note_hist[1]
        self._note_hist[1] = self._note_hist[2]
        self._note_hist[2] = note
        self._strength_hist[0] = self._strength_hist[1]
        self._strength_hist[1] = strength

    def _is_octave_ghost(self, p: int) -> bool:
        # An upper partial of a low note (mostly its octave) often fires as a note of its own,
        # starting with the real one. Bass timbres make this the main source of false notes.
        if self.octave_ghost_frames == 0:
            return False
        # The note below must itself sound (frames above threshold) and be at least as strong:
        # a weak sub-octave candidate that fired with p must not remove p.
        for interval in GHOST_INTERVALS:
            low = p - interval
            if (
                low >= 0
                and self._active[low]
                and self._amp_n[low] > 0
                and abs(int(self._start[low]) - int(self._start[p])) <= self.octave_ghost_frames
                and self._velocity(low) >= self._velocity(p)
            ):
                return True
        return False

    def _velocity(self, p: int) -> float:
        return float(self._amp_sum[p] / self._amp_n[p]) if self._amp_n[p] else 0.0

    def _finish(self, p: int, offset: int, ended: list[Note]) -> None:
        if self._confirmed[p]:
            ended.append(Note(int(p) + LOWEST_MIDI, int(self._start[p]), max(offset, int(self._start[p]) + 1), self._velocity(p)))
        self._active[p] = False
        self._confirmed[p] = False

    def flush(self) -> list[Note]:
        """End every sounding note at the current frame (end of a file); return the confirmed ones."""
        ended: list[Note] = []
        for p in np.flatnonzero(self._active):
            self._finish(int(p), int(self._last_above[p]) + 1, ended)
        return ended


class NoteTranscriber:
    """Streaming analyser: audio blocks in, ``note_on`` / ``note_off`` feature events out.

    ``stem`` names the audio this transcriber reads (``"mix"`` by default; ``"bass"``,
    ``"vocals"`` or ``"other"`` when source separation runs) and is copied into every event's
    ``data``; it also picks decoder settings from :data:`STEM_PRESETS` (octave-ghost removal for
    ``"bass"``) unless they are given. ``hop_frames`` sets how often the model runs (9 frames = 104.5 ms by default;
    ``budget=True`` uses 28 frames = 325 ms for about half the CPU); ``margin_frames``
    how many frames before each window's right edge count as settled. Each window runs only
    its new frames through the model's convolution stack and, with ``incremental`` (default),
    computes its CQT front from the previous window's (same results; see
    :class:`BasicPitchModel`). Latency from a note's
    onset to its note-on is about ``margin_frames + 1 + confirm_frames`` frames plus, on
    average, half a hop and the resampler's delay.

    Events (times in input-stream frames):

    * ``note_on``: ``time`` = onset, ``value`` = velocity (0..1), ``data`` = ``{"pitch": MIDI
      number, "velocity", "pitch_class": 0..11, "stem"}``;
    * ``note_off``: ``time`` = offset, same ``data``, plus ``"onset"`` (input frame).
    """

    def __init__(
        self,
        sample_rate: int,
        *,
        stem: str = "mix",
        hop_frames: int | None = None,
        budget: bool = False,
        margin_frames: int = DEFAULT_MARGIN_FRAMES,
        model: BasicPitchModel | None = None,
        threads: int = 1,
        onset_threshold: float = 0.5,
        frame_threshold: float = 0.3,
        confirm_frames: int = 2,
        release_frames: int = 11,
        octave_ghost_frames: int | None = None,
        min_pitch: int = LOWEST_MIDI,
        max_pitch: int = LOWEST_MIDI + N_PITCHES - 1,
        incremental: bool = True,
    ) -> None:
        if sample_rate <= 0:
            raise NoteModelError(f"note transcriber: sample rate must be positive, got {sample_rate}")
        if hop_frames is None:
            hop_frames = BUDGET_HOP_FRAMES if budget else DEFAULT_HOP_FRAMES
        if not 1 <= hop_frames <= 64:
            raise NoteModelError(f"note transcriber: hop_frames must lie in 1..64, got {hop_frames}")
        if not 0 <= margin_frames <= 100:
            raise NoteModelError(f"note transcriber: margin_frames must lie in 0..100, got {margin_frames}")
        self.sample_rate = int(sample_rate)
        self.stem = str(stem)
        self.hop_frames = int(hop_frames)
        self.margin_frames = int(margin_frames)
        if octave_ghost_frames is None:
            octave_ghost_frames = STEM_PRESETS.get(self.stem, {}).get("octave_ghost_frames", 0)
        self.model = model if model is not None else BasicPitchModel(threads=threads)
        self.incremental = bool(incremental)
        self.decoder = NoteDecoder(
            onset_threshold=onset_threshold,
            frame_threshold=frame_threshold,
            confirm_frames=confirm_frames,
            release_frames=release_frames,
            octave_ghost_frames=octave_ghost_frames,
            min_pitch=min_pitch,
            max_pitch=max_pitch,
        )
        hop = self.hop_frames * FRAME_SAMPLES
        # Buffer holding resampled audio from global sample ``self._buf_start`` on.
        self._capacity = WINDOW_SAMPLES + hop + 8 * MODEL_RATE
        self._buf = np.zeros(self._capacity, dtype=np.float32)
        self.windows_run = 0
        self.reset()

    def reset(self) -> None:
        """Start a new stream: empty buffers, fresh resampler, no notes sounding."""
        import soxr

        self._resampler = soxr.ResampleStream(self.sample_rate, MODEL_RATE, 1, dtype="float32") if self.sample_rate != MODEL_RATE else None
        self.decoder.reset()
        self._front = self.model.new_front() if self.incremental else None
        # The first window ends one hop into the stream; the samples before 0 are silence.
        first_start = FRAME_SAMPLES * (self.hop_frames - WINDOW_FRAMES)
        self._buf[:] = 0.0
        self._buf_start = first_start  # global 22.05 kHz sample index of self._buf[0]
        self._buf_len = -first_start  # zeros of the pre-roll count as buffered
        self._window_start = first_start
        self.windows_run = 0

    # -- time conversions -------------------------------------------------------------------
    def frame_to_input(self, model_frame: int) -> int:
        """Input-stream frame of a global model frame's start."""
        return int(round(model_frame * FRAME_SAMPLES * self.sample_rate / MODEL_RATE))

    def process(self, block: AudioBlock) -> list[FeatureEvent]:
        """Feed one block; return the note events that became certain with it."""
        if block.sample_rate != self.sample_rate:
            raise NoteModelError(
                f"note transcriber ({self.stem}): block at {block.sample_rate} Hz, expected {self.sample_rate} Hz"
            )
        samples = np.asarray(block.samples, dtype=np.float32)
        if samples.ndim != 1:
            samples = samples.reshape(len(samples), -1).mean(axis=1).astype(np.float32)
        fresh = self._resampler.resample_chunk(samples) if self._resampler is not None else samples
        self._append(fresh)
        events: list[FeatureEvent] = []
        detected_at = block.end_frame
        while self._window_start + WINDOW_SAMPLES <= self._buf_start + self._buf_len:
            self._run_window(events, detected_at)
        return events

    def flush(self, end_frame: int) -> list[FeatureEvent]:
        """Finish a file: decode its last frames and end the notes still sounding.

        The resampler is drained and the window slid over silence until every frame of the
        audio has settled, so notes in the last ~0.2 s are not lost. ``end_frame`` (the input
        stream's end) is the events' ``detected_at``. Call :meth:`reset` before reusing.
        """
        events: list[FeatureEvent] = []
        if self._resampler is not None:
            self._append(self._resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
        audio_end = self._buf_start + self._buf_len
        last_frame = -(-audio_end // FRAME_SAMPLES)  # frames up to here hold audio
        silence = np.zeros(FRAME_SAMPLES * self.hop_frames, dtype=np.float32)
        # Frame u is decided once u + 1 is known; a note needs its confirmation frames too.
        needed = last_frame + 2 + max(self.decoder.confirm_frames, self.decoder.octave_ghost_frames)
        while self.decoder.next_frame < needed:
            self._append(silence)
            while self._window_start + WINDOW_SAMPLES <= self._buf_start + self._buf_len:
                self._run_window(events, end_frame)
        ended = self.decoder.flush()
        events += [self._event("note_off", n, end_frame, self.frame_to_input(n.offset)) for n in ended]
        return events

    def _append(self, fresh: np.ndarray) -> None:
        n = len(fresh)
        if n == 0:
            return
        if self._buf_len + n > self._capacity:
            # Drop what no future window needs: everything before the next window's start.
            drop = self._window_start - self._buf_start
            keep = self._buf_len - drop
            self._buf[:keep] = self._buf[drop : drop + keep].copy()
            self._buf_start += drop
            self._buf_len = keep
            if keep + n > self._capacity:
                raise NoteModelError(f"note transcriber ({self.stem}): block of {n} samples is too long")
        self._buf[self._buf_len : self._buf_len + n] = fresh
        self._buf_len += n

    def _run_window(self, events: list[FeatureEvent], detected_at: int) -> None:
        offset = self._window_start - self._buf_start
        first_frame = self._window_start // FRAME_SAMPLES  # global frame of the window's row 0
        last_settled = first_frame + WINDOW_FRAMES - 1 - self.margin_frames
        begin = self.decoder.next_frame
        if last_settled >= begin:
            if begin < first_frame:
                raise NoteModelError("note transcriber: hop longer than the settled part of a window")
            # Only the frames not taken before (and the margin after them) go through the
            # model's convolution stack; the rest of the window is context it already saw.
            note, onset = self.model.run_tail(
                self._buf[offset : offset + WINDOW_SAMPLES], first_frame + WINDOW_FRAMES - begin, self._front, self._window_start
            )
            self.windows_run += 1
            keep = last_settled - begin + 1
            started, ended = self.decoder.push(note[:keep], onset[:keep])
            fresh = [self._event("note_off", n, detected_at, self.frame_to_input(n.offset)) for n in ended]
            fresh += [self._event("note_on", n, detected_at, self.frame_to_input(n.onset)) for n in started]
            fresh.sort(key=lambda e: e.time)  # stable: a note_off precedes a note_on at its frame
            events.extend(fresh)
        self._window_start += self.hop_frames * FRAME_SAMPLES

    def _event(self, name: str, n: Note, detected_at: int, time: int) -> FeatureEvent:
        data: dict[str, Any] = {
            "pitch": n.pitch,
            "velocity": round(n.velocity, 4),
            "pitch_class": n.pitch % 12,
            "stem": self.stem,
        }
        if name == "note_off":
            data["onset"] = self.frame_to_input(n.onset)
        return FeatureEvent(name, time, detected_at, float(data["velocity"]), data)
