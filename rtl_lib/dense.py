"""Fully parallel, pipelined dense (matrix-vector) layer.

Arithmetic follows hls4ml's ``Latency`` dense: every product ``x[i] * w[i][j]`` is exact, then cast to the
accumulator type; the bias (cast to the accumulator type) and the products are summed in the accumulator type
(wrap-around, so the order of additions does not matter); the sum is cast to the output type.

Each output is a :class:`SparseNeuron`: its weights are constants, so a zero weight costs nothing (no product, no
adder-tree leaf, no register), a weight of ``+-2**k`` is a shift (no multiplier), and only the other weights get a
multiplier (:func:`count_multipliers`). Pipeline (one new input every cycle), see :func:`dense_latency`:

1. products, cast to the accumulator type, registered (1 cycle);
2. a balanced adder tree over the non-zero products and the bias, registered every ``levels_per_stage``
   levels (:func:`~rtl_lib.adder_tree.tree_latency` cycles);
3. cast to the output type: wiring when it is TRN and WRAP (the default; no cycle), otherwise a register (1 cycle,
   see :func:`cast_stages`);
4. neurons with fewer leaves than the layer's widest are delayed at their output to the layer's latency.
"""

import numpy as np
from amaranth.hdl import Cat, ClockSignal, Const, EnableInserter, Instance, Module, Mux, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from nn2rtl.fixed import FixedType, Overflow

from .adder_tree import build_adder_tree, tree_latency, tree_registers
from .fixed import cast, cast_is_wiring, shape_of
from .pipeline import delayed

__all__ = ["SparseNeuron", "DenseParallel", "dense_latency", "dense_leaves", "dense_registers", "count_multipliers",
           "needs_multiplier", "is_shift_weight", "setup_dense", "sum_to_output", "cast_stages",
           "check_dense_params", "DEFAULT_LEVELS_PER_STAGE"]

#: Adder-tree levels between pipeline registers unless a layer asks otherwise.
DEFAULT_LEVELS_PER_STAGE = 2


def cast_stages(accum_type, out_type):
    """Registers spent on the cast of a sum to the output type: none when the cast is wiring (the adder tree ends
    in a register anyway), one when it rounds or saturates."""
    return 0 if cast_is_wiring(accum_type, out_type) else 1


def is_shift_weight(w):
    """Whether a raw weight is ``+-2**k``: its product is a shift (and a negation), not a multiplier."""
    a = abs(int(w))
    return a != 0 and a & (a - 1) == 0


def needs_multiplier(weights):
    """Boolean array: which constant weights need a multiplier (neither zero nor ``+-2**k``)."""
    w = np.asarray(weights)
    return np.vectorize(lambda v: v != 0 and not is_shift_weight(v), otypes=[bool])(w) if w.size else \
        np.zeros(w.shape, bool)


def count_multipliers(weights):
    """Multipliers a constant-weight product needs: one per weight that is neither zero nor ``+-2**k``."""
    return int(needs_multiplier(weights).sum())


def dense_leaves(weights, bias):
    """Adder-tree leaves of each output of a constant-weight dense product: its non-zero weights and the bias
    (a zero bias too: columns then share module definitions; synthesis removes it)."""
    w = np.asarray(weights)
    return (w != 0).sum(axis=0).astype(np.int64) + 1


def dense_latency(weights, bias, levels_per_stage, accum_type, out_type):
    """Cycles from inputs to outputs of a :class:`DenseParallel` with these constant weights: the widest output's
    tree decides (the one schedule of a dense layer at reuse factor 1)."""
    leaves = int(dense_leaves(weights, bias).max())
    return 1 + tree_latency(leaves, levels_per_stage) + cast_stages(accum_type, out_type)


def dense_registers(weights, bias, levels_per_stage, accum_type, out_type, latency=None):
    """Flip-flop bits of a :class:`DenseParallel` (an estimate before synthesis): registered products, adder-tree
    stages, the output cast, the alignment of shorter trees, the valid pipeline."""
    w = np.asarray(weights)
    latency = latency or dense_latency(w, bias, levels_per_stage, accum_type, out_type)
    total = latency
    for j, leaves in enumerate(dense_leaves(w, bias)):
        products = int((w[:, j] != 0).sum())
        if products == 0:
            continue  # a constant output
        products += 1  # the bias register
        own = 1 + tree_latency(int(leaves), levels_per_stage) + cast_stages(accum_type, out_type)
        total += (products + tree_registers(int(leaves), levels_per_stage)) * accum_type.width
        total += out_type.width * (cast_stages(accum_type, out_type) + latency - own)
    return total


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


