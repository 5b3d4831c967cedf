"""Golden model against hand-worked cases and exact rational arithmetic."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nn2rtl.config import Config
from nn2rtl.fixed import FixedType
from nn2rtl.frontend.onnx import import_onnx
from nn2rtl.golden import run_golden
from nn2rtl.graph import Graph, Node, Tensor
from nn2rtl.ops.dense import auto_accum
from nn2rtl.passes import lower, quantize


def dense_graph(w, b, in_t="fixed<8,4>", cfg=None):
    w = np.asarray(w, dtype=np.float64)
    n_in, n_out = w.shape
    g = Graph("g", ["x"], ["y"], [Node("d", "Dense", ["x"], ["y"], {}, {"weight": w, "bias": np.asarray(b, float)})],
              {"x": Tensor("x", (n_in,)), "y": Tensor("y", (n_out,))})
    cfg = cfg or {}
    cfg.setdefault("LayerName", {}).setdefault("x", {"Precision": {"result": in_t}})
    return quantize(g, Config.from_dict(cfg))


def test_dense_hand_worked_truncation_and_wrap():
    # x in fixed<8,4> (LSB 1/16); weights, bias, accum, result fixed<6,2> (LSB 1/16, range [-2, 2))
    g = dense_graph([[0.5], [1.25]], [0.0625], cfg={"Model": {"Precision": "fixed<6,2>"}})
    x = FixedType.parse("fixed<8,4>").quantize([[1.0, 1.0], [0.0625, 0.0625], [-0.0625, 0.0], [1.5, 0.0]])
    y = run_golden(g, {"x": x})["y"][:, 0]
    # row 0: 0.5 + 1.25 + 1/16 = 1.8125 -> fits: 29/16
    # row 1: products 1/32 -> floor 0, 5/64 -> floor 1/16; + bias 1/16 = 2/16
    # row 2: -1/32 floors to -1/16; + 0 + 1/16 = 0
    # row 3: 0.75 + 1/16 = 0.8125 -> 13
    assert y.tolist() == [29, 2, 0, 13]
    # wrap: x=(1.5,1.5): 0.75 + 1.875 + 0.0625 = 2.6875 = 43/16 wraps (6 bits) to -21/16
    y = run_golden(g, {"x": FixedType.parse("fixed<8,4>").quantize([[1.5, 1.5]])})["y"]
    assert y.tolist() == [[-21]]


def exact_dense(x_raw, g):
    """Reference with Fractions: hls4ml's order of operations, written independently of the numpy code."""
    (n,) = g.nodes
    tin, tw, tb, tacc, tout = (n.types[k] for k in ("input", "weight", "bias", "accum", "result"))
    out = []
    for row in x_raw:
        res = []
        for j in range(n.params["weight"].shape[1]):
            acc = tacc.to_fraction(tacc.cast(np.array([n.params["bias"][j]]), tb)[0])
            for i, xv in enumerate(row):
                p = tin.to_fraction(xv) * tw.to_fraction(n.params["weight"][i, j])
                pr = tacc.cast(np.array([int(p / tin.product(tw).lsb)]), tin.product(tw))[0]
                acc = tacc.to_fraction(tacc.cast(np.array([int((acc + tacc.to_fraction(pr)) / tacc.lsb)]), tacc)[0])
            res.append(int(tout.cast(np.array([int(acc / tacc.lsb)]), tacc)[0]))
        out.append(res)
    return out


@pytest.mark.parametrize("precision", [
    {"Model": {"Precision": "fixed<16,6>"}},
    {"Model": {"Precision": {"default": "fixed<10,3>", "accum": "fixed<12,4,TRN,SAT>",
                             "result": "fixed<8,2,RND,SAT>"}}},
    {"Model": {"Precision": {"default": "fixed<9,2,RND_CONV>", "accum": "auto",
                             "result": "ufixed<8,3,RND_INF,SAT_SYM>"}}},
])
def test_dense_matches_fraction_reference(precision):
    rng = np.random.default_rng(4)
    g = dense_graph(rng.normal(0, 1, (5, 3)), rng.normal(0, 1, 3), cfg=precision)
    x = rng.integers(-128, 128, size=(40, 5))
    assert run_golden(g, {"x": x})["y"].tolist() == exact_dense(x, g)


