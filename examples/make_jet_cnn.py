"""Train the bundled CNN example and write it as ONNX: ``python examples/make_jet_cnn.py [OUT.onnx]``.

A jet-image-shaped CNN: 1x16x16 -> Conv 3x3x8 -> ReLU -> MaxPool 2 -> Conv 3x3x16 -> ReLU -> GlobalAveragePool ->
Dense 5 (logits), trained with PyTorch (Adam, cross entropy with label smoothing, fixed seed, one thread) on a
synthetic 5-class task:
energy deposits as one to three Gaussian blobs whose number, spread and separation depend on the class (like
quark, gluon, W, Z and top jets), with noise. Exported with ``torch.onnx.export`` (TorchScript exporter), batch
dimension symbolic, as users export their models. Label smoothing keeps the logits small: every activation stays
well inside the default precision fixed<16,6> (|x| < 32), which the script checks and prints.
"""

import sys
import warnings
from pathlib import Path

import numpy as np

SEED = 2026
SIZE = 16


def make_data(rng, n):
    """Images (n, 1, 16, 16) and labels: class k has 1 + k % 3 prongs, widths and separation growing with k."""
    labels = rng.integers(0, 5, size=n)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    images = np.zeros((n, 1, SIZE, SIZE))
    for i, k in enumerate(labels):
        prongs, width, sep = 1 + k % 3, 0.8 + 0.35 * k, 1.5 + 0.8 * k
        angle = rng.uniform(0, 2 * np.pi)
        for p in range(prongs):
            a = angle + 2 * np.pi * p / prongs
            cy, cx = 7.5 + sep * np.sin(a) * (prongs > 1), 7.5 + sep * np.cos(a) * (prongs > 1)
            e = rng.uniform(0.5, 1.0)
            images[i, 0] += e * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * width ** 2))
    images += rng.normal(0, 0.05, images.shape)
    return (images / images.std()).astype(np.float32), labels


def build():
    import torch
    from torch import nn

    class JetCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 8, 3)
            self.pool = nn.MaxPool2d(2)
            self.conv2 = nn.Conv2d(8, 16, 3)
            self.gap = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(16, 5)

        def forward(self, x):
            y = self.pool(torch.relu(self.conv1(x)))
            y = self.gap(torch.relu(self.conv2(y)))
            return self.fc(torch.flatten(y, 1))
    return JetCNN()


def main(out):
    import torch
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    rng = np.random.default_rng(SEED)
    x, y = make_data(rng, 6000)
    model = build()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(6):
        order = torch.from_numpy(rng.permutation(len(x)))
        for s in range(0, len(x), 128):
            idx = order[s:s + 128]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx], label_smoothing=0.1)
            loss.backward()
            opt.step()
    model.eval()
    xv, yv = make_data(np.random.default_rng(SEED + 1), 1000)
    peaks = {}

    def hook(name):
        def record(module, inputs, output):
            peaks[name] = max(peaks.get(name, 0.0), float(output.abs().max()))
        return record
    for name, module in model.named_children():
        module.register_forward_hook(hook(name))
    with torch.no_grad():
        acc = float((model(torch.from_numpy(xv)).argmax(1).numpy() == yv).mean())
    print("largest |activation| per layer on the validation set: "
          + ", ".join(f"{k} {v:.2f}" for k, v in peaks.items()))
    if max(peaks.values()) >= 32:
        raise SystemExit("an activation leaves the range of fixed<16,6>: change the training")
    for module in model.children():
        module._forward_hooks.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.from_numpy(xv[:1]), str(out), dynamo=False, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    np.save(Path(out).with_name(Path(out).stem + "_inputs.npy"), xv[:200])
    print(f"wrote {out} (validation accuracy {acc:.3f}) and 200 validation images")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name("jet_cnn.onnx"))
