"""Element-wise ReLU: ``o_k = cast(max(x_k, 0))``, combinational (latency 0)."""

from amaranth.hdl import Cat, Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .fixed import cast

__all__ = ["Relu"]


class Relu(wiring.Component):
    """ReLU over ``n`` packed elements, converting ``in_type`` to ``out_type`` (hls4ml: ``res = x > 0 ? x : 0``)."""

    latency = 0

    def __init__(self, n, in_type, out_type):
        if not isinstance(n, int) or n < 1:
            self._MustUse__silence = True
            raise ValueError(f"ReLU size must be a positive integer, not {n!r}")
        self.n, self.in_type, self.out_type = n, in_type, out_type
        super().__init__({
            "i": In(n * in_type.width), "i_valid": In(1),
            "o": Out(n * out_type.width), "o_valid": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        w = self.in_type.width
        outs = []
        for k in range(self.n):
            x = self.i[k * w:(k + 1) * w]
            x = x.as_signed() if self.in_type.signed else x
            y = cast(x, self.in_type, self.out_type)
            outs.append(Mux(x > 0, y, 0) if self.in_type.signed else Mux(x != 0, y, 0))
        m.d.comb += [self.o.eq(Cat(*outs)), self.o_valid.eq(self.i_valid)]
        return m
