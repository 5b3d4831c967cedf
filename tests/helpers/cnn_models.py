"""Small convolutional networks in PyTorch, shared by the tests (torch.onnx exports) and by the hls4ml cross-check
(which runs in hls4ml's own venv): one definition, the same seeded weights in both.

``build(name)`` returns ``(model in eval mode, input shape without the batch)``. Batch-norm statistics are set away
from their defaults so that a fused or unfused batch norm really changes the numbers.
"""

import torch
from torch import nn


class Conv1dNet(nn.Module):
    """A 1-D trace: Conv1d, ReLU, MaxPool1d, Conv1d, AvgPool1d, Linear."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(2, 4, 3, padding=1)
        self.p1 = nn.MaxPool1d(2)
        self.c2 = nn.Conv1d(4, 4, 3)
        self.p2 = nn.AvgPool1d(2)
        self.fc = nn.Linear(4 * 3, 3)

    def forward(self, x):
        y = self.p1(torch.relu(self.c1(x)))
        y = self.p2(torch.relu(self.c2(y)))
        return self.fc(torch.flatten(y, 1))


class Conv2dNet(nn.Module):
    """A small image: Conv2d, BatchNorm2d, ReLU, MaxPool2d, strided Conv2d, AvgPool2d, Linear."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.p1 = nn.MaxPool2d(2)
        self.c2 = nn.Conv2d(4, 6, 3, stride=1)
        self.p2 = nn.AvgPool2d(2)
        self.fc = nn.Linear(6 * 1 * 1, 5)

    def forward(self, x):
        y = self.p1(torch.relu(self.bn(self.c1(x))))
        y = self.p2(torch.relu(self.c2(y)))
        return self.fc(torch.flatten(y, 1))


class ResidualNet(nn.Module):
    """A residual block: two branches of different latency meet in an Add."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(2, 4, 3, padding=1)
        self.c2 = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 5 * 5, 3)

    def forward(self, x):
        a = torch.relu(self.c1(x))
        b = self.c2(a)
        return self.fc(torch.flatten(torch.relu(a + b), 1))


class UNetBlock(nn.Module):
    """A U-Net-like block: MaxPool, nearest Upsample, Concat with the skip path, 1x1 Conv."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 3, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.c2 = nn.Conv2d(6, 2, 1)
        self.fc = nn.Linear(2 * 6 * 6, 3)

    def forward(self, x):
        a = torch.relu(self.c1(x))
        b = self.up(self.pool(a))
        return self.fc(torch.flatten(self.c2(torch.cat([a, b], dim=1)), 1))


class SeparableNet(nn.Module):
    """Depthwise (group = channels) then pointwise convolution, average pooling over the whole map, Linear."""

    def __init__(self):
        super().__init__()
        self.c0 = nn.Conv2d(1, 4, 3, padding=1)
        self.dw = nn.Conv2d(4, 4, 3, groups=4)
        self.pw = nn.Conv2d(4, 6, 1)
        self.gap = nn.AvgPool2d(4)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        y = torch.relu(self.c0(x))
        y = torch.relu(self.pw(self.dw(y)))
        return self.fc(torch.flatten(self.gap(y), 1))


class DepthwiseNet(nn.Module):
    """Depthwise then pointwise convolution without pooling (hls4ml's ONNX front end, which takes depthwise
    convolutions, cannot place average pooling in its channels-last conversion)."""

    def __init__(self):
        super().__init__()
        self.c0 = nn.Conv2d(1, 4, 3, padding=1)
        self.dw = nn.Conv2d(4, 4, 3, groups=4)
        self.pw = nn.Conv2d(4, 3, 1)
        self.fc = nn.Linear(3 * 4 * 4, 3)

    def forward(self, x):
        y = torch.relu(self.c0(x))
        return self.fc(torch.flatten(torch.relu(self.pw(self.dw(y))), 1))


class GlobalPoolNet(nn.Module):
    """Global average and global max pooling of the same features, concatenated: ``AdaptiveAvgPool2d(1)`` and
    ``AdaptiveMaxPool2d(1)`` (``GlobalAveragePool``/``GlobalMaxPool`` from the TorchScript exporter, ``ReduceMean``/
    ``ReduceMax`` or ``AveragePool``/``MaxPool`` from dynamo)."""

    def __init__(self):
        super().__init__()
        self.c0 = nn.Conv2d(2, 4, 3, padding=1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.gmp = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        y = torch.relu(self.c0(x))
        return self.fc(torch.flatten(torch.cat([self.gap(y), self.gmp(y)], dim=1), 1))


class PaddedPoolNet(nn.Module):
    """Padding everywhere: a strided padded Conv1d, ``ceil_mode`` and padded pooling with and without the padding
    counted, an explicit zero Pad, and an element-wise Max of two branches."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 3, 5, stride=2, padding=2)
        self.p1 = nn.AvgPool1d(3, stride=2, padding=1, count_include_pad=False, ceil_mode=True)
        self.p2 = nn.MaxPool1d(3, stride=1, padding=1)
        self.pad = nn.ConstantPad1d((1, 2), 0.0)
        self.fc = nn.Linear(3 * 9, 2)

    def forward(self, x):
        y = torch.relu(self.c1(x))
        y = torch.maximum(self.p1(y), self.p2(self.p1(y)))
        return self.fc(torch.flatten(self.pad(y), 1))


MODELS = {"conv1d": (Conv1dNet, (2, 16)), "conv2d": (Conv2dNet, (1, 8, 8)), "residual": (ResidualNet, (2, 5, 5)),
          "unet": (UNetBlock, (1, 6, 6)), "separable": (SeparableNet, (1, 6, 6)),
          "depthwise": (DepthwiseNet, (1, 6, 6)),
          "global_pool": (GlobalPoolNet, (2, 5, 5)), "padded": (PaddedPoolNet, (1, 19))}


def build(name, seed=0):
    cls, shape = MODELS[name]
    torch.manual_seed(seed)
    m = cls()
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.5, 0.5)
    return m.eval(), shape


def export(name, path, dynamo=True, seed=0, optimize=True):
    """Export model ``name`` to ONNX at ``path`` with a dynamic batch; returns the input shape. The dynamo exporter's
    optimiser folds a batch norm into the convolution before it; ``optimize=False`` keeps it a layer."""
    import warnings
    m, shape = build(name, seed)
    x = torch.randn(2, *shape)
    with warnings.catch_warnings():  # the exporters' own deprecation notices are not ours to fail on
        warnings.simplefilter("ignore")
        _export(m, x, path, dynamo, optimize)
    return shape


def _export(m, x, path, dynamo, optimize):
    if dynamo:
        batch = torch.export.Dim("batch", min=1)
        torch.onnx.export(m, (x,), str(path), dynamo=True, optimize=optimize, input_names=["x"],
                          dynamic_shapes=({0: batch},))
    else:
        torch.onnx.export(m, (x,), str(path), dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "n"}})
