"""Merges of several activations, element by element (hls4ml's ``nnet_merge.h``).

* :class:`Merge`: ``cast(a[k] op b[k])`` for ``op`` in add, sub, mul, max, min, exact before the cast to the output
  type; one register stage (latency 1).
* :class:`Concat`: the inputs cast to the output type and selected by an index over their concatenation
  (``o[j] = all[index[j]]``): any concatenation axis of any layout is one index. Wiring plus casts, latency 0.

``i`` holds the inputs one after the other (input 0 in the least significant bits), each ``n`` packed elements.
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .fixed import cast, shape_of
from .permute import gather

__all__ = ["Merge", "Concat", "MERGE_OPS"]

MERGE_OPS = ("add", "sub", "mul", "max", "min")


def _elements(vec, n, t):
    w = t.width
    return [vec[k * w:(k + 1) * w].as_signed() if t.signed else vec[k * w:(k + 1) * w].as_unsigned()
            for k in range(n)]


class Merge(wiring.Component):
    """``o[k] = cast(a[k] op b[k])`` over ``n`` elements; ``a`` of ``a_type``, ``b`` of ``b_type``; ``exact_type``
    holds every exact result (for ``mul`` the product type, else a type both inputs and the result fit)."""

    latency = 1

    def __init__(self, n, op, a_type, b_type, exact_type, out_type):
        if op not in MERGE_OPS:
            self._MustUse__silence = True
            raise ValueError(f"op must be one of {MERGE_OPS}, not {op!r}")
        self.n, self.op, self.a_type, self.b_type, self.out_type = n, op, a_type, b_type, out_type
        self.exact_type = exact_type
        super().__init__({"i": In(n * (a_type.width + b_type.width)), "i_valid": In(1), "en": In(1, init=1),
                          "o": Out(n * out_type.width), "o_valid": Out(1)})

    def elaborate(self, platform):
        m = Module()
        ta, tb, te = self.a_type, self.b_type, self.exact_type
        a = _elements(self.i[:self.n * ta.width], self.n, ta)
        b = _elements(self.i[self.n * ta.width:], self.n, tb)
        outs = []
        for k in range(self.n):
            x, y = cast(a[k], ta, te.with_modes()), cast(b[k], tb, te.with_modes())
            if self.op == "add":
                r = x + y
            elif self.op == "sub":
                r = x - y
            elif self.op == "mul":
                r = a[k] * b[k]
            elif self.op == "max":
                r = Mux(x > y, x, y)
            else:
                r = Mux(x < y, x, y)
            r = r[:te.width].as_signed() if te.signed else r[:te.width].as_unsigned()
            o = Signal(shape_of(self.out_type), name=f"o{k}")
            with m.If(self.en):
                m.d.sync += o.eq(cast(r, te, self.out_type))
            outs.append(o)
        m.d.comb += self.o.eq(Cat(*outs))
        with m.If(self.en):
            m.d.sync += self.o_valid.eq(self.i_valid)
        return m


class Concat(wiring.Component):
    """Inputs of ``sizes[k]`` elements of ``types[k]``, cast to ``out_type``, then ``o[j] = all[index[j]]``."""

    latency = 0
    registers = 0

    def __init__(self, sizes, types, out_type, index):
        total = sum(sizes)
        if len(sizes) != len(types) or not index or any(not 0 <= k < total for k in index):
            self._MustUse__silence = True
            raise ValueError(f"need one type per input and an index into the {total} concatenated elements")
        self.sizes, self.types, self.out_type, self.index = list(sizes), list(types), out_type, list(index)
        super().__init__({"i": In(sum(n * t.width for n, t in zip(sizes, types))), "i_valid": In(1),
                          "o": Out(len(index) * out_type.width), "o_valid": Out(1)})

    def elaborate(self, platform):
        m = Module()
        parts, pos = [], 0
        for n, t in zip(self.sizes, self.types):
            parts += [cast(x, t, self.out_type) for x in _elements(self.i[pos:pos + n * t.width], n, t)]
            pos += n * t.width
        m.d.comb += [self.o.eq(gather(Cat(*parts), self.out_type.width, self.index)),
                     self.o_valid.eq(self.i_valid)]
        return m
