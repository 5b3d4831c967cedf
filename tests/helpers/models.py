"""Small ONNX models in the layouts real exporters produce, built with onnx.helper (no framework needed)."""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _finish(nodes, inits, n_in, n_out, opset, in_name="input", out_name="output", inits_as_inputs=False,
            ir_version=None):
    inputs = [helper.make_tensor_value_info(in_name, TensorProto.FLOAT, ["batch", n_in])]
    if inits_as_inputs:
        inputs += [helper.make_tensor_value_info(i.name, TensorProto.FLOAT, list(i.dims)) for i in inits]
    g = helper.make_graph(nodes, "m", inputs,
                          [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, ["batch", n_out])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = ir_version or (3 if opset < 8 else 7)
    onnx.checker.check_model(m)
    return m


def torch_mlp(sizes, seed=0, opset=17, scale=0.5):
    """``torch.onnx.export`` of nn.Linear/ReLU: Gemm(transB=1) with weights [out, in], names '/fc1/Gemm'."""
    rng = np.random.default_rng(seed)
    nodes, inits, prev = [], [], "input"
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        inits += [numpy_helper.from_array(rng.normal(0, scale, (b, a)).astype(np.float32), f"fc{k}.weight"),
                  numpy_helper.from_array(rng.normal(0, scale, b).astype(np.float32), f"fc{k}.bias")]
        out = "output" if k == len(sizes) - 1 else f"/fc{k}/Gemm_output_0"
        nodes.append(helper.make_node("Gemm", [prev, f"fc{k}.weight", f"fc{k}.bias"], [out], name=f"/fc{k}/Gemm",
                                      alpha=1.0, beta=1.0, transB=1))
        prev = out
        if k < len(sizes) - 1:
            nodes.append(helper.make_node("Relu", [prev], [f"/relu{k}/Relu_output_0"], name=f"/relu{k}/Relu"))
            prev = f"/relu{k}/Relu_output_0"
    return _finish(nodes, inits, sizes[0], sizes[-1], opset)


def keras_mlp(sizes, seed=0, opset=13, scale=0.5):
    """tf2onnx's export of Keras Dense layers: MatMul with weights [in, out], then Add of the bias, Relu."""
    rng = np.random.default_rng(seed)
    nodes, inits, prev = [], [], "dense_input"
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        w, bias = f"sequential/dense_{k}/MatMul/ReadVariableOp:0", f"sequential/dense_{k}/BiasAdd/ReadVariableOp:0"
        inits += [numpy_helper.from_array(rng.normal(0, scale, (a, b)).astype(np.float32), w),
                  numpy_helper.from_array(rng.normal(0, scale, b).astype(np.float32), bias)]
        nodes.append(helper.make_node("MatMul", [prev, w], [f"mm{k}"], name=f"sequential/dense_{k}/MatMul"))
        last = k == len(sizes) - 2
        add_out = "dense_out" if last else f"add{k}"
        nodes.append(helper.make_node("Add", [f"mm{k}", bias], [add_out], name=f"sequential/dense_{k}/BiasAdd"))
        prev = add_out
        if not last:
            nodes.append(helper.make_node("Relu", [prev], [f"relu{k}"], name=f"sequential/dense_{k}/Relu"))
            prev = f"relu{k}"
    nodes.append(helper.make_node("Identity", [prev], ["dense_output"], name="Identity"))
    return _finish(nodes, inits, sizes[0], sizes[-1], opset, in_name="dense_input", out_name="dense_output")


def old_export(n_in=6, n_out=3, seed=0, opset=6):
    """An opset-6 era export: initializers also listed as graph inputs; Dropout(is_test); Flatten; Reshape via
    a constant; Gemm with transB=0, alpha and beta."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.5, (n_in, 8)).astype(np.float32)
    c = rng.normal(0, 0.5, (1, 8)).astype(np.float32)
    w2 = rng.normal(0, 0.5, (n_out, 8)).astype(np.float32)
    c2 = rng.normal(0, 0.5, (n_out,)).astype(np.float32)
    inits = [numpy_helper.from_array(w, "W"), numpy_helper.from_array(c, "C"),
             numpy_helper.from_array(w2, "W2"), numpy_helper.from_array(c2, "C2")]
    bc = {"broadcast": 1} if opset < 7 else {}  # opset 6 Gemm needs broadcast=1 for a row bias
    test = {"is_test": 1} if opset < 7 else {}
    nodes = [
        helper.make_node("Flatten", ["input"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "W", "C"], ["g"], name="gemm", alpha=0.5, beta=2.0, **bc),
        helper.make_node("Dropout", ["g"], ["d"], name="drop", ratio=0.3, **test),
        helper.make_node("Relu", ["d"], ["r"], name="relu"),
        helper.make_node("Gemm", ["r", "W2", "C2"], ["output"], name="gemm2", transB=1, **bc),
    ]
    return _finish(nodes, inits, n_in, n_out, opset, inits_as_inputs=True)


def reshape_model(opset=13):
    """Input [batch, 2, 4] -> Reshape([-1, 8]) -> MatMul -> Add(bias left) -> output."""
    rng = np.random.default_rng(3)
    inits = [numpy_helper.from_array(np.array([-1, 8], dtype=np.int64), "shape"),
             numpy_helper.from_array(rng.normal(0, 0.5, (8, 4)).astype(np.float32), "W"),
             numpy_helper.from_array(rng.normal(0, 0.5, (4,)).astype(np.float32), "b")]
    nodes = [helper.make_node("Reshape", ["input", "shape"], ["r"], name="reshape"),
             helper.make_node("MatMul", ["r", "W"], ["m"], name="matmul"),
             helper.make_node("Add", ["b", "m"], ["output"], name="add")]
    g = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 2, 4])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, [None, 4])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 7
    return m


def save(model, path):
    onnx.save(model, str(path))
    return path


def chain(n_in, layers, seed=0, opset=17, scale=1.0):
    """A chain of ``("fc", n_out)`` Gemm layers and ``(op, attrs)`` activations, applied from the input on (so an
    activation first in the chain sees the raw extremes of the input type)."""
    rng = np.random.default_rng(seed)
    nodes, inits, prev, n = [], [], "input", n_in
    for k, (op, arg) in enumerate(layers):
        out = "output" if k == len(layers) - 1 else f"t{k}"
        if op == "fc":
            inits += [numpy_helper.from_array(rng.normal(0, scale, (arg, n)).astype(np.float32), f"w{k}"),
                      numpy_helper.from_array(rng.normal(0, scale, arg).astype(np.float32), f"b{k}")]
            nodes.append(helper.make_node("Gemm", [prev, f"w{k}", f"b{k}"], [out], name=f"fc{k}", transB=1))
            n = arg
        else:
            attrs, ins = dict(arg), [prev]
            if op == "PRelu":
                inits.append(numpy_helper.from_array(rng.uniform(-0.5, 0.5, n).astype(np.float32), f"slope{k}"))
                ins.append(f"slope{k}")
            if op == "Clip" and opset >= 11:
                for b in ("min", "max"):
                    if b in attrs:
                        inits.append(numpy_helper.from_array(np.array(attrs.pop(b), dtype=np.float32), f"{b}{k}"))
                        ins.append(f"{b}{k}")
                    else:
                        ins.append("")
            nodes.append(helper.make_node(op, ins, [out], name=f"{op.lower()}{k}", **attrs))
        prev = out
    return _finish(nodes, inits, n_in, n, opset, inits_as_inputs=opset < 9)


def conv_stack(path, channels=(3, 8, 8, 2), size=256, seed=0):
    """Zero-padded 3x3 convolutions ``channels[0] -> channels[1] -> ...`` with ReLUs between, an image in and an
    image out (a segmentation-style network for the streaming architecture at scale), saved to ``path``."""
    rng = np.random.default_rng(seed)
    pairs = list(zip(channels[1:], channels[:-1]))
    inits = [numpy_helper.from_array(rng.normal(0, 0.3, (o, i, 3, 3)).astype(np.float32), f"w{k}")
             for k, (o, i) in enumerate(pairs)]
    nodes, x = [], "x"
    for k in range(len(pairs)):
        nodes.append(helper.make_node("Conv", [x, f"w{k}"], [f"c{k}"], name=f"conv{k}", pads=[1, 1, 1, 1],
                                      kernel_shape=[3, 3]))
        x = f"c{k}"
        if k < len(pairs) - 1:
            nodes.append(helper.make_node("Relu", [x], [f"r{k}"], name=f"relu{k}"))
            x = f"r{k}"
    g = helper.make_graph(nodes, "conv_stack",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", channels[0], size, size])],
                          [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["N", channels[-1], size, size])],
                          inits)
    return save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
