"""Export BeatNet's trained CRNN (beat/downbeat activations) to a stateful, frame-by-frame ONNX model.

Offline tool, run once by a maintainer; torch is needed here only (never by ``engine/``)::

    python -m venv /tmp/export-venv
    /tmp/export-venv/bin/pip install torch==2.13.0 numpy onnx
    /tmp/export-venv/bin/pip install --no-deps beatnet==1.1.3
    /tmp/export-venv/bin/python models/beatnet/export_onnx.py [--model 1] [--out models/beatnet/beatnet_crnn.onnx]

The network is re-declared here (same layer shapes as BeatNet 1.1.3's ``BDA`` module) so the
export does not import BeatNet's runtime modules (which pull in madmom, librosa and pyaudio);
only the weights file ``BeatNet/models/model_N_weights.pt`` is read from the installed package.

ONNX graph (one 20 ms frame per call, recurrent state carried by the caller):

* inputs: ``features`` float32 [1, 272] (log-filtered spectrogram + positive difference),
  ``h_in`` float32 [2, 1, 150], ``c_in`` float32 [2, 1, 150] (LSTM hidden and cell state);
* outputs: ``probs`` float32 [1, 3] (softmax: beat, downbeat, no beat), ``h_out``, ``c_out``.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

N_FEATURES = 272
HIDDEN = 150
LAYERS = 2


class StatefulCRNN(nn.Module):
    """Conv1d(1→2, k=10) + ReLU + maxpool(2) → Linear(262→150) → 2-layer LSTM(150) → Linear(150→3)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(1, 2, 10)
        self.linear0 = nn.Linear(2 * ((N_FEATURES - 10 + 1) // 2), 150)
        self.lstm = nn.LSTM(input_size=150, hidden_size=HIDDEN, num_layers=LAYERS, batch_first=True)
        self.linear = nn.Linear(HIDDEN, 3)

    def forward(self, features: torch.Tensor, h_in: torch.Tensor, c_in: torch.Tensor):
        x = features.reshape(1, 1, N_FEATURES)  # one frame, one conv channel
        x = F.max_pool1d(F.relu(self.conv1(x)), 2)
        x = self.linear0(x.reshape(1, -1))
        x, (h_out, c_out) = self.lstm(x.reshape(1, 1, 150), (h_in, c_in))
        logits = self.linear(x.reshape(1, HIDDEN))
        return torch.softmax(logits, dim=-1), h_out, c_out


def beatnet_weights(model: int) -> Path:
    spec = importlib.util.find_spec("BeatNet")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("BeatNet is not installed: pip install --no-deps beatnet==1.1.3")
    return Path(list(spec.submodule_search_locations)[0]) / "models" / f"model_{model}_weights.pt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=int, default=1, choices=[1, 2, 3],
                        help="BeatNet weights: 1 = trained without GTZAN (default), 2 = without Ballroom, 3 = without Rock Corpus")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("beatnet_crnn.onnx"))
    args = parser.parse_args()

    net = StatefulCRNN()
    state = torch.load(beatnet_weights(args.model), map_location="cpu")
    net.load_state_dict(state, strict=True)
    net.eval()

    feats = torch.zeros(1, N_FEATURES)
    h0 = torch.zeros(LAYERS, 1, HIDDEN)
    c0 = torch.zeros(LAYERS, 1, HIDDEN)
    torch.onnx.export(
        net, (feats, h0, c0), str(args.out),
        input_names=["features", "h_in", "c_in"], output_names=["probs", "h_out", "c_out"],
        opset_version=17, dynamo=False,
    )

    # Check: run a random sequence frame by frame through torch (sequence mode, as BeatNet runs
    # it) and through onnxruntime (one frame per call, state carried) and compare.
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    seq = rng.random((200, N_FEATURES), dtype=np.float32) * 2.0
    with torch.no_grad():
        x = torch.from_numpy(seq)
        y = F.max_pool1d(F.relu(net.conv1(x.unsqueeze(1))), 2).reshape(200, -1)
        y = net.linear0(y).unsqueeze(0)
        y, _ = net.lstm(y, (h0, c0))
        ref = torch.softmax(net.linear(y[0]), dim=-1).numpy()
        # BeatNet's own module on the same sequence (its model.py needs only torch and numpy).
        from BeatNet.model import BDA

        original = BDA(N_FEATURES, HIDDEN, LAYERS, "cpu")
        original.load_state_dict(state, strict=False)
        original.eval()
        ref_beatnet = original.final_pred(original(x.unsqueeze(0))[0]).numpy().T
    print(f"max |re-declared - BeatNet BDA| = {np.abs(ref - ref_beatnet).max():.2e}")
    sess = ort.InferenceSession(str(args.out), providers=["CPUExecutionProvider"])
    h = np.zeros((LAYERS, 1, HIDDEN), np.float32)
    c = np.zeros((LAYERS, 1, HIDDEN), np.float32)
    out = np.empty_like(ref)
    for i in range(len(seq)):
        p, h, c = sess.run(None, {"features": seq[i : i + 1], "h_in": h, "c_in": c})
        out[i] = p[0]
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes); max |onnx - torch| over 200 frames = {np.abs(out - ref).max():.2e}")


if __name__ == "__main__":
    main()
