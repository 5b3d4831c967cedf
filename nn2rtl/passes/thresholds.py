"""Absorbing element-wise maps into the comparisons of a ``Threshold`` (FINN's streamlining)."""

from __future__ import annotations

import numpy as np

from .scale_shift import _single_use


def fuse_thresholds(graph):
    """Absorb the element-wise maps before a ``Threshold`` into its thresholds (FINN's streamlining).

    Guarantees: a ``ScaleShift`` (batch normalisation, bias, moved scale), ``Relu`` or ``Clip`` whose only user is a
    ``Threshold`` is removed and recorded in the threshold's ``pre`` maps, repeatedly, so a quantised layer ends in
    its sum and the next quantiser's comparisons, with no multiplier in between. The thresholds are computed
    exactly from the absorbed constants (:mod:`nn2rtl.ops.threshold`), so values are unchanged.
    """
    g = graph.copy()
    for t in [n for n in g.nodes if n.op == "Threshold"]:
        while True:
            src = t.inputs[0]
            p = g.producer(src)
            if p is None or not _single_use(g, src):
                break
            if p.op == "ScaleShift":
                key = 1 + max([q["key"] for q in t.attrs["pre"] if q["op"] == "affine"], default=-1)
                pre = [{"op": "affine", "key": key}]
                for var in ("scale", "bias"):
                    if p.params.get(var) is not None:
                        t.params[f"pre{key}_{var}"] = np.asarray(p.params[var], dtype=np.float64)
            elif p.op == "Relu":
                pre = [{"op": "max", "value": 0.0}]
            elif p.op == "Clip":
                pre = [{"op": k2, "value": float(p.attrs[k1])} for k1, k2 in (("min", "max"), ("max", "min"))
                       if k1 in p.attrs]
            else:
                break
            t.attrs["pre"] = pre + list(t.attrs["pre"])
            what = f"scale of {p.label}" if p.attrs.get("moved_scale") else p.label
            t.attrs["absorbed"] = [what] + list(t.attrs.get("absorbed", []))
            t.inputs = list(p.inputs)
            g.nodes.remove(p)
            del g.tensors[src]
    return g.verify()
