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


def test_cast_is_wiring_only_when_modes_cannot_act():
    """Where cast_is_wiring says so, every mode gives the bits of a plain TRN/WRAP slice (so a pipeline register
    can be dropped); across many type pairs both answers occur."""
    from rtl_lib.fixed import cast_is_wiring
    answers = set()
    for (sw, si, ss), (dw, di, ds) in itertools.product(
            [(6, 3, True), (5, 2, False), (7, 7, True)], [(8, 4, True), (6, 3, True), (9, 3, False), (5, 4, True)]):
        src = FixedType(sw, si, ss)
        raw = np.arange(src.min_raw, src.max_raw + 1)
        for rnd, ovf in itertools.product(Rounding, Overflow):
            dst = FixedType(dw, di, ds, rnd, ovf)
            wiring = cast_is_wiring(src, dst)
            answers.add(wiring)
            if wiring:
                plain = FixedType(dw, di, ds)
                np.testing.assert_array_equal(dst.cast(raw, src), plain.cast(raw, src), err_msg=f"{src} -> {dst}")
    assert answers == {True, False}
