"""Convolutional networks from the real PyTorch exporters (dynamo and TorchScript) and tf2onnx-shaped layouts:
the imported float graph equals ONNX Runtime, both exports of a network give the same design, the layout pass
leaves no data movement where the exporter only relabelled axes, and bad input is refused by name."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from helpers import cnn_models
from onnx import TensorProto, helper, numpy_helper

import nn2rtl
from nn2rtl.errors import ModelError, UnsupportedOpError
from nn2rtl.frontend.onnx import import_onnx
from nn2rtl.golden import run_reference
from nn2rtl.passes import lower


@pytest.fixture(scope="session")
def exports(tmp_path_factory):
    d = tmp_path_factory.mktemp("cnn_exports")
    cache = {}

    def get(name, dynamo):
        if (name, dynamo) not in cache:
            path = d / f"{name}_{'dynamo' if dynamo else 'torchscript'}.onnx"
            cnn_models.export(name, path, dynamo=dynamo)
            cache[name, dynamo] = path
        return cache[name, dynamo]
    return get


def _ort(path, x):
    return ort.InferenceSession(str(path)).run(None, {"x": x.astype(np.float32)})[0].reshape(len(x), -1)


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
@pytest.mark.parametrize("name", list(cnn_models.MODELS))
def test_imported_cnn_equals_onnx_runtime(exports, name, dynamo):
    path = exports(name, dynamo)
    _, shape = cnn_models.build(name)
    x = np.random.default_rng(1).normal(size=(64, *shape)).astype(np.float32)
    want = _ort(path, x)
    g = lower(import_onnx(str(path)))
    got = run_reference(g, {g.inputs[0]: x})[g.outputs[0]]
    assert np.abs(got - want).max() <= 1e-5 * (1 + np.abs(want).max())
    design = nn2rtl.convert(str(path))
    y = design.predict(x)
    assert y.shape == want.shape
    # fixed<16,6> everywhere: an error of a few LSBs per layer, nothing like a layout mistake (errors of ~1)
    assert np.abs(y - want).max() < 0.1


@pytest.mark.parametrize("name", list(cnn_models.MODELS))
def test_both_exporters_give_the_same_design(exports, name):
    a = nn2rtl.convert(str(exports(name, True)), top="cnn")
    b = nn2rtl.convert(str(exports(name, False)), top="cnn")
    x = np.random.default_rng(2).normal(size=(50, *cnn_models.build(name)[1]))
    assert (a.predict(x) == b.predict(x)).all()
    assert (a.latency, a.ii) == (b.latency, b.ii)


def test_only_the_model_edge_moves_data(exports):
    """Inside the network every tensor stays channels-last: the one Permute left is at the input (wiring), the
    ones before a Flatten are folded into the Dense weights."""
    g = lower(import_onnx(str(exports("residual", True))))
    perms = [n for n in g.nodes if n.op == "Permute"]
    assert len(perms) == 1 and perms[0].inputs == g.inputs


def _nhwc_model(bn_vectors=False):
    """A tf2onnx-shaped graph (look-alike, built with onnx.helper): NHWC input, Transpose to NCHW around each
    layer, Transpose back before the Flatten; Keras' Conv1D layout; and a Transpose -> BatchNormalization ->
    Transpose on plain vectors."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.normal(size=4).astype(np.float32), "b"),
             numpy_helper.from_array(rng.normal(size=(4, 4, 3)).astype(np.float32), "w1"),
             numpy_helper.from_array(rng.normal(size=(4 * 4 * 4, 3)).astype(np.float32), "wd"),
             numpy_helper.from_array(np.array([0, -1], dtype=np.int64), "flat"),
             numpy_helper.from_array(np.array([0, 16, 4], dtype=np.int64), "seq"),
             numpy_helper.from_array(rng.uniform(0.5, 2, 3).astype(np.float32), "g"),
             numpy_helper.from_array(rng.normal(size=3).astype(np.float32), "beta"),
             numpy_helper.from_array(rng.normal(size=3).astype(np.float32), "mean"),
             numpy_helper.from_array(rng.uniform(0.5, 2, 3).astype(np.float32), "var")]
    nodes = [helper.make_node("Transpose", ["x"], ["x_nchw"], perm=[0, 3, 1, 2], name="conv2d/transpose"),
             helper.make_node("Conv", ["x_nchw", "w", "b"], ["c"], pads=[1, 1, 1, 1], name="conv2d"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Transpose", ["r"], ["r_nhwc"], perm=[0, 2, 3, 1], name="conv2d/transpose_1"),
             # Keras Conv1D over the 16 pixels as a sequence: [N, 16, 4] -> NCW -> Conv -> NWC
             helper.make_node("Reshape", ["r_nhwc", "seq"], ["s"], name="to_sequence"),
             helper.make_node("Transpose", ["s"], ["s_ncw"], perm=[0, 2, 1], name="conv1d/transpose"),
             helper.make_node("Conv", ["s_ncw", "w1"], ["c1"], pads=[1, 1], name="conv1d"),
             helper.make_node("Transpose", ["c1"], ["c1_nwc"], perm=[0, 2, 1], name="conv1d/transpose_1"),
             helper.make_node("Reshape", ["c1_nwc", "flat"], ["f"], name="flatten"),
             helper.make_node("MatMul", ["f", "wd"], ["y0"], name="dense")]
    out = "y0"
    if bn_vectors:
        nodes += [helper.make_node("Unsqueeze", ["y0", "ax"], ["u"], name="expand"),
                  helper.make_node("Transpose", ["u"], ["u_t"], perm=[0, 2, 1], name="bn/transpose"),
                  helper.make_node("BatchNormalization", ["u_t", "g", "beta", "mean", "var"], ["bn"], name="bn"),
                  helper.make_node("Transpose", ["bn"], ["bn_t"], perm=[0, 2, 1], name="bn/transpose_1"),
                  helper.make_node("Reshape", ["bn_t", "flat"], ["y1"], name="squeeze")]
        inits.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "ax"))
        out = "y1"
    g = helper.make_graph(nodes, "tf2onnx_like", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                                ["n", 4, 4, 3])],
                          [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["n", 3])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.parametrize("bn_vectors", [False, True])
