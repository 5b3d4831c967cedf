"""Reordering of packed elements: ``o[j] = i[index[j]]``. Wiring only (latency 0, no logic).

Ports as :mod:`rtl_lib.activation`: ``i``/``i_valid`` in, ``o``/``o_valid`` out.
"""

from amaranth.hdl import Cat, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Permute"]


class Permute(wiring.Component):
    """``n`` elements of ``width`` bits, output ``j`` taken from input ``index[j]`` (a permutation)."""

    latency = 0
    registers = 0

    def __init__(self, n, width, index):
        index = [int(v) for v in index]
        if sorted(index) != list(range(n)):
            self._MustUse__silence = True
            raise ValueError(f"index must be a permutation of range({n})")
        self.n, self.width, self.index = n, width, index
        super().__init__({"i": In(n * width), "i_valid": In(1), "o": Out(n * width), "o_valid": Out(1)})

    def elaborate(self, platform):
        m = Module()
        w = self.width
        m.d.comb += [self.o.eq(Cat(*[self.i[k * w:(k + 1) * w] for k in self.index])),
                     self.o_valid.eq(self.i_valid)]
        return m
