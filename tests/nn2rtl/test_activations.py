"""Activations and softmax: ONNX import (attributes, opsets, axes), float semantics against ONNX Runtime, table
construction and reporting, configuration, and the errors users meet."""

import numpy as np
import onnxruntime as ort
import pytest
from helpers import models

import nn2rtl
from nn2rtl.errors import ConfigError, UnsupportedOpError
from nn2rtl.fixed import FixedType
from nn2rtl.frontend.onnx import import_onnx
from nn2rtl.golden import run_reference
from nn2rtl.passes import lower
from nn2rtl.tables import TableSpec, build_table, table_index

ACTS = [("Relu", {}), ("LeakyRelu", {"alpha": 0.2}), ("ThresholdedRelu", {"alpha": 0.4}), ("PRelu", {}),
        ("Clip", {"min": -1.0, "max": 1.0}), ("HardSigmoid", {"alpha": 0.25, "beta": 0.5}), ("Sigmoid", {}),
        ("Tanh", {}), ("Softplus", {}), ("Softsign", {}), ("Elu", {"alpha": 0.7}), ("Selu", {})]


@pytest.mark.parametrize("act,attrs,opset", [(a, kw, o) for a, kw in ACTS for o in (7, 11, 13, 17)
                                               if not (a == "ThresholdedRelu" and o < 10)],  # exists from opset 10
                         ids=lambda v: v if isinstance(v, (str, int)) else "")
def test_float_semantics_equal_onnxruntime(act, attrs, opset, tmp_path):
    m = models.chain(5, [("fc", 6), (act, dict(attrs)), ("fc", 4), ("Softmax", {})], opset=opset)
    path = models.save(m, tmp_path / "m.onnx")
    x = np.random.default_rng(1).normal(0, 2, (64, 5))
    want = ort.InferenceSession(str(path)).run(None, {"input": x.astype(np.float32)})[0]
    got = run_reference(lower(import_onnx(str(path))), {"input": x})["output"]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_softmax_axis_rules():
    g = import_onnx(models.chain(4, [("fc", 3), ("Softmax", {"axis": -1})], opset=13))
    assert g.nodes[-1].op == "Softmax"
    g = import_onnx(models.chain(4, [("fc", 3), ("Softmax", {"axis": 1})], opset=9))
    assert g.nodes[-1].op == "Softmax"
    with pytest.raises(UnsupportedOpError, match="softmax over axis 0"):
        import_onnx(models.chain(4, [("fc", 3), ("Softmax", {"axis": 0})], opset=13))


