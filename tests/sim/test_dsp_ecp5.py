"""``Model.DSP: ecp5``: the multiply-accumulate arrays (reuse factor > 1) instantiate Lattice ECP5 MULT18X18D
primitives with their input and output registers, simulated in Verilator with ``sim/models/MULT18X18D.v``.
Bit-exact with the golden model under random stalls, in stall and fifo flow control, with the latency the schedule
states (three cycles more than inferred multipliers: the registered input, the DSP's input and output
registers)."""

import json
import re

import numpy as np
import pytest
from helpers import cnn_models, models
from onnx import helper, numpy_helper

import nn2rtl

pytestmark = pytest.mark.rtl


@pytest.mark.parametrize("flow", ["stall", "fifo", "skid"])
def test_ecp5_dsp_mac_array_bit_exact(flow, tmp_path):
    """The first layer has 64 multipliers: 8 groups with their own round control, two copies of the operands on
    the way to them (``rtl_lib.mac.GROUP``, ``SUPER``); with skid, each group and each supergroup its own copy of
    the enable register."""
    path = models.save(models.torch_mlp([16, 12, 4], seed=3), tmp_path / "m.onnx")
    inferred = nn2rtl.convert(path, precision="fixed<10,4>", reuse=3, top="dsp_inf", flow_control=flow)
    design = nn2rtl.convert(path, precision="fixed<10,4>", reuse=3, top=f"dsp_{flow}", flow_control=flow,
                            dsp="ecp5")
    assert design.latency == inferred.latency + 2 * 5  # two Dense layers, 5 cycles each
    assert design.ii == inferred.ii == 3
    assert design.verilog.count("MULT18X18D #(") >= 1 and '.REG_OUTPUT_CLK("CLK0")' in design.verilog
    assert "MULT18X18D" not in inferred.verilog
    copies = len(re.findall(r"\.q\(en_[gs]\d+\)", design.verilog))  # outputs of the kept enable registers
    assert copies == (10 + 3 if flow == "skid" else 0)  # layer 1: 8 groups, 2 supergroups; layer 2: 2 and 1
    r = design.simulate(vectors=400, seed=4, work_dir=tmp_path / "sim")
    assert r.ok, r.failures()
    assert r.results == 400 and r.stall_cycles > 20 and r.latency_min == r.latency_max == design.latency
    assert r.ii_min == design.ii
    layers = json.loads((design.write(tmp_path / "out") / "design.json").read_text())["layers"]
    assert [layer.get("dsp") for layer in layers if layer["op"] == "Dense"] == ["ecp5", "ecp5"]


def test_ecp5_dsp_conv_and_pruned_mac_array(tmp_path):
    """A Conv kernel at R > 1 (a real torch.onnx export) and a pruned Dense whose multipliers gather their
    inputs: both through the DSPs."""
    path = tmp_path / "conv1d.onnx"
    cnn_models.export("conv1d", path, dynamo=False)
    design = nn2rtl.convert(str(path), reuse=4, top="dsp_cnn", dsp="ecp5")
    assert design.latency > nn2rtl.convert(str(path), reuse=4, top="dsp_cnn").latency
    r = design.simulate(vectors=60, seed=1, work_dir=tmp_path / "cnn")
    assert r.ok, r.failures()
    assert r.latency_min == r.latency_max == design.latency
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.5, (5, 12)).astype(np.float32)
    w[rng.random(w.shape) < 0.6] = 0
    model = models._finish([helper.make_node("Gemm", ["input", "w"], ["output"], name="fc", transB=1)],
                           [numpy_helper.from_array(w, "w")], 12, 5, 17)
    design = nn2rtl.convert(models.save(model, tmp_path / "p.onnx"), precision="fixed<10,4>", reuse=4,
                            top="dsp_pruned", dsp="ecp5")
    r = design.simulate(vectors=200, seed=2, work_dir=tmp_path / "pruned")
    assert r.ok, r.failures()
    assert r.latency_min == design.latency
