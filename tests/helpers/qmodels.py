"""Quantised ONNX models as real exporters write them, built with onnx.helper: QONNX (QKeras/HGQ/Brevitas via
qonnx), a Brevitas-style export with input scaling, batch normalisation and a Shape/Gather/Concat/Reshape flatten,
and an ONNX Runtime-style QDQ model. Every scale here is a power of two, so the exact answer is well defined and
the qonnx executor (float32) computes it exactly too."""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

QONNX = "qonnx.custom_op.general"


def _model(nodes, inits, n_in, n_out, opset=13, qonnx=True, in_shape=None, name="qmodel", qonnx_version=1):
    g = helper.make_graph(nodes, name,
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, in_shape or ["batch", n_in])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", n_out])], inits)
    ops = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(QONNX, qonnx_version)] if qonnx else [])
    m = helper.make_model(g, opset_imports=ops)
    m.ir_version = 8
    return m


class _Builder:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.k = [], [], 0

    def const(self, name, value, dtype=np.float32):
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def node(self, op, inputs, name, domain="", **attrs):
        self.k += 1
        out = f"{name}_out"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, domain=domain or None, **attrs))
        return out

    def quant(self, x, name, bits, scale, signed=True, narrow=False, zp=0.0, rounding="ROUND"):
        s = self.const(f"{name}_scale", scale)
        z = self.const(f"{name}_zeropt", zp)
        b = self.const(f"{name}_bitwidth", float(bits))
        return self.node("Quant", [x, s, z, b], name, domain=QONNX, signed=int(signed), narrow=int(narrow),
                         rounding_mode=rounding)


def qonnx_mlp(sizes, bits, seed=0, rounding="ROUND", narrow=True, float_scales=False, bn=False):
    """A QONNX MLP: input ``Quant``; per layer ``Quant`` weights (signed, narrow) and ``Quant`` bias (16 bits on
    the product grid), ``MatMul`` + ``Add``; hidden layers ``Relu`` then an unsigned activation ``Quant``; the
    output layer a signed 8-bit ``Quant``. ``bits``: weight/activation bit width (2 to 8).

    ``float_scales``: every scale is a power of two times a random float32 factor (as after training), and the
    bias is a float; ``bn``: a ``BatchNormalization`` before each hidden ``Relu``."""
    b = _Builder(seed)

    def sc(e, n=None):  # 2**e, or 2**e times random float32 factors in [0.6, 1.4]
        if not float_scales:
            return 2.0 ** e
        f = b.rng.uniform(0.6, 1.4, size=n or ())
        return np.asarray(f * 2.0 ** e, dtype=np.float32)
    in_frac = max(bits - 3, 0)
    x = b.quant("input", "quant_input", bits, sc(-in_frac), rounding=rounding)
    act_frac = in_frac
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        w_frac = bits - 1
        qmax = 2 ** (bits - 1) - 1
        w = b.rng.integers(-qmax, qmax + 1, size=(n_in, n_out)) * 2.0 ** -w_frac + \
            b.rng.normal(0, 2.0 ** -(w_frac + 2), size=(n_in, n_out))  # float weights near the grid: Quant rounds
        ws = sc(-w_frac, n_out)
        wq = b.quant(b.const(f"fc{k}_weight", w * (ws if float_scales else 1)), f"quant_w{k}", bits,
                     np.asarray(ws).reshape(1, -1) if float_scales else ws, narrow=narrow, rounding=rounding)
        bias_frac = act_frac + w_frac
        bias = b.rng.normal(0, 0.5, size=n_out)
        if float_scales:
            bq = b.const(f"fc{k}_bias", bias)
        else:
            bq = b.quant(b.const(f"fc{k}_bias", bias), f"quant_b{k}", 16, 2.0 ** -bias_frac, rounding=rounding)
        y = b.node("MatMul", [x, wq], f"fc{k}_matmul")
        y = b.node("Add", [y, bq], f"fc{k}_add")
        if k < len(sizes) - 2:
            if bn:
                prm = [b.const(f"bn{k}_{v}", a) for v, a in (
                    ("gamma", b.rng.uniform(-1.5, 1.5, n_out)), ("beta", b.rng.normal(0, 0.5, n_out)),
                    ("mean", b.rng.normal(0, 0.5, n_out)), ("var", b.rng.uniform(0.3, 2, n_out)))]
                y = b.node("BatchNormalization", [y] + prm, f"bn{k}")
            y = b.node("Relu", [y], f"relu{k}")
            act_frac = max(bits - 2, 0)
            x = b.quant(y, f"quant_a{k}", bits, sc(-act_frac), signed=False, rounding=rounding)
        else:
            x = b.quant(y, "quant_output", 8, sc(-4), rounding=rounding)
    b.nodes[-1].output[0] = "output"
    return _model(b.nodes, b.inits, sizes[0], sizes[-1], name=f"qonnx_mlp_{bits}b")


