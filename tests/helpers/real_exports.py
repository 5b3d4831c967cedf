"""Quantised models as the real tools export them: Brevitas (``export_qonnx``, ``export_onnx_qcdq``), ONNX
Runtime's ``quantize_static``, and a QKeras-shaped QONNX graph (QKeras needs TensorFlow; its converter's output is
built here with ``onnx.helper``, in the legacy ``finn.custom_op.general`` domain, without an opset import for it).

The Brevitas models are untrained but not trivial: weights, batch-normalisation statistics and learned quantiser
scales are randomised (seeded), so every scale is a float that is not a power of two, as after training.
Each builder writes ``<dir>/<name>.onnx`` and returns its path; exports are cached per directory.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings

import numpy as np

__all__ = ["BREVITAS", "MODELS", "TWINS", "export", "ort_static", "qkeras_jet_tagger", "model_path"]


def _quiet():
    """The exporters print progress and warnings (torch.onnx, brevitas): keep test output clean."""
    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    import logging
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    logging.getLogger("torch").setLevel(logging.ERROR)
    return stack


def _randomise(model, seed, shape):
    """Seeded weights and batch-norm statistics; then the activation quantisers calibrate their scales from
    statistics of random inputs (Brevitas collects them in training mode, as at the start of training)."""
    import torch
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "scaling_impl" in name:
                continue
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=g) * (1.0 / p.shape[1]) ** 0.5)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.5)
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
                m.weight.copy_(0.5 + torch.rand(m.num_features, generator=g))
        stats = {k: v.clone() for k, v in model.state_dict().items() if "running_" in k}
        model.train()
        for _ in range(40):
            model(torch.randn((64,) + tuple(shape[1:]), generator=g) * 1.5)
        model.load_state_dict({**model.state_dict(), **stats})
    return model.eval()


def _mlp(sizes, weight, act, in_quant, out_quant=None, bn=True, in_shape=None, transpose=False, norm=False):
    """A Brevitas MLP: input quantiser, then per layer QuantLinear (+ BatchNorm1d) + activation quantiser."""
    import brevitas.nn as qnn
    import torch.nn as nn

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = in_quant()
            layers = []
            for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
                last = k == len(sizes) - 2
                layers.append(qnn.QuantLinear(a, b, bias=not bn or last, **weight(last)))
                if not last:
                    if bn:
                        layers.append(nn.BatchNorm1d(b))
                    layers.append(act())
            if out_quant is not None:
                layers.append(out_quant())
            self.body = nn.Sequential(*layers)

        def forward(self, x):
            if norm:  # input normalisation, as MNIST scripts write it: Sub and Div by float constants
                x = (x - 0.1307) / 0.3081
            if transpose:
                x = x.transpose(2, 3)
            return self.body(self.inp(x.reshape(x.size(0), -1)))
    return MLP(), in_shape or (1, sizes[0])


def _tfc(wbits, abits, sizes=(784, 64, 64, 64, 10), in_shape=(1, 1, 28, 28)):
    import brevitas.nn as qnn
    from brevitas.quant import (
        Int8ActPerTensorFloat,
        Int8WeightPerTensorFloat,
        SignedBinaryActPerTensorConst,
        SignedBinaryWeightPerTensorConst,
    )

    def weight(last):
        if wbits == 1:
            return {"weight_quant": SignedBinaryWeightPerTensorConst}
        return {"weight_quant": Int8WeightPerTensorFloat, "weight_bit_width": wbits}

    def act():
        if abits == 1:
            return qnn.QuantIdentity(act_quant=SignedBinaryActPerTensorConst, return_quant_tensor=False)
        return qnn.QuantIdentity(act_quant=Int8ActPerTensorFloat, bit_width=abits, return_quant_tensor=False)

    def inp():
        return qnn.QuantIdentity(act_quant=Int8ActPerTensorFloat, bit_width=8, return_quant_tensor=False)
    return _mlp(sizes, weight, act, inp, in_shape=in_shape)


def _defaults():
    """Brevitas' defaults: Int8WeightPerTensorFloat weights, Uint8ActPerTensorFloat ReLUs, Int8 input."""
    import brevitas.nn as qnn
    return _mlp((784, 64, 64, 64, 10), lambda last: {}, lambda: qnn.QuantReLU(return_quant_tensor=False),
                lambda: qnn.QuantIdentity(return_quant_tensor=False), in_shape=(1, 1, 28, 28))


