"""Folding a ``Quantize`` into the final cast of the layer before it."""

from __future__ import annotations

from ..fixed import Overflow


def fuse_quantize(graph):
    """Fold a ``Quantize`` into the layer before it when the layer's own final cast can do its work exactly.

    Guarantees: a ``Quantize`` (no binary-point shift) fed only by a ``Dense`` or ``ScaleShift`` whose result type
    was ``auto`` disappears when its bounds are its type's full range (or the symmetric range: ``SAT_SYM``): the
    layer casts its exact sum straight into the quantiser's type, rounding and saturating the same way. Fed by a
    ``Relu`` with an unsigned full-range quantiser, the ``Relu`` takes its type (``x > 0 ? cast(x) : 0`` is the same
    clamp). Values are unchanged; one pipeline stage per quantiser is saved.
    """
    g = graph.copy()
    for q in list(g.nodes):
        if q.op != "Quantize" or q.attrs.get("shift"):
            continue
        p = g.producer(q.inputs[0])
        if p is None or len(g.consumers(q.inputs[0])) != 1 or q.inputs[0] in g.outputs:
            continue
        t = q.types["result"]
        lo, hi = q.attrs["bounds"]
        if hi != t.max_raw:
            continue
        if lo == t.min_raw:
            fused = t
        elif t.signed and lo == t.min_raw + 1:
            fused = t.with_modes(overflow=Overflow.SAT_SYM)
        else:
            continue
        if p.op in ("Dense", "ScaleShift") and p.attrs.get("result_auto"):
            pass
        elif p.op == "Relu" and lo == 0 and not t.signed:
            pass
        else:
            continue
        del g.tensors[p.outputs[0]]
        p.outputs = [q.outputs[0]]
        p.types["result"] = fused
        p.attrs["fused_quantize"] = q.attrs.get("source_name", q.name)
        g.tensors[q.outputs[0]].type = fused
        g.nodes.remove(q)
        for n in g.consumers(q.outputs[0]):
            n.types["input"] = fused
    return g.verify(typed=True)
