"""Activations and softmax in Verilator: bit-exact against the golden model (itself checked against hls4ml's C++ in
tests/nn2rtl/test_hls4ml_oracle.py), latency as stated. Activations first in a chain see the input type's extremes
(table edges, wrap boundaries) straight from the test vectors."""

import pytest
from helpers import models

import nn2rtl

pytestmark = pytest.mark.rtl

CHAINS = {
    # hls4ml's defaults (fixed<16,6>, tables 1024 x fixed<18,8>, softmax 'stable')
    "tables_stable": (6, [("Sigmoid", {}), ("fc", 7), ("Tanh", {}), ("fc", 6), ("Elu", {"alpha": 0.8}),
                          ("fc", 5), ("Softmax", {})], {}),
    "piecewise_latency": (5, [("LeakyRelu", {"alpha": 0.1}), ("fc", 6), ("HardSigmoid", {"alpha": 1 / 6}),
                              ("fc", 6), ("PRelu", {}), ("fc", 6), ("Clip", {"min": -1.0, "max": 1.0}),
                              ("fc", 6), ("Selu", {}), ("fc", 4), ("Softmax", {})],
                          {"Model": {"Precision": {"default": "fixed<12,4>", "result": "fixed<12,4,RND,SAT>"}},
                           "LayerType": {"Softmax": {"implementation": "latency"}}}),
    "narrow_fitted": (4, [("Softplus", {}), ("fc", 5), ("Softsign", {}), ("fc", 5), ("ThresholdedRelu", {"alpha": 0.3}),
                          ("fc", 3), ("Softmax", {})],
                      {"Model": {"Precision": "fixed<10,4>", "TableMode": "fitted"},
                       "LayerType": {"Softsign": {"TableSize": 256, "TableMode": "centered"}}}),
    "argmax_index": (6, [("Relu", {}), ("fc", 7), ("Softmax", {})],
                     {"LayerType": {"Softmax": {"implementation": "argmax_index"}}}),
    "argmax_onehot": (6, [("fc", 7), ("Softmax", {})], {"LayerType": {"Softmax": {"implementation": "argmax"}}}),
}


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_activation_chain_bit_exact(name, tmp_path):
    n_in, layers, config = CHAINS[name]
    path = models.save(models.chain(n_in, layers, seed=len(name)), tmp_path / "m.onnx")
    design = nn2rtl.convert(path, config=config, top=f"act_{name}")
    r = design.simulate(vectors=600, seed=3, work_dir=tmp_path)
    assert r.ok, r.failures()
    assert r.results == r.vectors == 600 and r.stall_cycles > 0 and r.latency_min == design.latency
