"""Random small models, types, rounding and overflow modes, reuse factors and pipelining: the Verilog equals the
golden model in Verilator, with the stated latency and II (a short, fixed-seed run; ``make fuzz-rtl`` runs
thousands)."""

import tempfile
from pathlib import Path

import pytest
from helpers import random_models
from hypothesis import HealthCheck, Phase, given, settings

pytestmark = pytest.mark.rtl

EXAMPLES = 12


def test_random_models_rtl_equals_golden():
    outcomes = []

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(random_models.cases())
    def one(case):
        with tempfile.TemporaryDirectory() as d:
            outcomes.append(random_models.check(case, Path(d)))

    one()
    ok = [o for o, _ in outcomes if o == "ok"]
    refused = [msg for o, msg in outcomes if o == "refused"]
    assert len(outcomes) == EXAMPLES
    assert len(ok) >= EXAMPLES * 3 // 4, refused  # most random cases are valid designs, and they all pass


#: cases the long fuzzer runs found (benchmarks/fuzz_rtl.py), kept as regression tests
REGRESSIONS = {
    # a 'latency' softmax over a wide input: e^x beyond a double and beyond int64 while building the table
    "softmax_latency_wide_input": (2, [("fc", 4), ("HardSigmoid", {}), ("Softmax", {})],
                                   {"Model": {"Precision": "fixed<18,11>", "AdderLevelsPerStage": 3,
                                              "TableMode": "fitted"},
                                    "LayerType": {"Softmax": {"implementation": "latency"}},
                                    "LayerName": {"fc0": {"Precision": {"result": "ufixed<5,7,TRN_ZERO,SAT_SYM>",
                                                                        "accum": "fixed<17,0>"}, "ReuseFactor": 39},
                                                  "input": {"Precision": {"result": "ufixed<13,2>"}}}}, 276),
    # a shift-and-add layer whose wrapping output rounds toward zero (TRN_ZERO): the graph was cut to the output's
    # bits, losing the sign the rounding needs
    "da_trn_zero_output": (3, [("fc", 3), ("ThresholdedRelu", {"alpha": 0.5}), ("fc", 2), ("Clip", {"min": 0.0,
                                                                                                    "max": 2.0})],
                           {"Model": {"Precision": "fixed<8,7>", "AdderLevelsPerStage": 2, "TableMode": "fitted",
                                      "FlowControl": "skid"},
                            "LayerName": {"fc0": {"Precision": {"result": "ufixed<6,4,TRN_ZERO,WRAP>",
                                                                "accum": "fixed<23,12>"},
                                                  "ReuseFactor": 1, "Strategy": "distributed_arithmetic"},
                                          "fc2": {"Precision": {"result": "fixed<11,7,RND_INF,SAT_SYM>",
                                                                "accum": "fixed<7,4>"}, "ReuseFactor": 9},
                                          "input": {"Precision": {"result": "fixed<10,4>"}}}}, 358),
    # an accumulator with fewer fractional bits than a product has bits (fixed<13,15>: frac -2): the cast drops
    # every bit of the product, and its slice was empty (Yosys: "invalid slice")
    "da_product_below_the_accumulator_lsb": (
        1, [("fc", 2), ("PRelu", {}), ("fc", 1), ("Tanh", {}), ("fc", 2), ("Elu", {"alpha": 0.5})],
        {"Model": {"Precision": "fixed<18,16>", "AdderLevelsPerStage": 1, "TableMode": "hls4ml",
                   "FlowControl": "fifo"},
         "LayerName": {"fc0": {"Precision": {"result": "ufixed<6,1,TRN_ZERO,SAT>", "accum": "fixed<13,15>"},
                               "ReuseFactor": 1, "Strategy": "distributed_arithmetic"},
                       "fc2": {"Precision": {"result": "fixed<7,9,TRN_ZERO,SAT_SYM>", "accum": "auto"},
                               "ReuseFactor": 1, "Strategy": "distributed_arithmetic"},
                       "fc4": {"Precision": {"result": "ufixed<6,7,TRN,WRAP>", "accum": "auto"}, "ReuseFactor": 3},
                       "input": {"Precision": {"result": "ufixed<3,0>"}}}}, 0),
    # 2-bit QONNX with HALF_UP: the RND_INF increment that Verilator 5.006 misread
    "qonnx_2b_half_up": ("qonnx", [6, 6, 3], 2, "HALF_UP", False, 12, 4931),
}


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_fuzzer_findings_stay_fixed(name, tmp_path):
    outcome, _ = random_models.check(REGRESSIONS[name], tmp_path)
    assert outcome == "ok"
