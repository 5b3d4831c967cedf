"""Every registered op implements every part; the reported latency is the built block's latency."""

import numpy as np
import pytest

from nn2rtl.fixed import FixedType
from nn2rtl.graph import Graph, Node, Tensor
from nn2rtl.ops import REGISTRY, Op

PARTS = ("quantize", "reference", "golden", "block", "cost")


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_op_implements_every_part(name):
    op = REGISTRY[name]
    for part in PARTS:
        assert getattr(type(op), part) is not getattr(Op, part), f"{name} does not implement {part}"


def _typed_node(op):
    t = FixedType(10, 4)
    if op == "Dense":
        w = np.array([[3, -2, 0], [1, 5, -7]])
        node = Node("n", "Dense", ["x"], ["y"], {"levels_per_stage": 1}, {"weight": w, "bias": np.array([1, 0, 2])},
                    {"input": t, "weight": t, "bias": t, "accum": FixedType(16, 8), "result": t})
        shapes = (2,), (3,)
    else:
        node = Node("n", op, ["x"], ["y"], {}, {}, {"input": t, "result": t})
        shapes = (4,), (4,)
    g = Graph("g", ["x"], ["y"], [node], {"x": Tensor("x", shapes[0], t), "y": Tensor("y", shapes[1], t)})
    return node, g


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_cost_latency_is_the_blocks_latency(name):
    node, g = _typed_node(name)
    op = REGISTRY[name]
    block = op.block(node, g)
    assert op.cost(node, g).latency == block.latency
    from amaranth.back import rtlil
    rtlil.convert(block)  # the block elaborates (and is used, so Amaranth does not warn)