def _nid():
    """Network-intrusion-style: 600 inputs, 2-bit weights and activations, a bipolar output."""
    import brevitas.nn as qnn
    from brevitas.quant import Int8WeightPerTensorFloat, SignedBinaryActPerTensorConst
    return _mlp((600, 64, 64, 64, 1), lambda last: {"weight_quant": Int8WeightPerTensorFloat,
                                                     "weight_bit_width": 2},
                lambda: qnn.QuantReLU(bit_width=2, return_quant_tensor=False),
                lambda: qnn.QuantIdentity(bit_width=2, return_quant_tensor=False),
                out_quant=lambda: qnn.QuantIdentity(act_quant=SignedBinaryActPerTensorConst,
                                                    return_quant_tensor=False))


def _kws():
    """Keyword-spotting-style: [1, 1, 10, 49] MFCC inputs, transposed and flattened, 3-bit weights and activations."""
    import brevitas.nn as qnn
    return _mlp((490, 64, 64, 64, 12), lambda last: {"weight_bit_width": 3},
                lambda: qnn.QuantReLU(bit_width=3, return_quant_tensor=False),
                lambda: qnn.QuantIdentity(bit_width=3, return_quant_tensor=False), in_shape=(1, 1, 10, 49),
                transpose=True)


def _small_defaults():
    """A small MLP with Brevitas' defaults (for quick Verilator runs)."""
    import brevitas.nn as qnn
    return _mlp((16, 32, 32, 5), lambda last: {}, lambda: qnn.QuantReLU(return_quant_tensor=False),
                lambda: qnn.QuantIdentity(return_quant_tensor=False))


def _small_norm():
    """Brevitas defaults on [1, 1, 4, 4] images, normalised and flattened in forward (Sub, Div, view)."""
    import brevitas.nn as qnn
    return _mlp((16, 32, 32, 5), lambda last: {}, lambda: qnn.QuantReLU(return_quant_tensor=False),
                lambda: qnn.QuantIdentity(return_quant_tensor=False), in_shape=(1, 1, 4, 4), norm=True)


def _cnn(bits, pool):
    """A QONNX CNN with power-of-two scales (Brevitas' fixed-point quantisers): an 8-bit input quantiser, two
    ``QuantConv2d`` (``bits``-bit weights, float bias), BatchNorm2d, ``bits``-bit ``QuantReLU``, ``pool`` (max or
    average, 2x2) pooling, then a QuantLinear. Shaped like a 1x8x8 calorimeter patch."""
    import brevitas.nn as qnn
    import torch.nn as nn
    from brevitas.quant import Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint, Uint8ActPerTensorFixedPoint

    w = {"weight_quant": Int8WeightPerTensorFixedPoint, "weight_bit_width": bits}

    def relu():
        return qnn.QuantReLU(act_quant=Uint8ActPerTensorFixedPoint, bit_width=bits, return_quant_tensor=False)

    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, bit_width=8, return_quant_tensor=False)
            self.c1 = qnn.QuantConv2d(1, 4, 3, padding=1, **w)
            self.bn = nn.BatchNorm2d(4)
            self.r1 = relu()
            self.pool = nn.MaxPool2d(2) if pool == "max" else nn.AvgPool2d(2)
            self.c2 = qnn.QuantConv2d(4, 6, 3, **w)
            self.r2 = relu()
            self.fc = qnn.QuantLinear(6 * 2 * 2, 5, bias=True, **w)

        def forward(self, x):
            y = self.pool(self.r1(self.bn(self.c1(self.inp(x)))))
            return self.fc(self.r2(self.c2(y)).flatten(1))
    return CNN(), (1, 1, 8, 8)


