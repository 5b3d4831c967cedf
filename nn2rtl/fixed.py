"""Fixed-point types with exact ``ap_fixed`` semantics.

A :class:`FixedType` describes a two's-complement (or unsigned) number of ``width`` bits, ``integer`` of which are
left of the binary point (``integer`` may exceed ``width`` or be negative), together with the rounding and overflow
modes applied when a value is converted *into* the type. Values are held as *raw* integers: the mantissa
``raw = value * 2**frac``. All conversions are exact integer arithmetic; floats appear only in :meth:`quantize`
(float in) and :meth:`dequantize` (float out).

Raw arrays are ``numpy.int64`` when every intermediate fits in 62 bits, otherwise ``object`` arrays of Python ints,
so wide types never overflow silently.

>>> t = FixedType.parse("fixed<8,3>")
>>> t.frac, t.min_raw, t.max_raw
(5, -128, 127)
>>> int(t.quantize(1.99)), float(t.dequantize(t.quantize(1.99)))
(63, 1.96875)
>>> str(FixedType.parse("ap_ufixed<8,0,AP_RND,AP_SAT>"))
'ufixed<8,0,RND,SAT>'
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from .errors import PrecisionError

__all__ = ["Rounding", "Overflow", "FixedType", "as_raw_array", "quantize_params", "range_type", "exact_type",
           "requantize_types", "MAX_INT64_BITS"]

#: Widest raw value (in bits, sign included) for which int64 arithmetic is used.
MAX_INT64_BITS = 62


class Rounding(enum.Enum):
    """Quantisation modes of ``ap_fixed`` (what happens to bits dropped right of the new LSB)."""

    TRN = "TRN"                  #: toward minus infinity (floor); the default
    TRN_ZERO = "TRN_ZERO"        #: toward zero
    RND = "RND"                  #: to nearest, ties toward plus infinity
    RND_ZERO = "RND_ZERO"        #: to nearest, ties toward zero
    RND_MIN_INF = "RND_MIN_INF"  #: to nearest, ties toward minus infinity
    RND_INF = "RND_INF"          #: to nearest, ties away from zero
    RND_CONV = "RND_CONV"        #: to nearest, ties to even (convergent)

    @property
    def by_sign(self):
        """Whether the result depends on the sign of the value (toward or away from zero: ``negative`` in
        :func:`_round_up`), not only on the dropped bits and the kept ones: a value known only modulo a power of
        two cannot be rounded so."""
        return self in (Rounding.TRN_ZERO, Rounding.RND_ZERO, Rounding.RND_INF)


class Overflow(enum.Enum):
    """Overflow modes of ``ap_fixed`` (what happens to values outside the representable range)."""

    WRAP = "WRAP"          #: two's-complement wrap-around; the default
    SAT = "SAT"            #: clamp to the minimum or maximum
    SAT_ZERO = "SAT_ZERO"  #: any overflow gives zero
    SAT_SYM = "SAT_SYM"    #: clamp to +-maximum (signed: the minimum code is never produced)


_TYPE_RE = re.compile(
    r"^\s*(?P<kind>ap_fixed|ap_ufixed|fixed|ufixed|ap_int|ap_uint|int|uint)\s*<(?P<args>[^<>]*)>\s*$",
    re.IGNORECASE)


def _parse_int(text, what, spec):
    try:
        return int(text.strip())
    except ValueError:
        raise PrecisionError(f"invalid precision {spec!r}: {what} must be an integer, not {text.strip()!r}") from None


def _parse_mode(text, enum_cls, spec):
    name = text.strip().upper()
    if name.startswith("AP_"):
        name = name[3:]
    try:
        return enum_cls(name)
    except ValueError:
        valid = ", ".join(m.value for m in enum_cls)
        kind = "rounding" if enum_cls is Rounding else "overflow"
        raise PrecisionError(f"invalid precision {spec!r}: unknown {kind} mode {text.strip()!r} "
                             f"(expected one of {valid})") from None


def as_raw_array(values, width):
    """Return ``values`` as an integer array able to hold ``width``-bit raw values without overflow."""
    arr = np.asarray(values)
    if width <= MAX_INT64_BITS:
        if arr.dtype == object:
            return arr.astype(np.int64)
        if not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"raw values must be integers, not {arr.dtype}")
        return arr.astype(np.int64, copy=False)
    if arr.dtype == object:
        return arr
    return np.vectorize(int, otypes=[object])(arr) if arr.size else arr.astype(object)


def _to_object(arr):
    arr = np.asarray(arr)
    if arr.dtype == object:
        return arr
    out = np.empty(arr.shape, dtype=object)
    out.flat[:] = [int(v) for v in arr.flat]
    return out


def _round_up(floor_odd, cmp_half, nonzero, negative, rounding):
    """Whether to add one to the floored value, given where the dropped remainder lies.

    ``cmp_half`` is -1, 0 or +1 as the remainder is below, at or above half an LSB of the target;
    ``nonzero`` tells whether anything was dropped; ``negative`` is the sign of the original value.
    """
    if rounding is Rounding.TRN:
        return np.zeros(np.shape(nonzero), dtype=bool)
    if rounding is Rounding.TRN_ZERO:
        return nonzero & negative
    above, tie = cmp_half > 0, cmp_half == 0
    if rounding is Rounding.RND:
        return above | tie
    if rounding is Rounding.RND_ZERO:
        return above | (tie & negative)
    if rounding is Rounding.RND_MIN_INF:
        return above
    if rounding is Rounding.RND_INF:
        return above | (tie & ~negative)
    if rounding is Rounding.RND_CONV:
        return above | (tie & floor_odd)
    raise AssertionError(rounding)


@dataclass(frozen=True)
class FixedType:
    """An ``ap_fixed``-style type: ``width`` bits, ``integer`` of them integer bits, optionally signed.

    Parameters are checked at construction; use :meth:`parse` for strings such as ``"fixed<16,6,RND,SAT>"``.
    """

    width: int
    integer: int
    signed: bool = True
    rounding: Rounding = Rounding.TRN
    overflow: Overflow = Overflow.WRAP

    def __post_init__(self):
        if not isinstance(self.width, int) or isinstance(self.width, bool) or self.width < 1:
            raise PrecisionError(f"fixed-point width must be a positive integer, not {self.width!r}")
        if self.width > 1024:
            raise PrecisionError(f"fixed-point width must be at most 1024 bits, not {self.width}")
        if not isinstance(self.integer, int) or isinstance(self.integer, bool):
            raise PrecisionError(f"fixed-point integer bits must be an integer, not {self.integer!r}")
        if abs(self.integer) > 4096:
            raise PrecisionError(f"fixed-point integer bits must be within +-4096, not {self.integer}")
        if not isinstance(self.rounding, Rounding):
            raise PrecisionError(f"rounding must be a Rounding, not {self.rounding!r}")
        if not isinstance(self.overflow, Overflow):
            raise PrecisionError(f"overflow must be an Overflow, not {self.overflow!r}")

    # -- construction and printing -------------------------------------------------------------------------------

    @classmethod
    def parse(cls, spec):
        """Parse ``fixed<W,I[,Q[,O]]>``, ``ufixed<...>``, ``ap_fixed<...>``, ``ap_ufixed<...>``, ``int<W>``,
        ``uint<W>``, ``ap_int<W>``, ``ap_uint<W>``. Modes may carry the ``AP_`` prefix. Raises
        :class:`~nn2rtl.errors.PrecisionError` with the offending text on any mistake."""
        if isinstance(spec, FixedType):
            return spec
        if not isinstance(spec, str):
            raise PrecisionError(f"precision must be a string such as 'fixed<16,6>', not {spec!r}")
        m = _TYPE_RE.match(spec)
        if not m:
            raise PrecisionError(f"invalid precision {spec!r}: expected e.g. 'fixed<16,6>', 'ufixed<8,0,RND,SAT>', "
                                 f"'ap_fixed<18,8>', 'int<8>' or 'uint<4>'")
        kind = m.group("kind").lower().removeprefix("ap_")
        args = [a for a in m.group("args").split(",")]
        if kind in ("int", "uint"):
            if len(args) != 1:
                raise PrecisionError(f"invalid precision {spec!r}: {kind}<W> takes exactly one argument")
            width = _parse_int(args[0], "the width", spec)
            return cls(width, width, kind == "int")
        if not 2 <= len(args) <= 4:
            raise PrecisionError(f"invalid precision {spec!r}: {kind}<W,I[,rounding[,overflow]]> takes 2 to 4 "
                                 f"arguments, got {len(args)}")
        width = _parse_int(args[0], "the width", spec)
        integer = _parse_int(args[1], "the integer bits", spec)
        rounding = _parse_mode(args[2], Rounding, spec) if len(args) > 2 else Rounding.TRN
        overflow = _parse_mode(args[3], Overflow, spec) if len(args) > 3 else Overflow.WRAP
        try:
            return cls(width, integer, kind == "fixed", rounding, overflow)
        except PrecisionError as e:
            raise PrecisionError(f"invalid precision {spec!r}: {e}") from None

    def __str__(self):
        name = "fixed" if self.signed else "ufixed"
        args = [str(self.width), str(self.integer)]
        if self.overflow is not Overflow.WRAP:
            args += [self.rounding.value, self.overflow.value]
        elif self.rounding is not Rounding.TRN:
            args.append(self.rounding.value)
        return f"{name}<{','.join(args)}>"

    def cpp(self):
        """The Vivado/Vitis HLS spelling, e.g. ``ap_fixed<16,6,AP_RND,AP_SAT>``."""
        name = "ap_fixed" if self.signed else "ap_ufixed"
        args = [str(self.width), str(self.integer)]
        if self.overflow is not Overflow.WRAP:
            args += ["AP_" + self.rounding.value, "AP_" + self.overflow.value]
        elif self.rounding is not Rounding.TRN:
            args.append("AP_" + self.rounding.value)
        return f"{name}<{','.join(args)}>"

    def with_modes(self, rounding=None, overflow=None):
        """This type with other rounding and/or overflow modes."""
        return replace(self, rounding=rounding or self.rounding, overflow=overflow or self.overflow)

    # -- properties ------------------------------------------------------------------------------------------

    @property
    def frac(self):
        """Number of fractional bits (``width - integer``; negative when the LSB weighs more than one)."""
        return self.width - self.integer

    @property
    def min_raw(self):
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_raw(self):
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def lsb(self):
        """Weight of one LSB as an exact :class:`~fractions.Fraction`."""
        return Fraction(2) ** -self.frac

    def to_fraction(self, raw):
        """The exact value of one raw integer."""
        return Fraction(int(raw)) * self.lsb

    # -- exact result types ----------------------------------------------------------------------------------

    def product(self, other):
        """The exact type of ``self * other`` (``ap_fixed``'s multiplication result), default modes."""
        signed = self.signed or other.signed
        return FixedType(self.width + other.width, self.integer + other.integer, signed)

    def sum(self, other):
        """The exact type of ``self + other`` (one carry bit above the wider operand), default modes."""
        signed = self.signed or other.signed
        ia = self.integer + (1 if signed and not self.signed else 0)
        ib = other.integer + (1 if signed and not other.signed else 0)
        integer = max(ia, ib) + 1
        frac = max(self.frac, other.frac)
        return FixedType(integer + frac, integer, signed)

    # -- conversions -------------------------------------------------------------------------------------------

    def _saturate(self, r):
        """Apply this type's overflow mode to exact integers ``r`` (already on this type's grid)."""
        lo, hi = self.min_raw, self.max_raw
        if self.overflow is Overflow.WRAP:
            if self.signed:  # shift into [0, 2^W), wrap, shift back: one pass fewer than a compare-and-select
                half = 1 << (self.width - 1)
                return ((r + half) & ((1 << self.width) - 1)) - half
            return r & ((1 << self.width) - 1)
        if self.overflow not in (Overflow.SAT, Overflow.SAT_ZERO, Overflow.SAT_SYM):
            raise AssertionError(self.overflow)
        low = lo + 1 if self.overflow is Overflow.SAT_SYM and self.signed else lo
        r = np.asarray(r)
        if r.dtype == object:  # Python ints beyond int64 (a huge float quantised): np.where would convert them
            if self.overflow is Overflow.SAT_ZERO:
                f = lambda v: 0 if v > hi or v < lo else v  # noqa: E731
            else:
                f = lambda v: hi if v > hi else low if v < low else v  # noqa: E731
            return np.vectorize(f, otypes=[object])(r) if r.size else r
        if self.overflow is Overflow.SAT_ZERO:
            return np.where((r > hi) | (r < lo), 0, r)
        return np.where(r > hi, hi, np.where(r < low, low, r))

    def _finish(self, r):
        r = self._saturate(r)
        if self.width <= MAX_INT64_BITS:
            return np.asarray(r).astype(np.int64)
        return _to_object(r)

    def cast(self, raw, src):
        """Convert raw values of type ``src`` into this type, rounding and overflowing by this type's modes.

        >>> FixedType.parse("fixed<4,2,RND>").cast(np.array([5, -5, 6]), FixedType.parse("fixed<8,4>"))
        array([ 1, -1,  2])
        """
        src = FixedType.parse(src)
        raw = np.asarray(raw)
        shift = src.frac - self.frac  # bits dropped on the right (negative: appended)
        need = max(src.width + max(0, -shift), self.width, shift) + 2
        if need > MAX_INT64_BITS or raw.dtype == object:
            raw = _to_object(raw)
        else:
            raw = raw.astype(np.int64, copy=False)
        if shift <= 0:
            return self._finish(raw << (-shift))
        fl = raw >> shift
        rem = raw - (fl << shift)
        half = 1 << (shift - 1)
        cmp_half = np.sign(rem - half) if raw.dtype != object else np.vectorize(
            lambda v: (v > half) - (v < half), otypes=[np.int64])(rem)
        up = _round_up((fl & 1) == 1, np.asarray(cmp_half), rem != 0, raw < 0, self.rounding)
        return self._finish(fl + np.asarray(up).astype(np.int64))

    def quantize(self, values):
        """Convert floats to raw values of this type as ``ap_fixed``'s assignment from ``double`` does: exactly,
        then rounded and overflowed by this type's modes. NaN and infinity are rejected with ``ValueError``."""
        x = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(x)):
            raise ValueError("cannot quantize NaN or infinite values")
        with np.errstate(over="ignore"):
            y = np.ldexp(x, self.frac)  # exact (power-of-two scaling) unless it under- or overflows
        if not np.all(np.isfinite(y)):  # beyond a double once scaled: exact Python integers (far out of range)
            scale = Fraction(2) ** self.frac
            exact = [Fraction(v) * scale for v in x.flat]
            fl_int = np.array([math.floor(e) for e in exact], dtype=object).reshape(x.shape)
            rem = np.array([float(e - math.floor(e)) for e in exact]).reshape(x.shape)
            up = _round_up((fl_int & 1) == 1, np.sign(rem - 0.5), rem != 0, x < 0, self.rounding)
            return self._finish(fl_int + np.asarray(up).astype(np.int64))
        fl = np.floor(y)
        rem = y - fl  # exact: y and fl are close floats
        big = np.abs(fl).max(initial=0) >= 2.0 ** MAX_INT64_BITS or self.width > MAX_INT64_BITS
        if big:
            fl_int = _to_object(np.vectorize(int, otypes=[object])(fl) if fl.size else fl.astype(object))
        else:
            fl_int = fl.astype(np.int64)
        up = _round_up((fl_int & 1) == 1, np.sign(rem - 0.5), rem != 0, x < 0, self.rounding)
        return self._finish(fl_int + np.asarray(up).astype(np.int64))

    def out_of_range(self, values):
        """How many of the float ``values`` lie outside this type's range (they wrap or saturate when quantised),
        and the largest magnitude among them.

        >>> FixedType.parse("fixed<8,2>").out_of_range([1.5, -2.0, 2.0, -3.25])
        (2, 3.25)
        """
        v = np.asarray(values, dtype=np.float64)
        lo, hi = float(self.to_fraction(self.min_raw)), float(self.to_fraction(self.max_raw) + self.lsb)
        bad = (v < lo) | (v >= hi)
        return int(bad.sum()), float(np.abs(v[bad]).max()) if bad.any() else 0.0

    def dequantize(self, raw):
        """Raw values to float64 (exact while the raw value has at most 53 significant bits)."""
        raw = np.asarray(raw)
        if raw.dtype == object:
            return np.array([float(self.to_fraction(v)) for v in raw.flat], dtype=np.float64).reshape(raw.shape)
        return np.ldexp(raw.astype(np.float64), -self.frac)

    def check_raw(self, raw):
        """True when every raw value lies in this type's range."""
        raw = np.asarray(raw)
        return bool(np.all((raw >= self.min_raw) & (raw <= self.max_raw)))

    def to_dict(self):
        return str(self)


