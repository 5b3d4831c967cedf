"""XnorPopcountDense in Amaranth's simulator against the dense definition, and its parameter checks."""

import numpy as np
import pytest
from helpers.bits import run_valid_stream

from nn2rtl.fixed import FixedType
from rtl_lib.popcount import XnorPopcountDense, popcount_latency


@pytest.mark.parametrize("n_in, n_out, lps", [(1, 2, 1), (7, 3, 2), (33, 4, 3)])
def test_xnor_popcount_equals_the_sum_of_products(n_in, n_out, lps):
    rng = np.random.default_rng(n_in)
    tin, tw = FixedType(2, 2), FixedType(2, -3)           # codes +-1; weights +-1 * 2**-5
    tacc, tb, tout = FixedType(16, 6), FixedType(8, 3), FixedType(7, 2, True)
    w = rng.choice([-1, 1], size=(n_in, n_out))
    b = rng.integers(tb.min_raw, tb.max_raw + 1, size=n_out)
    blk = XnorPopcountDense(tin, w, tw, b, tb, tacc, tout, levels_per_stage=lps)
    assert blk.latency == popcount_latency(n_in, lps) and blk.multipliers == 0
    xs = rng.choice([-1, 1], size=(100, n_in))
    tp = tin.product(tw)
    acc = tacc.cast(xs @ w, tp) + tacc.cast(b, tb)[None, :]
    want = tout.cast(tacc.cast(acc, tacc), tacc)
    got = run_valid_stream(blk, xs, tin.width, tout, n_out)
    assert np.array_equal(got, want)


def test_xnor_popcount_refuses_what_it_cannot_compute_exactly():
    t = FixedType(2, 2)
    with pytest.raises(ValueError, match="raw \\+-1"):
        XnorPopcountDense(t, np.array([[1, 2]]), t, None, None, FixedType(8, 8), t)
    with pytest.raises(ValueError, match="coarser than the products"):
        XnorPopcountDense(t, np.array([[1, -1]]), FixedType(2, -1), None, None, FixedType(8, 8), t)
