"""The hardware cast (rtl_lib.fixed.cast) equals FixedType.cast for every mode, exhaustively on small types."""

import itertools

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from nn2rtl.fixed import FixedType, Overflow, Rounding
from rtl_lib.fixed import cast, shape_of

SHAPES = [  # (src, dst) pairs: narrowing, widening, shifted grids, mixed signedness
    (FixedType(8, 3), (5, 2, True)),
    (FixedType(7, 4, False), (4, 3, True)),
    (FixedType(8, 2), (6, 4, False)),
    (FixedType(6, 1), (9, 3, True)),
    (FixedType(5, 5), (3, -1, True)),
]


def hw_cast_all(src, dst):
    m = Module()
    a = Signal(shape_of(src))
    y = Signal(shape_of(dst))
    m.d.comb += y.eq(cast(a, src, dst))
    values = list(range(src.min_raw, src.max_raw + 1))
    got = []

    async def tb(ctx):
        for v in values:
            ctx.set(a, v)
            got.append(ctx.get(y))

    sim = Simulator(m)
    sim.add_testbench(tb)
    sim.run()
    return values, got


@pytest.mark.parametrize("rounding, overflow", list(itertools.product(Rounding, Overflow)),
                         ids=lambda v: v.value)
@pytest.mark.parametrize("pair", range(len(SHAPES)))
def test_hw_cast_equals_software_cast(pair, rounding, overflow):
    src, (w, i, s) = SHAPES[pair]
    dst = FixedType(w, i, s, rounding, overflow)
    values, got = hw_cast_all(src, dst)
    assert got == dst.cast(np.array(values), src).tolist()
