"""Fully parallel, pipelined dense (matrix-vector) layer.

Arithmetic follows hls4ml's ``Latency`` dense: every product ``x[i] * w[i][j]`` is exact, then cast to the
accumulator type; the bias (cast to the accumulator type) and the products are summed in the accumulator type
(wrap-around, so the order of additions does not matter); the sum is cast to the output type.

Each output is a :class:`Neuron`. Pipeline (one new input every cycle), see :func:`neuron_latency`:

1. products, cast to the accumulator type, registered (1 cycle);
2. a balanced adder tree over ``n_in + 1`` operands (products and bias), registered every ``levels_per_stage``
   levels (:func:`~rtl_lib.adder_tree.tree_latency` cycles);
3. cast to the output type: wiring when it is TRN and WRAP (the default; no cycle), otherwise a register (1 cycle,
   see :func:`cast_stages`).
"""

import numpy as np
from amaranth.hdl import Cat, ClockSignal, Const, EnableInserter, Instance, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from nn2rtl.fixed import Overflow

from .adder_tree import build_adder_tree, tree_latency
from .fixed import cast, cast_is_wiring, shape_of
from .pipeline import delayed

__all__ = ["Neuron", "DenseParallel", "neuron_latency", "cast_stages", "check_dense_params",
           "DEFAULT_LEVELS_PER_STAGE"]

#: Adder-tree levels between pipeline registers unless a layer asks otherwise.
DEFAULT_LEVELS_PER_STAGE = 2


def cast_stages(accum_type, out_type):
    """Registers spent on the cast of a sum to the output type: none when the cast is wiring (the adder tree ends
    in a register anyway), one when it rounds or saturates."""
    return 0 if cast_is_wiring(accum_type, out_type) else 1


def neuron_latency(n_in, levels_per_stage, accum_type, out_type):
    """Cycles from inputs to output of a :class:`Neuron` with ``n_in`` inputs: the one schedule of a dense layer."""
    return 1 + tree_latency(n_in + 1, levels_per_stage) + cast_stages(accum_type, out_type)


def _check_type_args(accum_type):
    if accum_type.overflow is not Overflow.WRAP:
        raise ValueError(f"the adder tree needs a WRAP accumulator (order-independent), not {accum_type}")


def check_dense_params(weights, weight_type, bias, bias_type, accum_type):
    """Validated ``(weights, bias, bias_type)`` of a dense block (a missing bias becomes zeros of the accumulator
    type); raises ValueError with the reason."""
    weights = np.asarray(weights)
    if weights.ndim != 2 or weights.size == 0:
        raise ValueError(f"weights must be a non-empty 2-D array, not shape {weights.shape}")
    if not weight_type.check_raw(weights):
        raise ValueError(f"weights do not fit {weight_type}")
    n_out = weights.shape[1]
    if bias is None:
        bias, bias_type = np.zeros(n_out, dtype=np.int64), accum_type
    bias = np.asarray(bias)
    if bias.shape != (n_out,):
        raise ValueError(f"bias must have shape ({n_out},), not {bias.shape}")
    if not bias_type.check_raw(bias):
        raise ValueError(f"bias does not fit {bias_type}")
    _check_type_args(accum_type)
    return weights, bias, bias_type


class Neuron(wiring.Component):
    """``y = cast_out(cast_acc(b) + sum_i cast_acc(x_i * w_i))``, pipelined; weights and bias are ports.

    Ports: ``x`` (``n_in`` packed inputs, element 0 in the least significant bits), ``w`` (``n_in`` packed
    weights), ``b`` (bias), ``en`` (clock enable: low freezes every register), ``y`` (output). Latency
    :func:`neuron_latency` enabled cycles, a new input every cycle.
    """

    def __init__(self, n_in, in_type, weight_type, bias_type, accum_type, out_type,
                 levels_per_stage=DEFAULT_LEVELS_PER_STAGE):
        if not isinstance(n_in, int) or n_in < 1:
            self._MustUse__silence = True
            raise ValueError(f"neuron input count must be a positive integer, not {n_in!r}")
        try:
            _check_type_args(accum_type)
        except ValueError:
            self._MustUse__silence = True
            raise
        self.n_in = n_in
        self.in_type, self.weight_type, self.bias_type = in_type, weight_type, bias_type
        self.accum_type, self.out_type = accum_type, out_type
        self.levels_per_stage = levels_per_stage
        self.latency = neuron_latency(n_in, levels_per_stage, accum_type, out_type)
        super().__init__({
            "x": In(n_in * in_type.width),
            "w": In(n_in * weight_type.width),
            "b": In(shape_of(bias_type)),
            "en": In(1, init=1),
            "y": Out(shape_of(out_type)),
        })

    def elaborate(self, platform):
        m = Module()
        ti, tw, tacc = self.in_type, self.weight_type, self.accum_type
        tp = ti.product(tw)
        acc_shape = shape_of(tacc)
        leaves = []
        for k in range(self.n_in):
            x = self.x[k * ti.width:(k + 1) * ti.width]
            w = self.w[k * tw.width:(k + 1) * tw.width]
            x = x.as_signed() if ti.signed else x
            w = w.as_signed() if tw.signed else w
            p = Signal(acc_shape, name=f"p{k}")
            m.d.sync += p.eq(cast(x * w, tp, tacc))
            leaves.append(p)
        b = Signal(acc_shape, name="bias")  # registered alongside the products
        m.d.sync += b.eq(cast(self.b, self.bias_type, tacc))
        leaves.append(b)
        acc = build_adder_tree(m, leaves, acc_shape, self.levels_per_stage, name="sum")
        domain = m.d.sync if cast_stages(tacc, self.out_type) else m.d.comb
        domain += self.y.eq(cast(acc, tacc, self.out_type))
        return EnableInserter(self.en)(m)


