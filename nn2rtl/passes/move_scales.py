"""Moving the scales of quantisers with non-power-of-two scales into the next layer."""

from __future__ import annotations

import numpy as np

from ..fixed import exact_type
from .scale_shift import _merge_affine, _single_use


def _uniform_positive_scale(n):
    """The one positive value of a scale-only ``ScaleShift`` whose elements all share it, else ``None``."""
    if n.op != "ScaleShift" or "bias" in n.params or n.params.get("scale") is None:
        return None
    s = np.asarray(n.params["scale"], dtype=np.float64)
    return float(s[0]) if s.size and s[0] > 0 and np.all(s == s[0]) else None


def _merge_scale_shifts(first, second):
    """Params and types of ``second(first(x))`` as one ``ScaleShift`` when float64 holds the merged constants
    exactly (types kept exact where both were), else ``None``."""
    merged = _merge_affine(first.params.get("scale"), first.params.get("bias"),
                           second.params.get("scale"), second.params.get("bias"))
    if merged is None:
        return None
    params = {k: v for k, v in zip(("scale", "bias"), merged) if v is not None}

    def exact(nd, var):  # a constant of the model's exact grid, or none at all
        return var in nd.types or nd.params.get(var) is None
    types = {}
    if "scale" in params and exact(first, "scale") and exact(second, "scale"):
        types["scale"] = exact_type(params["scale"])
    if "bias" in params and all(exact(nd, v) for nd in (first, second) for v in ("bias", "scale")):
        types["bias"] = exact_type(params["bias"])
    return params, types


def move_scales(graph):
    """Carry a quantiser's leftover scale forward to where it costs nothing extra.

    A quantiser with a scale ``s = m * 2**-f`` (``m`` odd) gives codes on the grid ``2**-f`` followed by ``* m``
    (a ``ScaleShift`` marked ``moved_scale``). Guarantees: such a scale moves past a ``Relu`` (``relu(x * m) =
    relu(x) * m``, ``m > 0``) and past a ``Dense`` whose weights are the model's exact grid (``W(x * m) + b =
    W(x) * m + b``: the sum runs on the codes, and the scale and the bias follow it), where it merges with the
    next ``ScaleShift`` when float64 holds the product exactly. A ``Threshold`` then absorbs it
    (:func:`fuse_thresholds`); otherwise it stays one constant multiplier per element. Values are unchanged.
    """
    g = graph.copy()
    changed = True
    while changed:
        changed = False
        for n in list(g.nodes):
            m = _uniform_positive_scale(n) if n.attrs.get("moved_scale") else None
            if m is None or not _single_use(g, n.outputs[0]):
                continue
            user = g.consumers(n.outputs[0])[0]
            a, b = n.inputs[0], n.outputs[0]
            if user.op == "Relu":
                c = user.outputs[0]
                user.inputs, user.outputs = [a], [b]
                n.inputs, n.outputs = [b], [c]
                i, j = g.nodes.index(n), g.nodes.index(user)
                g.nodes[i], g.nodes[j] = user, n
                changed = True
                break
            if user.op == "Dense" and "weight" in user.types:
                c = user.outputs[0]
                n_out = user.params["weight"].shape[1]
                user.inputs, user.outputs = [a], [b]
                g.tensors[b] = type(g.tensors[b])(b, g.tensors[c].shape)
                n.inputs, n.outputs = [b], [c]
                n.params = {"scale": np.full(n_out, m)}
                n.types = {"scale": exact_type([m])}
                if "bias" in user.params:
                    n.params["bias"] = user.params.pop("bias")
                    if "bias" in user.types:
                        n.types["bias"] = user.types.pop("bias")
                g.nodes.remove(n)
                g.nodes.insert(g.nodes.index(user) + 1, n)
                nxt = g.consumers(c)
                if (len(nxt) == 1 and nxt[0].op == "ScaleShift" and c not in g.outputs
                        and not (set(nxt[0].types) - {"scale", "bias"})):
                    merged = _merge_scale_shifts(n, nxt[0])
                    if merged is not None:
                        n.params, n.types = merged
                        n.attrs["merged"] = nxt[0].attrs.get("source_name", nxt[0].name)
                        del g.tensors[c]
                        n.outputs = list(nxt[0].outputs)
                        g.nodes.remove(nxt[0])
                changed = True
                break
    return g.verify()
