"""DenseResource (MAC array) in Amaranth's simulator against the golden model: every reuse factor, latency, II."""

import itertools
import math

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator
from helpers.bits import pack, unpack

from nn2rtl.fixed import FixedType
from nn2rtl.graph import Node
from nn2rtl.ops import REGISTRY
from rtl_lib.mac import DenseResource, mac_latency, mac_plan


@pytest.mark.parametrize("n_in, n_out, reuse", [(5, 3, 1), (5, 3, 2), (5, 3, 4), (5, 3, 7), (5, 3, 15), (5, 3, 16),
                                                (3, 4, 7), (16, 1, 3), (1, 6, 4), (7, 9, 16)])
def test_plan_uses_each_multiplier_at_most_reuse_times_and_every_product_once(n_in, n_out, reuse):
    plan = mac_plan(n_in, n_out, reuse)
    assert plan.multipliers == math.ceil(n_in * n_out / reuse)
    products = [p for rounds in plan.rounds for p in rounds if p is not None]
    assert sorted(products) == sorted(itertools.product(range(n_in), range(n_out)))
    assert all(len(rounds) == reuse for rounds in plan.rounds)
    for m, (rounds, segs) in enumerate(zip(plan.rounds, plan.segments)):
        # the rotating input register relies on this: round r of multiplier m reads input (m*R + r) mod n_in
        assert all(p[0] == (m * reuse + r) % n_in for r, p in enumerate(rounds) if p is not None)
        assert segs[0].first == 0 and segs[-1].last == reuse - 1
        assert all(a.last + 1 == b.first for a, b in zip(segs, segs[1:]))  # segments tile the rounds
        for s in segs:
            assert {p[1] for p in rounds[s.first:s.last + 1] if p is not None} == {s.output}


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_plan_rejects_bad_reuse(bad):
    with pytest.raises(ValueError, match="reuse factor must be a positive integer"):
        mac_plan(4, 4, bad)


def run_resource(block, rows, w_in, n_out, w_out, signed, spacing, stall_every=0):
    """Drive one row every ``spacing`` enabled cycles; optionally drop ``en`` every ``stall_every`` cycles.
    Returns outputs in order and (input cycle, output cycle) in enabled cycles."""
    results, sent = [], []

    async def tb(ctx):
        k, wait, enabled = 0, 0, 0
        for cycle in range(len(rows) * spacing * 2 + block.latency * 2 + 10):
            en = 0 if stall_every and cycle % stall_every == stall_every - 1 else 1
            ctx.set(block.en, en)
            if en and k < len(rows) and wait == 0:
                ctx.set(block.i, pack(rows[k], w_in))
                ctx.set(block.i_valid, 1)
                sent.append(enabled)
                k, wait = k + 1, spacing - 1
            else:
                ctx.set(block.i_valid, 0)
                if en and wait:
                    wait -= 1
            if en and ctx.get(block.o_valid):
                results.append((enabled, unpack(ctx.get(block.o), n_out, w_out, signed)))
            enabled += en
            await ctx.tick()

    m = Module()
    m.submodules.dut = block
    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    return [r for _, r in results], [c - s for s, (c, _) in zip(sent, results)]


CASES = [  # n_in, n_out, reuse, types, levels per stage
    (5, 3, 2, ("fixed<8,3>", "fixed<6,1>", "fixed<8,2>", "fixed<12,4>", "fixed<8,3>"), 1),
    (5, 3, 4, ("ufixed<6,2>", "fixed<5,1>", "fixed<5,1>", "fixed<9,3>", "fixed<6,2,RND,SAT>"), 2),
    (3, 4, 7, ("fixed<8,3>", "fixed<6,1>", "fixed<8,2>", "fixed<10,4>", "ufixed<5,3,RND_CONV,SAT_SYM>"), 3),
    (16, 2, 3, ("fixed<6,2>", "fixed<4,1>", "fixed<6,2>", "fixed<9,4>", "fixed<8,4>"), 2),
    (2, 3, 16, ("fixed<6,2>", "fixed<4,1>", "fixed<6,2>", "fixed<9,4>", "fixed<8,4>"), 1),
    (7, 5, 1, ("fixed<6,2>", "fixed<4,1>", "fixed<6,2>", "fixed<9,4>", "fixed<8,4>"), 2),
]


