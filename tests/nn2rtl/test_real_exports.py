"""Models exported by the real tools convert unchanged and compute their definition exactly.

Brevitas ``export_qonnx`` / ``export_onnx_qcdq`` (TFC-shaped 1W1A, 1W2A, 2W2A with batch norm; Brevitas' Int8
defaults with float scales; a network-intrusion MLP with a bipolar output; a keyword-spotting MLP with a
Transpose before the Flatten), ONNX Runtime's ``quantize_static`` (QDQ, per-tensor and per-channel), and a
QKeras-shaped QONNX jet tagger in the legacy domain without an opset import; Brevitas CNNs (QuantConv2d with
power-of-two scales, batch norm, max or average pooling) through QONNX, QCDQ and the TorchScript exporter.

For each: nn2rtl's golden model equals the exact rational evaluation of the graph (``helpers.exact_onnx``) on every
output of 500 inputs (random, float32-nearest rounding ties of the input quantiser, saturating extremes). Against
the float32 executors (qonnx for QONNX, ONNX Runtime for QDQ) rows may differ only where some quantiser's input
lies within float32 rounding of a rounding boundary: every differing row is checked for that, and they must be
under 1 %.
"""

import os
import warnings

import numpy as np
import onnx
import pytest
from helpers import real_exports
from helpers.exact_onnx import design_fractions, evaluate_exact
from hypothesis import given, settings
from hypothesis import strategies as st

from nn2rtl.config import Config
from nn2rtl.design import Design
from nn2rtl.frontend.onnx import import_onnx
from nn2rtl.passes import lower, quantize

ROWS = 500
MODELS = real_exports.MODELS


@pytest.fixture(scope="session")
def zoo(tmp_path_factory):
    return tmp_path_factory.mktemp("real_exports")


def model_path(zoo, name):
    return real_exports.model_path(zoo, name)


def design_of(path):
    """The typed design without Verilog (the RTL is checked in tests/sim/test_real_exports_rtl.py)."""
    return Design(quantize(lower(import_onnx(path)), Config.from_dict({})), "top", path)


def _first_scale(model):
    consts = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    inp = model.graph.input[0].name
    frontier = {inp}
    for n in model.graph.node:
        if n.op_type in ("Quant", "QuantizeLinear") and n.input[0] in frontier:
            return float(np.asarray(consts[n.input[1]]).reshape(-1)[0])
        if any(i in frontier for i in n.input):
            frontier.update(n.output)
    return 0.1