#: QONNX's rounding modes (``Quant``, ``Trunc``) on float arrays, as the QONNX definition states them.
QONNX_ROUNDING = {"ROUND": np.round, "HALF_EVEN": np.round, "FLOOR": np.floor, "CEIL": np.ceil,
                  "DOWN": np.trunc, "UP": lambda v: np.sign(v) * np.ceil(np.abs(v)),
                  "HALF_UP": lambda v: np.sign(v) * np.floor(np.abs(v) + 0.5),
                  "HALF_DOWN": lambda v: np.sign(v) * np.ceil(np.abs(v) - 0.5)}


def round_qonnx_exact(u: Fraction, mode):
    """A QONNX rounding mode (a key of :data:`QONNX_ROUNDING`) applied to an exact rational.

    >>> [round_qonnx_exact(Fraction(v, 2), "ROUND") for v in (-3, -1, 1, 3)], round_qonnx_exact(Fraction(-5, 2), "UP")
    ([-2, 0, 0, 2], -3)
    """
    f = math.floor(u)
    frac = u - f
    if mode == "FLOOR":
        return f
    if mode == "CEIL":
        return math.ceil(u)
    if mode == "DOWN":
        return math.trunc(u)
    if mode == "UP":
        return -math.ceil(-u) if u < 0 else math.ceil(u)
    if frac != Fraction(1, 2):
        return f + (1 if frac > Fraction(1, 2) else 0)
    if mode in ("ROUND", "HALF_EVEN"):
        return f if f % 2 == 0 else f + 1
    if mode == "HALF_UP":  # ties away from zero
        return f + 1 if u > 0 else f
    return f if u > 0 else f + 1  # HALF_DOWN: ties toward zero


