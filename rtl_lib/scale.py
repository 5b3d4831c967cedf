"""Element-wise requantisation and per-element affine maps over ``n`` packed elements.

Ports as in :mod:`rtl_lib.activation`: ``i``/``i_valid`` in, ``o``/``o_valid`` out, ``en`` the clock enable; one
output register stage (latency 1), a new input every cycle.

* :class:`Requantize`: ``clamp(round(x * 2**-shift), lo, hi)``: the binary point moves by ``shift`` (wiring), the
  value is rounded onto the output grid by the output type's rounding mode and clamped to raw bounds that may be
  narrower than the type (zero points, narrow ranges). This is QONNX ``Quant`` and ONNX ``QuantizeLinear``.
* :class:`ScaleShift`: ``cast(x * scale_k + bias_k)``, exact before the cast (a batch normalisation, or an
  element-wise ``Mul``/``Add`` by constants); one constant multiplier per element with a scale.
"""

from amaranth.hdl import Const, Mux

from nn2rtl.fixed import FixedType, Overflow, Rounding, requantize_types

from .activation import _aligned, _Elementwise
from .fixed import cast, shape_of

__all__ = ["Requantize", "ScaleShift"]


class Requantize(_Elementwise):
    """``clamp(round(x * 2**-shift), lo, hi)`` with ``out_type``'s rounding mode; ``lo``/``hi`` raw, optional."""

    def __init__(self, n, in_type, out_type, shift=0, lo=None, hi=None):
        if not isinstance(shift, int):
            self._MustUse__silence = True
            raise ValueError(f"shift must be an integer, not {shift!r}")
        for b in (lo, hi):
            if b is not None and not out_type.min_raw <= b <= out_type.max_raw:
                self._MustUse__silence = True
                raise ValueError(f"bound {b} is outside {out_type}")
        self.shift, self.lo, self.hi = shift, lo, hi
        # the input relabelled (the binary point moved), and the wide type every rounded value fits before clamping
        self.src_type, self.mid_type = requantize_types(in_type, shift, out_type.frac, out_type.rounding)
        super().__init__(n, in_type, out_type, latency=1)

    def compute(self, m, k, x):
        tout = self.out_type
        r = cast(x, self.src_type, self.mid_type)
        sat = tout.with_modes(Rounding.TRN, Overflow.SAT)
        y = cast(r, self.mid_type, sat)
        if self.hi is not None and self.hi < tout.max_raw:
            y = Mux(r > self.hi, Const(self.hi, shape_of(tout)), y)
        if self.lo is not None and self.lo > tout.min_raw:
            y = Mux(r < self.lo, Const(self.lo, shape_of(tout)), y)
        return y


class ScaleShift(_Elementwise):
    """``cast(x * scale[k] + bias[k])``; ``scale``/``bias`` are raw constants of ``scale_type``/``bias_type``,
    either may be ``None`` (a pure shift or a pure scale)."""

    def __init__(self, n, in_type, out_type, scale_type=None, scale=None, bias_type=None, bias=None):
        for what, vals in (("scale", scale), ("bias", bias)):
            if vals is not None and len(vals) != n:
                self._MustUse__silence = True
                raise ValueError(f"need {n} {what} values, got {len(vals)}")
        self.scale_type, self.scale = scale_type, None if scale is None else [int(v) for v in scale]
        self.bias_type, self.bias = bias_type, None if bias is None else [int(v) for v in bias]
        self.multipliers = 0 if scale is None else sum(1 for v in self.scale if v not in (0, 1))
        super().__init__(n, in_type, out_type, latency=1)

    def compute(self, m, k, x):
        tin = self.in_type
        if self.scale is not None:
            p = x * Const(self.scale[k], shape_of(self.scale_type))
            tp = tin.product(self.scale_type)
        else:
            p, tp = x, tin
        if self.bias is None:
            return cast(p, tp, self.out_type)
        tb = self.bias_type
        f = max(tp.frac, tb.frac)
        s = _aligned(p, tp.frac, f) + _aligned(Const(self.bias[k], shape_of(tb)), tb.frac, f)
        ts = FixedType(len(s), len(s) - f, s.shape().signed)
        return cast(s, ts, self.out_type)
