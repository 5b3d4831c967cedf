"""Quantised models in Verilator: QONNX MLPs at 2, 3, 4 and 6 bits, a Brevitas-style export (input scaling,
batch normalisation, a Shape/Reshape flatten) and a QDQ model with a zero point, each bit-exact against the golden
model (itself equal to the qonnx executor on every output, tests/nn2rtl/test_quantized.py), latency as stated."""

import pytest
from helpers import qmodels

import nn2rtl

pytestmark = pytest.mark.rtl

MODELS = {
    "qonnx_2b": lambda: qmodels.qonnx_mlp([16, 12, 8, 5], 2, seed=2),
    "qonnx_3b": lambda: qmodels.qonnx_mlp([16, 12, 8, 5], 3, seed=3),
    "qonnx_4b": lambda: qmodels.qonnx_mlp([16, 12, 8, 5], 4, seed=4),
    "qonnx_6b": lambda: qmodels.qonnx_mlp([16, 12, 8, 5], 6, seed=6),
    "brevitas": qmodels.brevitas_style,
    "qdq_zp37": lambda: qmodels.qdq_mlp(act_zero_point=37),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_quantized_model_bit_exact(name, tmp_path):
    design = nn2rtl.convert(MODELS[name](), top=f"q_{name}")
    r = design.simulate(vectors=500, seed=5, work_dir=tmp_path)
    assert r.ok, r.failures()
    assert r.results == r.vectors == 500 and r.stall_cycles > 0 and r.latency_min == design.latency


def test_qonnx_half_up_rounding_bit_exact(tmp_path):
    """Found by the RTL fuzzer: 2-bit QONNX with HALF_UP (RND_INF) rounding of a half; Verilator 5.006 misread the
    rounding increment the cast used to emit."""
    from helpers import models
    path = models.save(qmodels.qonnx_mlp([6, 6, 3], 2, seed=1, rounding="HALF_UP", narrow=True), tmp_path / "m.onnx")
    design = nn2rtl.convert(path, top="q_half_up")
    r = design.simulate(vectors=300, work_dir=tmp_path)
    assert r.ok, r.failures()