def test_tf2onnx_transposes_cost_nothing(tmp_path, bn_vectors):
    m = _nhwc_model(bn_vectors)
    path = tmp_path / "nhwc.onnx"
    onnx.save(m, str(path))
    x = np.random.default_rng(3).normal(size=(40, 4, 4, 3)).astype(np.float32)
    want = _ort(path, x)
    g = lower(import_onnx(str(path)))
    # no Permute: the NHWC input is already channels-last (and the batch norm folds into the float Dense)
    assert [n.op for n in g.nodes if n.op not in ("Relu",)] == ["Conv", "Conv", "Dense"]
    got = run_reference(g, {g.inputs[0]: x})[g.outputs[0]]
    assert np.abs(got - want).max() <= 1e-5 * (1 + np.abs(want).max())
    y = nn2rtl.convert(str(path), precision="fixed<24,12>").predict(x)
    assert np.abs(y - want).max() < 2e-3 * (1 + np.abs(want).max())  # outputs reach 200: relative error


def _single(op, shape, inits=(), **attrs):
    names = ["x"] + [i.name for i in inits]
    g = helper.make_graph([helper.make_node(op, names, ["y"], name=f"my_{op.lower()}", **attrs)], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", *shape])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.parametrize("op,shape,inits,attrs,message", [
    ("Conv", (1, 4, 4, 4), [numpy_helper.from_array(np.ones((2, 1, 2, 2, 2), np.float32), "w")], {},
     r"'my_conv' \(Conv: input of shape \[N, 1, 4, 4, 4\]; 1-D .* and 2-D .* inputs are supported"),
    ("AveragePool", (1, 6, 6), [], {"kernel_shape": [2, 2], "dilations": [2, 2]},
     r"'my_averagepool' \(AveragePool: dilations \[2, 2\]"),
    ("Resize", (1, 4, 4), [numpy_helper.from_array(np.zeros(0, np.float32), "roi"),
                           numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")],
     {"mode": "linear"}, r"'my_resize' \(Resize: mode='linear'; only nearest-neighbour"),
    ("Pad", (1, 4, 4), [numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads")],
     {"mode": "reflect"}, r"'my_pad' \(Pad: mode='reflect'; only constant"),
])
def test_unsupported_cnn_attributes_are_refused_by_name(op, shape, inits, attrs, message):
    with pytest.raises(UnsupportedOpError, match=message):
        nn2rtl.convert(_single(op, shape, inits, **attrs))


def test_a_feature_map_beyond_the_parallel_limit_points_to_io_stream():
    w = numpy_helper.from_array(np.ones((16, 1, 3, 3), np.float32), "w")
    with pytest.raises(ModelError, match=r"layer 'my_conv' \(Conv\): its output has 16384 elements .*io_stream"):
        nn2rtl.convert(_single("Conv", (1, 32, 32), [w], pads=[1, 1, 1, 1]))


def test_conv_with_a_reuse_factor_computes_the_same_and_reports_its_schedule(exports):
    path = str(exports("conv2d", True))
    a, b = nn2rtl.convert(path), nn2rtl.convert(path, reuse=4)
    x = np.random.default_rng(4).normal(size=(30, 1, 8, 8))
    assert (a.predict(x) == b.predict(x)).all()
    assert b.ii == 4 and b.latency > a.latency
    ra, rb = a.report(), b.report()
    assert rb["totals"]["multipliers"] < ra["totals"]["multipliers"]
    convs = [la for la in rb["layers"] if la["op"] == "Conv"]
    assert convs and all(la["ii"] == 4 and la["kernel"] == [3, 3] or la["kernel"] == (3, 3) for la in convs)


def test_bundled_cnn_example_keeps_its_accuracy():
    """examples/jet_cnn.onnx (the CNN the benchmark measures). At hls4ml's types (every variable fixed<16,6>) its
    global average pooling sums 25 values of up to 30 in a 16-bit accumulator: the sum wraps, as it would in
    hls4ml, and the design says so, naming the setting. With that setting the golden model classifies the bundled
    validation images as the float model does (ONNX Runtime)."""
    from pathlib import Path

    from nn2rtl.config import Config
    from nn2rtl.design import Design
    from nn2rtl.passes import quantize
    ex = Path(__file__).resolve().parents[2] / "examples"
    path = str(ex / "jet_cnn.onnx")
    x = np.load(ex / "jet_cnn_inputs.npy")
    assert x.shape == (200, 1, 16, 16)
    ref = ort.InferenceSession(path).run(None, {"input": x})[0]

    def design(config):
        return Design(quantize(lower(import_onnx(path)), Config.from_dict(config)), "top", path)
    default = design({})
    (w,) = default.warnings()
    assert "GlobalAveragePool" in w and "sums 25 values of fixed<16,6>" in w and "'auto'" in w
    assert (default.predict(x).argmax(1) == ref.argmax(1)).mean() < 0.5  # what the wrap does
    fixed = design({"LayerType": {"Pool": {"Precision": {"accum": "auto"}}}})
    assert fixed.warnings() == []
    assert [n.op for n in fixed.graph.nodes] == ["Conv", "Relu", "Pool", "Conv", "Relu", "Pool", "Dense"]
    got = fixed.predict(x)
    assert (got.argmax(1) == ref.argmax(1)).mean() >= 0.99
    assert np.abs(got - ref).max() < 0.5
