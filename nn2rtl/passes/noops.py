"""Removing ops that do not change the data (``Identity``, ``Flatten``, ``Reshape``)."""

from __future__ import annotations

#: Ops that do not change the data of a flat feature vector (row-major layout is preserved).
NOOPS = ("Identity", "Flatten", "Reshape")


def _rename_uses(graph, old, new):
    for n in graph.nodes:
        n.inputs = [new if t == old else t for t in n.inputs]


def drop_noops(graph):
    """Remove Identity/Dropout/Flatten/Reshape. Guarantees: no NOOPS op remains; graph inputs and outputs keep
    their names (a no-op whose output is a graph output is removed by renaming its producer's output)."""
    g = graph.copy()
    for n in list(g.nodes):
        if n.op not in NOOPS:
            continue
        src, dst = n.inputs[0], n.outputs[0]
        g.nodes.remove(n)
        if dst in g.outputs and src not in g.inputs:
            prod = g.producer(src)
            prod.outputs = [dst if t == src else t for t in prod.outputs]
            _rename_uses(g, src, dst)
            g.tensors[dst] = type(g.tensors[dst])(dst, g.tensors[src].shape, g.tensors[src].type)
            del g.tensors[src]
        elif dst in g.outputs:
            g.nodes.append(type(n)(n.name, "Identity", [src], [dst], n.attrs))  # input straight to output
        else:
            _rename_uses(g, dst, src)
            del g.tensors[dst]
    return g.verify()