def _fixed_mlp(bits=4, sizes=(12, 16, 5)):
    """A small MLP with power-of-two scales (Brevitas' fixed-point quantisers): an 8-bit input, ``bits``-bit weights
    and ReLUs (a board-sized model)."""
    import brevitas.nn as qnn
    from brevitas.quant import Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint, Uint8ActPerTensorFixedPoint
    return _mlp(sizes, lambda last: {"weight_quant": Int8WeightPerTensorFixedPoint, "weight_bit_width": bits},
                lambda: qnn.QuantReLU(act_quant=Uint8ActPerTensorFixedPoint, bit_width=bits,
                                      return_quant_tensor=False),
                lambda: qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, bit_width=8,
                                          return_quant_tensor=False), bn=False)


#: name -> (builder, exporter); "_ts" exports through TorchScript (``dynamo=False``), the others through dynamo
BREVITAS = {
    "tfc_w1a1": (lambda: _tfc(1, 1), "qonnx"),
    "tfc_w1a2": (lambda: _tfc(1, 2), "qonnx"),
    "tfc_w2a2": (lambda: _tfc(2, 2), "qonnx"),
    "mnist_int8": (_defaults, "qonnx"),
    "mnist_int8_qcdq": (_defaults, "qcdq"),
    "nid_w2a2": (_nid, "qonnx"),
    "kws_w3a3": (_kws, "qonnx"),
    "small_int8": (_small_defaults, "qonnx"),
    "small_int8_qcdq": (_small_defaults, "qcdq"),
    "tfc_w2a2_qcdq": (lambda: _tfc(2, 2), "qcdq"),
    "tfc_w1a1_ts": (lambda: _tfc(1, 1), "qonnx_ts"),
    "bnn_small_w1a1": (lambda: _tfc(1, 1, (32, 48, 48, 10), (1, 32)), "qonnx"),
    "small_norm_ts": (_small_norm, "qonnx_ts"),
    "small_norm_qcdq_ts": (_small_norm, "qcdq_ts"),
    "cnn_w4a4": (lambda: _cnn(4, "max"), "qonnx"),
    "cnn_w3a3_avg_ts": (lambda: _cnn(3, "avg"), "qonnx_ts"),
    "cnn_w4a4_qcdq": (lambda: _cnn(4, "max"), "qcdq"),
    "mlp_fixed_w4a4": (_fixed_mlp, "qonnx"),
}


def export(name, directory, seed=0):
    """Export Brevitas model ``name`` (a key of :data:`BREVITAS`) to ``directory``; the path."""
    path = os.path.join(directory, f"{name}.onnx")
    if os.path.exists(path):
        return path
    with _quiet():  # brevitas warns on import (deprecations, optional packages), torch.onnx prints progress
        import torch
        from brevitas.export import export_onnx_qcdq, export_qonnx
        builder, how = BREVITAS[name]
        model, shape = builder()
        model = _randomise(model, seed, shape)
        x = torch.randn(*shape)
        exporter = export_qonnx if how.startswith("qonnx") else export_onnx_qcdq
        if how.endswith("_ts"):  # a symbolic batch: the flatten becomes a Shape/Gather/Concat/Reshape chain
            exporter(model, x, export_path=path, dynamo=False, input_names=["input"],
                     dynamic_axes={"input": {0: "N"}})
        else:
            exporter(model, x, export_path=path)
    return path


def ort_static(directory, per_channel, seed=0, cnn=False):
    """A float torch MLP 16-32-32-5 (or, with ``cnn``, a small CNN on 1x8x8 images) quantised by ONNX Runtime's
    ``quantize_static`` (QDQ, int8; float scales, per tensor or per output channel)."""
    import torch
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    path = os.path.join(directory, f"ort_static_{'cnn_' if cnn else ''}{'pc' if per_channel else 'pt'}.onnx")
    if os.path.exists(path):
        return path
    torch.manual_seed(seed)
    nn = torch.nn
    if cnn:
        net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3), nn.ReLU(),
                            nn.Flatten(), nn.Linear(6 * 2 * 2, 5)).eval()
    else:
        net = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 5)).eval()
    shape = (1, 1, 8, 8) if cnn else (1, 16)
    fp = os.path.join(directory, f"ort_float_{'cnn_' if cnn else ''}{seed}.onnx")
    with _quiet():
        torch.onnx.export(net, torch.randn(*shape), fp, input_names=["input"], output_names=["output"],
                          dynamo=False, opset_version=13)
    rng = np.random.default_rng(seed)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.data = iter([{"input": rng.normal(0, 1.5, shape).astype(np.float32)} for _ in range(64)])

        def get_next(self):
            return next(self.data, None)
    with _quiet():
        quantize_static(fp, path, Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        extra_options={"ActivationSymmetric": False})
    return path