def brevitas_style(n_in=12, hidden=10, n_out=5, seed=1):
    """What Brevitas' QONNX export of ``QuantIdentity -> QuantLinear -> BatchNorm1d -> QuantReLU -> flatten ->
    QuantLinear`` looks like, with input scaling in front (``(x - 0.5) * 0.25``): Sub/Mul by constants, ``Quant``
    on the scaled input, ``Gemm(transB=1)`` with per-channel ``Quant`` weights (power-of-two scales) and a float
    bias, ``BatchNormalization`` (parameters exact in float32), ``Relu``, an unsigned 4-bit ``Quant``, a torch-style
    ``Shape -> Gather -> Unsqueeze -> Concat -> Reshape`` flatten, an ``Identity`` and the last ``Gemm``."""
    b = _Builder(seed)
    x = b.node("Sub", ["input", b.const("mean", np.full(n_in, 0.5))], "input_sub")
    x = b.node("Mul", [x, b.const("inv_std", 0.25)], "input_mul")
    x = b.quant(x, "QuantIdentity_0", 8, 2.0 ** -5)
    w_scale = 2.0 ** -np.array([3, 4, 2, 3, 3, 5, 4, 3, 2, 4][:hidden] + [3] * max(0, hidden - 10))
    w = b.rng.normal(0, 0.3, size=(hidden, n_in))
    wq = b.quant(b.const("linear1_weight", w), "Quant_w1", 4, w_scale.reshape(-1, 1), narrow=True)
    y = b.node("Gemm", [x, wq, b.const("linear1_bias", np.round(b.rng.normal(0, 0.5, hidden) * 64) / 64)],
               "Gemm_1", transB=1)
    eps = 2.0 ** -16
    var = np.array([0.25, 1.0, 4.0, 0.0625] * 3)[:hidden] - eps
    y = b.node("BatchNormalization", [y, b.const("bn_gamma", np.round(b.rng.uniform(0.5, 2, hidden) * 8) / 8),
                                      b.const("bn_beta", np.round(b.rng.normal(0, 0.5, hidden) * 16) / 16),
                                      b.const("bn_mean", np.round(b.rng.normal(0, 0.5, hidden) * 16) / 16),
                                      b.const("bn_var", var)], "BatchNorm_1", epsilon=eps)
    y = b.node("Relu", [y], "Relu_1")
    y = b.quant(y, "QuantReLU_1", 4, 2.0 ** -2, signed=False)
    shape = b.node("Shape", [y], "Shape_0")
    n = b.node("Gather", [shape, b.const("zero", 0, np.int64)], "Gather_0", axis=0)
    n = b.node("Unsqueeze", [n, b.const("axes0", [0], np.int64)], "Unsqueeze_0")
    cat = b.node("Concat", [n, b.const("minus_one", [-1], np.int64)], "Concat_0", axis=0)
    y = b.node("Reshape", [y, cat], "Reshape_0")
    y = b.node("Identity", [y], "Identity_0")
    w2 = b.rng.normal(0, 0.3, size=(n_out, hidden))
    wq2 = b.quant(b.const("linear2_weight", w2), "Quant_w2", 6, 2.0 ** -5, narrow=True)
    bq2 = b.quant(b.const("linear2_bias", b.rng.normal(0, 0.5, n_out)), "Quant_b2", 16, 2.0 ** -7)
    b.node("Gemm", [y, wq2, bq2], "Gemm_2", transB=1)
    b.nodes[-1].output[0] = "output"
    return _model(b.nodes, b.inits, n_in, n_out, name="brevitas_style")


def qdq_mlp(sizes=(10, 8, 4), seed=2, act_zero_point=0):
    """An ONNX Runtime-style QDQ model (``QuantFormat.QDQ``): ``QuantizeLinear -> DequantizeLinear`` on every
    activation (int8 input, uint8 after ``Relu`` with ``act_zero_point``), int8 weights with per-channel scales
    (``axis=1``) and int32 biases dequantised by ``DequantizeLinear``, float ``MatMul``/``Add`` between."""
    b = _Builder(seed)

    def qdq(x, name, scale, zp, dtype):
        s = b.const(f"{name}_scale", scale)
        z = b.const(f"{name}_zp", zp, dtype)
        q = b.node("QuantizeLinear", [x, s, z], f"{name}_QuantizeLinear")
        return b.node("DequantizeLinear", [q, s, z], f"{name}_DequantizeLinear")

    x = qdq("input", "input", 2.0 ** -4, 0, np.int8)
    in_scale = 2.0 ** -4
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        w_scale = 2.0 ** -(6 + (np.arange(n_out) % 3))
        wq = b.rng.integers(-127, 128, size=(n_in, n_out)).astype(np.int8)
        w = b.node("DequantizeLinear", [b.const(f"w{k}_quantized", wq, np.int8), b.const(f"w{k}_scale", w_scale),
                                        b.const(f"w{k}_zp", np.zeros(n_out), np.int8)], f"w{k}_DequantizeLinear",
                   axis=1)
        bias_q = b.rng.integers(-2000, 2000, size=n_out).astype(np.int32)
        bias = b.node("DequantizeLinear", [b.const(f"b{k}_quantized", bias_q, np.int32),
                                           b.const(f"b{k}_scale", in_scale * w_scale),
                                           b.const(f"b{k}_zp", np.zeros(n_out), np.int32)], f"b{k}_DequantizeLinear",
                      axis=0)
        y = b.node("MatMul", [x, w], f"fc{k}_MatMul")
        y = b.node("Add", [y, bias], f"fc{k}_Add")
        if k < len(sizes) - 2:
            y = b.node("Relu", [y], f"relu{k}")
            x = qdq(y, f"act{k}", 2.0 ** -3, act_zero_point, np.uint8)
            in_scale = 2.0 ** -3
        else:
            x = qdq(y, "output", 2.0 ** -3, 0, np.int8)
    b.nodes[-1].output[0] = "output"
    return _model(b.nodes, b.inits, sizes[0], sizes[-1], qonnx=False, name="qdq_mlp")


def qonnx_execute(model, x):
    """The qonnx package's executor (node by node: QONNX ops in numpy, standard ops in ONNX Runtime)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes
    x = np.asarray(x, dtype=np.float32)
    m = onnx.ModelProto.FromString(model.SerializeToString())
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_value = x.shape[0]  # the executor wants static shapes
    m.graph.output[0].type.tensor_type.shape.dim[0].dim_value = x.shape[0]
    m = ModelWrapper(m).transform(InferShapes())
    return np.asarray(execute_onnx(m, {"input": x})["output"], dtype=np.float64)
