"""Selection of packed elements: ``o[j] = i[index[j]]``, or zero where ``index[j]`` is -1. Wiring only (latency 0,
no logic): a transpose (a permutation), zero padding, nearest-neighbour upsampling (repeated indices), a crop.

Ports as :mod:`rtl_lib.activation`: ``i``/``i_valid`` in, ``o``/``o_valid`` out.
"""

from amaranth.hdl import Cat, Const, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Permute", "gather"]


def gather(vector, width, index):
    """``Cat`` of the ``width``-bit elements of ``vector`` named by ``index`` (-1: a zero element)."""
    return Cat(*[Const(0, width) if k < 0 else vector[k * width:(k + 1) * width] for k in index])


class Permute(wiring.Component):
    """``n`` input elements of ``width`` bits; output ``j`` is input ``index[j]`` (or zero for -1)."""

    latency = 0
    registers = 0

    def __init__(self, n, width, index):
        index = [int(v) for v in index]
        if not index or any(not -1 <= k < n for k in index):
            self._MustUse__silence = True
            raise ValueError(f"index must be a non-empty list of values in range({n}) or -1")
        self.n, self.width, self.index = n, width, index
        super().__init__({"i": In(n * width), "i_valid": In(1), "o": Out(len(index) * width), "o_valid": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [self.o.eq(gather(self.i, self.width, self.index)), self.o_valid.eq(self.i_valid)]
        return m
