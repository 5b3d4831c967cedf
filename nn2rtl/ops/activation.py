"""Element-wise activations."""

import numpy as np

from rtl_lib.activation import Relu as ReluBlock

from ..config import AUTO
from ..errors import ConfigError
from . import Cost, Op, register


@register
class Relu(Op):
    name = "Relu"

    def quantize(self, node, graph, lc):
        if lc.result == AUTO:
            raise ConfigError(f"layer {node.label}: result precision 'auto' is not supported for ReLU")
        graph.tensors[node.outputs[0]].type = lc.result

    def reference(self, node, inputs):
        return [np.maximum(inputs[0], 0.0)]

    def golden(self, node, inputs):
        (x,) = inputs
        tin, tout = node.types["input"], node.types["result"]
        y = tout.cast(x, tin)
        return [np.where(x > 0, y, 0)]

    def block(self, node, graph, library=None):
        return ReluBlock(graph.tensors[node.inputs[0]].size, node.types["input"], node.types["result"])

    def cost(self, node, graph):
        return Cost(latency=ReluBlock.latency, ii=1, multipliers=0, products=0, registers=0)
