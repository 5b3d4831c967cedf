"""Models exported by torch.onnx.export itself (both exporters) import, convert and match PyTorch."""

import warnings

import numpy as np
import pytest
import torch

import nn2rtl
from nn2rtl.frontend.onnx import import_onnx
from nn2rtl.golden import run_reference
from nn2rtl.passes import lower


def net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 6), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                               torch.nn.Linear(6, 6, bias=False), torch.nn.ReLU(), torch.nn.Linear(6, 3)).eval()


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript_exporter", "dynamo_exporter"])
def test_torch_export_roundtrip(dynamo, tmp_path):
    model = net()
    path = tmp_path / "m.onnx"
    x = torch.randn(16, 2, 4)
    kwargs = {"dynamic_axes": {"input": {0: "batch"}}} if not dynamo else {}
    with warnings.catch_warnings():  # the exporters' own deprecation notices are not ours to fail on
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), input_names=["input"], output_names=["output"], dynamo=dynamo,
                          verbose=False, **kwargs)
    g = lower(import_onnx(str(path)))
    with torch.no_grad():
        expected = model(x).numpy()
    got = run_reference(g, {"input": x.numpy()})["output"]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    design = nn2rtl.convert(path, precision="fixed<18,8>")
    q = design.predict(x.numpy())
    assert np.abs(q - expected).max() < 0.05  # 10 fractional bits, three layers