def setup_dense(block, in_type, weights, weight_type, bias, bias_type, accum_type, out_type, levels_per_stage,
                library, latency, own_latency):
    """Check and record the parameters of a constant-weight dense block (``DenseParallel``, ``DenseDA``) on
    ``block``; ``own_latency(weights, bias)`` is its schedule, ``latency`` a longer one to align to (or None)."""
    weights, bias, bias_type = check_dense_params(weights, weight_type, bias, bias_type, accum_type)
    block.n_in, block.n_out = weights.shape
    block.in_type, block.weight_type, block.bias_type = in_type, weight_type, bias_type
    block.accum_type, block.out_type = accum_type, out_type
    block.weights, block.bias = weights, bias
    block.levels_per_stage = levels_per_stage
    block.library = library
    own = own_latency(weights, bias)
    if latency is not None and latency < own:
        raise ValueError(f"latency {latency} is below the layer's own {own}")
    block.latency = own if latency is None else latency  # a longer one: every output aligned to it


def sum_to_output(m, leaves, accum_type, out_type, levels_per_stage, align, y, raw_products=False):
    """Drive ``y`` with ``cast_out(sum leaves)``: the pipelined adder tree, the output cast (registered when it
    rounds or saturates), then ``align`` more registers (a neuron narrower than its layer's widest).
    ``raw_products``: see :func:`~rtl_lib.adder_tree.build_adder_tree`."""
    acc = build_adder_tree(m, leaves, shape_of(accum_type), levels_per_stage, name="sum", raw_products=raw_products)
    out = Signal(shape_of(out_type), name="out")
    domain = m.d.sync if cast_stages(accum_type, out_type) else m.d.comb
    domain += out.eq(cast(acc, accum_type, out_type))
    m.d.comb += y.eq(delayed(m, out, align, name="align"))


def _split_column(column):
    """``(multiplied, shifted)`` of a constant weight column: ``[(input, weight)]`` for weights needing a
    multiplier, ``[(input, k, negative)]`` for ``+-2**k`` weights; zeros are left out."""
    mult, shift = [], []
    for i, w in enumerate(int(v) for v in column):
        if w == 0:
            continue
        if is_shift_weight(w):
            shift.append((i, abs(w).bit_length() - 1, w < 0))
        else:
            mult.append((i, w))
    return mult, shift


class SparseNeuron(wiring.Component):
    """One output of a constant-weight dense product, given only what it needs: ``n_mult`` inputs with their
    weights (multiplied), ``n_shift`` inputs already shifted left by their weight's ``k`` (``+-2**k`` weights: a
    shift is wiring, done by the caller; ``neg`` marks the negative ones), and the bias.

    ``y = cast_out(cast_acc(b) + sum cast_acc(x_m * w_m) + sum cast_acc(+-x_s))``, pipelined to ``latency``
    cycles (the products' register, the adder tree over the ``n_mult + n_shift + 1`` leaves, the output cast,
    then alignment registers up to ``latency``). The structure depends on the counts and types only, so the
    columns of a layer share a few module definitions; the weights, shift flags and bias are ports that the
    instances tie to constants.

    Ports: ``x`` (``n_mult`` inputs), ``w`` (``n_mult`` weights), ``xs`` (``n_shift`` shifted inputs of
    ``in_type.width + shift_bits`` bits, signed), ``neg`` (``n_shift`` bits), ``b`` (bias), ``en``, ``y``.
    """

    def __init__(self, n_mult, n_shift, shift_bits, in_type, weight_type, bias_type, accum_type, out_type,
                 levels_per_stage=DEFAULT_LEVELS_PER_STAGE, latency=None):
        leaves = n_mult + n_shift + 1
        self.n_mult, self.n_shift, self.shift_bits = n_mult, n_shift, shift_bits
        self.in_type, self.weight_type, self.bias_type = in_type, weight_type, bias_type
        self.accum_type, self.out_type = accum_type, out_type
        self.levels_per_stage = levels_per_stage
        self.own_latency = 1 + tree_latency(leaves, levels_per_stage) + cast_stages(accum_type, out_type)
        self.latency = self.own_latency if latency is None else latency
        if self.latency < self.own_latency:
            self._MustUse__silence = True
            raise ValueError(f"latency {latency} is below the neuron's own {self.own_latency}")
        super().__init__({
            "x": In(max(1, n_mult * in_type.width)), "w": In(max(1, n_mult * weight_type.width)),
            "xs": In(max(1, n_shift * (in_type.width + 1 + shift_bits))), "neg": In(max(1, n_shift)),
            "b": In(shape_of(bias_type)), "en": In(1, init=1), "y": Out(shape_of(out_type)),
        })

    def elaborate(self, platform):
        m = Module()
        ti, tw, tacc, tout = self.in_type, self.weight_type, self.accum_type, self.out_type
        tp = ti.product(tw)
        src = tp if tp.signed else FixedType(tp.width + 1, tp.integer + 1, True)  # the terms are signed values
        acc_shape = shape_of(tacc)
        leaves = []
        for k in range(self.n_mult):
            x = self.x[k * ti.width:(k + 1) * ti.width]
            w = self.w[k * tw.width:(k + 1) * tw.width]
            x = x.as_signed() if ti.signed else x
            w = w.as_signed() if tw.signed else w
            p = Signal(acc_shape, name=f"p{k}")
            m.d.sync += p.eq(cast(x * w, src, tacc))
            leaves.append(p)
        sw = ti.width + 1 + self.shift_bits
        for k in range(self.n_shift):
            v = self.xs[k * sw:(k + 1) * sw].as_signed()
            p = Signal(acc_shape, name=f"s{k}")
            m.d.sync += p.eq(cast(Mux(self.neg[k], -v, v), src, tacc))
            leaves.append(p)
        b = Signal(acc_shape, name="bias")  # registered alongside the products
        m.d.sync += b.eq(cast(self.b, self.bias_type, tacc))
        leaves.append(b)
        # the accumulator keeps every product bit: the leaves are the multipliers' outputs as they are
        raw = tacc.frac == src.frac
        sum_to_output(m, leaves, tacc, tout, self.levels_per_stage, self.latency - self.own_latency, self.y, raw)
        return EnableInserter(self.en)(m)