class DenseParallel(wiring.Component):
    """A dense layer with constant weights: ``n_out`` :class:`Neuron`\\ s side by side, sharing the input.

    Parameters
    ----------
    in_type, weight_type, bias_type, accum_type, out_type : FixedType
    weights : int array (n_in, n_out), raw values of ``weight_type``
    bias : int array (n_out,) of raw ``bias_type`` values, or None
    levels_per_stage : int
        Adder-tree levels between pipeline registers.
    library : ModuleLibrary or None
        With a library the neurons are instances of one shared module definition (fast conversion of big
        layers); without, they are ordinary submodules (simulatable with Amaranth's simulator).

    Ports: ``i`` (``n_in`` packed inputs), ``i_valid``, ``en`` (clock enable, for stalls), ``o`` (``n_out``
    packed outputs), ``o_valid``.
    """

    def __init__(self, in_type, weights, weight_type, bias, bias_type, accum_type, out_type,
                 levels_per_stage=DEFAULT_LEVELS_PER_STAGE, library=None):
        try:
            self._setup(in_type, weights, weight_type, bias, bias_type, accum_type, out_type, levels_per_stage,
                        library)
        except ValueError:
            self._MustUse__silence = True  # rejected parameters: not an unused design
            raise

    def _setup(self, in_type, weights, weight_type, bias, bias_type, accum_type, out_type, levels_per_stage,
               library):
        weights, bias, bias_type = check_dense_params(weights, weight_type, bias, bias_type, accum_type)
        self.n_in, self.n_out = weights.shape
        self.in_type, self.weight_type, self.bias_type = in_type, weight_type, bias_type
        self.accum_type, self.out_type = accum_type, out_type
        self.weights, self.bias = weights, bias
        self.levels_per_stage = levels_per_stage
        self.library = library
        self.latency = neuron_latency(self.n_in, levels_per_stage, accum_type, out_type)
        self.multipliers = self.n_in * self.n_out
        super().__init__({
            "i": In(self.n_in * in_type.width),
            "i_valid": In(1),
            "en": In(1, init=1),
            "o": Out(self.n_out * out_type.width),
            "o_valid": Out(1),
        })

    def _neuron(self):
        return Neuron(self.n_in, self.in_type, self.weight_type, self.bias_type, self.accum_type, self.out_type,
                      self.levels_per_stage)

    def elaborate(self, platform):
        m = Module()
        tw = self.weight_type
        module_name = None
        if self.library is not None:
            key = (self.n_in, self.in_type, self.weight_type, self.bias_type, self.accum_type, self.out_type,
                   self.levels_per_stage)
            module_name = self.library.request("neuron", key, self._neuron)
        outs = []
        for j in range(self.n_out):
            w = Const(sum((int(self.weights[i, j]) & ((1 << tw.width) - 1)) << (i * tw.width)
                          for i in range(self.n_in)), self.n_in * tw.width)
            b = Const(int(self.bias[j]), shape_of(self.bias_type))
            y = Signal(shape_of(self.out_type), name=f"y{j}")
            if module_name is not None:
                m.submodules[f"neuron{j}"] = Instance(
                    module_name, i_clk=ClockSignal(), i_rst=ResetSignal(), i_x=self.i, i_w=w, i_b=b, i_en=self.en,
                    o_y=y)
            else:
                n = m.submodules[f"neuron{j}"] = self._neuron()
                m.d.comb += [n.x.eq(self.i), n.w.eq(w), n.b.eq(b), n.en.eq(self.en), y.eq(n.y)]
            outs.append(y)
        m.d.comb += self.o.eq(Cat(*outs))
        m.d.comb += self.o_valid.eq(delayed(m, self.i_valid, self.latency))
        return EnableInserter(self.en)(m)
