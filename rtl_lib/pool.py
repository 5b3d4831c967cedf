"""Pooling in the parallel architecture: every output element reduces its window of input elements at once.

``windows[j]`` lists the input elements of output ``j`` (-1 where the window covers padding). Arithmetic is
hls4ml's (``nnet_pooling.h``):

* ``max``: the largest element (padding takes the type's minimum, so it never wins), cast to the accumulator type,
  then to the output type;
* ``avg``: the elements cast to the accumulator type and summed (wrap-around), divided by ``divisors[j]`` rounding
  toward zero (ap_fixed's integer division), cast to the output type. A power-of-two divisor is a shift with a
  sign correction; any other a multiplication by a rounded-up reciprocal, exact over the whole accumulator range
  (:func:`divide_toward_zero`).

Schedule (:func:`pool_latency`): a balanced tree of comparisons or additions, registered every
``levels_per_stage`` levels and after the last, then one register after the division and cast.
"""

import numpy as np
from amaranth.hdl import Cat, Const, EnableInserter, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from nn2rtl.fixed import Overflow, Rounding

from .adder_tree import build_adder_tree, build_reduce_tree, tree_latency
from .fixed import cast, shape_of
from .pipeline import delayed

__all__ = ["Pool", "PositionalAvgPool", "pool_latency", "divide_toward_zero", "reciprocal"]

MODES = ("max", "avg")


def pool_latency(window, levels_per_stage):
    """Cycles from input to output of a :class:`Pool` over windows of ``window`` elements."""
    return tree_latency(window, levels_per_stage) + 1


