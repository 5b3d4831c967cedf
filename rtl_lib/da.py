"""Multiplier-free dense layer (``Strategy: distributed_arithmetic``): a constant matrix times a vector as shifts
and additions.

Each weight is written in canonical signed digits (:func:`csd`: non-adjacent form, the fewest non-zero digits of
+-1), so its product with an input is a sum of shifted copies of the input (:class:`ConstMul`): adders on wiring,
no multiplier and no DSP; a zero weight is nothing, a +-2^k weight one shifted copy. Each output adds its products
and its bias in an adder tree (:class:`SumNeuron`), registered every ``levels_per_stage`` levels.

The products are cast to the accumulator type one by one, as hls4ml's arithmetic says. When the accumulator keeps
every fractional bit of the products (``accum.frac >= (in * weight).frac``: quantised models, ``auto``
accumulators) that cast drops nothing and the product is wiring into the tree, with no register of its own
(``exact``); otherwise (hls4ml's default ``fixed<16,6>`` everywhere) each product is rounded and registered
first: one more cycle.

Both building blocks are shared module definitions (a constant multiplier per weight value, a sum per input
count), so a layer of thousands of adders converts in seconds. Not yet: sharing subexpressions across products
(da4ml's method), which needs the exact case.

The schedule (:func:`da_latency`) is a pure function of the weights and types, used to build and to report.
"""

import numpy as np
from amaranth.hdl import Cat, ClockSignal, Const, EnableInserter, Instance, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from nn2rtl.fixed import FixedType

from .adder_tree import tree_latency, tree_registers
from .dense import cast_stages, setup_dense, sum_to_output
from .fixed import cast, shape_of
from .pipeline import delayed

__all__ = ["csd", "ConstMul", "SumNeuron", "DenseDA", "da_plan", "da_latency", "da_registers"]


def csd(w):
    """Canonical signed digits of integer ``w``: ``[(shift, sign)]`` with ``w = sum(sign << shift)``, no two
    adjacent shifts (non-adjacent form: the fewest non-zero digits)."""
    w = int(w)
    out, k = [], 0
    while w:
        if w & 1:
            d = 2 - (w & 3)  # +1 when w = 1 mod 4, -1 when w = 3 mod 4
            out.append((k, d))
            w -= d
        w >>= 1
        k += 1
    return out


def exact_sharing(in_type, weight_type, accum_type):
    """Whether the accumulator holds every fractional bit of the products (then a product is cast without
    rounding: wiring into the tree, no register of its own)."""
    return accum_type.frac >= in_type.product(weight_type).frac


def da_plan(weights, bias, in_type, weight_type, accum_type):
    """``(exact, leaves per output, adders)``: whether the products need no rounding (then no register), the
    adder-tree leaves of each output (its non-zero products and the bias), and the two-input adders of the whole
    layer (the products' shift-and-add sums and the trees)."""
    w = np.asarray(weights)
    digits = np.vectorize(lambda v: len(csd(v)), otypes=[np.int64])(w) if w.size else np.zeros(w.shape, np.int64)
    exact = exact_sharing(in_type, weight_type, accum_type)
    leaves = (digits > 0).sum(axis=0) + 1
    adders = int(np.maximum(digits - 1, 0).sum() + (leaves - 1).sum())
    return exact, leaves.astype(np.int64), adders


def _product_stages(exact):
    return 0 if exact else 1


def da_latency(weights, bias, in_type, weight_type, accum_type, out_type, levels_per_stage):
    """Cycles from input to output of a :class:`DenseDA`: the widest output's tree decides."""
    exact, leaves, _ = da_plan(weights, bias, in_type, weight_type, accum_type)
    return (_product_stages(exact) + tree_latency(int(leaves.max()), levels_per_stage)
            + cast_stages(accum_type, out_type))


def da_registers(weights, bias, in_type, weight_type, accum_type, out_type, levels_per_stage):
    """Flip-flop bits (an estimate before synthesis): product registers (when rounded), tree stages, output cast
    and alignment, the valid pipeline."""
    exact, leaves, _ = da_plan(weights, bias, in_type, weight_type, accum_type)
    latency = da_latency(weights, bias, in_type, weight_type, accum_type, out_type, levels_per_stage)
    total = latency
    for n in leaves:
        if n == 1:
            continue  # a constant output
        own = _product_stages(exact) + tree_latency(int(n), levels_per_stage) + cast_stages(accum_type, out_type)
        total += (tree_registers(int(n), levels_per_stage) + (0 if exact else int(n) - 1)) * accum_type.width
        total += out_type.width * (cast_stages(accum_type, out_type) + latency - own)
    return total


class ConstMul(wiring.Component):
    """``y = cast_acc(x * w)`` for one constant ``w``, as the sum of ``x``'s shifted copies by :func:`csd`;
    registered when ``registered`` (a product cast on its own: one pipeline stage). Port ``x``, ``en``, ``y``."""

    def __init__(self, w, in_type, weight_type, accum_type, registered):
        self.w, self.in_type, self.weight_type, self.accum_type = int(w), in_type, weight_type, accum_type
        self.registered = registered
        self.adders = max(len(csd(w)) - 1, 0)
        super().__init__({"x": In(in_type.width), "en": In(1, init=1), "y": Out(shape_of(accum_type))})

    def elaborate(self, platform):
        m = Module()
        ti, tacc = self.in_type, self.accum_type
        tp = ti.product(self.weight_type)
        src = tp if tp.signed else FixedType(tp.width + 1, tp.integer + 1, True)
        x = self.x.as_signed() if ti.signed else Cat(self.x, Const(0, 1)).as_signed()
        terms = [(x << k) if sign > 0 else -(x << k) for k, sign in csd(self.w)]
        prod = terms[0]
        for t in terms[1:]:
            prod = prod + t
        domain = m.d.sync if self.registered else m.d.comb
        domain += self.y.eq(cast(prod, src, tacc))
        return EnableInserter(self.en)(m)