def test_inputs(model, rows=ROWS, seed=0):
    """Random float32 rows, rows of float32-nearest rounding ties of the input quantiser, and extremes."""
    dims = [d.dim_value or 1 for d in model.graph.input[0].type.tensor_type.shape.dim][1:]
    rng = np.random.default_rng(seed)
    s = _first_scale(model)
    x = rng.normal(0, 1.5, (rows, *dims))
    k = rng.integers(-130, 130, size=(rows // 5, *dims))
    x[: rows // 5] = (k + 0.5) * s                  # ties (nearest float32 to them)
    for r, v in enumerate((1e4, -1e4, 3.0e38, -3.0e38)):  # saturating
        x[rows // 5 + r] = v
    return x.astype(np.float32)


test_inputs.__test__ = False


def run_executor(model, path, x):
    """The float32 reference: the qonnx executor for QONNX, ONNX Runtime (optimisations off) for QDQ."""
    name, out = model.graph.input[0].name, model.graph.output[0].name
    if any(n.domain not in ("", "ai.onnx") for n in model.graph.node):
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.core.onnx_exec import execute_onnx
        from qonnx.transformation.infer_shapes import InferShapes
        m = onnx.load(path)
        for v in (m.graph.input[0], m.graph.output[0]):
            v.type.tensor_type.shape.dim[0].dim_value = 1  # the executor wants static shapes
        m = ModelWrapper(m).transform(InferShapes())
        return np.concatenate([np.asarray(execute_onnx(m, {name: x[i:i + 1]})[out]).reshape(1, -1)
                               for i in range(len(x))])
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3  # TorchScript exports list initializers as inputs; ORT warns about each
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    return np.concatenate([np.asarray(sess.run(None, {name: x[i:i + 1]})[0]).reshape(1, -1)
                           for i in range(len(x))])


@pytest.mark.parametrize("name", MODELS)
def test_real_export_is_exact_and_agrees_with_its_executor(zoo, name):
    path = model_path(zoo, name)
    model = onnx.load(path)
    d = design_of(path)
    x = test_inputs(model)
    margins = {}
    want = evaluate_exact(model, x, margins=margins).reshape(len(x), -1)
    got = design_fractions(d, x)
    assert got.shape == want.shape
    bad = np.argwhere(got != want)
    assert bad.size == 0, f"{len(bad)} outputs differ from the exact evaluation, first at {bad[0]}"
    # against the float32 executor: differences only where float32 rounding decides a quantiser
    with warnings.catch_warnings(), np.errstate(over="ignore"):
        warnings.simplefilter("ignore")  # overflow at the extremes; qonnx renames the legacy domain, and says so
        ref = run_executor(model, path, x)
    exact = np.vectorize(float, otypes=[np.float64])(want)
    differ = ~np.all(np.isclose(ref, exact, rtol=1e-5, atol=1e-6), axis=1)
    unexplained = [int(r) for r in np.flatnonzero(differ) if margins["row"][r] > 2.0 ** -12]
    assert not unexplained, (f"rows {unexplained[:5]} differ from the executor although no quantiser input lies "
                             f"near a rounding boundary (margins {[margins['row'][r] for r in unexplained[:5]]})")
    # the tie rows are built to sit on boundaries; among the random rows, differences must be rare
    rnd = differ[ROWS // 5 + 4:]
    assert rnd.sum() <= 0.01 * len(rnd), f"{int(rnd.sum())} of {len(rnd)} random rows differ from the executor"


def test_exports_as_they_come(zoo):
    """What the files hold, so the tests above exercise what users meet."""
    tfc = onnx.load(model_path(zoo, "tfc_w1a1"))
    domains = {n.domain for n in tfc.graph.node} - {""}
    assert domains == {"qonnx.custom_op.general"}
    assert {n.op_type for n in tfc.graph.node} >= {"BipolarQuant", "BatchNormalization", "Gemm", "Reshape"}
    qk = onnx.load(model_path(zoo, "qkeras_jet_tagger"))
    assert "finn.custom_op.general" not in {i.domain for i in qk.opset_import}
    qcdq = onnx.load(model_path(zoo, "tfc_w2a2_qcdq"))
    assert "Clip" in {n.op_type for n in qcdq.graph.node} and all(n.domain == "" for n in qcdq.graph.node)
    kws = onnx.load(model_path(zoo, "kws_w3a3"))
    perms = [list(a.ints) for n in kws.graph.node if n.op_type == "Transpose" for a in n.attribute]
    assert [0, 1, 3, 2] in perms
    assert os.path.exists(model_path(zoo, "tfc_w1a1") + ".data")  # the dynamo exporter's external weights
    ts = [n.op_type for n in onnx.load(model_path(zoo, "small_norm_ts")).graph.node]
    assert ts[:7] == ["Sub", "Div", "Shape", "Gather", "Unsqueeze", "Concat", "Reshape"]


def test_qonnx_cnn_as_it_comes_and_as_it_is_built(zoo):
    """Brevitas' QONNX CNN: Quant on the Conv weights and on the activations, power-of-two scales; it becomes
    convolutions on the integer grids, the quantisers absorbed (no requantisation layer left)."""
    model = onnx.load(model_path(zoo, "cnn_w4a4"))
    consts = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    assert len(convs) == 2 and all(producer[c.input[1]].op_type == "Quant" for c in convs)
    scales = [float(consts[n.input[1]]) for n in model.graph.node if n.op_type == "Quant"]
    assert len(scales) == 6 and all(np.log2(s) == round(np.log2(s)) for s in scales)
    ops = [n.op for n in design_of(model_path(zoo, "cnn_w4a4")).graph.nodes]
    assert ops == ["Conv", "ScaleShift", "Relu", "Pool", "Conv", "Relu", "Dense"]
    avg = [n for n in design_of(model_path(zoo, "cnn_w3a3_avg_ts")).graph.nodes if n.op == "Pool"]
    assert [n.attrs["mode"] for n in avg] == ["avg"]


def test_input_scaling_is_absorbed_into_the_edge_quantiser(zoo):
    d = design_of(model_path(zoo, "small_norm_ts"))
    q = d.graph.meta["input_quantizer"]
    assert [a.split("(")[-1] for a in q["absorbed"]] == ["Sub)", "Div)"]
    assert [n.op for n in d.graph.nodes][0] == "Dense"


@pytest.mark.parametrize("name, ops", [
    # batch norm and the scales absorbed: each hidden layer is a sum then comparisons, no multiplier between
    ("tfc_w1a1", ["Dense", "Threshold"] * 3 + ["Dense", "ScaleShift"]),
    ("tfc_w2a2", ["Dense", "Threshold"] * 3 + ["Dense", "ScaleShift"]),
    ("mnist_int8", ["Dense", "Threshold"] * 3 + ["Dense", "ScaleShift"]),
    ("nid_w2a2", ["Dense", "Threshold"] * 4),                  # ends in the bipolar output quantiser
    ("kws_w3a3", ["Dense", "Threshold"] * 3 + ["Dense", "ScaleShift"]),  # the Transpose is in the weights
    ("qkeras_jet_tagger", ["Dense", "Relu"] * 3 + ["Dense"]),  # power-of-two grids: plain requantisation
])
def test_streamlined_structure(zoo, name, ops):
    d = design_of(model_path(zoo, name))
    assert [n.op for n in d.graph.nodes] == ops
    assert "input_quantizer" in d.graph.meta or name == "qkeras_jet_tagger"
    if name == "nid_w2a2":
        last = d.graph.nodes[-1]
        assert last.attrs["bipolar"] and str(d.output.type) == "fixed<2,2>"
        assert set(np.unique(d.predict(test_inputs(onnx.load(model_path(zoo, name)))))) <= {-1.0, 1.0}


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=2, max_size=4), st.integers(2, 8),
       st.sampled_from(["ROUND", "FLOOR", "CEIL", "UP", "DOWN", "HALF_UP", "HALF_DOWN"]), st.booleans(),
       st.booleans(), st.integers(0, 2 ** 16))
def test_random_float_scale_models_are_exact(sizes, bits, rounding, narrow, bn, seed):
    """Random QONNX MLPs with float scales, float biases, batch norm and every rounding mode: the golden model
    equals the exact evaluation on every output (the RTL fuzzer draws the same models)."""
    from helpers import qmodels
    m = qmodels.qonnx_mlp(sizes, bits, seed=seed, rounding=rounding, narrow=narrow, float_scales=True, bn=bn)
    d = Design(quantize(lower(import_onnx(m)), Config.from_dict({})), "top")
    x = test_inputs(m, rows=60, seed=seed)
    assert (design_fractions(d, x) == evaluate_exact(m, x).reshape(len(x), -1)).all()


def test_cli_round_trip_of_a_float_scale_export(zoo, tmp_path):
    """convert -> predict through the command line (the edge quantiser is saved with the design), deterministic
    Verilog, and the predictions equal the exact evaluation."""
    from helpers.exact_onnx import evaluate_exact as ev

    from nn2rtl.cli import main
    path = model_path(zoo, "small_norm_ts")
    for out in ("a", "b"):
        assert main(["convert", path, "-o", str(tmp_path / out)]) == 0
    va, vb = ((tmp_path / o / "rtl" / "small_norm_ts.v").read_bytes() for o in ("a", "b"))
    assert va == vb
    model = onnx.load(path)
    x = test_inputs(model, rows=100, seed=3)
    np.save(tmp_path / "x.npy", x)
    assert main(["predict", str(tmp_path / "a"), "--input", str(tmp_path / "x.npy"),
                 "--output", str(tmp_path / "y.npy")]) == 0
    want = np.vectorize(float, otypes=[np.float64])(ev(model, x).reshape(len(x), -1))
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), want)


def test_binary_layers_are_xnor_popcounts(zoo):
    """+-1 activations times +-1 weights: the sum is 2 * popcount(agree) - n, with no multiplier (reuse 1)."""
    from nn2rtl.design import convert
    d = convert(model_path(zoo, "bnn_small_w1a1"))
    rep = {lay["name"]: lay for lay in d.report()["layers"]}
    impl = [(n.op, n.attrs.get("implementation")) for n in d.graph.nodes]
    assert impl == [("Dense", "parallel"), ("Threshold", None), ("Dense", "xnor-popcount"), ("Threshold", None),
                    ("Dense", "xnor-popcount"), ("ScaleShift", None)]
    binary = [n for n in d.graph.nodes if n.attrs.get("implementation") == "xnor-popcount"]
    for n in binary:
        assert rep[n.name]["multipliers"] == 0
        assert rep[n.name]["products"] == n.params["weight"].size
        assert rep[n.name]["implementation"] == "xnor-popcount"
    # the 8-bit input layer's +-1 weights are negations, not multipliers: only the output scaling multiplies
    first = d.graph.nodes[0]
    assert rep[first.name]["multipliers"] == 0 and rep[first.name]["products"] == 32 * 48
    assert d.report()["totals"]["multipliers"] == rep[d.graph.nodes[-1].name]["multipliers"] == 10


def _arithmetic(d):
    g = d.graph
    q = dict(g.meta.get("input_quantizer", {}))
    q.pop("source", None)
    q.pop("absorbed", None)
    return ([(n.op, sorted((k, str(v)) for k, v in n.types.items()),
              sorted((k, np.asarray(v).tolist()) for k, v in n.params.items())) for n in g.nodes],
            str(d.input.type), str(d.output.type), q)


@pytest.mark.parametrize("a, b", real_exports.TWINS)
def test_one_network_through_two_exporters_is_one_design(zoo, a, b):
    """QONNX and QCDQ (or dynamo and TorchScript) exports of the same network give the same typed graph, bit for
    bit (so the Verilator runs of tests/sim/test_real_exports_rtl.py cover both)."""
    assert _arithmetic(design_of(model_path(zoo, a))) == _arithmetic(design_of(model_path(zoo, b)))


def test_inspect_says_where_each_node_went(zoo, capsys):
    """The preflight table names what the passes did with folded layers: absorbed into thresholds, into the input
    quantiser, or the edge quantiser itself; the typed graph shows the thresholds and popcounts."""
    from nn2rtl.cli import main
    assert main(["inspect", model_path(zoo, "small_norm_ts")]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("/")}
    assert "absorbed into the input quantiser" in rows["/Sub"] and "absorbed into the input quantiser" in rows["/Div"]
    bn = [r for k, r in rows.items() if "BatchNormalization" in k or " BatchNormalization " in r]
    assert bn and all("absorbed into the thresholds of" in r for r in bn)
    assert any("quantises the floats at the edge" in r for r in rows.values())
    assert "= Threshold(" in out and "levels=255" in out
    assert main(["inspect", model_path(zoo, "bnn_small_w1a1")]) == 0
    assert "implementation=xnor-popcount" in capsys.readouterr().out
