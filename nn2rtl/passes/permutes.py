"""Folding data permutations into the weight rows of the next ``Dense``."""

from __future__ import annotations

import numpy as np

from .scale_shift import _single_use

#: Ops that act on each element on its own (their per-element constants are indexed like the data).
ELEMENTWISE = ("ScaleShift", "PRelu", "Threshold", "Relu", "Clip", "Quantize", "LeakyRelu", "ThresholdedRelu",
               "HardSigmoid", "Sigmoid", "Tanh", "Softplus", "Softsign", "Elu", "Selu")


def sink_permutes(graph):
    """Move each ``Permute`` (a ``Transpose`` that reorders data) down past element-wise ops and fold it into the
    next ``Dense`` by reordering its weight rows.

    Guarantees: an element-wise op after a ``Permute`` is moved before it, its per-element constants reordered
    (``op(x[index])[j] = op'(x)[index[j]]``); a ``Permute`` feeding a ``Dense`` disappears (``x[index] @ W =
    x @ W'`` with ``W'[index[j]] = W[j]``). One left elsewhere is wiring. Values are unchanged.
    """
    g = graph.copy()
    changed = True
    while changed:
        changed = False
        for p in [n for n in g.nodes if n.op == "Permute"]:
            if not _single_use(g, p.outputs[0]):
                continue
            user = g.consumers(p.outputs[0])[0]
            idx = np.asarray(p.params["index"])
            n = idx.size
            if g.tensors[p.inputs[0]].size != n or not np.array_equal(np.sort(idx), np.arange(n)):
                continue  # padding, repetition or cropping: not a permutation, stays a selection
            if user.op == "Dense" and not user.types.get("input"):
                w = np.asarray(user.params["weight"])
                w2 = np.empty_like(w)
                w2[idx] = w
                user.params["weight"] = w2
                user.inputs = list(p.inputs)
                g.nodes.remove(p)
                del g.tensors[p.outputs[0]]
                changed = True
                break
            if user.op in ELEMENTWISE:
                for k, v in list(user.params.items()):
                    a = np.asarray(v)
                    if a.ndim == 1 and a.size == n:  # per element: constant j belongs to input index[j]
                        b = np.empty_like(a)
                        b[idx] = a
                        user.params[k] = b
                a, b, c = p.inputs[0], p.outputs[0], user.outputs[0]
                user.inputs, user.outputs = [a], [b]
                p.inputs, p.outputs = [b], [c]
                shape_in, shape_out = g.tensors[a].shape, g.tensors[c].shape
                g.tensors[b] = type(g.tensors[b])(b, shape_in)
                g.tensors[c] = type(g.tensors[c])(c, shape_out)
                i, j = g.nodes.index(p), g.nodes.index(user)
                g.nodes[i], g.nodes[j] = user, p
                changed = True
                break
    return g.verify()