def quantize_params(t, values):
    """Quantise weights or biases the way hls4ml's generated firmware receives them.

    hls4ml writes each parameter as decimal text with as many fractional digits as the type has fractional bits,
    the C++ compiler reads the text back as a ``double``, and the assignment to the weight type floors it.
    For ordinary float32 weights this equals :meth:`FixedType.quantize`; it differs when a value lies within half
    a printed digit *below* a grid point (``-1e-12`` becomes ``0``, not ``-2**-F``). We reproduce that path so a
    user switching between the two tools gets identical weights.

    >>> t = FixedType.parse("fixed<16,6>")
    >>> quantize_params(t, [-1e-12, 0.5, -0.25]).tolist()
    [0, 512, -256]
    """
    x = np.asarray(values, dtype=np.float64)
    digits = t.frac if t.frac > 0 else len(str(2 ** max(t.integer, 0)))
    text = np.array([float(f"{v:.{digits}f}") for v in x.flat], dtype=np.float64).reshape(x.shape)
    return t.quantize(text)


def range_type(lo, hi, frac, rounding=Rounding.TRN, overflow=Overflow.WRAP):
    """The narrowest type with ``frac`` fractional bits holding every raw value in ``[lo, hi]``.

    >>> str(range_type(-3, 5, 2)), str(range_type(0, 255, 0)), str(range_type(0, 0, 4))
    ('fixed<4,2>', 'ufixed<8,8>', 'ufixed<1,-3>')
    """
    lo, hi = int(lo), int(hi)
    if lo > hi:
        raise ValueError(f"empty range [{lo}, {hi}]")
    if lo < 0:
        width = max((-lo - 1).bit_length(), max(hi, 0).bit_length()) + 1
        signed = True
    else:
        width = max(hi.bit_length(), 1)
        signed = False
    return FixedType(width, width - frac, signed, rounding, overflow)


