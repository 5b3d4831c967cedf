"""ONNX front end, element-wise ops: ``Add``/``Sub``/``Mul``/``Div`` by a constant and ``BatchNormalization``
(``ScaleShift``), the activations (:data:`ACTIVATIONS`, ``PRelu``, ``Clip``) and ``Softmax``. Two activations
combined element-wise are merges (:mod:`nn2rtl.frontend.cnn`)."""

from __future__ import annotations

import numpy as np

from ..errors import ModelError
from ..fixed import exact_type
from .base import _Refuse

__all__ = ["ElementwiseOps", "ACTIVATIONS"]

#: Element-wise activations: ONNX op -> (graph op, attributes with their ONNX defaults).
ACTIVATIONS = {
    "Relu": ("Relu", {}), "Sigmoid": ("Sigmoid", {}), "Tanh": ("Tanh", {}), "Softplus": ("Softplus", {}),
    "Softsign": ("Softsign", {}), "LeakyRelu": ("LeakyRelu", {"alpha": 0.01}),
    "ThresholdedRelu": ("ThresholdedRelu", {"alpha": 1.0}), "Elu": ("Elu", {"alpha": 1.0}),
    "Selu": ("Selu", {"alpha": 1.67326319217681884765625, "gamma": 1.05070102214813232421875}),
    "HardSigmoid": ("HardSigmoid", {"alpha": 0.2, "beta": 0.5}),
}


class ElementwiseOps:
    """Handlers of the element-wise ops (a mixin of the importer)."""

    def _const_operand(self, node, live):
        fin = self.features[live[0]]
        cname = [i for i in node.input if i and i not in live][0]
        c = np.asarray(self.consts[cname], dtype=np.float64)
        try:
            b = np.broadcast_to(c, (1,) + tuple(fin)) if c.ndim <= len(fin) + 1 else None
        except ValueError:
            b = None
        if b is None:
            raise _Refuse(f"constant of shape {list(c.shape)} does not broadcast to [N, {', '.join(map(str, fin))}] "
                          f"without changing it")
        return b.reshape(-1).copy(), cname, list(node.input).index(cname)

    def op_Add(self, node, a, live):
        self._arith(node, live, "Add")

    op_Sub = op_Mul = op_Div = op_Add

    def _arith(self, node, live, _):
        op = node.op_type
        if len(live) == 2 and op in ("Add", "Sub", "Mul"):
            self.merge(node, live, op.lower())
            return
        if len(live) != 1:
            raise _Refuse(f"{op} of two activations; only Add, Sub and Mul (and Max, Min) of two are supported")
        c, cname, pos = self._const_operand(node, live)
        fin = self.features[live[0]]
        if op == "Add":
            params = {"bias": c}
        elif op == "Sub":
            params = {"bias": -c} if pos == 1 else {"scale": -np.ones_like(c), "bias": c}
        elif op == "Mul":
            params = {"scale": c}
        else:
            if pos == 0:
                raise _Refuse("a constant divided by an activation")
            if np.any(c == 0):
                raise _Refuse("division by zero")
            params = {"scale": 1.0 / c}
        types = {}
        if cname in self.qconsts and op in ("Add", "Mul"):
            types = {k: exact_type(v) for k, v in params.items()}
        self.emit("ScaleShift", live[:1], node.output[:1], fin, attrs={"from": op}, params=params, types=types)

    def op_BatchNormalization(self, node, a, live):
        if a.get("training_mode", 0):
            raise _Refuse("training_mode=1")
        if any(o for o in node.output[1:]):
            raise _Refuse("running mean/variance outputs are used (a training graph)")
        fin = self.features[live[0]]
        gamma, beta, mean, var = (np.asarray(self.const(i, "the batch-normalisation parameters"), dtype=np.float64)
                                  .reshape(-1) for i in node.input[1:5])
        if not fin or gamma.size != fin[0]:
            raise ModelError(f"node '{self.meta['source_name']}' (BatchNormalization): {gamma.size} channels for "
                             f"an input of shape [N, {', '.join(map(str, fin))}]")
        scale = gamma / np.sqrt(var + float(a.get("epsilon", 1e-5)))
        bias = beta - scale * mean
        per = int(np.prod(fin[1:], dtype=np.int64))
        self.emit("ScaleShift", live[:1], node.output[:1], fin, attrs={"from": "BatchNormalization"},
                  params={"scale": np.repeat(scale, per), "bias": np.repeat(bias, per)})

    def op_Relu(self, node, a, live):
        self.activation(node, a, live)

    op_Sigmoid = op_Tanh = op_Softplus = op_Softsign = op_LeakyRelu = op_ThresholdedRelu = op_Relu
    op_Elu = op_Selu = op_HardSigmoid = op_Relu

    def activation(self, node, a, live):
        target, defaults = ACTIVATIONS[node.op_type]
        attrs = {k: float(a.get(k, d)) for k, d in defaults.items()}
        self.emit(target, live[:1], node.output[:1], self.features[live[0]], attrs=attrs)

    def op_PRelu(self, node, a, live):
        fin = self.features[live[0]]
        slope = np.asarray(self.const(node.input[1], "the slope"), dtype=np.float64)
        try:
            slope = np.broadcast_to(slope, fin).reshape(-1)
        except ValueError:
            raise _Refuse(f"slope of shape {list(slope.shape)} does not broadcast to the features {list(fin)}") \
                from None
        self.emit("PRelu", live[:1], node.output[:1], fin, params={"slope": slope.copy()})

    def op_Clip(self, node, a, live):
        if live and live[0] in self.pending_q:
            self.clip_codes(node, live)
            return
        if self.opset < 11:
            lo, hi = a.get("min"), a.get("max")
        else:
            lo, hi = [float(np.asarray(self.const(node.input[k], "the bounds")).reshape(-1)[0])
                      if len(node.input) > k and node.input[k] else None for k in (1, 2)]
        attrs = {k: float(v) for k, v in (("min", lo), ("max", hi)) if v is not None and abs(v) < 1e30}
        self.emit("Clip", live[:1], node.output[:1], self.features[live[0]], attrs=attrs)

    def op_Softmax(self, node, a, live):
        fin = self.features[live[0]]
        rank = len(fin) + 1
        axis = a.get("axis", 1 if self.opset < 13 else -1)
        axis = axis + rank if axis < 0 else axis
        if self.opset < 13:  # the input is coerced to [prod(dims[:axis]), prod(dims[axis:])]
            ok = axis == 1 or int(np.prod(fin[:axis - 1])) == 1
        else:
            ok = axis >= 1 and int(np.prod(fin)) == fin[axis - 1]
        if not ok:
            raise _Refuse(f"softmax over axis {a.get('axis')} of an input of shape [batch, "
                          f"{', '.join(map(str, fin))}]; only a softmax over all features is supported (add a "
                          f"Flatten before it)")
        self.emit("Softmax", live[:1], node.output[:1], fin)
