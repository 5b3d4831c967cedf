"""rtl_lib.scale: Requantize and ScaleShift equal the golden model's Quantize and ScaleShift ops on every input of
small types (Amaranth's simulator, exhaustive)."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from nn2rtl.config import Config
from nn2rtl.fixed import FixedType, Rounding
from nn2rtl.graph import Graph, Node, Tensor
from nn2rtl.ops import REGISTRY


def _typed(op, in_type, attrs, params, n):
    node = Node("n", op, ["x"], ["y"], dict(attrs), dict(params), {"input": in_type})
    g = Graph("g", ["x"], ["y"], [node], {"x": Tensor("x", (n,), in_type), "y": Tensor("y", (n,))})
    REGISTRY[op].quantize(node, g, Config.from_dict({"Model": {"Precision": {"default": "fixed<8,3>",
                                                                             "result": "auto"}}}).layer(["n"], op))
    node.types["result"] = g.tensors["y"].type
    return node, g


def _run_block(block, in_type, rows):
    """Feed each row (n raw inputs) for one cycle; return the registered outputs, one row per input row."""
    tin, tout, n = in_type, block.out_type, block.n
    got = []

    async def tb(ctx):
        for row in rows:
            packed = 0
            for k, v in enumerate(row):
                packed |= (int(v) & ((1 << tin.width) - 1)) << (k * tin.width)
            ctx.set(block.i, packed)
            ctx.set(block.i_valid, 1)
            await ctx.tick()
            word = ctx.get(block.o)
            out = []
            for k in range(n):
                v = (word >> (k * tout.width)) & ((1 << tout.width) - 1)
                out.append(v - (1 << tout.width) if tout.signed and v >> (tout.width - 1) else v)
            got.append(out)

    sim = Simulator(block)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    return np.array(got)


@pytest.mark.parametrize("rounding", [r.value for r in Rounding])
@pytest.mark.parametrize("attrs", [{"frac": 1, "lo": -5, "hi": 6, "shift": 0},      # zero point / narrow bounds
                                   {"frac": 2, "lo": None, "hi": None, "shift": 2},  # Trunc: no bounds, shifted
                                   {"frac": 5, "lo": 0, "hi": 200, "shift": 0}])     # finer grid than the input
def test_requantize_equals_golden(rounding, attrs):
    tin = FixedType(7, 3)
    node, g = _typed("Quantize", tin, {**attrs, "rounding": rounding}, {}, 1)
    block = REGISTRY["Quantize"].block(node, g)
    x = np.arange(tin.min_raw, tin.max_raw + 1).reshape(-1, 1)
    want = REGISTRY["Quantize"].golden(node, [x])[0]
    np.testing.assert_array_equal(_run_block(block, tin, x), want)


@pytest.mark.parametrize("params", [{"scale": [0.75, -1.5, 0.0], "bias": [0.5, -0.3125, 2.0]},
                                    {"scale": [3.0, 0.125, -1.0]},
                                    {"bias": [-0.25, 1.0, 0.0625]}])
@pytest.mark.parametrize("signed", [True, False])
def test_scale_shift_equals_golden(params, signed):
    tin = FixedType(6, 2, signed)
    node, g = _typed("ScaleShift", tin, {}, {k: np.array(v) for k, v in params.items()}, 3)
    block = REGISTRY["ScaleShift"].block(node, g)
    vals = np.arange(tin.min_raw, tin.max_raw + 1)
    x = np.stack([vals, vals[::-1], np.roll(vals, 7)], axis=1)
    want = REGISTRY["ScaleShift"].golden(node, [x])[0]
    np.testing.assert_array_equal(_run_block(block, tin, x), want)
    # 'auto' keeps every bit: the golden result equals the exact computation (the constants are on fixed<8,3>)
    exact = tin.dequantize(x) * np.array(params.get("scale", [1.0] * 3)) + np.array(params.get("bias", [0.0] * 3))
    np.testing.assert_array_equal(node.types["result"].dequantize(want), exact)
