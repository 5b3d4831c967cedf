"""ONNX import: layouts of real exporters against ONNX Runtime (float), and clear errors for bad models."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from helpers import models
from onnx import TensorProto, helper

from nn2rtl.errors import ModelError, UnsupportedOpError
from nn2rtl.frontend.onnx import import_onnx
from nn2rtl.golden import run_reference
from nn2rtl.passes import lower


def ort_run(model, x):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})[0]


CASES = {
    "torch_gemm_opset17": lambda: models.torch_mlp([7, 9, 4]),
    "torch_gemm_opset11": lambda: models.torch_mlp([5, 3], opset=11),
    "torch_gemm_opset21": lambda: models.torch_mlp([5, 6, 2], opset=21),
    "keras_matmul_add_opset13": lambda: models.keras_mlp([6, 5, 3]),
    "keras_matmul_add_opset9": lambda: models.keras_mlp([4, 3], opset=9),
    # ONNX Runtime runs no opset-6 Gemm: the same graph stamped opset 7 is the reference
    "old_export_opset6_inits_as_inputs": lambda: (models.old_export(opset=6), models.old_export(opset=7)),
    "old_export_opset7": lambda: models.old_export(opset=7),
    "reshape_matmul_bias_left": lambda: models.reshape_model(),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_import_matches_onnxruntime(name):
    model = CASES[name]()
    model, ref_model = model if isinstance(model, tuple) else (model, model)
    g = lower(import_onnx(model))
    assert {n.op for n in g.nodes} <= {"Dense", "Relu", "Identity"}
    shape = [d.dim_value or 1 for d in model.graph.input[0].type.tensor_type.shape.dim]
    x = np.random.default_rng(1).normal(0, 1, (64, *shape[1:])).astype(np.float32)
    got = run_reference(g, {g.inputs[0]: x})[g.outputs[0]]
    np.testing.assert_allclose(got, ort_run(ref_model, x).reshape(64, -1), rtol=1e-5, atol=1e-5)


def test_torch_layout_names_and_transposed_weights():
    model = models.torch_mlp([3, 2])
    g = import_onnx(model)
    (dense,) = g.nodes
    assert dense.name == "fc1_Gemm" and dense.attrs["source_name"] == "/fc1/Gemm"
    w = onnx.numpy_helper.to_array(model.graph.initializer[0])
    np.testing.assert_array_equal(dense.params["weight"], w.T.astype(np.float64))


def test_keras_bias_is_fused_into_dense():
    g = lower(import_onnx(models.keras_mlp([4, 3, 2])))
    assert [n.op for n in g.nodes] == ["Dense", "Relu", "Dense"]  # the trailing Identity is gone
    assert g.outputs == ["dense_output"] and g.nodes[-1].outputs == ["dense_output"]
    assert all("bias" in n.params for n in g.nodes if n.op == "Dense")


def _model(nodes, inits=(), n=4, opset=13):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", n])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", n])], list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 7
    return m


def test_preflight_names_every_unsupported_node():
    m = _model([helper.make_node("Relu", ["x"], ["a"], name="ok"),
                helper.make_node("Sin", ["a"], ["b"], name="sm"),
                helper.make_node("Erf", ["b"], ["y"], name="")])
    with pytest.raises(UnsupportedOpError) as e:
        import_onnx(m)
    assert [(n, op) for n, op, _ in e.value.nodes] == [("sm", "Sin"), ("Erf_2", "Erf")]
    assert "2 unsupported nodes: 'sm' (Sin), 'Erf_2' (Erf)" in str(e.value)


def test_preflight_rejects_activation_weights():
    m = _model([helper.make_node("MatMul", ["x", "x"], ["y"], name="mm")])
    with pytest.raises(UnsupportedOpError, match=r"'mm' \(MatMul: only activation @ constant weights"):
        import_onnx(m)


def test_add_of_a_constant_is_a_layer_two_activations_merge_and_division_of_two_is_refused():
    b = onnx.numpy_helper.from_array(np.ones(4, dtype=np.float32), "b")
    m = _model([helper.make_node("Add", ["x", "b"], ["y"], name="lonely_add")], [b])
    g = lower(import_onnx(m))
    assert [n.op for n in g.nodes] == ["ScaleShift"] and g.nodes[0].params["bias"].tolist() == [1.0] * 4
    m = _model([helper.make_node("Add", ["x", "x"], ["y"], name="skip")])
    g = lower(import_onnx(m))
    assert [(n.op, n.attrs["op"]) for n in g.nodes] == [("Merge", "add")]
    m = _model([helper.make_node("Div", ["x", "x"], ["y"], name="ratio")])
    with pytest.raises(UnsupportedOpError, match=r"'ratio' \(Div: Div of two activations"):
        import_onnx(m)


def test_truncated_file(tmp_path, example_model):
    p = tmp_path / "t.onnx"
    p.write_bytes(example_model.read_bytes()[:3000])
    with pytest.raises(ModelError, match="not a valid ONNX file"):
        import_onnx(str(p))


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(ModelError, match="No such file"):
        import_onnx(str(tmp_path / "nope.onnx"))
    (tmp_path / "e.onnx").write_bytes(b"")
    with pytest.raises(ModelError, match="empty"):
        import_onnx(str(tmp_path / "e.onnx"))


def test_opset_too_old():
    m = _model([helper.make_node("Relu", ["x"], ["y"], name="r")], opset=5)
    with pytest.raises(ModelError, match="opset 5"):
        import_onnx(m)


def test_dynamic_feature_dimension_is_rejected():
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "F"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "F"])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    with pytest.raises(ModelError, match="every dimension but the batch must be fixed"):
        import_onnx(m)
