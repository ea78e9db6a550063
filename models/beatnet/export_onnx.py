"""Export BeatNet's trained CRNN (beat/downbeat activations) to a stateful, frame-by-frame ONNX model.

Offline tool, run once by a maintainer; torch is needed here only (never by ``engine/``)::

    python -m venv /tmp/export-venv
    /tmp/export-venv/bin/pip install torch==2.13.0 numpy onnx
    /tmp/export-venv/bin/pip install --no-deps beatnet==1.1.3
    /tmp/export-venv/bin/python models/beatnet/export_onnx.py [--model 1] [--out models/beatnet/beatnet_crnn.onnx]
    /tmp/export-venv/bin/python models/beatnet/export_onnx.py --ensemble [--out models/beatnet/beatnet_crnn_ensemble.onnx]

The network is re-declared here (same layer shapes as BeatNet 1.1.3's ``BDA`` module) so the
export does not import BeatNet's runtime modules (which pull in madmom, librosa and pyaudio);
only the weights file ``BeatNet/models/model_N_weights.pt`` is read from the installed package.

ONNX graph (one 20 ms frame per call, recurrent state carried by the caller):

* inputs: ``features`` float32 [1, 272] (log-filtered spectrogram + positive difference),
  ``h_in`` float32 [2, 1, 150], ``c_in`` float32 [2, 1, 150] (LSTM hidden and cell state);
* outputs: ``probs`` float32 [1, 3] (softmax: beat, downbeat, no beat), ``h_out``, ``c_out``.

``--ensemble`` exports the three models as one graph: one ``features`` input shared by the
three networks, their softmax outputs averaged into ``probs`` [1, 3], and the states of all three
stacked: ``h_in``/``c_in``/``h_out``/``c_out`` float32 [3, 2, 1, 150] (model, layer, batch,
unit). One onnxruntime call per frame instead of three (the per-call overhead dominates a
network this small). The script checks it against the three shipped single-model files run side
by side and averaged, frame by frame with their states carried, and against torch.
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


class StatefulEnsemble(nn.Module):
    """The three CRNNs on one input frame; mean of their softmax outputs; states stacked."""

    def __init__(self, nets: list[StatefulCRNN]) -> None:
        super().__init__()
        self.nets = nn.ModuleList(nets)

    def forward(self, features: torch.Tensor, h_in: torch.Tensor, c_in: torch.Tensor):
        probs, hs, cs = [], [], []
        for i, net in enumerate(self.nets):
            p, h, c = net(features, h_in[i], c_in[i])
            probs.append(p)
            hs.append(h)
            cs.append(c)
        return torch.stack(probs).mean(0), torch.stack(hs), torch.stack(cs)


def load_net(model: int) -> tuple[StatefulCRNN, dict]:
    """BeatNet's weights ``model`` (1, 2, 3) in the re-declared network, in eval mode."""
    net = StatefulCRNN()
    state = torch.load(beatnet_weights(model), map_location="cpu")
    net.load_state_dict(state, strict=True)
    net.eval()
    return net, state


def export_ensemble(out: Path) -> None:
    """Write the three-model graph to ``out`` and check it (see the module docstring)."""
    import onnxruntime as ort

    nets = [load_net(m)[0] for m in (1, 2, 3)]
    ens = StatefulEnsemble(nets).eval()
    n = len(nets)
    feats = torch.zeros(1, N_FEATURES)
    h0 = torch.zeros(n, LAYERS, 1, HIDDEN)
    c0 = torch.zeros(n, LAYERS, 1, HIDDEN)
    torch.onnx.export(
        ens, (feats, h0, c0), str(out),
        input_names=["features", "h_in", "c_in"], output_names=["probs", "h_out", "c_out"],
        opset_version=17, dynamo=False,
    )
    rng = np.random.default_rng(0)
    seq = rng.random((200, N_FEATURES), dtype=np.float32) * 2.0
    # torch: the ensemble module itself, frame by frame
    ref = np.empty((len(seq), 3), np.float32)
    with torch.no_grad():
        h, c = h0, c0
        for i in range(len(seq)):
            p, h, c = ens(torch.from_numpy(seq[i : i + 1]), h, c)
            ref[i] = p[0].numpy()
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    h = np.zeros((n, LAYERS, 1, HIDDEN), np.float32)
    c = np.zeros_like(h)
    got = np.empty_like(ref)
    for i in range(len(seq)):
        p, h, c = sess.run(None, {"features": seq[i : i + 1], "h_in": h, "c_in": c})
        got[i] = p[0]
    # the three shipped single-model files, run side by side and averaged
    here = Path(__file__).parent
    singles = [ort.InferenceSession(str(here / name), providers=["CPUExecutionProvider"])
               for name in ("beatnet_crnn.onnx", "beatnet_crnn_2.onnx", "beatnet_crnn_3.onnx")]
    states = [(np.zeros((LAYERS, 1, HIDDEN), np.float32),) * 2 for _ in singles]
    mean = np.zeros_like(ref)
    for i in range(len(seq)):
        for j, s in enumerate(singles):
            p, hh, cc = s.run(None, {"features": seq[i : i + 1], "h_in": states[j][0], "c_in": states[j][1]})
            states[j] = (hh, cc)
            mean[i] += p[0] / len(singles)
    print(f"wrote {out} ({out.stat().st_size} bytes); over 200 frames: max |ensemble onnx - torch| = "
          f"{np.abs(got - ref).max():.2e}, max |ensemble onnx - mean of the three single-model onnx files| = "
          f"{np.abs(got - mean).max():.2e}")


def beatnet_weights(model: int) -> Path:
    spec = importlib.util.find_spec("BeatNet")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("BeatNet is not installed: pip install --no-deps beatnet==1.1.3")
    return Path(list(spec.submodule_search_locations)[0]) / "models" / f"model_{model}_weights.pt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=int, default=1, choices=[1, 2, 3],
                        help="BeatNet weights: 1 = trained without GTZAN (default), 2 = without Ballroom, 3 = without Rock Corpus")
    parser.add_argument("--ensemble", action="store_true",
                        help="export models 1, 2 and 3 as one graph with averaged outputs (see above)")
    parser.add_argument("--out", type=Path, help="output file (default beatnet_crnn.onnx, "
                        "or beatnet_crnn_ensemble.onnx with --ensemble, beside this script)")
    args = parser.parse_args()
    if args.ensemble:
        export_ensemble(args.out or Path(__file__).with_name("beatnet_crnn_ensemble.onnx"))
        return
    args.out = args.out or Path(__file__).with_name("beatnet_crnn.onnx")

    net, state = load_net(args.model)

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