def test_auto_accumulator_follows_hls4ml_inference():
    t = auto_accum(FixedType(16, 6), FixedType(8, 3), n_in=16, has_bias=True)
    assert (t.width, t.integer) == (16 + 8 + 4 + 1, 6 + 3 + 4 + 1)


def test_relu_casts_positive_values_only():
    from nn2rtl.ops import REGISTRY
    n = Node("r", "Relu", ["a"], ["b"], {}, {}, {"input": FixedType(8, 4), "result": FixedType(4, 2, True)})
    (y,) = REGISTRY["Relu"].golden(n, [np.array([[-16, 0, 1, 16, 40]])])
    # 40/16 = 2.5 -> fixed<4,2> (LSB 1/4, range [-2, 2)): 2.5 wraps to -1.5 (-6); 1/16 floors to 0
    assert y.tolist() == [[0, 0, 0, 4, -6]]


def test_example_golden_tracks_float(example_model):
    import onnxruntime as ort
    g = quantize(lower(import_onnx(str(example_model))), Config())
    x = np.load(example_model.with_name("jet_mlp_inputs.npy"))
    t = g.tensors["input"].type
    y = g.tensors["output"].type.dequantize(run_golden(g, {"input": t.quantize(x)})["output"])
    ref = ort.InferenceSession(str(example_model)).run(None, {"input": x})[0]
    assert (y.argmax(1) == ref.argmax(1)).mean() > 0.97
    assert np.abs(y - ref).max() < 1.0


def test_wide_types_use_python_ints():
    g = dense_graph([[1.0], [1.0]], [0.0], in_t="fixed<40,20>",
                    cfg={"Model": {"Precision": {"default": "fixed<40,20>", "accum": "auto"}}})
    x = np.array([[(1 << 39) - 1, (1 << 39) - 1]], dtype=object)
    y = run_golden(g, {"x": x})["y"]
    acc = g.nodes[0].types["accum"]
    assert acc.width > 62
    exact = Fraction(2 * ((1 << 39) - 1), 1 << 20)  # 2 * max, exact in the auto accumulator
    assert g.tensors["y"].type.to_fraction(y[0, 0]) == FixedType(40, 20).to_fraction(
        FixedType(40, 20).cast(np.array([int(exact / acc.lsb)], dtype=object), acc)[0])


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.integers(2, 20), st.integers(-3, 12), st.integers(2, 16), st.integers(-2, 8), st.integers(2, 24),
       st.integers(-4, 14), st.integers(1, 9), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_dense_floor_then_wrap_fast_path_equals_the_definition(wx, ix, ww, iw, wa, ia, n_in, n_out, seed):
    """The TRN/WRAP fast path (floor each product, sum, wrap once) equals casting every product to the
    accumulator type on its own and adding them (hls4ml's definition), for any widths and binary points."""
    from nn2rtl.ops.dense import _accumulate, _floor_wrap_fits, _floor_wrap_sum
    tx, tw, tacc = FixedType(wx, ix, True), FixedType(ww, iw, True), FixedType(wa, ia, True)
    tp = tx.product(tw)
    assume(_floor_wrap_fits(tp, tacc, n_in))
    rng = np.random.default_rng(seed)
    x = rng.integers(tx.min_raw, tx.max_raw, (40, n_in), endpoint=True)
    w = rng.integers(tw.min_raw, tw.max_raw, (n_in, n_out), endpoint=True)
    acc0 = rng.integers(tacc.min_raw, tacc.max_raw, n_out, endpoint=True)
    fast = tacc.cast(_floor_wrap_sum(x, w, tp.frac - tacc.frac) + acc0, tacc)
    assert np.array_equal(fast, _accumulate(x, w, acc0, tp, tacc))
