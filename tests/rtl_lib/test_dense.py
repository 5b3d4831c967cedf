"""DenseParallel and Relu in Amaranth's simulator against the golden model, latency measured."""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator
from helpers.bits import pack, unpack

from nn2rtl.fixed import FixedType
from nn2rtl.graph import Node
from nn2rtl.ops import REGISTRY
from rtl_lib.activation import Relu
from rtl_lib.adder_tree import tree_latency, tree_levels
from rtl_lib.dense import DenseParallel, count_multipliers, dense_latency


def run_block(block, rows, w_in, n_out, w_out, signed):
    """Drive one row per cycle, return (outputs in order, measured latency per row)."""
    results, sent = [], {}

    async def tb(ctx):
        for cycle in range(len(rows) + block.latency + 3):
            if cycle < len(rows):
                ctx.set(block.i, pack(rows[cycle], w_in))
                ctx.set(block.i_valid, 1)
                sent[cycle] = cycle
            else:
                ctx.set(block.i_valid, 0)
            if ctx.get(block.o_valid):
                results.append((cycle, unpack(ctx.get(block.o), n_out, w_out, signed)))
            await ctx.tick()

    m = Module()
    m.submodules.dut = block
    tick = Signal()
    m.d.sync += tick.eq(~tick)  # a clock domain even for purely combinational blocks
    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    return [r for _, r in results], [c - k for k, (c, _) in enumerate(results)]


CASES = [
    dict(n_in=5, n_out=3, ti="fixed<8,3>", tw="fixed<6,1>", tb="fixed<8,2>", tacc="fixed<12,4>", to="fixed<8,3>",
         lps=1),
    dict(n_in=7, n_out=2, ti="ufixed<6,2>", tw="fixed<5,1>", tb="fixed<5,1>", tacc="fixed<9,3>",
         to="fixed<6,2,RND,SAT>", lps=2),
    dict(n_in=1, n_out=4, ti="fixed<4,4>", tw="fixed<4,2>", tb="fixed<4,2>", tacc="fixed<8,6>",
         to="ufixed<5,3,RND_CONV,SAT_SYM>", lps=3),
    # pruned: 70 % zeros, +-2^k weights (shifts), an all-zero column, a column of only a bias (constants), the
    # smallest weight code (-2^(W-1), a shift too); unsigned inputs with negative shifts
    dict(n_in=9, n_out=6, ti="ufixed<6,2>", tw="fixed<6,2>", tb="fixed<8,3>", tacc="fixed<14,6>",
         to="fixed<8,3,RND,SAT>", lps=1, pruned=True),
    dict(n_in=12, n_out=5, ti="fixed<7,3>", tw="fixed<5,1>", tb="fixed<6,2>", tacc="fixed<10,4>",
         to="fixed<7,3>", lps=2, pruned=True),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_dense_block_bit_exact_and_latency(case):
    c = CASES[case]
    t = {k: FixedType.parse(c[k]) for k in ("ti", "tw", "tb", "tacc", "to")}
    rng = np.random.default_rng(case)
    w = rng.integers(t["tw"].min_raw, t["tw"].max_raw, size=(c["n_in"], c["n_out"]), endpoint=True)
    w[0, 0] = 0  # a zero weight
    b = rng.integers(t["tb"].min_raw, t["tb"].max_raw, size=c["n_out"], endpoint=True)
    if c.get("pruned"):
        w[rng.random(w.shape) < 0.7] = 0
        tw = t["tw"]
        shifts = [v for k in range(tw.width) for v in (1 << k, -(1 << k)) if tw.min_raw <= v <= tw.max_raw]
        mask = rng.random(w.shape) < 0.4
        w[mask] = rng.choice(shifts, size=int(mask.sum()))
        w[1, 0] = tw.min_raw
        w[:, 1] = 0          # an output that is the bias alone
        w[:, 2], b[2] = 0, 0  # an output that is zero
        b[3] = 0             # a column without a bias leaf
    blk = DenseParallel(t["ti"], w, t["tw"], b, t["tb"], t["tacc"], t["to"], levels_per_stage=c["lps"])
    ti = t["ti"]
    rows = np.concatenate([
        rng.integers(ti.min_raw, ti.max_raw, size=(40, c["n_in"]), endpoint=True),
        np.full((1, c["n_in"]), ti.max_raw), np.full((1, c["n_in"]), ti.min_raw), np.zeros((1, c["n_in"]), int)])
    node = Node("d", "Dense", ["x"], ["y"], {}, {"weight": w, "bias": b},
                {"input": ti, "weight": t["tw"], "bias": t["tb"], "accum": t["tacc"], "result": t["to"]})
    (expected,) = REGISTRY["Dense"].golden(node, [rows])
    got, lat = run_block(blk, rows, ti.width, c["n_out"], t["to"].width, t["to"].signed)
    assert got == expected.tolist()
    assert set(lat) == {blk.latency} == {dense_latency(w, b, c["lps"], t["tacc"], t["to"])}
    assert blk.multipliers == count_multipliers(w)


def test_zero_and_power_of_two_weights_need_no_multiplier():
    w = np.array([[0, 1, -1, 3], [4, -8, 0, -5], [0, 0, 0, 0], [-16, 2, 6, 0]])
    assert count_multipliers(w) == 3  # 3, -5 and 6; zeros and +-2^k are free
    t = FixedType(8, 3)
    acc = FixedType(16, 6)
    # the widest column has 3 non-zero weights and the bias: 4 leaves, 2 tree levels
    assert dense_latency(w, np.array([1, 0, 0, 0]), 1, acc, t) == 1 + 2
    assert dense_latency(np.zeros((5, 2), int), None, 1, acc, t) == 1  # constant outputs


def test_relu_block():
    tin, tout = FixedType(8, 4), FixedType(6, 2, True)
    blk = Relu(4, tin, tout)
    rows = np.array([[-128, -1, 0, 1], [127, 16, 40, -40], [64, 63, 8, 7]])
    node = Node("r", "Relu", ["x"], ["y"], {}, {}, {"input": tin, "result": tout})
    (expected,) = REGISTRY["Relu"].golden(node, [rows])
    got, lat = run_block(blk, rows, 8, 4, 6, True)
    assert got == expected.tolist() and set(lat) == {0}


@pytest.mark.parametrize("n, lps, levels, latency", [(1, 1, 0, 0), (2, 1, 1, 1), (17, 2, 5, 3), (65, 3, 7, 3)])
def test_tree_schedule(n, lps, levels, latency):
    assert tree_levels(n) == levels and tree_latency(n, lps) == latency


def test_bad_parameters_are_rejected():
    t = FixedType(8, 3)
    with pytest.raises(ValueError, match="do not fit"):
        DenseParallel(t, np.array([[1000]]), t, None, None, FixedType(16, 6), t)
    with pytest.raises(ValueError, match="WRAP accumulator"):
        DenseParallel(t, np.array([[1]]), t, None, None, FixedType.parse("fixed<16,6,TRN,SAT>"), t)
    with pytest.raises(ValueError, match="positive integer"):
        Relu(0, t, t)
