"""Every registered op implements every part; the reported latency is the built block's latency."""

import numpy as np
import pytest

from nn2rtl.config import Config
from nn2rtl.fixed import FixedType
from nn2rtl.graph import Graph, Node, Tensor
from nn2rtl.ops import REGISTRY, Op

PARTS = ("quantize", "reference", "golden", "block", "cost", "hls")


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_op_implements_every_part(name):
    op = REGISTRY[name]
    for part in PARTS:
        assert getattr(type(op), part) is not getattr(Op, part), f"{name} does not implement {part}"


def _typed_node(op, reuse=1):
    t = FixedType(10, 4)
    if op == "Dense":
        w = np.array([[3, -2, 0], [1, 5, -7]])
        node = Node("n", "Dense", ["x"], ["y"], {"levels_per_stage": 1, "reuse_factor": reuse},
                    {"weight": w, "bias": np.array([1, 0, 2])},
                    {"input": t, "weight": t, "bias": t, "accum": FixedType(16, 8), "result": t})
        shapes = (2,), (3,)
    elif op in ("Conv", "Pool", "Merge", "Concat"):  # a 1-D map of 4 pixels x 1 channel, or two inputs
        geo = {"in_shape": (4, 1), "strides": (1,), "pads": (0, 0), "dilations": (1,), "levels_per_stage": 1}
        if op == "Conv":
            node = Node("n", "Conv", ["x"], ["y"], {**geo, "kernel": (2,), "out_shape": (3, 2), "group": 1,
                                                     "reuse_factor": 1},
                        {"weight": np.array([[[3, -2], [1, 0]]]), "bias": np.array([1, 2])},
                        {"input": t, "weight": t, "bias": t, "accum": FixedType(16, 8), "result": t})
            g = Graph("g", ["x"], ["y"], [node], {"x": Tensor("x", (4,), t), "y": Tensor("y", (6,), t)})
            return node, g
        attrs = {"Pool": {**geo, "kernel": (2,), "out_shape": (3, 1), "mode": "avg"}, "Merge": {"op": "sub"}}
        node = Node("n", op, ["x"] if op == "Pool" else ["x", "x"], ["y"], attrs.get(op, {}),
                    {"index": np.array([0, 4, 1, 5, 2, 6, 3, 7])} if op == "Concat" else {}, {"input": t})
        n_out = {"Pool": 3, "Concat": 8}.get(op, 4)
        g = Graph("g", ["x"], ["y"], [node], {"x": Tensor("x", (4,), t), "y": Tensor("y", (n_out,))})
        REGISTRY[op].quantize(node, g, Config.from_dict({"Model": {"Precision": "fixed<10,4>"}}).layer(["n"], op))
        node.types["result"] = g.tensors["y"].type
        return node, g
    else:  # an activation: quantized as the pass would (tables, constants)
        attrs = {"Clip": {"min": -1.0, "max": 1.0},
                 "Quantize": {"frac": 2, "lo": -5, "hi": 6, "rounding": "RND_CONV", "shift": 1},
                 "Threshold": {"scale": 0.3, "zero_point": 1, "lo": 0, "hi": 15, "rounding": "ROUND", "frac": 0,
                               "pre": [{"op": "affine", "key": 0}, {"op": "max", "value": 0.0}]}}.get(op, {})
        params = {"PRelu": {"slope": np.array([0.25, -0.5, 0.125, 0.0])},
                  "ScaleShift": {"scale": np.array([0.75, -1.5, 3.0, 0.0]),
                                 "bias": np.array([0.5, -0.25, 0.0, 1.0])},
                  "Permute": {"index": np.array([2, 0, 3, 1])},
                  "Threshold": {"pre0_scale": np.array([0.75, -1.5, 3.0, 0.0]),
                                "pre0_bias": np.array([0.5, -0.25, 0.0, 1.0])}}.get(op, {})
        node = Node("n", op, ["x"], ["y"], attrs, params, {"input": t})
        g = Graph("g", ["x"], ["y"], [node], {"x": Tensor("x", (4,), t), "y": Tensor("y", (4,))})
        REGISTRY[op].quantize(node, g, Config.from_dict({"Model": {"Precision": "fixed<10,4>"}}).layer(["n"], op))
        node.types["result"] = g.tensors["y"].type
        return node, g
    g = Graph("g", ["x"], ["y"], [node], {"x": Tensor("x", shapes[0], t), "y": Tensor("y", shapes[1], t)})
    return node, g


@pytest.mark.parametrize("name, reuse", [(n, 1) for n in sorted(REGISTRY)] + [("Dense", 2), ("Dense", 4),
                                                                            ("Dense", 9)])
def test_cost_latency_is_the_blocks_latency(name, reuse):
    node, g = _typed_node(name, reuse)
    op = REGISTRY[name]
    block = op.block(node, g)
    cost = op.cost(node, g)
    assert cost.latency == block.latency
    if name != "Conv":  # a conv counts only the products that exist (not those reading its zero padding)
        assert cost.multipliers == getattr(block, "multipliers", 0)
    if name == "Dense":  # at R=1 the zero and the +-2^k weights (0, -2, 1) need none; the MAC array has slots
        assert cost.multipliers == (3 if reuse == 1 else -(-6 // reuse))
    from amaranth.back import rtlil
    rtlil.convert(block)  # the block elaborates (and is used, so Amaranth does not warn)