class DenseParallel(wiring.Component):
    """A dense layer with constant weights: ``n_out`` :class:`SparseNeuron`\\ s side by side, sharing the input.

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
                 levels_per_stage=DEFAULT_LEVELS_PER_STAGE, library=None, latency=None):
        try:
            self._setup(in_type, weights, weight_type, bias, bias_type, accum_type, out_type, levels_per_stage,
                        library, latency)
        except ValueError:
            self._MustUse__silence = True  # rejected parameters: not an unused design
            raise

    def _setup(self, in_type, weights, weight_type, bias, bias_type, accum_type, out_type, levels_per_stage,
               library, latency):
        setup_dense(self, in_type, weights, weight_type, bias, bias_type, accum_type, out_type, levels_per_stage,
                    library, latency, lambda w, b: dense_latency(w, b, levels_per_stage, accum_type, out_type))
        self.multipliers = count_multipliers(self.weights)
        super().__init__({
            "i": In(self.n_in * in_type.width),
            "i_valid": In(1),
            "en": In(1, init=1),
            "o": Out(self.n_out * out_type.width),
            "o_valid": Out(1),
        })

    def _shift_bits(self):
        return max([k for j in range(self.n_out) for _, k, _ in _split_column(self.weights[:, j])[1]], default=0)

    def elaborate(self, platform):
        m = Module()
        ti, tw, tacc, tout = self.in_type, self.weight_type, self.accum_type, self.out_type
        kmax = self._shift_bits()
        sw = ti.width + 1 + kmax
        outs = []
        for j in range(self.n_out):
            y = Signal(shape_of(tout), name=f"y{j}")
            outs.append(y)
            mult, shift = _split_column(self.weights[:, j])
            bias = int(self.bias[j])
            if not mult and not shift:  # no input reaches this output: a constant
                m.d.comb += y.eq(Const(int(tout.cast(tacc.cast(np.array(bias), self.bias_type), tacc)),
                                       shape_of(tout)))
                continue
            args = (len(mult), len(shift), kmax, ti, tw, self.bias_type, tacc, tout, self.levels_per_stage,
                    self.latency)
            x = Cat(*[self.i[i * ti.width:(i + 1) * ti.width] for i, _ in mult]) if mult else Const(0, 1)
            w = Cat(*[Const(wv & ((1 << tw.width) - 1), tw.width) for _, wv in mult]) if mult else Const(0, 1)
            xs = []
            for i, k, _ in shift:  # the shift is wiring: the input, sign-extended, with k zeros appended
                v = self.i[i * ti.width:(i + 1) * ti.width]
                v = v.as_signed() if ti.signed else Cat(v, Const(0, 1)).as_signed()
                xs.append(Cat(Const(0, k), v, v[-1].replicate(sw - k - len(v))))
            xs = Cat(*xs) if xs else Const(0, 1)
            neg = Cat(*[Const(int(n), 1) for _, _, n in shift]) if shift else Const(0, 1)
            b = Const(bias, shape_of(self.bias_type))
            if self.library is not None:
                name = self.library.request("neuron", args, lambda a=args: SparseNeuron(*a))
                m.submodules[f"neuron{j}"] = Instance(name, i_clk=ClockSignal(), i_rst=ResetSignal(), i_x=x, i_w=w,
                                                      i_xs=xs, i_neg=neg, i_b=b, i_en=self.en, o_y=y)
            else:
                n = m.submodules[f"neuron{j}"] = SparseNeuron(*args)
                m.d.comb += [n.x.eq(x), n.w.eq(w), n.xs.eq(xs), n.neg.eq(neg), n.b.eq(b), n.en.eq(self.en),
                             y.eq(n.y)]
        m.d.comb += self.o.eq(Cat(*outs))
        m.d.comb += self.o_valid.eq(delayed(m, self.i_valid, self.latency))
        return EnableInserter(self.en)(m)
