"""Multi-threshold quantisation: ``code = base + sign * step * #{k: x >= T[k]}`` per element.

Each element has its own ascending thresholds (raw integers on the input grid). The count is found by binary
search over the sorted thresholds: one comparison per output bit, each against a constant chosen by the bits
already decided (a small multiplexer of constants, LUTs), so an element with ``L`` thresholds costs
``ceil(log2(L + 1))`` comparators rather than ``L``. ``levels_per_stage`` comparisons are chained per pipeline
stage; :func:`threshold_latency` is the schedule the cost model reads.

Ports as :mod:`rtl_lib.activation`: ``i``/``i_valid``, ``o``/``o_valid``, ``en`` (clock enable).
"""

from amaranth.hdl import Cat, Const, Module, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["MultiThreshold", "threshold_latency", "search_bits"]


def search_bits(levels):
    """Binary-search steps (= bits of the count) for ``levels`` thresholds."""
    return max(levels, 0).bit_length()


def threshold_latency(levels, levels_per_stage):
    """Pipeline stages of a :class:`MultiThreshold`: ``levels_per_stage`` search steps each, at least one."""
    return max(1, -(-search_bits(levels) // levels_per_stage))


class MultiThreshold(wiring.Component):
    """``n`` elements of ``in_type`` -> ``n`` codes of ``out_type`` (raw), by comparison with ``thresholds``.

    Parameters
    ----------
    thresholds : list of n ascending lists, all of one length ``L``; values within ``[min_raw, max_raw + 1]``
    base, sign : per element; ``sign`` is +1 or -1
    step : the code distance between levels (2 for a bipolar +-1 output)
    """

    def __init__(self, n, in_type, out_type, thresholds, base, sign, step=1, levels_per_stage=2):
        def refuse(msg):
            self._MustUse__silence = True
            raise ValueError(msg)
        if not isinstance(n, int) or n < 1:
            refuse(f"element count must be a positive integer, not {n!r}")
        if len(thresholds) != n or len(base) != n or len(sign) != n:
            refuse(f"need thresholds, base and sign for each of the {n} elements")
        levels = len(thresholds[0])
        for k, t in enumerate(thresholds):
            if len(t) != levels:
                refuse(f"element {k} has {len(t)} thresholds, element 0 has {levels}")
            if list(t) != sorted(t):
                refuse(f"thresholds of element {k} are not ascending")
            if t and (t[0] < in_type.min_raw or t[-1] > in_type.max_raw + 1):
                refuse(f"thresholds of element {k} lie outside [{in_type.min_raw}, {in_type.max_raw + 1}]")
        if any(s not in (1, -1) for s in sign):
            refuse("sign must be +1 or -1")
        if not isinstance(levels_per_stage, int) or levels_per_stage < 1:
            refuse(f"levels_per_stage must be a positive integer, not {levels_per_stage!r}")
        self.n, self.in_type, self.out_type = n, in_type, out_type
        self.thresholds = [[int(v) for v in t] for t in thresholds]
        self.base, self.sign, self.step = [int(b) for b in base], [int(s) for s in sign], int(step)
        self.levels, self.levels_per_stage = levels, levels_per_stage
        self.bits = search_bits(levels)
        self.latency = threshold_latency(levels, levels_per_stage)
        self.comparators = n * self.bits
        self.rom_bits = n * levels * (in_type.width + 1)
        w = in_type.width + self.bits
        self.registers = n * ((self.latency - 1) * w + out_type.width) + self.latency
        super().__init__({"i": In(n * in_type.width), "i_valid": In(1), "o": Out(n * out_type.width),
                          "o_valid": Out(1), "en": In(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        w_in, w_out = self.in_type.width, self.out_type.width
        cmp_shape = signed(w_in + 2)
        pad = (1 << self.bits) - 1  # thresholds after padding: a full binary-search tree
        never = self.in_type.max_raw + 1
        outs = []
        valid = self.i_valid
        stages = [list(range(self.bits - 1, -1, -1))[s:s + self.levels_per_stage]
                  for s in range(0, self.bits, self.levels_per_stage)] or [[]]
        # per element: the input and the count so far travel through the stages together
        xs = []
        for k in range(self.n):
            raw = self.i[k * w_in:(k + 1) * w_in]
            xs.append(raw.as_signed() if self.in_type.signed else raw.as_unsigned())
        cs = [Const(0, unsigned(max(self.bits, 1))) for _ in range(self.n)]
        for s, bits in enumerate(stages):
            for k in range(self.n):
                t = self.thresholds[k] + [never] * (pad - self.levels)
                c = cs[k]
                for b in bits:
                    # candidates for T[c + 2**b - 1], c holding only bits above b
                    cands = [t[(h << (b + 1)) + (1 << b) - 1] for h in range(1 << (self.bits - 1 - b))]
                    if len(set(cands)) == 1:
                        thr = Const(cands[0], cmp_shape)
                    else:  # a small constant table read combinationally (LUTs; one $mem cell, fast to build)
                        rom = Memory(shape=cmp_shape, depth=len(cands), init=cands)
                        m.submodules[f"t{k}_b{b}"] = rom
                        port = rom.read_port(domain="comb")
                        m.d.comb += port.addr.eq(c >> (b + 1))
                        thr = port.data
                    bit = Signal(name=f"e{k}_b{b}")  # a named wire: later steps index by it (no copied logic)
                    m.d.comb += bit.eq(xs[k] >= thr)
                    c = Cat(c[:b], bit, c[b + 1:])[:self.bits]
                cs[k] = c
            if s < len(stages) - 1:  # a pipeline register between stages
                for k in range(self.n):
                    xr = Signal(xs[k].shape(), name=f"x{k}_s{s}")
                    cr = Signal(self.bits, name=f"c{k}_s{s}")
                    with m.If(self.en):
                        m.d.sync += [xr.eq(xs[k]), cr.eq(cs[k])]
                    xs[k], cs[k] = xr, cr
                vr = Signal(name=f"valid_s{s}")
                with m.If(self.en):
                    m.d.sync += vr.eq(valid)
                valid = vr
        for k in range(self.n):
            base = Const(self.base[k], signed(max(self.base[k].bit_length() + 2, 2)))
            delta = cs[k] * self.step if self.step != 1 else cs[k]
            code = Signal(signed(w_out), name=f"code{k}")  # the exact code, sign-extended or truncated to w_out
            m.d.comb += code.eq(base + delta if self.sign[k] > 0 else base - delta)
            outs.append(code)
        with m.If(self.en):
            m.d.sync += [self.o.eq(Cat(*outs)), self.o_valid.eq(valid)]
        return m
