"""Every CNN of tests/helpers/cnn_models.py (real torch.onnx exports) in Verilator: bit-exact against the golden
model under random stalls, latency and II as the schedule states; one convolutional network also with a reuse
factor (the MAC array shared per pixel over rounds)."""

import pytest
from helpers import cnn_models

import nn2rtl

pytestmark = pytest.mark.rtl


@pytest.mark.parametrize("name,reuse", [(n, 1) for n in cnn_models.MODELS] + [("conv1d", 4)])
def test_cnn_bit_exact_in_verilator(name, reuse, tmp_path):
    path = tmp_path / f"{name}.onnx"
    cnn_models.export(name, path, dynamo=False)
    design = nn2rtl.convert(str(path), reuse=reuse, top=f"cnn_{name}")
    r = design.simulate(vectors=150, seed=5, work_dir=tmp_path)
    assert r.ok, r.failures()
    assert r.results == r.vectors == 150
    assert r.latency_min == r.latency_max == design.latency and r.stated_ii == design.ii == reuse


@pytest.mark.parametrize("name,flow", [("depthwise", "stall"), ("conv2d", "fifo")])
def test_cnn_with_distributed_arithmetic_bit_exact_in_verilator(name, flow, tmp_path):
    """Shift-and-add kernels (groups aligned to the slowest, zero padding) in a convolutional network; with
    FlowControl fifo the adders are written in their free-running form (``rtl_lib.da.da_rtlil``)."""
    path = tmp_path / f"{name}.onnx"
    cnn_models.export(name, path, dynamo=False)
    design = nn2rtl.convert(str(path), strategy="distributed_arithmetic", top=f"cnn_da_{name}", flow_control=flow)
    assert ("_f = {" in design.verilog) is (flow == "fifo")  # the sign-extended operands of that form
    assert "(* keep" in design.verilog  # adders guarded against Yosys merging them (either form)
    assert all(c.multipliers == 0 for n, c in design.costs.items() if design.graph.node(n).op in ("Conv", "Dense"))
    r = design.simulate(vectors=150, seed=6, work_dir=tmp_path)
    assert r.ok, r.failures()
    assert r.latency_min == r.latency_max == design.latency
