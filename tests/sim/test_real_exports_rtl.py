"""Every real-export design of tests/nn2rtl/test_real_exports.py in Verilator: bit-exact against the golden model
(itself equal to the exact evaluation of the ONNX graph), latency and II as stated, under stalls. A network
exported twice (QONNX and QCDQ, dynamo and TorchScript) is one design, checked there, and simulated once.

Layers with hundreds of inputs are built with a reuse factor (MAC arrays) so that the Verilator builds stay short;
the thresholds, moved scales and bipolar outputs are the same at any reuse factor."""

import numpy as np
import onnx
import pytest
from helpers import real_exports
from helpers.exact_onnx import design_fractions, evaluate_exact

import nn2rtl

pytestmark = pytest.mark.rtl

#: reuse factor per model: 64 where the first layer has 490 to 784 inputs
REUSE = {name: 64 if name.startswith(("tfc", "mnist", "nid", "kws")) else 1 for name in real_exports.MODELS}


@pytest.fixture(scope="session")
def zoo(tmp_path_factory):
    return tmp_path_factory.mktemp("real_exports_rtl")


#: one of each pair of identical designs (tests/nn2rtl/test_real_exports.py checks that they are identical)
RTL_MODELS = [m for m in real_exports.MODELS if m not in {b for _, b in real_exports.TWINS}]


@pytest.mark.parametrize("name", RTL_MODELS)
def test_real_export_bit_exact_in_verilator(zoo, name, tmp_path):
    path = real_exports.model_path(zoo, name)
    design = nn2rtl.convert(path, reuse=REUSE[name], top=f"rx_{name}")
    r = design.simulate(vectors=300, seed=3, work_dir=tmp_path)
    assert r.ok, r.failures()
    assert r.results == r.vectors == 300 and r.latency_min == design.latency


def test_float_inputs_through_the_edge_quantiser_and_the_rtl(zoo, tmp_path):
    """Float inputs, quantised at the edge by the model's own first quantiser (a float scale), through the RTL:
    equal to the exact evaluation of the ONNX graph."""
    path = real_exports.model_path(zoo, "small_int8")
    design = nn2rtl.convert(path, top="rx_edge")
    assert "input_quantizer" in design.graph.meta
    rng = np.random.default_rng(7)
    x = (rng.normal(0, 2, (200, 16))).astype(np.float32)
    r = design.simulate(inputs=x, work_dir=tmp_path)  # the RTL equals the golden model on these inputs ...
    assert r.ok, r.failures()
    want = evaluate_exact(onnx.load(path), x).reshape(200, -1)  # ... which equals the exact evaluation
    got = design_fractions(design, x)
    assert (got == want).all()


def test_a_transpose_left_in_hardware_is_wiring(tmp_path):
    """A Transpose that reorders data and feeds no Dense stays a permutation of the wires, in the model's order."""
    import onnxruntime as ort
    from onnx import TensorProto, helper
    nodes = [helper.make_node("Transpose", ["input"], ["t"], perm=[0, 2, 1], name="tr"),
             helper.make_node("Flatten", ["t"], ["f"], name="fl"),
             helper.make_node("Mul", ["f", "k"], ["m"], name="scale"),
             helper.make_node("Relu", ["m"], ["output"], name="relu")]
    k = onnx.numpy_helper.from_array(np.arange(1, 7, dtype=np.float32) / 4, "k")
    g = helper.make_graph(nodes, "perm", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 2, 3])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 6])], [k])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    design = nn2rtl.convert(m, top="perm_wiring")
    assert [n.op for n in design.graph.nodes] == ["ScaleShift", "Relu", "Permute"]
    x = np.random.default_rng(1).integers(-16, 16, (50, 2, 3)).astype(np.float32) / 4
    ref = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    np.testing.assert_array_equal(design.predict(x.reshape(50, -1)), ref)
    r = design.simulate(inputs=x.reshape(50, -1), work_dir=tmp_path)
    assert r.ok, r.failures()


@pytest.mark.parametrize("name,flow", [("small_int8", "fifo"), ("cnn_w4a4", "fifo"), ("small_int8", "skid")])
def test_real_export_on_ecp5_dsps_with_an_output_fifo(zoo, name, flow, tmp_path):
    """Real Brevitas exports (an MLP, a CNN) through the multiply-accumulate array on ECP5 DSP tiles (the group
    and spread registers, ``rtl_lib.mac``) with ``FlowControl: fifo`` (the pipeline never stops; results wait in
    ``rtl_lib.streaming.ResultFifo``), and the MLP with ``skid`` (the enable a register, copied per group):
    bit-exact under random stalls, latency and II as stated."""
    path = real_exports.model_path(zoo, name)
    design = nn2rtl.convert(path, reuse=4, top=f"rx_{name}_dsp_{flow}", dsp="ecp5", flow_control=flow)
    if flow == "fifo":
        assert design.report()["flow_control"]["fifo_bits"] > 0
    else:
        assert design.report()["flow_control"]["mode"] == "skid" and "en_next" in design.verilog
    assert design.verilog.count("MULT18X18D #(") >= 1
    r = design.simulate(vectors=300, seed=5, work_dir=tmp_path)
    assert r.ok, r.failures()
    assert r.results == 300 and r.stall_cycles > 20 and r.latency_min == r.latency_max == design.latency
    assert r.ii_back_to_back == [design.ii]
