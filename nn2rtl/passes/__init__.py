"""Graph -> Graph rewrites. Each pass returns a new graph and leaves its argument untouched.

:func:`lower` runs the float clean-up passes; :func:`quantize` applies a :class:`~nn2rtl.config.Config`.
"""

import numpy as np

from ..config import Config
from ..errors import UnsupportedOpError
from ..fixed import FixedType
from ..ops import REGISTRY

__all__ = ["drop_noops", "fuse_bias", "lower", "quantize", "NOOPS"]

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


def fuse_bias(graph):
    """Fold ``BiasAdd`` into the bias-less ``Dense`` that feeds it (MatMul + Add as Keras/tf2onnx export it).
    Guarantees: no BiasAdd remains; a BiasAdd that cannot be fused raises :class:`UnsupportedOpError`."""
    g = graph.copy()
    for n in list(g.nodes):
        if n.op != "BiasAdd":
            continue
        prod = g.producer(n.inputs[0])
        if (prod is None or prod.op != "Dense" or len(g.consumers(n.inputs[0])) != 1
                or n.inputs[0] in g.outputs):
            raise UnsupportedOpError([(n.attrs.get("source_name", n.name), n.attrs.get("source_op", "Add"),
                                       "an added constant that does not follow a MatMul/Gemm")])
        old = prod.params.get("bias")
        prod.params["bias"] = n.params["bias"] if old is None else old + n.params["bias"]
        g.nodes.remove(n)
        del g.tensors[prod.outputs[0]]
        prod.outputs = [n.outputs[0]]
    return g.verify()


def lower(graph):
    """All float clean-up passes, in order."""
    return fuse_bias(drop_noops(graph))


def quantize(graph, config: Config):
    """Assign a :class:`FixedType` to every tensor and raw integers to every parameter.

    Input types come from ``LayerName.<input>.Precision.result`` (else the model default); each op's types from
    its op class. Guarantees: ``graph.verify(typed=True)`` holds; every node records ``types['input']`` and
    ``types['result']``.
    """
    g = graph.copy()
    bad = [(n.attrs.get("source_name", n.name), n.attrs.get("source_op", n.op), "no fixed-point implementation")
           for n in g.nodes if n.op not in REGISTRY and n.op != "Identity"]
    if bad:
        raise UnsupportedOpError(bad)
    names = set(g.inputs)
    for n in g.nodes:
        names.update({n.name, n.attrs.get("source_name", n.name)})
    config.check_names(names, set(REGISTRY) | {"Input"})
    for t in g.inputs:
        g.tensors[t].type = FixedType.parse(config.precision_of([t], "Input", "result"))
    for n in g.nodes:
        n.types["input"] = g.tensors[n.inputs[0]].type
        if n.op == "Identity":
            g.tensors[n.outputs[0]].type = n.types["input"]
            n.types["result"] = n.types["input"]
            continue
        lc = config.layer([n.name, n.attrs.get("source_name", n.name)], n.op)
        REGISTRY[n.op].quantize(n, g, lc)
        n.types["result"] = g.tensors[n.outputs[0]].type
    for n in g.nodes:
        for k, v in n.params.items():
            assert np.issubdtype(np.asarray(v).dtype, np.integer) or np.asarray(v).dtype == object, (n.name, k)
    return g.verify(typed=True)
