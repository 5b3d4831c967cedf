"""MultiThreshold in Amaranth's simulator against the count it implements, and its parameter checks."""

import random

import numpy as np
import pytest
from helpers.bits import run_valid_stream

from nn2rtl.fixed import FixedType
from nn2rtl.ops.threshold import count_codes
from rtl_lib.threshold import MultiThreshold, threshold_latency


@pytest.mark.parametrize("levels, lps, step", [(0, 2, 1), (1, 1, 2), (3, 2, 1), (5, 1, 1), (15, 2, 1), (15, 8, 1),
                                               (255, 2, 1)])
def test_multithreshold_counts_exactly(levels, lps, step):
    rng = random.Random(levels * 10 + lps)
    tin, tout = FixedType(9, 4, True), FixedType(11, 11, True)
    n = 4
    th = [sorted(rng.randint(tin.min_raw, tin.max_raw + 1) for _ in range(levels)) for _ in range(n)]
    th[0] = [tin.min_raw] * levels  # always
    base = [rng.randint(-20, 20) for _ in range(n)]
    sign = [1, -1, 1, -1]
    blk = MultiThreshold(n, tin, tout, th, base, sign, step, levels_per_stage=lps)
    assert blk.latency == threshold_latency(levels, lps)
    xs = np.array([[rng.randint(tin.min_raw, tin.max_raw) for _ in range(n)] for _ in range(120)])
    xs[:4] = [[tin.min_raw] * n, [tin.max_raw] * n, [0] * n, [-1] * n]
    want = count_codes(xs, np.array(th).reshape(n, levels), base, sign, step)
    got = run_valid_stream(blk, xs, tin.width, tout, n)
    assert np.array_equal(got, want)


def test_multithreshold_refuses_bad_parameters():
    t = FixedType(8, 4)
    with pytest.raises(ValueError, match="not ascending"):
        MultiThreshold(1, t, t, [[3, 1]], [0], [1])
    with pytest.raises(ValueError, match=r"outside \[-128, 128\]"):
        MultiThreshold(1, t, t, [[0, 200]], [0], [1])
    with pytest.raises(ValueError, match="element 1 has 1 thresholds, element 0 has 2"):
        MultiThreshold(2, t, t, [[0, 1], [2]], [0, 0], [1, 1])
    with pytest.raises(ValueError, match="sign must be"):
        MultiThreshold(1, t, t, [[0]], [0], [2])
