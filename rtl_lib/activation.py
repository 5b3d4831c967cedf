"""Element-wise activations over ``n`` packed elements: piecewise functions and table lookups.

Every block has ports ``i``/``i_valid`` (element ``k`` in bits ``[k*W_in +: W_in]``) and ``o``/``o_valid``;
blocks with registers also have ``en`` (clock enable: low freezes every register, including the table read
ports). ``latency`` is in enabled cycles; a new input is accepted every cycle. Each block also states what it is
made of (``multipliers``, ``registers`` in bits, ``rom_bits``), read by the cost model.

* :class:`Relu`, :class:`Clip` (with an optional ``x > threshold ? x : 0`` form): comparisons and casts only,
  combinational (latency 0).
* :class:`LeakyRelu` (one slope per element, which is also PReLU), :class:`HardSigmoid`: one constant multiplier
  per element, output registered (latency 1).
* :class:`TableActivation`: the index arithmetic of :mod:`nn2rtl.tables` (shift, offset, clamp), one synchronous
  ROM read per element (latency 1; ROMs map to block or distributed RAM), then the cast to the output type; with a
  ``positive`` branch (ELU, SELU) a second registered stage selects ``x`` or ``lambda * x`` for ``x >= 0`` and
  ``scale * table`` otherwise (latency 2).
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from nn2rtl.fixed import FixedType

from .fixed import cast, shape_of

__all__ = ["Relu", "Clip", "LeakyRelu", "HardSigmoid", "TableActivation"]


class _Elementwise(wiring.Component):
    latency = 0
    multipliers = 0
    rom_bits = 0

    def __init__(self, n, in_type, out_type, latency=0):
        if not isinstance(n, int) or n < 1:
            self._MustUse__silence = True
            raise ValueError(f"activation size must be a positive integer, not {n!r}")
        self.n, self.in_type, self.out_type, self.latency = n, in_type, out_type, latency
        members = {"i": In(n * in_type.width), "i_valid": In(1),
                   "o": Out(n * out_type.width), "o_valid": Out(1)}
        if latency:
            members["en"] = In(1, init=1)
        super().__init__(members)

    @property
    def registers(self):
        return self.latency * (self.n * self.out_type.width + 1)

    def element(self, k):
        w = self.in_type.width
        x = self.i[k * w:(k + 1) * w]
        return x.as_signed() if self.in_type.signed else x.as_unsigned()

    def compute(self, m, k, x):
        raise NotImplementedError

    def elaborate(self, platform):
        m = Module()
        outs = Cat(*[self.compute(m, k, self.element(k)) for k in range(self.n)])
        if self.latency == 0:
            m.d.comb += [self.o.eq(outs), self.o_valid.eq(self.i_valid)]
        else:
            with m.If(self.en):
                m.d.sync += [self.o.eq(outs), self.o_valid.eq(self.i_valid)]
        return m


class Relu(_Elementwise):
    """``x > 0 ? cast(x) : 0`` (hls4ml's ``relu``), built as ``x < 0 ? 0 : cast(x)``: the same values (``cast(0)``
    is 0 in every mode), and the sign bit alone selects, where ``x > 0`` also needs a zero test of every bit (22
    LUTs per 16-bit element on xc7 instead of 16)."""

    def __init__(self, n, in_type, out_type, rectified=False):
        self.rectified = rectified  # the producer already zeroed the negatives (its sign bit is 0): a cast
        super().__init__(n, in_type, out_type)

    def compute(self, m, k, x):
        y = cast(x, self.in_type, self.out_type)
        return Mux(x[-1], 0, y) if self.in_type.signed and not self.rectified else y


def _aligned(v, frac, to):
    return v.shift_left(to - frac) if to >= frac else v


class Clip(_Elementwise):
    """``x < lo ? lo : x > hi ? hi : x`` (bounds optional, raw in ``bound_type``), or with ``threshold``
    ``x > threshold ? x : 0``; comparisons are exact, results cast to ``out_type``."""

    def __init__(self, n, in_type, out_type, bound_type, lo=None, hi=None, threshold=None):
        self.bound_type, self.lo, self.hi, self.threshold = bound_type, lo, hi, threshold
        super().__init__(n, in_type, out_type)

    def compute(self, m, k, x):
        tin, tb, tout = self.in_type, self.bound_type, self.out_type
        f = max(tin.frac, tb.frac)
        xa = _aligned(x, tin.frac, f)

        def bound(raw):
            return _aligned(Const(raw, shape_of(tb)), tb.frac, f)

        y = cast(x, tin, tout)
        if self.threshold is not None:
            return Mux(xa > bound(self.threshold), y, 0)
        if self.hi is not None:
            y = Mux(xa > bound(self.hi), cast(Const(self.hi, shape_of(tb)), tb, tout), y)
        if self.lo is not None:
            y = Mux(xa < bound(self.lo), cast(Const(self.lo, shape_of(tb)), tb, tout), y)
        return y


class LeakyRelu(_Elementwise):
    """``x > 0 ? cast(x) : cast(alpha_k * x)`` with one constant ``alpha_k`` (raw, ``param_type``) per element."""

    def __init__(self, n, in_type, out_type, param_type, alphas):
        if len(alphas) != n:
            self._MustUse__silence = True
            raise ValueError(f"need {n} slopes, got {len(alphas)}")
        self.param_type, self.alphas = param_type, list(alphas)
        self.multipliers = n
        super().__init__(n, in_type, out_type, latency=1)

    def compute(self, m, k, x):
        prod = x * Const(self.alphas[k], shape_of(self.param_type))
        return Mux(x > 0, cast(x, self.in_type, self.out_type),
                   cast(prod, self.param_type.product(self.in_type), self.out_type))


class HardSigmoid(_Elementwise):
    """``cast(clip(slope * x + shift, 0, 1))``, exact before the cast (hls4ml's ``hard_sigmoid``)."""

    def __init__(self, n, in_type, out_type, slope_type, slope, shift_type, shift):
        self.slope_type, self.slope, self.shift_type, self.shift = slope_type, slope, shift_type, shift
        self.multipliers = n
        super().__init__(n, in_type, out_type, latency=1)

    def compute(self, m, k, x):
        fp = self.slope_type.frac + self.in_type.frac
        f = max(fp, self.shift_type.frac)
        t = _aligned(x * Const(self.slope, shape_of(self.slope_type)), fp, f) + _aligned(
            Const(self.shift, shape_of(self.shift_type)), self.shift_type.frac, f)
        one = 1 << f if f >= 0 else 0
        clamped = Mux(t < 0, 0, Mux(t > one, one, t))
        w = max(len(t), f + 2) + 1
        return cast(clamped.as_signed(), FixedType(w, w - f, True), self.out_type)


def table_address(x, in_type, spec):
    """The index of :func:`nn2rtl.tables.table_index` in hardware: a shift, an offset and a clamp. ``spec`` gives
    ``size``, ``mode``, ``lo``, ``one_sided`` and ``bin_log2`` (log2 of the bin width)."""
    s = spec.bin_log2 + in_type.frac
    n = spec.size

    def shift(v):
        return v.shift_right(s) if s >= 0 else v.shift_left(-s)

    if spec.mode == "hls4ml":
        if spec.one_sided:
            q = shift((-x).as_signed())
        else:
            if in_type.signed and s > 0:  # truncate toward zero: add 2**s - 1 to negative values first
                x = x + Mux(x < 0, (1 << s) - 1, 0)
            q = shift(x.as_signed() if in_type.signed else x) + n // 2
    else:
        lo_raw = round(spec.lo * 2.0 ** in_type.frac)
        q = shift((x - lo_raw).as_signed())
    return Mux(q < 0, 0, Mux(q > n - 1, n - 1, q))[:max(1, (n - 1).bit_length())]


class TableActivation(_Elementwise):
    """``cast(table[index(x)])`` with the table in a ROM (one synchronous read port per element).

    ``positive``: ``None`` (the table everywhere), ``"identity"`` (ELU: ``x >= 0 ? x : scale * table``) or
    ``"scale"`` (SELU: ``x >= 0 ? scale * x : table``), with ``scale`` raw in ``scale_type``."""

    def __init__(self, n, in_type, out_type, spec, table_type, table, positive=None, scale_type=None, scale=None):
        if len(table) != spec.size:
            self._MustUse__silence = True
            raise ValueError(f"table has {len(table)} entries, the spec says {spec.size}")
        self.spec, self.table_type, self.table = spec, table_type, list(table)
        self.positive, self.scale_type, self.scale = positive, scale_type, scale
        self.rom_bits = spec.size * table_type.width * n
        self.multipliers = n if positive else 0
        super().__init__(n, in_type, out_type, latency=1 if positive is None else 2)

    @property
    def registers(self):
        regs = self.n * self.table_type.width + 1
        if self.positive:
            regs += self.n * (self.in_type.width + self.out_type.width) + 1
        return regs

    def elaborate(self, platform):
        m = Module()
        rom = Memory(shape=shape_of(self.table_type), depth=self.spec.size, init=self.table)
        m.submodules.rom = rom
        tt, tin, tout = self.table_type, self.in_type, self.out_type
        outs = []
        for k in range(self.n):
            x = self.element(k)
            port = rom.read_port()
            m.d.comb += [port.addr.eq(table_address(x, tin, self.spec)), port.en.eq(self.en)]
            v = port.data.as_signed() if tt.signed else port.data
            if self.positive is None:
                outs.append(cast(v, tt, tout))
                continue
            xd = Signal(shape_of(tin), name=f"x{k}_d")
            with m.If(self.en):
                m.d.sync += xd.eq(x)
            sc = Const(self.scale, shape_of(self.scale_type))
            if self.positive == "identity":
                y = Mux(xd >= 0, cast(xd, tin, tout), cast(v * sc, self.scale_type.product(tt), tout))
            else:
                y = Mux(xd >= 0, cast(xd * sc, self.scale_type.product(tin), tout), cast(v, tt, tout))
            outs.append(y)
        valid = Signal(name="valid_d")
        with m.If(self.en):
            m.d.sync += valid.eq(self.i_valid)
        if self.positive is None:
            m.d.comb += [self.o.eq(Cat(*outs)), self.o_valid.eq(valid)]
        else:
            with m.If(self.en):
                m.d.sync += [self.o.eq(Cat(*outs)), self.o_valid.eq(valid)]
        return m