class SumNeuron(wiring.Component):
    """``y = cast_out(b + sum p)`` over ``n`` products already on the accumulator grid, through an adder tree
    registered every ``levels_per_stage`` levels, then delayed to ``latency`` cycles after its products
    (``own`` stages of the products before it count towards the latency). Ports ``p``, ``b``, ``en``, ``y``."""

    def __init__(self, n, accum_type, out_type, levels_per_stage, latency, product_stages):
        self.n, self.accum_type, self.out_type = n, accum_type, out_type
        self.levels_per_stage, self.product_stages = levels_per_stage, product_stages
        self.own = product_stages + tree_latency(n + 1, levels_per_stage) + cast_stages(accum_type, out_type)
        self.latency = latency
        if latency < self.own:
            self._MustUse__silence = True
            raise ValueError(f"latency {latency} is below the neuron's own {self.own}")
        super().__init__({"p": In(n * accum_type.width), "b": In(shape_of(accum_type)), "en": In(1, init=1),
                          "y": Out(shape_of(out_type))})

    def elaborate(self, platform):
        m = Module()
        tacc, tout = self.accum_type, self.out_type
        W = tacc.width
        leaves = [self.p[k * W:(k + 1) * W] for k in range(self.n)] + [self.b]
        leaves = [v.as_signed() if tacc.signed else v for v in leaves]
        sum_to_output(m, leaves, tacc, tout, self.levels_per_stage, self.latency - self.own, self.y)
        return EnableInserter(self.en)(m)


class DenseDA(wiring.Component):
    """A dense layer with constant weights as shift-and-add graphs (see the module docstring).

    Ports as :class:`~rtl_lib.dense.DenseParallel`: ``i``, ``i_valid``, ``en``, ``o``, ``o_valid``. Attributes:
    ``latency``, ``adders``, ``exact`` (the products need no rounding: no register of their own),
    ``multipliers`` (0).
    """

    multipliers = 0

    def __init__(self, in_type, weights, weight_type, bias, bias_type, accum_type, out_type, levels_per_stage=2,
                 latency=None, library=None):
        try:
            setup_dense(self, in_type, weights, weight_type, bias, bias_type, accum_type, out_type, levels_per_stage,
                        library, latency, lambda w, b: da_latency(w, b, in_type, weight_type, accum_type, out_type,
                                                                 levels_per_stage))
        except ValueError:
            self._MustUse__silence = True
            raise
        self.exact, self.leaves, self.adders = da_plan(self.weights, self.bias, in_type, weight_type, accum_type)
        super().__init__({"i": In(self.n_in * in_type.width), "i_valid": In(1), "en": In(1, init=1),
                          "o": Out(self.n_out * out_type.width), "o_valid": Out(1)})

    def _sub(self, m, name, kind, key, factory, clocked, **ports):
        """A submodule: an instance of a shared library definition, or (no library) the component itself."""
        if self.library is not None:
            mod = self.library.request(kind, key, factory)
            clock = dict(i_clk=ClockSignal(), i_rst=ResetSignal()) if clocked else {}
            m.submodules[name] = Instance(mod, **clock,
                                          **{("o_" if k == "y" else "i_") + k: v for k, v in ports.items()})
            return
        sub = m.submodules[name] = factory()
        m.d.comb += [getattr(sub, k).eq(v) if k != "y" else v.eq(sub.y) for k, v in ports.items()]

    def elaborate(self, platform):
        m = Module()
        ti, tw, tacc, tout = self.in_type, self.weight_type, self.accum_type, self.out_type
        registered = not self.exact
        stages = _product_stages(self.exact)
        outs = []
        for j in range(self.n_out):
            bias = int(tacc.cast(np.array(int(self.bias[j])), self.bias_type))
            y = Signal(shape_of(tout), name=f"y{j}")
            outs.append(y)
            prods = []
            for i in range(self.n_in):
                w = int(self.weights[i, j])
                if w == 0:
                    continue
                p = Signal(shape_of(tacc), name=f"p{i}_{j}")
                self._sub(m, f"mul{i}_{j}", "cmul", (w, ti, tw, tacc, registered),
                          lambda w=w: ConstMul(w, ti, tw, tacc, registered), registered,
                          x=self.i[i * ti.width:(i + 1) * ti.width], en=self.en, y=p)
                prods.append(p)
            if not prods:  # no input reaches this output: a constant
                m.d.comb += y.eq(Const(int(tout.cast(np.array(bias), tacc)), shape_of(tout)))
                continue
            n = len(prods)
            self._sub(m, f"sum{j}", "dsum", (n, tacc, tout, self.levels_per_stage, self.latency, stages),
                      lambda n=n: SumNeuron(n, tacc, tout, self.levels_per_stage, self.latency, stages), True,
                      p=Cat(*prods), b=Const(bias, shape_of(tacc)), en=self.en, y=y)
        m.d.comb += self.o.eq(Cat(*outs))
        m.d.comb += self.o_valid.eq(delayed(m, self.i_valid, self.latency))
        return EnableInserter(self.en)(m)