@pytest.mark.parametrize("prune", [0.0, 0.6])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_resource_block_bit_exact_latency_and_ii(case, prune):
    """Dense and pruned (60 % zeros, one output without any weight: zeros take no multiplier round, and each
    multiplier selects its round's input) at every reuse factor."""
    n_in, n_out, reuse, names, lps = CASES[case]
    ti, tw, tb, tacc, to = map(FixedType.parse, names)
    rng = np.random.default_rng(case)
    w = rng.integers(tw.min_raw, tw.max_raw, size=(n_in, n_out), endpoint=True)
    w[w == 0] = 1
    if prune:
        w[rng.random(w.shape) < prune] = 0
        w[:, -1] = 0
    b = rng.integers(tb.min_raw, tb.max_raw, size=n_out, endpoint=True)
    rows = np.concatenate([rng.integers(ti.min_raw, ti.max_raw, size=(25, n_in), endpoint=True),
                           np.full((1, n_in), ti.max_raw), np.full((1, n_in), ti.min_raw), np.zeros((1, n_in), int)])
    node = Node("d", "Dense", ["x"], ["y"], {}, {"weight": w, "bias": b},
                {"input": ti, "weight": tw, "bias": tb, "accum": tacc, "result": to})
    (expected,) = REGISTRY["Dense"].golden(node, [rows])
    # back to back at II = reuse, then with a stalled clock enable every third cycle
    for stall in (0, 3):
        blk = DenseResource(ti, w, tw, b, tb, tacc, to, reuse, lps)
        dense_count, live_count = math.ceil(w.size / reuse), math.ceil(int((w != 0).sum()) / reuse)
        assert blk.plan.gather is (live_count <= 0.9 * dense_count)
        assert blk.multipliers == (live_count if blk.plan.gather else dense_count)
        assert blk.latency == mac_latency(mac_plan(n_in, n_out, reuse, w), lps, tacc, to)
        got, lat = run_resource(blk, rows, ti.width, n_out, to.width, to.signed, spacing=reuse, stall_every=stall)
        assert len(got) == len(rows)
        np.testing.assert_array_equal(np.array(got), expected)
        assert set(lat) == {blk.latency}  # in enabled cycles: a stall delays, never reorders or drops


def test_a_few_stray_zeros_keep_the_rotating_input():
    """Skipping needs an input multiplexer per multiplier: not worth one multiplier in a hundred."""
    w = np.ones((16, 64), int)
    w[0, :4] = 0
    assert not mac_plan(16, 64, 8, w).gather and mac_plan(16, 64, 8, w).multipliers == 128
    w[:, :8] = 0
    assert mac_plan(16, 64, 8, w).gather and mac_plan(16, 64, 8, w).multipliers == 112


def test_all_zero_layer_keeps_one_idle_multiplier_and_outputs_its_biases():
    t = FixedType(8, 3)
    w = np.zeros((3, 2), int)
    blk = DenseResource(t, w, t, np.array([5, -7]), t, FixedType(12, 4), t, 2, 1)
    assert blk.multipliers == 1
    rows = np.array([[1, 2, 3], [-4, 5, -6]])
    got, _ = run_resource(blk, rows, t.width, 2, t.width, True, spacing=2, stall_every=0)
    assert got == [[5, -7], [5, -7]]


def test_resource_block_rejects_saturating_accumulator():
    t = FixedType(8, 3)
    with pytest.raises(ValueError, match="WRAP accumulator"):
        DenseResource(t, np.ones((2, 2), int), t, None, None, FixedType.parse("fixed<8,3,TRN,SAT>"), t, 2, 2)


def test_ecp5_dsp_schedule_and_limits(tmp_path):
    """``dsp="ecp5"``: 5 cycles more (registered input, two spread stages to the groups of multipliers, the
    MULT18X18D's input and output registers), the same II; operands wider than 18 bits are refused, by the block
    and by the converter (naming the layer)."""
    from helpers import models

    import nn2rtl
    from nn2rtl.errors import ConfigError
    from rtl_lib.mac import check_dsp
    t16, t8 = FixedType(16, 6), FixedType(8, 1)
    inferred, ecp5 = mac_plan(16, 64, 8), mac_plan(16, 64, 8, dsp="ecp5")
    assert (inferred.product_stages, inferred.input_stages, inferred.spread_stages) == (1, 0, 0)
    assert (ecp5.product_stages, ecp5.input_stages, ecp5.spread_stages) == (3, 1, 2)
    assert mac_latency(ecp5, 2, FixedType(32, 12), t16) == mac_latency(inferred, 2, FixedType(32, 12), t16) + 5
    check_dsp("ecp5", FixedType(18, 6), FixedType(18, 1))
    with pytest.raises(ValueError, match="at most 18 bits"):
        check_dsp("ecp5", FixedType(20, 6), t8)
    with pytest.raises(ValueError, match="dsp must be one of inferred, ecp5"):
        mac_plan(4, 4, 2, dsp="xilinx")
    path = models.save(models.torch_mlp([6, 9, 4], seed=3), tmp_path / "m.onnx")
    with pytest.raises(ConfigError, match="layer .*fc.*MULT18X18D.*at most 18 bits.*fixed<20,8>"):
        nn2rtl.convert(path, precision="fixed<20,8>", reuse=3, dsp="ecp5")
    # reuse factor 1 has no multiplier array: the choice does not apply and nothing is recorded
    d = nn2rtl.convert(path, precision="fixed<20,8>", dsp="ecp5")
    assert "MULT18X18D" not in d.verilog
