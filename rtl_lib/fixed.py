"""Hardware fixed-point conversion: the Amaranth twin of :meth:`nn2rtl.fixed.FixedType.cast`.

:func:`cast` builds combinational logic that converts a value of one fixed-point type to another with every
``ap_fixed`` rounding and overflow mode. ``TRN`` + ``WRAP`` (the default) is pure wiring: a slice.
"""

from amaranth.hdl import Cat, Const, Mux, Value, signed, unsigned

from nn2rtl.fixed import FixedType, Overflow, Rounding

__all__ = ["cast", "cast_is_wiring", "shape_of", "const"]


def shape_of(t: FixedType):
    """The Amaranth shape holding raw values of ``t``."""
    return signed(t.width) if t.signed else unsigned(t.width)


def const(raw, t: FixedType):
    """A constant raw value of type ``t``."""
    return Const(int(raw), shape_of(t))


def _extend(v, width):
    """``v`` sign- or zero-extended to at least ``width`` bits (keeping its signedness)."""
    v = Value.cast(v)
    if len(v) >= width:
        return v
    is_signed = v.shape().signed
    fill = v[-1].replicate(width - len(v)) if is_signed and len(v) else Const(0, width - len(v))
    out = Cat(v, fill)
    return out.as_signed() if is_signed else out


def cast(v, src: FixedType, dst: FixedType):
    """Convert ``v`` (raw bits of type ``src``) to type ``dst`` using ``dst``'s rounding and overflow modes.

    Returns a value of shape :func:`shape_of(dst) <shape_of>`.
    """
    v = Value.cast(v)
    v = v.as_signed() if src.signed else v.as_unsigned()
    shift = src.frac - dst.frac
    if shift <= 0:
        r = v.shift_left(-shift)
    else:
        ext = _extend(v, shift + 1)
        fl = ext.shift_right(shift)
        rem = ext[:shift]
        half = 1 << (shift - 1)
        neg = ext[-1] if src.signed else Const(0, 1)
        mode = dst.rounding
        if mode is Rounding.TRN:
            up = None
        elif mode is Rounding.TRN_ZERO:
            up = neg & (rem != 0)
        elif mode is Rounding.RND:
            up = rem >= half
        elif mode is Rounding.RND_ZERO:
            up = (rem > half) | ((rem == half) & neg)
        elif mode is Rounding.RND_MIN_INF:
            up = rem > half
        elif mode is Rounding.RND_INF:
            up = (rem > half) | ((rem == half) & ~neg)
        elif mode is Rounding.RND_CONV:
            up = (rem > half) | ((rem == half) & fl[0])
        else:  # pragma: no cover
            raise AssertionError(mode)
        # not fl + up: a 1-bit 'up' added to a signed value becomes $signed({1'b0, up}) in Verilog, which
        # Verilator 5.006 sign-extends when 'up' folds to a comparison (found by the RTL fuzzer, RND_INF)
        one = Const(1, signed(2)) if fl.shape().signed else Const(1, 1)
        r = fl if up is None else Mux(up, fl + one, fl)
    lo, hi = dst.min_raw, dst.max_raw
    wrapped = r[:dst.width] if len(r) >= dst.width else _extend(r, dst.width)[:dst.width]
    wrapped = wrapped.as_signed() if dst.signed else wrapped.as_unsigned()
    ovf = dst.overflow
    if ovf is Overflow.WRAP:
        return wrapped
    r_lo, r_hi = _range(r)
    if ovf is Overflow.SAT_SYM and dst.signed:
        lo += 1
    too_big = (r > hi) if r_hi > hi else Const(0, 1)
    too_small = (r < lo) if r_lo < lo else Const(0, 1)
    if ovf in (Overflow.SAT, Overflow.SAT_SYM):
        return Mux(too_big, Const(hi, shape_of(dst)), Mux(too_small, Const(lo, shape_of(dst)), wrapped))
    if ovf is Overflow.SAT_ZERO:
        return Mux(too_big | too_small, Const(0, shape_of(dst)), wrapped)
    raise AssertionError(ovf)  # pragma: no cover


def cast_is_wiring(src: FixedType, dst: FixedType):
    """Whether :func:`cast` from ``src`` to ``dst`` is only wiring (no rounding or overflow logic): true for TRN
    and WRAP, or when ``dst`` keeps every fractional bit and holds every value of ``src``."""
    rounding_free = dst.rounding is Rounding.TRN or dst.frac >= src.frac
    rounds_up = dst.rounding is not Rounding.TRN and dst.frac < src.frac
    sym = dst.overflow is Overflow.SAT_SYM and dst.signed and src.signed  # the most negative code is excluded
    range_free = (dst.signed or not src.signed) and (
        dst.integer - (1 if dst.signed else 0)
        >= src.integer - (1 if src.signed else 0) + (1 if rounds_up or sym else 0))
    return rounding_free and (dst.overflow is Overflow.WRAP or range_free)


def _range(v):
    shape = v.shape()
    if shape.signed:
        return -(1 << (shape.width - 1)), (1 << (shape.width - 1)) - 1
    return 0, (1 << shape.width) - 1
