"""FixedType against exact rational arithmetic (fractions.Fraction)."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nn2rtl.errors import PrecisionError
from nn2rtl.fixed import FixedType, Overflow, Rounding


def ref_convert(value: Fraction, t: FixedType) -> int:
    """Reference: the raw integer ap_fixed produces for the exact rational ``value`` (written from the spec)."""
    y = value / t.lsb
    fl = math.floor(y)
    rem = y - fl
    neg = value < 0
    half = Fraction(1, 2)
    r = t.rounding
    if r is Rounding.TRN:
        up = False
    elif r is Rounding.TRN_ZERO:
        up = rem != 0 and neg
    elif r is Rounding.RND:
        up = rem >= half
    elif r is Rounding.RND_ZERO:
        up = rem > half or (rem == half and neg)
    elif r is Rounding.RND_MIN_INF:
        up = rem > half
    elif r is Rounding.RND_INF:
        up = rem > half or (rem == half and not neg)
    else:
        up = rem > half or (rem == half and fl % 2 == 1)
    q = fl + int(up)
    lo, hi = t.min_raw, t.max_raw
    o = t.overflow
    if o is Overflow.WRAP:
        q %= 1 << t.width
        if t.signed and q > hi:
            q -= 1 << t.width
        return q
    if o is Overflow.SAT_ZERO:
        return 0 if (q < lo or q > hi) else q
    if o is Overflow.SAT_SYM and t.signed:
        lo += 1
    return min(max(q, lo), hi)


types = st.builds(
    FixedType,
    width=st.integers(1, 80),
    integer=st.integers(-8, 40),
    signed=st.booleans(),
    rounding=st.sampled_from(list(Rounding)),
    overflow=st.sampled_from(list(Overflow)),
)


@st.composite
def typed_raws(draw, n=12):
    t = draw(types)
    raws = draw(st.lists(st.integers(t.min_raw, t.max_raw), min_size=1, max_size=n))
    edges = [t.min_raw, t.max_raw, 0, min(max(1, t.min_raw), t.max_raw), max(min(-1, t.max_raw), t.min_raw)]
    return t, raws + edges


def raw_array(t, raws):
    return np.array(raws, dtype=object if t.width > 62 else np.int64)


@settings(max_examples=400, deadline=None)
@given(typed_raws(), types)
def test_cast_matches_exact_arithmetic(src_raws, dst):
    src, raws = src_raws
    got = dst.cast(raw_array(src, raws), src)
    expected = [ref_convert(src.to_fraction(r), dst) for r in raws]
    assert [int(v) for v in got] == expected
    assert dst.check_raw(got)


@settings(max_examples=400, deadline=None)
@given(types, st.lists(st.floats(-1e6, 1e6, allow_nan=False) | st.sampled_from([0.5, -0.5, 2.5, -2.5, 0.0]),
                       min_size=1, max_size=12))
def test_quantize_matches_exact_arithmetic(t, xs):
    got = t.quantize(np.array(xs))
    assert [int(v) for v in got] == [ref_convert(Fraction(x), t) for x in xs]


@settings(max_examples=200, deadline=None)
@given(typed_raws(4), typed_raws(4))
def test_product_and_sum_types_are_exact(a_raws, b_raws):
    (ta, ra), (tb, rb) = a_raws, b_raws
    tp, ts = ta.product(tb), ta.sum(tb)
    for x in ra:
        for y in rb:
            p = ta.to_fraction(x) * tb.to_fraction(y)
            s = ta.to_fraction(x) + tb.to_fraction(y)
            assert ref_convert(p, tp) * tp.lsb == p  # representable: no rounding, no overflow
            assert ref_convert(s, ts) * ts.lsb == s


@settings(max_examples=100, deadline=None)
@given(typed_raws())
def test_dequantize_then_quantize_roundtrips(t_raws):
    t, raws = t_raws
    if t.width > 53:
        return
    arr = raw_array(t, raws)
    wrap = t.with_modes(overflow=Overflow.WRAP)  # SAT_SYM never yields the minimum code
    assert list(wrap.quantize(t.dequantize(arr))) == list(arr)


@pytest.mark.parametrize("spec, expected", [
    ("fixed<16,6>", FixedType(16, 6)),
    ("ap_fixed<16,6>", FixedType(16, 6)),
    ("ufixed<8,0,RND,SAT>", FixedType(8, 0, False, Rounding.RND, Overflow.SAT)),
    ("ap_ufixed<8, 0, AP_RND, AP_SAT>", FixedType(8, 0, False, Rounding.RND, Overflow.SAT)),
    ("fixed<18,8,RND_CONV>", FixedType(18, 8, True, Rounding.RND_CONV)),
    ("int<8>", FixedType(8, 8)),
    ("uint<4>", FixedType(4, 4, False)),
    ("ap_int<12>", FixedType(12, 12)),
    ("fixed<4,9>", FixedType(4, 9)),
    ("fixed<4,-2>", FixedType(4, -2)),
])
def test_parse(spec, expected):
    assert FixedType.parse(spec) == expected
    assert FixedType.parse(str(expected)) == expected
    assert FixedType.parse(expected.cpp()) == expected


def test_print_canonical():
    assert str(FixedType.parse("ap_fixed<16,6,AP_TRN,AP_SAT>")) == "fixed<16,6,TRN,SAT>"
    assert FixedType.parse("fixed<16,6,RND>").cpp() == "ap_fixed<16,6,AP_RND>"


@pytest.mark.parametrize("spec, fragment", [
    ("fixed<16>", "2 to 4 arguments"),
    ("fixed<16,6,RND,SAT,3>", "2 to 4 arguments"),
    ("fixed<a,6>", "width must be an integer"),
    ("fixed<16,6,ROUND>", "unknown rounding mode 'ROUND'"),
    ("fixed<16,6,RND,CLAMP>", "unknown overflow mode 'CLAMP'"),
    ("fixed<0,0>", "positive integer"),
    ("float<32>", "expected e.g."),
    ("", "expected e.g."),
])
def test_parse_errors(spec, fragment):
    with pytest.raises(PrecisionError, match=fragment.replace("(", r"\(")):
        FixedType.parse(spec)


def test_hls4ml_default_input_conversion_floors_and_wraps():
    t = FixedType.parse("fixed<16,6>")
    # floor, not round: -0.0001 -> -1 LSB; wrap: 32.0 -> -32.0
    assert list(t.quantize([-0.0001, 0.0009, 32.0, -32.0, 31.999])) == [-1, 0, -32768, -32768, 32766]


def test_sat_sym_never_produces_min_code():
    t = FixedType.parse("fixed<4,4,TRN,SAT_SYM>")
    assert list(t.quantize([-8, -9, 8])) == [-7, -7, 7]


def test_quantize_rejects_nan():
    with pytest.raises(ValueError, match="NaN"):
        FixedType(8, 4).quantize([float("nan")])


@pytest.mark.parametrize("spec", ["fixed<18,8,RND_CONV,SAT>", "fixed<18,8,RND,SAT_SYM>", "fixed<12,3,TRN,SAT_ZERO>",
                                  "fixed<18,8>", "ufixed<8,2,RND_INF,SAT>", "fixed<70,10,RND,SAT>", "fixed<9,-3>"])
def test_quantize_far_beyond_a_double_once_scaled_is_exact(spec):
    """Values such as e^700 (a softmax exp table over a wide input) overflow float64 when scaled by 2^frac; they are
    converted exactly (Python integers), as ap_fixed does, instead of failing (found by the RTL fuzzer)."""
    t = FixedType.parse(spec)
    xs = [1e300, -1e300, 1.7e308, 2.0 ** 900 + 2.0 ** 860, 0.75]
    got = t.quantize(np.array(xs))
    assert [int(g) for g in got] == [ref_convert(Fraction(x), t) for x in xs]


def test_rounding_by_sign_is_where_the_sign_changes_the_rounding():
    """``Rounding.by_sign`` (a shift-and-add graph cut to the output's bits cannot round so) holds exactly for the
    modes whose rounding decision changes with the sign of the value, all else equal."""
    import itertools

    import numpy as np

    from nn2rtl.fixed import Rounding, _round_up
    for mode in Rounding:
        differs = any(bool(_round_up(np.bool_(odd), cmp, np.bool_(nz), np.bool_(True), mode))
                      != bool(_round_up(np.bool_(odd), cmp, np.bool_(nz), np.bool_(False), mode))
                      for odd, cmp, nz in itertools.product([False, True], [-1, 0, 1], [False, True]))
        assert mode.by_sign == differs, mode
