"""Thresholds against the definition: for every input of a small fixed-point grid (and for float64 inputs near
every threshold), the comparisons give exactly the quantiser of the absorbed maps, evaluated in rationals."""

import math
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nn2rtl.fixed import FixedType
from nn2rtl.ops.threshold import ROUNDINGS, count_codes, evaluate_exact, float_thresholds, grid_thresholds

N = 3  # elements per node (each with its own absorbed constants)

floats = st.floats(min_value=-4, max_value=4, allow_nan=False, width=32)


@st.composite
def quantisers(draw):
    bipolar = draw(st.booleans()) and draw(st.booleans())
    scale = draw(st.floats(min_value=2 ** -6, max_value=4, width=32))
    bits = draw(st.integers(1, 5))
    signed, narrow = draw(st.booleans()), draw(st.booleans())
    lo = -(2 ** (bits - 1)) + int(narrow) if signed else 0
    hi = 2 ** (bits - 1) - 1 if signed else 2 ** bits - 1 - int(narrow)
    if lo > hi:
        lo = hi
    attrs = {"scale": float(scale), "zero_point": draw(st.integers(-3, 3)), "lo": lo, "hi": hi,
             "rounding": draw(st.sampled_from(ROUNDINGS)), "bipolar": bipolar, "frac": 0, "pre": []}
    params = {}
    for k in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["affine", "affine", "max", "min"]))
        if kind == "affine":
            attrs["pre"].append({"op": "affine", "key": k})
            params[f"pre{k}_scale"] = np.array([draw(floats) for _ in range(N)], dtype=np.float64)
            params[f"pre{k}_bias"] = np.array([draw(floats) for _ in range(N)], dtype=np.float64)
        else:
            attrs["pre"].append({"op": kind, "value": float(draw(floats))})
    return attrs, params


@settings(max_examples=300, deadline=None)
@given(quantisers(), st.integers(2, 8), st.integers(-2, 5), st.booleans())
def test_grid_thresholds_are_the_quantiser_on_every_input(q, width, frac, signed):
    attrs, params = q
    t = FixedType(width, width - frac, signed)
    th, base, sign = grid_thresholds(attrs, params, N, t)
    raw = np.arange(t.min_raw, t.max_raw + 1)
    x = np.repeat(raw[:, None], N, axis=1)
    got = count_codes(x, th, base, sign, 2 if attrs["bipolar"] else 1)
    for k in range(N):
        want = [evaluate_exact(attrs, params, k, Fraction(int(r)) / 2 ** frac if frac >= 0
                               else Fraction(int(r)) * 2 ** -frac) for r in raw]
        assert list(got[:, k]) == want, (k, attrs)


@settings(max_examples=200, deadline=None)
@given(quantisers(), st.lists(st.floats(min_value=-50, max_value=50, allow_nan=False), min_size=1, max_size=20))
def test_float_thresholds_decide_every_float64_exactly(q, xs):
    attrs, params = q
    th, base, sign = float_thresholds(attrs, params, N)
    # the inputs: the drawn values, and each finite threshold with its float64 neighbours
    pts = list(xs) + [v for row in th for t in row if math.isfinite(t)
                      for v in (math.nextafter(t, -math.inf), t, math.nextafter(t, math.inf))]
    x = np.repeat(np.array(pts, dtype=np.float64)[:, None], N, axis=1)
    got = count_codes(x, th, base, sign, 2 if attrs["bipolar"] else 1)
    for k in range(N):
        assert list(got[:, k]) == [evaluate_exact(attrs, params, k, Fraction(v)) for v in pts], (k, attrs)
