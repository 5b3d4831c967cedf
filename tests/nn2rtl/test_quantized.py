"""Quantised ONNX as exporters write it: QONNX Quant/Trunc, QDQ, BatchNormalization, input scaling and the
Shape/Gather/Reshape plumbing, against the real executors (the qonnx package, ONNX Runtime)."""

import json
import os
import warnings

import numpy as np
import onnx
import pytest
from helpers import models, qmodels
from helpers.exact_onnx import exact_compare
from onnx import TensorProto, helper, numpy_helper

import nn2rtl
from nn2rtl.cli import main
from nn2rtl.errors import ModelError, UnsupportedOpError
from nn2rtl.frontend.onnx import import_onnx
from nn2rtl.passes import lower


def _inputs(design, n=400, seed=0):
    """Random floats (also between grid points, so rounding ties and clamping occur) plus the extremes."""
    rng = np.random.default_rng(seed)
    k = design.input.size
    x = rng.normal(0, 2.5, size=(n, k))
    x[: n // 4] = np.round(x[: n // 4] * 16) / 16 + 1 / 32  # exact ties for every grid coarser than 1/16
    x[-2:] = [[100.0] * k, [-100.0] * k]
    return x


def _qonnx(model, x):
    with warnings.catch_warnings():
        # the executor warns that a Reshape's inferred shape disagrees with the executed one (a symbolic target)
        warnings.simplefilter("ignore", UserWarning)
        return qmodels.qonnx_execute(model, x)


@pytest.mark.parametrize("bits", [2, 3, 4, 6, 8])
def test_qonnx_mlp_matches_the_qonnx_executor(bits):
    m = qmodels.qonnx_mlp([16, 12, 8, 5], bits, seed=bits)
    d = nn2rtl.convert(m)
    x = _inputs(d)
    got, want = d.predict(x), _qonnx(m, x)
    assert np.count_nonzero(want) > want.size // 2  # the test data exercise the network
    np.testing.assert_array_equal(got, want)
    # the model's grids come through as its types: weights narrow-range `bits`, hidden activations unsigned
    dense = [n for n in d.graph.nodes if n.op == "Dense"]
    assert all(n.types["weight"].width == bits for n in dense)
    # every activation Quant is folded into the final cast of the layer before it (Relu, or the last Dense)
    assert [n.op for n in d.graph.nodes] == ["Dense", "Relu", "Dense", "Relu", "Dense"]
    relus = [n for n in d.graph.nodes if n.op == "Relu"]
    assert [str(n.types["result"]) for n in relus] == [f"ufixed<{bits},2,RND_CONV,SAT>"] * 2
    assert [n.attrs["fused_quantize"] for n in relus] == ["quant_a0", "quant_a1"]
    assert str(dense[-1].types["result"]) == "fixed<8,4,RND_CONV,SAT>"
    assert d.input.type.width == bits  # the input Quant types the input edge and disappears


@pytest.mark.parametrize("rounding", ["FLOOR", "HALF_UP", "HALF_DOWN", "DOWN", "HALF_EVEN"])
def test_qonnx_rounding_modes_and_wide_ranges(rounding):
    m = qmodels.qonnx_mlp([10, 9, 4], 5, seed=7, rounding=rounding, narrow=False)
    d = nn2rtl.convert(m)
    x = _inputs(d, seed=1)
    np.testing.assert_array_equal(d.predict(x), _qonnx(m, x))


def test_brevitas_style_export_matches_the_qonnx_executor():
    m = qmodels.brevitas_style()
    d = nn2rtl.convert(m)
    ops = [n.op for n in d.graph.nodes]
    # Shape/Gather/Unsqueeze/Concat/Reshape folded and removed; the input Sub and Mul merged into one affine map,
    # which also does the input Quant in its final cast; the BatchNorm stays a layer because the weights before it
    # are on the model's exact grid (folding would move them off it)
    assert ops == ["ScaleShift", "Dense", "ScaleShift", "Relu", "Dense"]
    assert d.graph.nodes[0].params["bias"].tolist() == [-1] * 12  # (x - 0.5) * 0.25 = x / 4 - 1/8
    x = d.input.type.dequantize(d.input.type.quantize(_inputs(d, seed=2)))
    want = _qonnx(m, x)
    assert len(np.unique(want)) > 50
    np.testing.assert_array_equal(d.predict(x), want)


@pytest.mark.parametrize("zero_point", [0, 37, 128])
def test_qdq_model_matches_the_executors(zero_point):
    import onnxruntime as ort
    m = qmodels.qdq_mlp(act_zero_point=zero_point)
    d = nn2rtl.convert(m)
    x = _inputs(d, seed=3)
    got = d.predict(x)
    np.testing.assert_array_equal(got, _qonnx(m, x))
    # ONNX Runtime, unoptimised (float QDQ) and optimised (its integer QLinear kernels): with power-of-two scales
    # both are exact, so they agree with us on every output
    for level in (ort.GraphOptimizationLevel.ORT_DISABLE_ALL, ort.GraphOptimizationLevel.ORT_ENABLE_ALL):
        so = ort.SessionOptions()
        so.graph_optimization_level = level
        sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
        np.testing.assert_array_equal(got, sess.run(None, {"input": x.astype(np.float32)})[0])
    quantizers = [n for n in d.graph.nodes if n.op == "Quantize"]
    if zero_point:  # offset bounds are not a type's range: the quantiser stays a layer of its own
        assert [n.attrs["bounds"] for n in quantizers] == [(-zero_point, 255 - zero_point)]
    else:
        assert quantizers == []


def _with_quant(scale, bits=4, act_scale=0.25):
    """input Quant -> MatMul with Quant weights of `scale` -> activation Quant of `act_scale`."""
    b = qmodels._Builder(5)
    x = b.quant("input", "qin", 6, 0.125)
    w = b.rng.integers(-7, 8, size=(6, 4)) * np.asarray(scale)
    wq = b.quant(b.const("w", w), "qw", bits, scale)
    y = b.node("MatMul", [x, wq], "mm")
    b.quant(y, "qout", 8, act_scale)
    b.nodes[-1].output[0] = "output"
    return qmodels._model(b.nodes, b.inits, 6, 4)


def test_weight_scale_not_a_power_of_two_is_factored_out_exactly():
    scale = np.array([0.3, 0.75, 0.1, 1.5], dtype=np.float32).reshape(1, 4)  # per output channel
    m = _with_quant(scale)
    d = nn2rtl.convert(m)
    ops = [n.op for n in d.graph.nodes]
    assert ops == ["Dense", "ScaleShift"]  # the output Quant is the ScaleShift's final cast
    sc = d.graph.nodes[1]
    assert sc.attrs["folded_scale"]
    # the exact result: integer codes times the float32 scales, summed exactly, rounded half to even
    x = _inputs(d, seed=4)
    xq = np.clip(np.round(x / 0.125), -32, 31)
    w = np.asarray(numpy_helper.to_array([i for i in m.graph.initializer if i.name == "w"][0]), dtype=np.float64)
    codes = np.clip(np.round(w / scale), -8, 7)
    from fractions import Fraction
    exact = [[sum(Fraction(int(xq[r, i])) * int(codes[i, j]) * Fraction(float(scale[0, j])) for i in range(6))
              / 8 for j in range(4)] for r in range(len(x))]
    want = np.clip([[float(round(v * 4)) / 4 for v in row] for row in exact], -32, 31.75)
    np.testing.assert_array_equal(d.predict(x), want)


def test_activation_scale_not_a_power_of_two_is_exact():
    """An output quantiser of scale 0.3: thresholds on the exact sum, then the odd factor of the scale."""
    m = _with_quant(0.25, act_scale=0.3)
    d = nn2rtl.convert(m)
    assert [n.op for n in d.graph.nodes] == ["Dense", "Threshold", "ScaleShift"]
    x = _inputs(d, seed=5)
    got, want = exact_compare(d, m, x)
    assert (got == want).all()


def test_every_unsupported_quantisation_is_named_at_once(tmp_path):
    b = qmodels._Builder(0)
    y = b.quant("input", "per_channel", 4, np.array([0.5, 0.25, 0.5, 0.5], dtype=np.float32))
    x = b.node("Sin", [y], "sine")
    x = b.quant(x, "zero_scale", 4, 0.0)
    b.nodes[-1].output[0] = "output"
    m = qmodels._model(b.nodes, b.inits, 4, 4)
    with pytest.raises(UnsupportedOpError) as e:
        import_onnx(m)
    names = [n for n, _, _ in e.value.nodes]
    assert names == ["per_channel", "sine"]  # downstream nodes of a refused one are named only if unknown ops
    assert "2 different scales (per-channel quantisation of an activation)" in str(e.value)
    p = tmp_path / "m.onnx"
    onnx.save(m, p)
    assert main(["convert", str(p), "-o", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()


def test_per_channel_activation_scales_and_qoperator_ops_are_refused():
    b = qmodels._Builder(0)
    b.quant("input", "pc", 4, np.array([0.5, 0.25, 0.5, 0.5], dtype=np.float32))
    b.nodes[-1].output[0] = "output"
    with pytest.raises(UnsupportedOpError, match="4 different scales|2 different scales"):
        import_onnx(qmodels._model(b.nodes, b.inits, 4, 4))
    m = qmodels.qdq_mlp()
    dq = [n for n in m.graph.node if n.op_type == "DequantizeLinear" and n.input[0].startswith("input")][0]
    m.graph.node.remove(dq)
    mm = [n for n in m.graph.node if n.name == "fc0_MatMul"][0]
    mm.input[0] = "input_QuantizeLinear_out"
    with pytest.raises(UnsupportedOpError, match="'fc0_MatMul' \\(MatMul: reads the integer output of "
                                                 "QuantizeLinear"):
        import_onnx(m)


def test_trunc_v1_and_v2_follow_qonnx():
    for version in (1, 2):
        b = qmodels._Builder(3)
        x = b.quant("input", "qin", 8, 2.0 ** -4)
        s, z = b.const("ts", 2.0 ** -4), b.const("tz", 0.0)
        if version == 1:
            ins = [x, s, z, b.const("tib", 8.0), b.const("tob", 5.0)]
        else:
            ins = [x, s, z, b.const("tib", 8.0), b.const("tos", 2.0 ** -1), b.const("tob", 5.0)]
        b.node("Trunc", ins, "trunc", domain=qmodels.QONNX, rounding_mode="FLOOR")
        b.nodes[-1].output[0] = "output"
        m = qmodels._model(b.nodes, b.inits, 6, 6, qonnx_version=version)  # the domain's version picks Trunc's
        d = nn2rtl.convert(m)
        x = _inputs(d, seed=version)
        np.testing.assert_array_equal(d.predict(x), _qonnx(m, x))


def test_batchnorm_fuses_into_a_float_dense_and_input_scaling_into_its_weights():
    import onnxruntime as ort
    m = models.torch_mlp([6, 5, 3])
    init = {i.name: i for i in m.graph.initializer}
    del init
    rng = np.random.default_rng(0)
    bn = [numpy_helper.from_array(rng.uniform(0.5, 2, 5).astype(np.float32), n) for n in ("g", "v")] + \
         [numpy_helper.from_array(rng.normal(0, 1, 5).astype(np.float32), n) for n in ("be", "mu")]
    m.graph.initializer.extend(bn + [numpy_helper.from_array(np.float32(0.1), "k")])
    nodes = list(m.graph.node)
    gemm1 = nodes[0]
    gemm1.output[0] = "g1"
    scaled = helper.make_node("Mul", ["input", "k"], ["scaled"], name="scale_in")
    gemm1.input[0] = "scaled"
    norm = helper.make_node("BatchNormalization", ["g1", "g", "be", "mu", "v"], ["/fc1/Gemm_output_0"], name="bn")
    del m.graph.node[:]
    m.graph.node.extend([scaled, gemm1, norm] + nodes[1:])
    onnx.checker.check_model(m)
    g = lower(import_onnx(m))
    assert [n.op for n in g.nodes] == ["Dense", "Relu", "Dense"]
    x = rng.normal(0, 3, size=(50, 6))
    from nn2rtl.golden import run_reference
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    want = sess.run(None, {"input": x.astype(np.float32)})[0]
    np.testing.assert_allclose(run_reference(g, {"input": x})["output"], want, rtol=1e-4, atol=1e-4)


def test_relabelling_ops_and_constant_expressions_fold():
    import onnxruntime as ort
    rng = np.random.default_rng(1)
    w = numpy_helper.from_array(rng.normal(0, 0.5, (6, 3)).astype(np.float32), "w")
    c = [numpy_helper.from_array(np.array(v, dtype=np.float32), n) for n, v in (("two", 2.0), ("three", 3.0))]
    axes = numpy_helper.from_array(np.array([2], dtype=np.int64), "axes")
    nodes = [helper.make_node("Unsqueeze", ["input", "axes"], ["u"], name="unsq"),       # [N, 6, 1]
             helper.make_node("Transpose", ["u"], ["t"], name="tr", perm=[0, 2, 1]),     # [N, 1, 6]
             helper.make_node("Squeeze", ["t", "one"], ["s"], name="sq"),                # [N, 6]
             helper.make_node("Pow", ["two", "three"], ["eight"], name="pow"),           # a constant: 8
             helper.make_node("Div", ["s", "eight"], ["d"], name="div"),
             helper.make_node("Dropout", ["d"], ["dr"], name="drop"),
             helper.make_node("MatMul", ["dr", "w"], ["output"], name="mm")]
    one = numpy_helper.from_array(np.array([1], dtype=np.int64), "one")
    m = models._finish(nodes, [w, axes, one] + c, 6, 3, 13)
    rows, g, problems = nn2rtl.frontend.onnx.inspect_onnx(m)
    assert not problems
    assert dict((r[0], r[3]) for r in rows)["pow"] == "folded (constant)"
    g = lower(g)
    assert [n.op for n in g.nodes] == ["Dense"]  # the division by 8 is folded into the float weights
    x = rng.normal(0, 1, size=(20, 6))
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    from nn2rtl.golden import run_reference
    np.testing.assert_allclose(run_reference(g, {"input": x})["output"],
                               sess.run(None, {"input": x.astype(np.float32)})[0], rtol=1e-5, atol=1e-6)
    m2 = models._finish([helper.make_node("Reshape", ["input", "shp"], ["r"], name="rs"),
                         helper.make_node("Transpose", ["r"], ["t"], name="tr_bad", perm=[0, 2, 1]),
                         helper.make_node("Flatten", ["t"], ["f"], name="fl"),
                         helper.make_node("MatMul", ["f", "w"], ["output"], name="mm")],
                        [w, numpy_helper.from_array(np.array([-1, 2, 3], dtype=np.int64), "shp")], 6, 3, 13)
    # a transpose that reorders data is a permutation, folded into the next Dense's weight rows
    g2 = import_onnx(m2)
    assert "Permute" in [n.op for n in g2.nodes]
    low = lower(g2)
    assert [n.op for n in low.nodes] == ["Dense"]
    sess2 = ort.InferenceSession(m2.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(run_reference(low, {"input": x})["output"],
                               sess2.run(None, {"input": x.astype(np.float32)})[0], rtol=1e-5, atol=1e-6)


def test_auto_precision_is_exact_capped_and_reported(tmp_path):
    path = models.save(models.torch_mlp([8, 6, 3]), tmp_path / "m.onnx")
    cfg = {"Model": {"Precision": {"default": "fixed<10,4>", "accum": "auto", "result": "auto"}}}
    d = nn2rtl.convert(path, config=cfg)
    fc1 = d.graph.nodes[0]
    # product fixed<20,8> + ceil(log2 8) = 3 + 1 for the bias
    assert str(fc1.types["accum"]) == "fixed<24,12>" and fc1.types["result"] == fc1.types["accum"]
    capped = nn2rtl.convert(path, config={"Model": {**cfg["Model"], "MaxAutoWidth": 18}})
    assert str(capped.graph.nodes[0].types["accum"]) == "fixed<18,12>"
    out = capped.write(tmp_path / "out")
    layers = json.loads((out / "design.json").read_text())["layers"]
    assert layers[0]["types"]["accum"] == "fixed<18,12>"


def test_absurd_layers_are_refused_up_front(tmp_path):
    path = models.save(models.torch_mlp([64, 64, 4]), tmp_path / "m.onnx")
    with pytest.raises(ModelError, match=r"'/fc1/Gemm' \(Gemm\): 4096 multiplications per inference, more than "
                                         r"the limit of 1000; raise Model.MaxLayerProducts"):
        nn2rtl.convert(path, config={"Model": {"MaxLayerProducts": 1000}})
    cfg = tmp_path / "c.yml"
    cfg.write_text("Model: {MaxTensorSize: 32}\n")
    assert main(["convert", str(path), "-o", str(tmp_path / "o"), "--config", str(cfg)]) == 2
    assert not (tmp_path / "o").exists()


def _external_model(tmp_path, location):
    m = models.torch_mlp([4, 3, 2])
    w = m.graph.initializer[0]
    data = numpy_helper.to_array(w).tobytes()
    target = (tmp_path / "model" / location)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not os.path.isabs(location) and ".." not in location:
        target.write_bytes(data)
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", str(len(data)))):
        e = w.external_data.add()
        e.key, e.value = k, v
    path = tmp_path / "model" / "m.onnx"
    path.write_bytes(m.SerializeToString())
    return path


def test_external_data_is_read_only_from_the_models_folder(tmp_path):
    ok = _external_model(tmp_path / "a", "weights.bin")
    g = import_onnx(str(ok))
    assert g.nodes[0].params["weight"].shape == (4, 3)
    outside = tmp_path / "secret.bin"
    outside.write_bytes(b"\0" * 48)
    for loc in ("../../secret.bin", str(outside)):
        with pytest.raises(ModelError, match="outside the model's folder"):
            import_onnx(str(_external_model(tmp_path / "b", loc)))
    link = _external_model(tmp_path / "c", "link.bin")
    (link.parent / "link.bin").unlink()
    (link.parent / "link.bin").symlink_to(outside)
    with pytest.raises(ModelError, match="outside the model's folder"):
        import_onnx(str(link))


def test_inspect_prints_every_node_and_names_the_unsupported(tmp_path, capsys):
    p = tmp_path / "q.onnx"
    onnx.save(qmodels.brevitas_style(), p)
    assert main(["inspect", str(p)]) == 0
    out = capsys.readouterr().out
    assert "Shape_0          Shape" in out and "folded (static shape)" in out
    assert "QuantReLU_1" in out and "ufixed<4,2,RND_CONV,SAT>" in out and "graph brevitas_style" in out
    m = qmodels.brevitas_style()
    [n for n in m.graph.node if n.name == "Relu_1"][0].op_type = "Erf"
    onnx.save(m, p)
    assert main(["inspect", str(p)]) == 2
    captured = capsys.readouterr()
    assert "UNSUPPORTED" in captured.out and "1 unsupported node" in captured.err


@pytest.mark.parametrize("domain, imports", [
    ("finn.custom_op.general", []),                             # the legacy domain, no import (qonnx for QKeras)
    ("onnx.brevitas", ["qonnx.custom_op.general"]),             # another domain imported than the one used
    ("qonnx.custom_op.general", []),                            # Brevitas without an opset import
])
def test_custom_domains_without_an_opset_import_are_read_as_version_1(tmp_path, domain, imports):
    """The QONNX executor, FINN and hls4ml read such nodes as version 1; so does nn2rtl (the ONNX checker alone
    would refuse the file)."""
    m = qmodels.qonnx_mlp([6, 5, 3], 4, seed=1)
    for n in m.graph.node:
        if n.domain:
            n.domain = domain
    del m.opset_import[:]
    m.opset_import.extend([helper.make_opsetid("", 13)] + [helper.make_opsetid(d, 1) for d in imports])
    p = tmp_path / "m.onnx"
    onnx.save(m, p)
    with pytest.raises(onnx.checker.ValidationError, match="No opset import for domain"):
        onnx.checker.check_model(onnx.load(p))
    d = nn2rtl.convert(str(p))
    x = _inputs(d, seed=1)
    np.testing.assert_array_equal(d.predict(x), _qonnx(qmodels.qonnx_mlp([6, 5, 3], 4, seed=1), x))


def test_real_corruption_is_still_refused(tmp_path):
    m = qmodels.qonnx_mlp([6, 5, 3], 4, seed=1)
    del m.opset_import[1:]  # no import for the QONNX domain: accepted, as above ...
    m.graph.node[2].input[0] = "nowhere"  # ... but a node reading a tensor nothing produces is not
    p = tmp_path / "m.onnx"
    onnx.save(m, p)
    assert main(["convert", str(p), "-o", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()
    with pytest.raises(ModelError, match="malformed"):
        import_onnx(str(p))


def test_a_wide_quantiser_with_a_float_scale_is_refused_not_built(tmp_path):
    """16 bits with a scale that is not a power of two would be 65535 comparisons per element: refused at once,
    named, with what to do."""
    b = qmodels._Builder(0)
    b.quant("input", "wide", 16, np.float32(0.0371))
    b.nodes[-1].output[0] = "output"
    m = qmodels._model(b.nodes, b.inits, 4, 4)
    with pytest.raises(UnsupportedOpError,
                       match=r"'wide' .*65536 levels with scale 0.037\d*, which is not a power of two.* at most 4095"):
        import_onnx(m)
    p = tmp_path / "m.onnx"
    onnx.save(m, p)
    assert main(["convert", str(p), "-o", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()
