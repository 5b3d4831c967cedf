"""Shift-and-add dense layers (Strategy distributed_arithmetic): canonical signed digits, the block in Amaranth's
simulator against the golden model with its latency measured, both arithmetic cases (products exact in the
accumulator, or each rounded), the schedule the report states."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_dense import run_block

from nn2rtl.fixed import FixedType
from nn2rtl.graph import Node
from nn2rtl.ops import REGISTRY
from rtl_lib.da import DenseDA, csd, da_latency, da_plan


@given(st.integers(-(1 << 40), 1 << 40))
def test_csd_digits_sum_to_the_weight_and_never_touch(w):
    digits = csd(w)
    assert sum(sign << k for k, sign in digits) == w
    shifts = [k for k, _ in digits]
    assert all(b - a >= 2 for a, b in zip(shifts, shifts[1:]))  # non-adjacent: the fewest non-zero digits
    assert len(digits) <= (abs(w).bit_length() + 2) // 2


@pytest.mark.parametrize("accum, exact", [("fixed<12,4>", False), ("fixed<24,10>", True)])
@pytest.mark.parametrize("ti", ["fixed<8,3>", "ufixed<7,2>"])
def test_da_block_bit_exact_with_zeros_shifts_and_extremes(accum, exact, ti):
    t = {"ti": FixedType.parse(ti), "tw": FixedType.parse("fixed<8,1>"), "tb": FixedType.parse("fixed<8,2>"),
         "tacc": FixedType.parse(accum), "to": FixedType.parse("fixed<9,3,RND,SAT>")}
    rng = np.random.default_rng(7)
    w = rng.integers(-128, 128, size=(9, 5))
    w[rng.random(w.shape) < 0.4] = 0
    w[0, 0], w[1, 0], w[2, 0], w[3, 0] = -128, 64, -1, 85  # the smallest code, +-2^k, alternating digits
    w[:, 4] = 0  # an output without inputs: its bias, a constant
    b = rng.integers(-128, 128, size=5)
    blk = DenseDA(t["ti"], w, t["tw"], b, t["tb"], t["tacc"], t["to"], levels_per_stage=1)
    assert blk.exact is exact and blk.multipliers == 0
    # adders: one per extra digit of each product, one per product joining its output's bias
    assert blk.adders == sum(max(len(csd(v)) - 1, 0) for v in w.flat) + int((w != 0).sum())
    ti_ = t["ti"]
    rows = np.concatenate([rng.integers(ti_.min_raw, ti_.max_raw, size=(60, 9), endpoint=True),
                           np.full((1, 9), ti_.max_raw), np.full((1, 9), ti_.min_raw)])
    node = Node("d", "Dense", ["x"], ["y"], {}, {"weight": w, "bias": b},
                {"input": ti_, "weight": t["tw"], "bias": t["tb"], "accum": t["tacc"], "result": t["to"]})
    (expected,) = REGISTRY["Dense"].golden(node, [rows])
    got, lat = run_block(blk, rows, ti_.width, 5, t["to"].width, t["to"].signed)
    assert got == expected.tolist()
    assert set(lat) == {blk.latency} == {da_latency(w, b, ti_, t["tw"], t["tacc"], t["to"], 1)}


def test_exact_products_need_no_register_stage():
    t, tw = FixedType(8, 3), FixedType(8, 1)
    w = np.array([[3, 0], [5, 7]])
    rounded = da_latency(w, None, t, tw, FixedType(12, 4), t, 1)
    exact = da_latency(w, None, t, tw, FixedType(20, 8), t, 1)
    assert rounded == exact + 1
    _, leaves, adders = da_plan(w, None, t, tw, FixedType(20, 8))
    # 3 = 4 - 1 and 5 = 4 + 1 and 7 = 8 - 1 take one adder each; column 0 adds 2 products and the bias, column
    # 1 one product and the bias
    assert list(leaves) == [3, 2] and adders == 3 + 2 + 1
