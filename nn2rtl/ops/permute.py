"""``Permute``: a ``Transpose`` that reorders a sample's data, ``out[j] = in[index[j]]`` over the flattened
(row-major) features. In the parallel architecture it is wiring; the passes usually fold it away, into the rows of
the next ``Dense`` (:func:`nn2rtl.passes.sink_permutes`)."""

import numpy as np

from rtl_lib.permute import Permute as PermuteBlock

from . import Cost, Op, register


@register
class Permute(Op):
    name = "Permute"

    def quantize(self, node, graph, lc):
        graph.tensors[node.outputs[0]].type = node.types["result"] = graph.tensors[node.inputs[0]].type

    def reference(self, node, inputs):
        return [np.asarray(inputs[0])[:, node.params["index"]]]

    def golden(self, node, inputs):
        return [np.asarray(inputs[0])[:, node.params["index"]]]

    def block(self, node, graph, library=None):
        return PermuteBlock(len(node.params["index"]), node.types["input"].width, node.params["index"])

    def cost(self, node, graph):
        return Cost(latency=0, ii=1, multipliers=0, products=0, registers=0)
