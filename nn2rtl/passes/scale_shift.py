"""Fusing ``ScaleShift`` (batch normalisation, biases, constant arithmetic) into neighbouring layers."""

from __future__ import annotations

import numpy as np

from ..fixed import exact_type


def _merge_affine(s1, t1, s2, t2):
    """Constants of ``(x * s1 + t1) * s2 + t2`` as one affine map, or ``None`` unless float64 holds them exactly."""
    from fractions import Fraction
    n = len(s1 if s1 is not None else t1)
    one, zero = np.ones(n), np.zeros(n)
    a1, b1 = (one if s1 is None else s1), (zero if t1 is None else t1)
    a2, b2 = (one if s2 is None else s2), (zero if t2 is None else t2)
    scale, bias = a1 * a2, b1 * a2 + b2
    for k in range(n):
        if (Fraction(float(scale[k])) != Fraction(float(a1[k])) * Fraction(float(a2[k]))
                or Fraction(float(bias[k])) != Fraction(float(b1[k])) * Fraction(float(a2[k])) + Fraction(
                    float(b2[k]))):
            return None
    return (None if s1 is None and s2 is None else scale), (None if t1 is None and t2 is None else bias)


def _float_dense(n):
    """A Dense whose weights are float values to be quantised by the configuration (not a model's exact grid)."""
    return n is not None and n.op == "Dense" and "weight" not in n.types


def _single_use(g, tensor):
    return len(g.consumers(tensor)) == 1 and tensor not in g.outputs


def fuse_scale_shift(graph):
    """Fold element-wise affine maps (``ScaleShift``: batch normalisation, ``Add``/``Mul``/... by constants) into a
    neighbouring ``Dense`` in float, before anything is quantised.

    Guarantees: a ``ScaleShift`` after a ``Dense`` is folded into it when it only adds (a bias: always exact) or
    when the Dense's weights are float (``W * s``, ``b * s + t``); one before a float ``Dense`` (input scaling) is
    folded into its weights (``s * W``, ``b + t @ W``). Weights on a model's exact grid are never rescaled: the
    ``ScaleShift`` stays a layer of its own. Nothing else changes.
    """
    g = graph.copy()
    changed = True
    while changed:
        changed = False
        for n in list(g.nodes):
            if n.op != "ScaleShift" or n.attrs.get("folded_scale"):
                continue
            s, t = n.params.get("scale"), n.params.get("bias")
            prod = g.producer(n.inputs[0])
            if prod is not None and prod.op == "Dense" and _single_use(g, n.inputs[0]) and (
                    s is None or _float_dense(prod)):
                b = prod.params.get("bias")
                # the sum of two biases on exact grids is exact; anything else takes the layer's bias precision
                exact = s is None and (t is None or "bias" in n.types) and (b is None or "bias" in prod.types)
                if s is not None:
                    prod.params["weight"] = prod.params["weight"] * s[None, :]
                    b = None if b is None else b * s
                prod.params["bias"] = t if b is None else (b if t is None else b + t)
                if prod.params["bias"] is None:
                    del prod.params["bias"]
                prod.types.pop("bias", None)
                if exact and "bias" in prod.params:
                    prod.types["bias"] = exact_type(prod.params["bias"])
                g.nodes.remove(n)
                del g.tensors[prod.outputs[0]]
                prod.outputs = [n.outputs[0]]
                changed = True
                break
            if prod is not None and prod.op == "ScaleShift" and _single_use(g, n.inputs[0]) and not (
                    prod.attrs.get("folded_scale") or prod.types or n.types):
                merged = _merge_affine(prod.params.get("scale"), prod.params.get("bias"), s, t)
                if merged is not None:  # (x * s1 + t1) * s2 + t2, when the float64 constants stay exact
                    prod.params = {k: v for k, v in zip(("scale", "bias"), merged) if v is not None}
                    g.nodes.remove(n)
                    del g.tensors[prod.outputs[0]]
                    prod.outputs = [n.outputs[0]]
                    changed = True
                    break
            users = g.consumers(n.outputs[0])
            if (len(users) == 1 and users[0].op == "Dense" and _float_dense(users[0])
                    and n.outputs[0] not in g.outputs and n.inputs[0] not in g.outputs):
                d = users[0]
                w = d.params["weight"]
                b = d.params.get("bias")
                if t is not None:
                    b = (t @ w) if b is None else b + t @ w
                if s is not None:
                    d.params["weight"] = s[:, None] * w
                if b is not None:
                    d.params["bias"] = b
                g.nodes.remove(n)
                del g.tensors[n.outputs[0]]
                d.inputs = [n.inputs[0]]
                changed = True
                break
    return g.verify()
