"""``Permute``: data moved without arithmetic, ``out[j] = in[index[j]]`` over the flattened features, or zero where
``index[j]`` is -1. A ``Transpose`` that reorders data is a permutation; constant zero padding, nearest-neighbour
upsampling (repeated indices) and a layout change at the model's edge are the same op. In the parallel
architecture it is wiring; the passes fold permutations into the rows of the next ``Dense``
(:func:`nn2rtl.passes.sink_permutes`)."""

import numpy as np

from rtl_lib.permute import Permute as PermuteBlock

from . import Cost, Op, register


def _take(x, index):
    x = np.asarray(x)
    index = np.asarray(index)
    if index.size and index.min() < 0:  # -1 reads a zero column appended to the data
        x = np.concatenate([x, np.zeros((x.shape[0], 1), dtype=x.dtype)], axis=1)
    return x[:, index]


@register
class Permute(Op):
    name = "Permute"

    def quantize(self, node, graph, lc):
        graph.tensors[node.outputs[0]].type = node.types["result"] = graph.tensors[node.inputs[0]].type

    def reference(self, node, inputs):
        return [_take(inputs[0], node.params["index"])]

    def golden(self, node, inputs):
        return [_take(inputs[0], node.params["index"])]

    def block(self, node, graph, library=None):
        return PermuteBlock(graph.tensors[node.inputs[0]].size, node.types["input"].width, node.params["index"])

    def hls(self, node, graph, layer):
        layer.config(n_in=graph.tensors[node.inputs[0]].size, n_out=graph.tensors[node.outputs[0]].size)
        layer.call("nn2rtl::permute", layer.index("index", node.params["index"], comment="-1: zero"))

    def cost(self, node, graph):
        return Cost(latency=0, ii=1, multipliers=0, products=0, registers=0)