def reciprocal(n, width):
    """``(M, s)`` with ``floor(a * M / 2**s) == a // n`` for every ``0 <= a < 2**width`` (``s = width +
    ceil(log2 n)``, ``M = ceil(2**s / n)``: the error ``a * (M*n - 2**s) / (n * 2**s)`` stays below ``1/n``)."""
    s = width + (n - 1).bit_length()
    return -(-(1 << s) // n), s


def divide_toward_zero(v, width, n):
    """``v / n`` rounded toward zero, as a value of the same shape as ``v`` (signed or unsigned, ``width`` bits)."""
    if n == 1:
        return v
    is_signed = v.shape().signed
    if n & (n - 1) == 0:  # a power of two: an arithmetic shift, plus n-1 first when negative (toward zero)
        k = n.bit_length() - 1
        if not is_signed:
            return (v >> k)
        wide = v.as_signed() + Mux(v < 0, Const(n - 1, unsigned(k + 1)), Const(0, unsigned(k + 1)))
        return (wide >> k)[:width].as_signed()
    mag = Mux(v < 0, -v, v)[:width].as_unsigned() if is_signed else v.as_unsigned()  # |v| < 2**width
    m, s = reciprocal(n, width)
    q = ((mag * Const(m, unsigned(m.bit_length()))) >> s)[:width]
    if not is_signed:
        return q
    return Mux(v < 0, -q, q)[:width].as_signed()


class Pool(wiring.Component):
    """Max or average pooling of ``n_in`` packed elements into ``len(windows)`` outputs.

    Parameters
    ----------
    n_in : int
    in_type, accum_type, out_type : FixedType
    windows : int array (n_out, window), indices into the input or -1 (padding)
    mode : "max" or "avg"
    divisors : int array (n_out,), for "avg": what each window's sum is divided by
    levels_per_stage : int
    """

    def __init__(self, n_in, in_type, accum_type, out_type, windows, mode, divisors=None, levels_per_stage=2):
        windows = np.asarray(windows)
        problem = None
        if mode not in MODES:
            problem = f"mode must be one of {MODES}, not {mode!r}"
        elif windows.ndim != 2 or windows.size == 0 or windows.min() < -1 or windows.max() >= n_in:
            problem = f"windows must be a non-empty (outputs, window) array of indices in range({n_in}) or -1"
        elif mode == "avg" and (divisors is None or len(divisors) != len(windows) or min(divisors) < 1):
            problem = f"avg pooling needs one positive divisor per output ({len(windows)})"
        elif mode == "avg" and (accum_type.overflow is not Overflow.WRAP or (
                accum_type.rounding is not Rounding.TRN and accum_type.frac < in_type.frac)):
            problem = (f"the accumulator {accum_type} must wrap and either truncate or keep every input bit (the "
                       f"sum is then independent of the order of additions)")
        if problem:
            self._MustUse__silence = True
            raise ValueError(problem)
        self.n_in, self.in_type, self.accum_type, self.out_type = n_in, in_type, accum_type, out_type
        self.windows, self.mode = windows, mode
        self.divisors = None if divisors is None else [int(d) for d in divisors]
        self.levels_per_stage = levels_per_stage
        self.latency = pool_latency(windows.shape[1], levels_per_stage)
        super().__init__({"i": In(n_in * in_type.width), "i_valid": In(1), "en": In(1, init=1),
                          "o": Out(len(windows) * out_type.width), "o_valid": Out(1)})

    def _element(self, k):
        w, t = self.in_type.width, self.in_type
        x = self.i[k * w:(k + 1) * w]
        return x.as_signed() if t.signed else x.as_unsigned()

    def elaborate(self, platform):
        m = Module()
        ti, ta, to = self.in_type, self.accum_type, self.out_type
        outs = []
        for j, win in enumerate(self.windows):
            if self.mode == "max":
                leaves = [self._element(int(k)) for k in win if k >= 0]
                if len(leaves) < len(win):  # padding: the type's minimum, as hls4ml's pad value for signed types
                    leaves.append(Const(ti.min_raw, shape_of(ti)))
                red = build_reduce_tree(m, leaves, shape_of(ti), self.levels_per_stage, f"max{j}",
                                        lambda a, b: Mux(a > b, a, b))
                y = cast(cast(red, ti, ta), ta, to)
            else:
                leaves = [cast(self._element(int(k)), ti, ta) for k in win if k >= 0]
                total = build_adder_tree(m, leaves, shape_of(ta), self.levels_per_stage, f"sum{j}")
                q = divide_toward_zero(total, ta.width, self.divisors[j])
                y = cast(q, ta, to)
            # every output waits the same number of cycles, whatever its window's (unpadded) size
            pad = tree_latency(self.windows.shape[1], self.levels_per_stage) - tree_latency(
                max(1, int((win >= 0).sum()) + (1 if self.mode == "max" and (win < 0).any() else 0)),
                self.levels_per_stage)
            for d in range(pad):
                r = Signal(shape_of(to), name=f"bal{j}_{d}")
                m.d.sync += r.eq(y)
                y = r
            r = Signal(shape_of(to), name=f"y{j}")
            m.d.sync += r.eq(y)
            outs.append(r)
        m.d.comb += self.o.eq(Cat(*outs))
        m.d.comb += self.o_valid.eq(delayed(m, self.i_valid, self.latency))
        return EnableInserter(self.en)(m)



class PositionalAvgPool(wiring.Component):
    """Average pooling of a stream of windows whose divisor depends on the window's position: the padding is not
    counted, so border windows divide by fewer elements (the streaming architecture, where one block serves every
    output position in turn).

    ``i`` holds one window of ``k`` pixels of ``channels`` elements (position-major, as
    :class:`rtl_lib.window.WindowGenerator` produces it, padding reading zero); ``divisors[p]`` is the count of the
    ``p``-th window of an image (a counter of accepted windows selects it). Per channel: the elements cast to the
    accumulator and summed (wrapping), divided toward zero by the window's count, cast to the result: the
    arithmetic of :class:`Pool`, with the same latency (:func:`pool_latency`).
    """

    def __init__(self, k, channels, in_type, accum_type, out_type, divisors, levels_per_stage=2):
        self.k, self.channels = int(k), int(channels)
        self.in_type, self.accum_type, self.out_type = in_type, accum_type, out_type
        self.divisors = [int(d) for d in divisors]
        if not self.divisors or min(self.divisors) < 1 or max(self.divisors) > self.k:
            self._MustUse__silence = True
            raise ValueError(f"divisors must be counts between 1 and the window size {self.k}")
        self.choices = sorted(set(self.divisors))
        self.levels_per_stage = levels_per_stage
        self.latency = pool_latency(self.k, levels_per_stage)
        super().__init__({"i": In(self.k * self.channels * in_type.width), "i_valid": In(1), "en": In(1, init=1),
                          "o": Out(self.channels * out_type.width), "o_valid": Out(1)})

    def elaborate(self, platform):
        m = Module()
        ti, ta, to = self.in_type, self.accum_type, self.out_type
        pos = Signal(range(len(self.divisors)), name="pos")
        with m.If(self.i_valid):
            m.d.sync += pos.eq(Mux(pos == len(self.divisors) - 1, 0, pos + 1))
        bits = max(1, (len(self.choices) - 1).bit_length())
        table = Const(sum(self.choices.index(d) << (bits * p) for p, d in enumerate(self.divisors)),
                      bits * len(self.divisors))  # per position: which of the choices it divides by
        sel = delayed(m, table.word_select(pos, bits), tree_latency(self.k, self.levels_per_stage), "sel")
        outs = []
        for c in range(self.channels):
            leaves = []
            for j in range(self.k):
                x = self.i[(j * self.channels + c) * ti.width:][:ti.width]
                leaves.append(cast(x.as_signed() if ti.signed else x.as_unsigned(), ti, ta))
            total = build_adder_tree(m, leaves, shape_of(ta), self.levels_per_stage, f"sum{c}")
            q = Signal(shape_of(ta), name=f"q{c}")
            with m.Switch(sel):
                for n, d in enumerate(self.choices):
                    with m.Case(n):
                        m.d.comb += q.eq(divide_toward_zero(total, ta.width, d))
            y = Signal(shape_of(to), name=f"y{c}")
            m.d.sync += y.eq(cast(q, ta, to))
            outs.append(y)
        m.d.comb += self.o.eq(Cat(*outs))
        m.d.comb += self.o_valid.eq(delayed(m, self.i_valid, self.latency))
        return EnableInserter(self.en)(m)
