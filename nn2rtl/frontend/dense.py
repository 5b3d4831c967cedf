"""ONNX front end, matrix products: ``Gemm`` and ``MatMul`` by constant weights become ``Dense``. Quantised weights
stay exact; a weight scale that is not a power of two leaves an odd factor per column, moved into a ``ScaleShift``
after the sum (:func:`_odd_column_factors`, shared with ``Conv``)."""

from __future__ import annotations

import numpy as np

from ..errors import ModelError
from ..fixed import exact_type
from .base import _broadcast_bias, _Refuse

__all__ = ["DenseOps", "weight_params"]


class DenseOps:
    """Handlers of ``Gemm`` and ``MatMul`` (a mixin of the importer)."""

    def op_Gemm(self, node, a, live):
        if node.input[0] in self.consts or len(node.input) < 2:
            raise _Refuse("input A must be an activation")
        b = np.asarray(self.const(node.input[1], "weights B"), dtype=np.float64)
        if a.get("transA", 0):
            raise _Refuse("transA=1 on a batched activation")
        if b.ndim != 2:
            raise _Refuse(f"weights of rank {b.ndim}; expected a matrix")
        w = (b.T if a.get("transB", 0) else b) * float(a.get("alpha", 1.0))
        bias = None
        if len(node.input) > 2 and node.input[2]:
            c = np.asarray(self.const(node.input[2], "bias C"), dtype=np.float64) * float(a.get("beta", 1.0))
            bias = _broadcast_bias(c, w.shape[1], self.meta["source_name"], "Gemm")
        exact = node.input[1] in self.qconsts and float(a.get("alpha", 1.0)) == 1.0
        bias_exact = bias is not None and node.input[2] in self.qconsts and float(a.get("beta", 1.0)) == 1.0
        self.dense(node, live, w, bias, exact, bias_exact)

    def op_MatMul(self, node, a, live):
        if node.input[0] not in live or node.input[1] in live:
            raise _Refuse("only activation @ constant weights is supported")
        w = np.asarray(self.consts[node.input[1]], dtype=np.float64)
        if w.ndim != 2:
            raise _Refuse(f"weights of rank {w.ndim}; expected a matrix")
        self.dense(node, live, w, None, node.input[1] in self.qconsts, False)

    def dense(self, node, live, w, bias, exact, bias_exact):
        fin = self.features[live[0]]
        if len(fin) != 1:
            raise _Refuse(f"input of shape [N, {', '.join(map(str, fin))}]; only [N, features] is supported "
                          f"(add a Flatten)")
        if w.shape[0] != fin[0]:
            raise ModelError(f"node '{self.meta['source_name']}' ({node.op_type}): input has {fin[0]} features but "
                             f"the weights expect {w.shape[0]}")
        params, types, odd = weight_params(w, w, (1, -1), bias, exact, bias_exact)
        w = params["weight"]
        out = node.output[0]
        if odd is None:
            self.emit("Dense", live[:1], [out], (w.shape[1],), params=params, types=types)
            return
        mid = self.fresh_tensor(out + "_unscaled")
        self.emit("Dense", live[:1], [mid], (w.shape[1],), params=params, types=types)
        sp, st = {"scale": odd.astype(np.float64)}, {"scale": exact_type(odd.astype(np.float64))}
        if bias is not None:
            sp["bias"] = bias
            if bias_exact:
                st["bias"] = exact_type(bias)
        self.emit("ScaleShift", [mid], [out], (w.shape[1],), attrs={"folded_scale": True}, params=sp, types=st)


def weight_params(w, columns, odd_shape, bias, exact, bias_exact):
    """A layer's ``params`` and ``types`` for weights ``w`` (and ``bias``): quantised weights (``exact``) keep their
    exact grid; a scale that is not a power of two leaves an odd factor per output column of ``columns`` (``w`` as
    a matrix, one column per output), which is divided out of the weights (``odd`` reshaped to ``odd_shape``
    broadcasts over ``w``) and returned, to be applied after the sum, where it is exact; the bias then goes there
    too. Returns ``(params, types, odd or None)``."""
    params, types = {"weight": w}, {}
    odd = _odd_column_factors(columns) if exact else None
    if odd is not None:
        params["weight"] = w = w / odd.reshape(odd_shape)
    if exact:
        types["weight"] = exact_type(w)
    if bias is not None and odd is None:
        params["bias"] = bias
        if bias_exact:
            types["bias"] = exact_type(bias)
    return params, types, odd


def _odd_column_factors(w):
    """Per output column, the odd integer ``m_j`` (> 1 for some column) such that every weight of the column is
    ``m_j`` times a dyadic number: what a scale that is not a power of two leaves in quantised weights. ``None``
    when every column is already on a power-of-two grid."""
    from fractions import Fraction
    from math import gcd
    out = np.ones(w.shape[1], dtype=np.int64)
    for j in range(w.shape[1]):
        g = 0
        for v in w[:, j]:
            if v:
                g = gcd(g, Fraction(float(v)).numerator)
        while g and g % 2 == 0:
            g //= 2
        out[j] = max(g, 1)
    return out if np.any(out > 1) else None