def exact_type(values):
    """The narrowest type representing every float in ``values`` exactly (floats are dyadic rationals), or
    ``None`` for an empty array.

    >>> str(exact_type([0.75, -0.5])), str(exact_type([3.0, 0.0]))
    ('fixed<3,1>', 'ufixed<2,2>')
    """
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    if x.size == 0:
        return None
    if not np.all(np.isfinite(x)):
        raise ValueError("NaN or infinite constant")
    fracs = []
    for v in x:
        q = Fraction(float(v))
        if q.numerator:
            n = abs(q.numerator)
            fracs.append(q.denominator.bit_length() - 1 if q.denominator > 1 else -((n & -n).bit_length() - 1))
    if not fracs:
        return FixedType(1, 1, False)
    frac = max(fracs)
    raw = [int(Fraction(float(v)) * (Fraction(2) ** frac)) for v in x]
    return range_type(min(raw), max(raw), frac)



def requantize_types(in_type, shift, frac, rounding):
    """The two types of a requantisation ``round(x * 2**-shift)`` onto ``frac`` fractional bits: the input with its
    binary point moved by ``shift`` (a relabelling), and a signed type wide enough to hold every rounded value
    without wrapping, carrying ``rounding``. Shared by the golden model and the hardware block.

    >>> src, mid = requantize_types(FixedType(8, 3), 2, 2, Rounding.RND_CONV)
    >>> str(src), str(mid)
    ('fixed<8,1>', 'fixed<5,3,RND_CONV>')
    """
    src = FixedType(in_type.width, in_type.integer - shift, in_type.signed)
    ib = max(src.integer, 1 - frac) + 2
    return src, FixedType(ib + frac, ib, True, rounding)
