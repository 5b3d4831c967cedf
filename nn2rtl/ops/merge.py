"""Merges of two or more activations (residual and branching networks), with hls4ml's semantics
(``nnet_merge.h``): each element's exact ``a + b``, ``a - b``, ``a * b``, ``max`` or ``min``, then one cast to the
result type; a concatenation casts its inputs to the result type and copies them.

* ``Merge`` (attribute ``op``): two inputs of the same shape and the same layout.
* ``Concat`` (parameter ``index``): ``out[j] = all[index[j]]`` over the inputs' concatenated elements; the front
  end computes the index from the axis and each input's layout, so any axis of any layout is one op and no data
  moves in the parallel architecture.
"""

import numpy as np

from rtl_lib.merge import Concat as ConcatBlock
from rtl_lib.merge import Merge as MergeBlock

from ..config import AUTO
from ..fixed import MAX_INT64_BITS, FixedType, as_raw_array
from . import Cost, Op, register
from .quant import cap_auto

__all__ = ["Merge", "Concat", "union_type"]


def union_type(types):
    """The narrowest type holding every value of each of ``types`` (default modes)."""
    signed = any(t.signed for t in types)
    frac = max(t.frac for t in types)
    integer = max(t.integer + (1 if signed and not t.signed else 0) for t in types)
    return FixedType(integer + frac, integer, signed)


def exact_merge_type(op, ta, tb):
    """The type of the exact result of ``a op b``."""
    ta, tb = ta.with_modes(), tb.with_modes()
    if op == "mul":
        return ta.product(tb)
    if op in ("max", "min"):
        return union_type([ta, tb])
    t = ta.sum(tb)
    if op == "sub" and not t.signed:  # a difference of unsigned values may be negative
        t = FixedType(t.width + 1, t.integer + 1, True)
    return t


def _input_types(node, graph):
    return [graph.tensors[t].type for t in node.inputs]


@register
class Merge(Op):
    name = "Merge"
    auto_result = True

    def quantize(self, node, graph, lc):
        ta, tb = _input_types(node, graph)
        node.types["input1"] = tb
        exact = exact_merge_type(node.attrs["op"], ta, tb)
        node.types["exact"] = exact
        graph.tensors[node.outputs[0]].type = lc.result if lc.result != AUTO else cap_auto(exact, lc)

    def reference(self, node, inputs):
        a, b = (np.asarray(v, dtype=np.float64) for v in inputs)
        return [{"add": np.add, "sub": np.subtract, "mul": np.multiply, "max": np.maximum,
                 "min": np.minimum}[node.attrs["op"]](a, b)]

    def golden(self, node, inputs):
        ta, tb, te = node.types["input"], node.types["input1"], node.types["exact"]
        wide = te.width > MAX_INT64_BITS
        a = as_raw_array(inputs[0], 100 if wide else ta.width)
        b = as_raw_array(inputs[1], 100 if wide else tb.width)
        op = node.attrs["op"]
        if op == "mul":
            r = a * b
        else:
            a = a << (te.frac - ta.frac)
            b = b << (te.frac - tb.frac)
            r = {"add": np.add, "sub": np.subtract, "max": np.maximum, "min": np.minimum}[op](a, b)
        return [node.types["result"].cast(r, te)]

    def block(self, node, graph, library=None):
        n = graph.tensors[node.outputs[0]].size
        return MergeBlock(n, node.attrs["op"], node.types["input"], node.types["input1"], node.types["exact"],
                          node.types["result"])

    def hls(self, node, graph, layer):
        layer.config(n_in=graph.tensors[node.outputs[0]].size,
                     op=("add", "sub", "mul", "max", "min").index(node.attrs["op"]), exact_t=node.types["exact"])
        layer.call("nn2rtl::merge")

    def cost(self, node, graph):
        n = graph.tensors[node.outputs[0]].size
        mul = node.attrs["op"] == "mul"
        return Cost(latency=1, ii=1, multipliers=n if mul else 0, products=n if mul else 0,
                    registers=n * node.types["result"].width + 1)


@register
class Concat(Op):
    name = "Concat"
    auto_result = True

    def quantize(self, node, graph, lc):
        types = _input_types(node, graph)
        for k, t in enumerate(types[1:], 1):
            node.types[f"input{k}"] = t
        graph.tensors[node.outputs[0]].type = lc.result if lc.result != AUTO else cap_auto(union_type(types), lc)

    def _types(self, node):
        return [node.types["input"]] + [node.types[f"input{k}"] for k in range(1, len(node.inputs))]

    def reference(self, node, inputs):
        return [np.concatenate([np.asarray(v, dtype=np.float64) for v in inputs], axis=1)[:, node.params["index"]]]

    def golden(self, node, inputs):
        tout = node.types["result"]
        parts = [tout.cast(as_raw_array(v, 100 if max(t.width, tout.width) > 60 else t.width), t)
                 for v, t in zip(inputs, self._types(node))]
        dtype = object if any(p.dtype == object for p in parts) else np.int64
        return [np.concatenate([p.astype(dtype) for p in parts], axis=1)[:, node.params["index"]]]

    def block(self, node, graph, library=None):
        sizes = [graph.tensors[t].size for t in node.inputs]
        return ConcatBlock(sizes, self._types(node), node.types["result"], [int(v) for v in node.params["index"]])

    def hls(self, node, graph, layer):
        """Each input cast to the result type into one array, then reordered by the index."""
        sizes = [graph.tensors[t].size for t in node.inputs]
        total = sum(sizes)
        allv = layer.temp(layer.out_type, total, "all")
        offset = 0
        for src, t, size in zip(layer.inputs, layer.in_types, sizes):
            layer.call("nn2rtl::cast_copy", targs=[t, layer.out_type, size], args=[src, f"{allv} + {offset}"])
            offset += size
        layer.config(n_in=total, n_out=graph.tensors[node.outputs[0]].size)
        index = layer.index("index", node.params["index"])
        layer.call("nn2rtl::permute", targs=[layer.out_type, layer.out_type, layer.config_name],
                   args=[allv, layer.output, index])

    def cost(self, node, graph):
        return Cost(latency=0, ii=1, multipliers=0, products=0, registers=0)
