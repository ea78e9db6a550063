"""Export a separator checkpoint to ONNX (state in / state out) and check it against torch.

Usage (from the repository root)::

    .venv/bin/python -m models.separation.export /work/scratch/separation/ckpt/best.pt \
        models/separation/beamsync_sep.onnx

The graph's inputs are ``mag`` [1, T, bins] (STFT magnitudes, any T), ``h`` and ``c``
[layers, 1, hidden]; outputs ``masks`` [1, T, 4, bins], ``h_out``, ``c_out``. The STFT settings
and stem names are stored as metadata, which ``engine.analysis.separation.OnnxMaskModel`` reads.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from models.separation.model import HOP, N_BINS, N_FFT, SR, STEMS, SepNet


def export(ckpt_path: Path, out: Path) -> dict:
    ck = torch.load(ckpt_path, weights_only=False, map_location="cpu")
    model = SepNet(hidden=ck.get("config", {}).get("hidden", 192))
    model.load_state_dict(ck["model"])
    model.eval()
    h, c = model.initial_state(1)
    mag = torch.rand(1, 7, N_BINS)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model, (mag, h, c), str(out), input_names=["mag", "h", "c"],
        output_names=["masks", "h_out", "c_out"], dynamic_axes={"mag": {1: "frames"}, "masks": {1: "frames"}},
        opset_version=17, dynamo=False)
    import onnx

    m = onnx.load(str(out))
    state = ck.get("state", {})
    meta = {"sample_rate": str(SR), "n_fft": str(N_FFT), "hop": str(HOP), "stems": json.dumps(list(STEMS)),
            "window": "sqrt-hann periodic", "trained_steps": str(state.get("step", "?")),
            "trained_cpu_minutes": f"{state.get('cpu_seconds', 0) / 60:.1f}",
            "licence": "beamsync project licence; see models/separation/MODEL_CARD.md"}
    del m.metadata_props[:]
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.save(m, str(out))
    # check: onnxruntime equals torch, one call over many frames and frame by frame
    import onnxruntime as ort

    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = torch.rand(1, 50, N_BINS) * 3
    with torch.no_grad():
        ref, _, _ = model(x, h, c)
    hh, cc = h.numpy(), c.numpy()
    outs = []
    for t in range(50):
        o, hh, cc = sess.run(None, {"mag": x[:, t : t + 1].numpy(), "h": hh, "c": cc})
        outs.append(o)
    diff = float(np.abs(np.concatenate(outs, axis=1) - ref.numpy()).max())
    return {"onnx": str(out), "bytes": out.stat().st_size, "max_abs_diff_vs_torch": diff,
            "params": sum(p.numel() for p in model.parameters()), **meta}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("out", type=Path)
    args = ap.parse_args(argv)
    info = export(args.checkpoint, args.out)
    print(json.dumps(info, indent=1))
    return 0 if info["max_abs_diff_vs_torch"] < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