def test_prelu_slope_must_be_constant_and_broadcast():
    from onnx import TensorProto, helper
    g = helper.make_graph([helper.make_node("PRelu", ["x", "s"], ["y"], name="pr")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4]),
                           helper.make_tensor_value_info("s", TensorProto.FLOAT, [4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    with pytest.raises(UnsupportedOpError, match="'pr' \\(PRelu: the slope must be a constant\\)"):
        import_onnx(m)


def test_table_report_and_fitted_mode_is_more_accurate(tmp_path):
    path = models.save(models.chain(4, [("Sigmoid", {}), ("fc", 3)]), tmp_path / "m.onnx")
    errs = {}
    for mode in ("hls4ml", "centered", "fitted"):
        # input range [-4, 4): hls4ml's [-8, 8) table spends half its entries on inputs that cannot occur
        d = nn2rtl.convert(path, config={"Model": {"TableMode": mode, "Precision": "fixed<10,3>"}})
        t = d.report()["layers"][0]["table"]
        assert t["mode"] == mode and t["size"] == 1024 and t["error"]["inputs_checked"] == 1024
        assert t["range"] == ([-4.0, 4.0] if mode == "fitted" else [-8.0, 8.0])
        errs[mode] = t["error"]["max_abs_error"]
    assert errs["fitted"] < errs["centered"] < errs["hls4ml"]
    assert errs["fitted"] <= 2.0 ** -7  # one LSB of the fixed<10,3> result: only the final truncation is left


def test_table_index_matches_hls4ml_quirks():
    t = FixedType(16, 6)
    spec = TableSpec("sigmoid", 1024, -8.0, 8.0)
    # trunc toward zero: inputs within one bin of zero on either side share the entry at zero
    raw = t.quantize([-0.014, -0.0001, 0.0, 0.0001, 0.015, -8.5, 31.0])
    assert list(table_index(spec, raw, t)) == [512, 512, 512, 512, 512, 0, 1023]
    centred = TableSpec("sigmoid", 1024, -8.0, 8.0, "centered")
    assert list(table_index(centred, t.quantize([-0.0001, 0.0]), t)) == [511, 512]
    tab = build_table(spec, FixedType(18, 8))
    assert tab[512] == 512 and tab[0] == 0  # sigmoid(0) = 0.5 exactly; sigmoid(-8) floors to 0


@pytest.mark.parametrize("config,fragment", [
    ({"LayerType": {"Sigmoid": {"TableSize": 1000}}}, "power of two"),
    ({"LayerType": {"Sigmoid": {"TableMode": "best"}}}, "table mode must be one of"),
    ({"LayerType": {"Sigmoid": {"TableRange": [-3, 3]}}}, "power-of-two width"),
    ({"LayerType": {"Softmax": {"implementation": "legacy"}}}, "softmax implementation must be one of"),
])
def test_bad_activation_options_are_one_line_errors(config, fragment, tmp_path):
    path = models.save(models.chain(4, [("Sigmoid", {}), ("fc", 3), ("Softmax", {})]), tmp_path / "m.onnx")
    with pytest.raises(ConfigError, match=fragment):
        nn2rtl.convert(path, config=config)


def test_clip_bound_outside_param_precision_is_an_error(tmp_path):
    path = models.save(models.chain(4, [("Clip", {"min": 0.0, "max": 100.0}), ("fc", 3)]), tmp_path / "m.onnx")
    with pytest.raises(ConfigError, match="clip bound max"):
        nn2rtl.convert(path)
    d = nn2rtl.convert(path, config={"LayerType": {"Clip": {"Precision": {"param": "fixed<16,8>"}}}})
    assert d.report()["layers"][0]["types"]["param"] == "fixed<16,8>"


def test_argmax_index_output(tmp_path):
    path = models.save(models.chain(4, [("fc", 6), ("Softmax", {})]), tmp_path / "m.onnx")
    d = nn2rtl.convert(path, config={"LayerType": {"Softmax": {"implementation": "argmax_index"}}})
    assert d.output.shape == (1,) and str(d.output.type) == "ufixed<3,3>"
    x = np.random.default_rng(0).normal(0, 3, (200, 4))
    logits = nn2rtl.convert(models.save(models.chain(4, [("fc", 6)]), tmp_path / "l.onnx")).predict(x)
    assert np.array_equal(d.predict(x)[:, 0].astype(int), logits.argmax(axis=1))


def test_argmax_index_must_be_the_output(tmp_path):
    path = models.save(models.chain(4, [("fc", 6), ("Softmax", {}), ("fc", 3)]), tmp_path / "m.onnx")
    with pytest.raises(ConfigError, match="'argmax_index' .* must be the model's output"):
        nn2rtl.convert(path, config={"LayerType": {"Softmax": {"implementation": "argmax_index"}}})


def test_a_table_whose_result_type_holds_no_true_value_is_measured_without_nan():
    """Found by the RTL fuzzer: Sigmoid of non-negative inputs into fixed<15,-1> (range [-1/4, 1/4)) holds none
    of the true values; the accuracy report says so instead of a NaN mean (and a warning)."""
    from nn2rtl.fixed import FixedType
    from nn2rtl.tables import measure
    tin, tout = FixedType.parse("ufixed<8,4>"), FixedType.parse("fixed<15,-1>")
    r = measure(lambda x: 1 / (1 + np.exp(-x)), lambda raw: np.zeros_like(raw), tin, tout)
    assert r["inputs_checked"] == 0 and r["max_abs_error"] is None and r["inputs_beyond_result_type"] == 256
