"""Softmax and argmax over ``n`` packed elements (hls4ml's ``softmax_stable``/``softmax_latency``/``softmax_argmax``
arithmetic, see :mod:`nn2rtl.ops.softmax`).

Table implementations, pipeline (latency 3, a new input every cycle)::

    stage 0  x_max by a balanced tree of comparisons, d_k = cast(x_max - x_k) (stable only),
             exp ROM address = top bits of d_k (or of x_k)              -> exp ROM read (registered)
    stage 1  e_k cast to accum_t, summed by hls4ml's balanced tree (each sum cast to accum_t),
             cast to inv_inp_t, inverse ROM address = its top bits     -> inverse ROM read; e_k registered
    stage 2  y_k = cast(e_k * inv)                                      -> output register

``argmax`` (one-hot) and ``argmax_index`` (the index as an unsigned number): a scan with strict ``>`` so the first
largest input wins, output registered (latency 1). Ports as in :mod:`rtl_lib.activation`, with ``en``.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from nn2rtl.fixed import FixedType

from .fixed import cast, shape_of

__all__ = ["Softmax", "balanced_reduce"]


def balanced_reduce(items, op):
    """hls4ml's ``reduce``: the left part holds the largest power of two below ``len(items)``."""
    n = len(items)
    if n == 1:
        return items[0]
    if n == 2:
        return op(items[0], items[1])
    left = 1 << ((n - 1).bit_length() - 1)
    return op(balanced_reduce(items[:left], op), balanced_reduce(items[left:], op))


def _bits(size):
    return int(size).bit_length() - 1


class Softmax(wiring.Component):
    def __init__(self, n, in_type, out_type, implementation, norm_type=None, exp_type=None, exp_table=None,
                 accum_type=None, inv_inp_type=None, inv_type=None, inv_table=None):
        if not isinstance(n, int) or n < 1:
            self._MustUse__silence = True
            raise ValueError(f"softmax size must be a positive integer, not {n!r}")
        self.n, self.in_type, self.out_type, self.impl = n, in_type, out_type, implementation
        self.norm_type, self.exp_type, self.exp_table = norm_type, exp_type, exp_table
        self.accum_type, self.inv_inp_type, self.inv_type, self.inv_table = (accum_type, inv_inp_type, inv_type,
                                                                             inv_table)
        tables = implementation in ("stable", "latency")
        self.latency = 3 if tables else 1
        self.multipliers = n if tables else 0
        self.rom_bits = (n * len(exp_table) * exp_type.width + len(inv_table) * inv_type.width) if tables else 0
        self.registers = (n * (exp_type.width + accum_type.width) + inv_type.width + self.latency
                          if tables else 0) + out_type.width * (1 if implementation == "argmax_index" else n)
        super().__init__({"i": In(n * in_type.width), "i_valid": In(1), "o": Out(out_type.width * (
            1 if implementation == "argmax_index" else n)), "o_valid": Out(1), "en": In(1, init=1)})

    def _x(self, k):
        w = self.in_type.width
        x = self.i[k * w:(k + 1) * w]
        return x.as_signed() if self.in_type.signed else x.as_unsigned()

    def elaborate(self, platform):
        m = Module()
        xs = [self._x(k) for k in range(self.n)]
        if self.impl in ("argmax", "argmax_index"):
            best, idx = xs[0], Const(0, range(self.n))
            for k in range(1, self.n):
                upd = xs[k] > best
                best, idx = Mux(upd, xs[k], best), Mux(upd, k, idx)
            if self.impl == "argmax_index":
                out = idx
            else:
                one = cast(Const(1, 2).as_signed(), FixedType(2, 2), self.out_type)
                out = Cat(*[Mux(idx == k, one, 0).as_unsigned()[:self.out_type.width] for k in range(self.n)])
            with m.If(self.en):
                m.d.sync += [self.o.eq(out), self.o_valid.eq(self.i_valid)]
            return m

        tin, acc, et, it, ii, tout = (self.in_type, self.accum_type, self.exp_type, self.inv_type,
                                      self.inv_inp_type, self.out_type)
        ke, ki = _bits(len(self.exp_table)), _bits(len(self.inv_table))
        exp_rom = Memory(shape=shape_of(et), depth=len(self.exp_table), init=self.exp_table)
        inv_rom = Memory(shape=shape_of(it), depth=len(self.inv_table), init=self.inv_table)
        m.submodules.exp_rom, m.submodules.inv_rom = exp_rom, inv_rom
        valid = Signal(3, name="valid_pipe")
        with m.If(self.en):
            m.d.sync += valid.eq(Cat(self.i_valid, valid[:2]))
        m.d.comb += self.o_valid.eq(valid[2])

        # stage 0: exp ROM addresses
        if self.impl == "stable":
            xmax = balanced_reduce(xs, lambda a, b: Mux(a >= b, a, b))
            diff_t = FixedType(tin.width + 1, tin.integer + 1, True)
            srcs = [cast((xmax - x).as_signed(), diff_t, self.norm_type) for x in xs]
            src_t = self.norm_type
        else:
            srcs, src_t = xs, tin
        es = []
        for s in srcs:
            port = exp_rom.read_port()
            m.d.comb += [port.addr.eq(s.as_unsigned()[src_t.width - ke:src_t.width]), port.en.eq(self.en)]
            es.append(cast(port.data.as_signed() if et.signed else port.data, et, acc))

        # stage 1: sum, inverse ROM address; keep the exponentials for stage 2
        total = balanced_reduce(es, lambda a, b: cast(a + b, acc.sum(acc), acc))
        total = cast(total, acc, ii)
        inv_port = inv_rom.read_port()
        m.d.comb += [inv_port.addr.eq(total.as_unsigned()[ii.width - ki:ii.width]), inv_port.en.eq(self.en)]
        held = []
        for k, e in enumerate(es):
            r = Signal(shape_of(acc), name=f"e{k}")
            with m.If(self.en):
                m.d.sync += r.eq(e)
            held.append(r)

        # stage 2: products
        inv = inv_port.data.as_signed() if it.signed else inv_port.data
        ys = [cast(e * inv, acc.product(it), tout) for e in held]
        with m.If(self.en):
            m.d.sync += self.o.eq(Cat(*ys))
        return m
