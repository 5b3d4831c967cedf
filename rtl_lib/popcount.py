"""Binary dense layer: inputs and weights are both +-1, so each product is +1 where their signs agree, and a sum
is ``2 * popcount(agree) - n_in`` (XNOR-popcount, as in BNN accelerators). No multiplier, and the adder tree
works on counts (``ceil(log2(n_in + 1))`` bits) instead of accumulator-wide products.

Inputs are raw +-1 values of a two's-complement type (their sign bit says -1); weights are raw +-1 constants.
``y = cast_out(cast_acc(2 * popcount - n_in) + cast_acc(b))``, the sum exact on the product grid, which
requires an accumulator at least as fine as the product (``accum.frac >= product.frac``).

Ports: ``i``, ``i_valid``, ``en``, ``o``, ``o_valid`` (as :class:`rtl_lib.dense.DenseParallel`). Schedule
:func:`popcount_latency`: one register of the agreement bits, the adder tree over the bits, one register for the
offset, bias and final cast.
"""

import numpy as np
from amaranth.hdl import Cat, Const, EnableInserter, Module, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from nn2rtl.fixed import FixedType

from .adder_tree import build_adder_tree, tree_latency, tree_registers
from .fixed import cast, shape_of
from .pipeline import delayed

__all__ = ["XnorPopcountDense", "popcount_latency", "popcount_registers"]


def popcount_latency(n_in, levels_per_stage):
    return 2 + tree_latency(n_in, levels_per_stage)


def popcount_registers(n_in, n_out, levels_per_stage, out_type):
    cw = n_in.bit_length()
    return n_out * (n_in + tree_registers(n_in, levels_per_stage) * cw + out_type.width) + \
        popcount_latency(n_in, levels_per_stage)


class XnorPopcountDense(wiring.Component):
    def __init__(self, in_type, weights, weight_type, bias, bias_type, accum_type, out_type, levels_per_stage=2):
        weights = np.asarray(weights)

        def refuse(msg):
            self._MustUse__silence = True
            raise ValueError(msg)
        if weights.ndim != 2 or weights.size == 0 or not np.all(np.abs(weights) == 1):
            refuse("weights must be a non-empty matrix of raw +-1 values")
        if not in_type.signed or not weight_type.signed:
            refuse("inputs and weights must be signed types holding +-1")
        tp = in_type.product(weight_type)
        if accum_type.frac < tp.frac:
            refuse(f"the accumulator {accum_type} is coarser than the products {tp}: each product would round")
        n_in, n_out = weights.shape
        if bias is None:
            bias, bias_type = np.zeros(n_out, dtype=np.int64), accum_type
        self.n_in, self.n_out = n_in, n_out
        self.in_type, self.weight_type, self.bias_type = in_type, weight_type, bias_type
        self.accum_type, self.out_type, self.product_type = accum_type, out_type, tp
        self.weights, self.bias = weights, np.asarray(bias)
        self.levels_per_stage = levels_per_stage
        self.latency = popcount_latency(n_in, levels_per_stage)
        self.multipliers = 0
        self.registers = popcount_registers(n_in, n_out, levels_per_stage, out_type)
        super().__init__({"i": In(n_in * in_type.width), "i_valid": In(1), "en": In(1, init=1),
                          "o": Out(n_out * out_type.width), "o_valid": Out(1)})

    def elaborate(self, platform):
        m = Module()
        wi = self.in_type.width
        neg = Cat(*[self.i[(k + 1) * wi - 1] for k in range(self.n_in)])  # 1 where the input is -1
        cw = self.n_in.bit_length()
        count_shape = unsigned(cw)
        # the sum on the product grid, as a type: 2 * count - n_in needs cw + 2 signed bits
        tsum = FixedType(cw + 2, cw + 2 - self.product_type.frac, True)
        outs = []
        for j in range(self.n_out):
            wneg = Const(sum(1 << k for k in range(self.n_in) if self.weights[k, j] < 0), self.n_in)
            agree = Signal(self.n_in, name=f"agree{j}")  # product +1: the signs agree
            m.d.sync += agree.eq(~(neg ^ wneg))
            leaves = [agree[k].as_unsigned() for k in range(self.n_in)]
            count = build_adder_tree(m, [Cat(b, Const(0, cw - 1)) if cw > 1 else b for b in leaves],
                                     count_shape, self.levels_per_stage, name=f"pc{j}")
            total = Signal(tsum.width, name=f"sum{j}")
            m.d.comb += total.eq((count << 1) - self.n_in)
            acc = cast(total.as_signed(), tsum, self.accum_type) + \
                cast(Const(int(self.bias[j]), shape_of(self.bias_type)), self.bias_type, self.accum_type)
            y = Signal(shape_of(self.out_type), name=f"y{j}")
            m.d.sync += y.eq(cast(acc[:self.accum_type.width].as_signed(), self.accum_type, self.out_type))
            outs.append(y)
        m.d.comb += self.o.eq(Cat(*outs))
        m.d.comb += self.o_valid.eq(delayed(m, self.i_valid, self.latency))
        return EnableInserter(self.en)(m)