def qkeras_jet_tagger(directory, seed=0):
    """16-64-32-32-5 with 6-bit ``quantized_bits`` weights and biases and ``quantized_relu`` activations, as the
    qonnx converter writes a QKeras model: ``Quant`` in ``finn.custom_op.general`` with no opset import for it."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    path = os.path.join(directory, "qkeras_jet_tagger.onnx")
    if os.path.exists(path):
        return path
    rng = np.random.default_rng(seed)
    nodes, inits = [], []

    def const(name, v):
        inits.append(numpy_helper.from_array(np.asarray(v, dtype=np.float32), name))
        return name

    def quant(x, name, bits, scale, signed):
        nodes.append(helper.make_node("Quant", [x, const(name + "_s", scale), const(name + "_z", 0.0),
                                                const(name + "_b", float(bits))], [name], name=name,
                                      domain="finn.custom_op.general", signed=int(signed), narrow=0,
                                      rounding_mode="ROUND"))
        return name

    sizes = (16, 64, 32, 32, 5)
    x = quant("input_1", "input_q", 16, 2.0 ** -10, True)  # the converter's input quantiser (fixed<16,6>)
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = quant(const(f"w{k}", rng.normal(0, 0.5, (a, b))), f"w{k}_q", 6, 2.0 ** -5, True)   # quantized_bits(6,0)
        bias = quant(const(f"b{k}", rng.normal(0, 0.3, b)), f"b{k}_q", 6, 2.0 ** -5, True)
        nodes.append(helper.make_node("MatMul", [x, w], [f"mm{k}"], name=f"dense_{k}/MatMul"))
        nodes.append(helper.make_node("Add", [f"mm{k}", bias], [f"add{k}"], name=f"dense_{k}/BiasAdd"))
        x = f"add{k}"
        if k < len(sizes) - 2:
            nodes.append(helper.make_node("Relu", [x], [f"relu{k}"], name=f"relu_{k}"))
            x = quant(f"relu{k}", f"act{k}_q", 6, 2.0 ** -6, False)   # quantized_relu(6,0)
    nodes[-1].output[0] = "output"
    graph = helper.make_graph(nodes, "qkeras_jet_tagger",
                              [helper.make_tensor_value_info("input_1", TensorProto.FLOAT, ["N", 16])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 5])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)], producer_name="qonnx")
    onnx.save(model, path)
    return path


#: every real-export model of the tests
MODELS = sorted(BREVITAS) + ["ort_static_pt", "ort_static_pc", "ort_static_cnn_pc", "qkeras_jet_tagger"]
#: the same trained network through two exporters or formats: the typed designs are identical (a test checks it),
#: so one of each pair is simulated in Verilator
TWINS = [("mnist_int8", "mnist_int8_qcdq"), ("small_int8", "small_int8_qcdq"), ("tfc_w2a2", "tfc_w2a2_qcdq"),
         ("small_norm_ts", "small_norm_qcdq_ts"), ("tfc_w1a1", "tfc_w1a1_ts"), ("cnn_w4a4", "cnn_w4a4_qcdq")]


def model_path(directory, name):
    """Path of model ``name`` of :data:`MODELS` in ``directory`` (exported on first use)."""
    if name.startswith("ort_static"):
        return ort_static(str(directory), per_channel=name.endswith("pc"), cnn="cnn" in name)
    if name == "qkeras_jet_tagger":
        return qkeras_jet_tagger(str(directory))
    return export(name, str(directory))
