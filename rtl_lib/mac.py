"""Time-multiplexed dense layer: a multiply-accumulate array sized by the reuse factor.

A layer with ``P = n_in * n_out`` products and reuse factor ``R`` has ``M = ceil(P / R)`` multipliers; each is used
in up to ``R`` rounds per input (the last one idles in the rounds past ``P``), so a new input is accepted every
``R`` cycles. The products are numbered output-major, ``k = j * n_in + i``, and multiplier ``m`` computes products
``m*R .. m*R + R-1``, one per round: its weights are constants selected by the round counter (a multiplexer of
constants, which synthesis maps to LUTs, i.e. a distributed ROM). Its inputs need no multiplexer: in output-major
order consecutive products read consecutive inputs (``i = k mod n_in``), so the registered input vector rotates by
one element per round and multiplier ``m`` always reads element ``m*R mod n_in``.
A pruned layer skips its zero weights (:func:`mac_plan` with ``weights``, when that saves at least a tenth of
the multipliers): only the non-zero products are dealt
out, ``ceil(nonzero / R)`` multipliers, and since consecutive products then read scattered inputs, each multiplier
selects its round's input from the (unrotated) input register, a cycle ahead, into a register of its own.
For the clock, the round's weight and input are selected a cycle ahead too (:class:`MacUnit`), the input into a
register per multiplier, so both operands of every multiplier are registers. Yosys merges registers whose inputs
are equal: an input register reached every multiplier reading that element (64 on a 16x64 layer at R = 8, spread
over the DSP tiles of the whole chip), and a bit of one multiplier's weight register the multipliers whose weights
share that bit; on an ECP5 85F those routes were the critical paths (6.2 and 6.7 ns). So every :data:`GROUP`
multipliers have their own copy of the round counter, in registers synthesis keeps apart
(:func:`~rtl_lib.library.kept_register`): the selects of a group's inputs and weights and the enables of its
accumulators come from that copy, so equal registers can merge within a group but not across groups.
Arithmetic is hls4ml's: each exact product is cast to the accumulator type and the sum is taken in the accumulator
type with wrap-around, so any grouping gives the same bits.

Each multiplier accumulates its consecutive products that belong to the same output (a *segment*, see
:func:`mac_plan`); a segment that ends before the last round is captured in a register. After the last round each
output adds its segments and its bias in a pipelined adder tree and casts the sum to the output type.

Schedule (``i_valid`` in cycle 0; :func:`mac_latency`)::

    cycle 0            input registered (then rotated once per round), round counter starts
    cycles 1 .. R      round r: product x[i] * w[i][j] (cast to the accumulator) registered
    cycles 2 .. R+1    round r: accumulated
    cycle R+2          every segment complete; adder trees start (T = tree_latency cycles), then the output cast
                       (C = cast_stages: 0 when it is wiring, 1 when it rounds or saturates)
    cycle R+2+T+C      o_valid

With ``dsp="ecp5"`` every multiplier is an ECP5 ``MULT18X18D`` using its input and output registers: the product
register comes 2 cycles later, and so does everything after it (``MacPlan.product_stages``); the input and its
valid bit are registered once more in front of the array (``MacPlan.input_stages``), and the selected operands and
the valid bit reach the groups of multipliers through two more registers (``MacPlan.spread_stages``: one per
:data:`SUPER` groups, one per group): 5 cycles in all.
"""

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Cat, ClockSignal, Const, EnableInserter, Instance, Module, Mux, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from nn2rtl.fixed import Overflow

from .adder_tree import build_adder_tree, tree_latency, tree_registers
from .dense import cast_stages, check_dense_params
from .fixed import cast, shape_of
from .library import kept_register
from .pipeline import delayed

__all__ = ["Segment", "MacPlan", "mac_plan", "mac_latency", "MacUnit", "SumTree", "DenseResource", "DSPS",
           "check_dsp"]


@dataclass(frozen=True)
class Segment:
    """Rounds ``first .. last`` of multiplier ``unit`` all contribute to output ``output``."""

    unit: int
    output: int
    first: int
    last: int


@dataclass(frozen=True)
class MacPlan:
    """Which product each multiplier computes in each round, and how the partial sums meet."""

    n_in: int
    n_out: int
    reuse: int
    rounds: tuple     #: ``rounds[m][r]`` is ``(i, j)`` or ``None`` (idle round)
    segments: tuple   #: ``segments[m]``: the :class:`Segment`\\ s of multiplier ``m``, in round order
    gather: bool = False  #: zero weights skipped: each multiplier selects its round's input (no rotation)
    dsp: str = "inferred"  #: how each multiplier is built: ``inferred`` (``*``) or ``ecp5`` (see :data:`DSPS`)

    @property
    def product_stages(self):
        """Registers from the round's operands to the product register: 1 (``inferred``), 3 (``ecp5``: the
        MULT18X18D's input and output registers, then the product register in the fabric)."""
        return DSPS[self.dsp]

    @property
    def input_stages(self):
        """Registers in front of the array: 0 (``inferred``), 1 (``ecp5``: the input and its valid bit are
        registered first, so that the valid bit reaching every multiplier's operand multiplexer comes from a
        flip-flop and not from the top level's handshake logic)."""
        return 0 if self.dsp == "inferred" else 1

    @property
    def spread_stages(self):
        """Registers added between the central selection of the operands and the multipliers: 0 (``inferred``),
        2 (``ecp5``: the operands and the valid bit reach every :data:`GROUP` multipliers through a register per
        :data:`SUPER` groups, then one per group, because one route across an ECP5 85F takes about 6 ns, most of a
        150 MHz cycle). Each group's round control runs that many cycles behind the central counter."""
        return 0 if self.dsp == "inferred" else 2

    @property
    def multipliers(self):
        return len(self.rounds)

    @property
    def products(self):
        return self.n_in * self.n_out

    def leaves(self, j):
        """The segments that output ``j`` adds up."""
        return [s for segs in self.segments for s in segs if s.output == j]

    @property
    def max_leaves(self):
        """The most segments any output adds (at least 1: an output without products adds a zero)."""
        counts = [1] * self.n_out
        for segs in self.segments:
            for s in segs:
                counts[s.output] += 1
        return max(counts)


#: ``Model.DSP`` choices and the product stages of each: ``inferred`` writes ``x * w`` and lets synthesis map it
#: (Yosys maps ECP5 multipliers combinationally: no DSP register is used); ``ecp5`` instantiates Lattice ECP5
#: ``MULT18X18D`` primitives with their input and output registers, so that no route to or from a DSP tile shares
#: a cycle with the multiplication (operands of at most 18 bits).
DSPS = {"inferred": 1, "ecp5": 3}
#: the widest operand a MULT18X18D takes
ECP5_DSP_BITS = 18

#: multipliers per copy of the round control (:class:`DenseResource`): each group selects its operands and steers
#: its accumulators from registers of its own, so no control net spans the array
GROUP = 8
#: groups per intermediate copy of the operands and the valid bit, with :attr:`MacPlan.spread_stages`
SUPER = 4


def check_dsp(dsp, in_type, weight_type):
    """ValueError unless ``dsp`` is a :data:`DSPS` choice that can multiply ``in_type`` by ``weight_type``."""
    if dsp not in DSPS:
        raise ValueError(f"dsp must be one of {', '.join(DSPS)}, not {dsp!r}")
    if dsp == "ecp5" and max(in_type.width, weight_type.width) > ECP5_DSP_BITS:
        raise ValueError(f"an ECP5 MULT18X18D multiplies operands of at most {ECP5_DSP_BITS} bits, not "
                         f"{in_type} by {weight_type}")


def _check_positive(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what} must be a positive integer, not {value!r}")


def mac_plan(n_in, n_out, reuse, weights=None, dsp="inferred"):
    """The assignment of the products to multipliers: all ``n_in * n_out`` of them on ``ceil(n_in * n_out /
    reuse)`` multipliers, or, given constant ``weights`` with enough zeros to save a tenth of the multipliers, only
    the non-zero ones (a zero weight costs no multiplier round): ``ceil(nonzero / reuse)`` multipliers, each
    selecting its round's input. ``dsp``: how the multipliers are built (:data:`DSPS`)."""
    if dsp not in DSPS:
        raise ValueError(f"dsp must be one of {', '.join(DSPS)}, not {dsp!r}")
    _check_positive(n_in, "input count")
    _check_positive(n_out, "output count")
    _check_positive(reuse, "reuse factor")
    n_in, n_out, reuse = int(n_in), int(n_out), int(reuse)
    products = [(k % n_in, k // n_in) for k in range(n_in * n_out)]  # output-major
    gather = False
    if weights is not None:
        w = np.asarray(weights)
        live = [(i, j) for i, j in products if w[i, j] != 0]
        # skipping needs an input multiplexer per multiplier (its rounds read scattered inputs): worth it when it
        # saves at least a tenth of the multipliers (a few stray zeros in a dense layer do not)
        if -(-max(len(live), 1) // reuse) <= 0.9 * -(-len(products) // reuse):
            # at least one product, so that the array has a multiplier (a layer of zeros: its biases)
            products, gather = live or [(0, 0)], True
    total = len(products)
    n_mult = -(-total // reuse)
    rounds, segments = [], []
    for m in range(n_mult):
        rr = tuple(products[k] if k < total else None for k in range(m * reuse, (m + 1) * reuse))
        segs = []
        for r, p in enumerate(rr):
            if p is None:  # idle rounds add nothing; they extend the last segment
                continue
            if segs and segs[-1].output == p[1]:
                segs[-1] = Segment(m, p[1], segs[-1].first, r)
            else:
                segs.append(Segment(m, p[1], r, r))
        segs[-1] = Segment(m, segs[-1].output, segs[-1].first, reuse - 1)
        rounds.append(rr)
        segments.append(tuple(segs))
    return MacPlan(n_in, n_out, reuse, tuple(rounds), tuple(segments), gather, dsp)


def mac_latency(plan, levels_per_stage, accum_type, out_type):
    """Cycles from ``i_valid`` to ``o_valid`` of a :class:`DenseResource` built on ``plan``."""
    return (plan.reuse + 1 + plan.input_stages + plan.spread_stages + plan.product_stages
            + tree_latency(plan.max_leaves + 1, levels_per_stage) + cast_stages(accum_type, out_type))


def _counter_width(reuse):
    return max(1, (reuse - 1).bit_length())


class MacUnit(wiring.Component):
    """One multiplier with its accumulator, used in ``reuse`` rounds.

    For the clock: the multiplier's operands are both registers. The round's weight is selected from the
    constants a cycle ahead, by ``r_next`` (the round of the next enabled cycle), into a register; the input is a
    register of the parent. Whether a round starts a new segment is registered alongside the product, so the
    accumulator's path is the product register, a multiplexer and the adder.

    Ports: ``x`` (the input of the current round), ``w`` (``reuse`` packed weights, round r's in word r),
    ``start`` (bit r set: round r begins a new segment), ``r_next`` (the round the product stage will be in after
    the next enabled edge), ``r`` (round of the operand registers), ``active`` (the accumulate stage holds a real
    round), ``en`` (clock enable), ``acc`` (the running sum of the current segment).

    ``dsp="ecp5"``: the multiplier is a Lattice ECP5 ``MULT18X18D`` whose input and output registers are used (its
    clock enable is ``en``), so the product register is ``DSPS["ecp5"]`` = 3 edges after the operand registers
    instead of 1; the segment-start flag travels beside it. The caller delays ``active`` to match. With a
    ``library`` the round's weight register is then one synthesis keeps apart
    (:func:`~rtl_lib.library.kept_register`), a register per multiplier: bench-fmax's 16x64 layer at R = 8, nextpnr
    seed 2, went from 148.9 to 156.5 MHz for 114 flip-flops.
    """

    def __init__(self, reuse, in_type, weight_type, accum_type, dsp="inferred", library=None):
        self.library = library
        try:
            _check_positive(reuse, "reuse factor")
            if accum_type.overflow is not Overflow.WRAP:
                raise ValueError(f"the accumulator must wrap (order-independent sums), not {accum_type}")
            check_dsp(dsp, in_type, weight_type)
        except ValueError:
            self._MustUse__silence = True
            raise
        self.reuse, self.in_type, self.weight_type, self.accum_type = reuse, in_type, weight_type, accum_type
        self.dsp = dsp
        cw = _counter_width(reuse)
        super().__init__({
            "x": In(in_type.width), "w": In(reuse * weight_type.width), "start": In(reuse),
            "r_next": In(cw), "r": In(cw), "active": In(1), "en": In(1, init=1),
            "acc": Out(shape_of(accum_type)),
        })

    def elaborate(self, platform):
        m = Module()
        ti, tw, tacc = self.in_type, self.weight_type, self.accum_type
        x = self.x
        if self.reuse > 1:
            if self.dsp == "ecp5" and self.library is not None:
                # a register per multiplier, which nextpnr places at its DSP tile: merged with another
                # multiplier's equal weight bits it was a 6.1 ns route to a far tile
                w = kept_register(m, self.w.word_select(self.r_next, tw.width), self.en, "w_round", self.library)
            else:
                w = Signal(tw.width, name="w_round")  # this round's weight, selected a cycle ahead
                m.d.sync += w.eq(self.w.word_select(self.r_next, tw.width))
            first = Signal(name="first")  # the round in the product register starts a segment
            m.d.sync += first.eq(self.start.bit_select(self.r, 1))
        else:
            w, first = self.w, self.start[0]
        p = Signal(shape_of(tacc), name="p")
        if self.dsp == "ecp5":
            product = _ecp5_multiply(m, x, ti, w, tw, self.en)
            first = delayed(m, first, DSPS["ecp5"] - 1, name="first_d")
        else:
            x = x.as_signed() if ti.signed else x
            w = w.as_signed() if tw.signed else w
            product = x * w
        m.d.sync += p.eq(cast(product, ti.product(tw), tacc))
        with m.If(self.active):
            m.d.sync += self.acc.eq(Mux(first, p, self.acc + p))  # assignment truncates: wrap-around
        return EnableInserter(self.en)(m)


def _ecp5_multiply(m, x, tx, w, tw, en):
    """``x * w`` through a ``MULT18X18D`` with registered inputs and output (two enabled edges late), as a value
    of ``tx.product(tw)``'s width and signedness."""
    def operand(v, t):
        pad = ECP5_DSP_BITS - t.width
        return Cat(v, v[-1].replicate(pad) if t.signed else Const(0, pad)) if pad else v
    a, b = operand(x, tx), operand(w, tw)
    prod = Signal(2 * ECP5_DSP_BITS, name="dsp_p")
    ports = {f"i_A{k}": a[k] for k in range(ECP5_DSP_BITS)}
    ports.update({f"i_B{k}": b[k] for k in range(ECP5_DSP_BITS)})
    ports.update({f"i_C{k}": Const(0) for k in range(ECP5_DSP_BITS)})
    ports.update({f"o_P{k}": prod[k] for k in range(2 * ECP5_DSP_BITS)})
    for k in (1, 2, 3):
        ports.update({f"i_CLK{k}": Const(0), f"i_CE{k}": Const(1), f"i_RST{k}": Const(0)})
    m.submodules.dsp = Instance(
        "MULT18X18D", p_REG_INPUTA_CLK="CLK0", p_REG_INPUTB_CLK="CLK0", p_REG_INPUTC_CLK="NONE",
        p_REG_PIPELINE_CLK="NONE", p_REG_OUTPUT_CLK="CLK0", p_GSR="DISABLED", p_RESETMODE="SYNC",
        i_SIGNEDA=Const(int(tx.signed)), i_SIGNEDB=Const(int(tw.signed)), i_SOURCEA=Const(0), i_SOURCEB=Const(0),
        i_CLK0=ClockSignal(), i_CE0=en, i_RST0=Const(0), **ports)
    tp = tx.product(tw)
    value = prod[:tp.width]
    return value.as_signed() if tp.signed else value


class SumTree(wiring.Component):
    """``y = cast_out(cast_acc(b) + sum(leaves))`` through a pipelined adder tree; latency
    ``tree_latency(n_leaves + 1, levels_per_stage) + cast_stages(accum_type, out_type)``. Ports ``leaves``, ``b``,
    ``en``, ``y``."""

    def __init__(self, n_leaves, accum_type, bias_type, out_type, levels_per_stage):
        self.n_leaves, self.accum_type, self.bias_type, self.out_type = n_leaves, accum_type, bias_type, out_type
        self.levels_per_stage = levels_per_stage
        self.latency = tree_latency(n_leaves + 1, levels_per_stage) + cast_stages(accum_type, out_type)
        super().__init__({
            "leaves": In(n_leaves * accum_type.width), "b": In(shape_of(bias_type)), "en": In(1, init=1),
            "y": Out(shape_of(out_type)),
        })

    def elaborate(self, platform):
        m = Module()
        tacc = self.accum_type
        wa = tacc.width
        leaves = [self.leaves[k * wa:(k + 1) * wa] for k in range(self.n_leaves)]
        leaves = [v.as_signed() if tacc.signed else v for v in leaves]
        leaves.append(cast(self.b, self.bias_type, tacc))
        acc = build_adder_tree(m, leaves, shape_of(tacc), self.levels_per_stage, name="sum")
        domain = m.d.sync if cast_stages(tacc, self.out_type) else m.d.comb
        domain += self.y.eq(cast(acc, tacc, self.out_type))
        return EnableInserter(self.en)(m)


class DenseResource(wiring.Component):
    """A dense layer with constant weights on ``ceil(n_in * n_out / reuse)`` multipliers; II = ``reuse``.

    Parameters as :class:`~rtl_lib.dense.DenseParallel`, plus ``reuse`` (any positive integer) and ``dsp`` (how
    the multipliers are built, :data:`DSPS`). ``i_valid`` may be high at most once every ``reuse`` enabled cycles
    (the top level's input handshake guarantees it).

    Ports: ``i``, ``i_valid``, ``en`` (clock enable, for stalls), ``o``, ``o_valid``. With ``enable_copies``
    (the enable is a register of the caller's, ``FlowControl: skid``) also ``en_next``, that register's input: each
    group of multipliers (and each :data:`SUPER` groups' operand copies) then takes its enable from a copy of its
    own, in a register synthesis keeps apart, so no single net reaches every multiplier's flip-flops and DSP tile.
    """

    def __init__(self, in_type, weights, weight_type, bias, bias_type, accum_type, out_type, reuse,
                 levels_per_stage, library=None, latency=None, dsp="inferred", enable_copies=False):
        try:
            weights, bias, bias_type = check_dense_params(weights, weight_type, bias, bias_type, accum_type)
            check_dsp(dsp, in_type, weight_type)
            self.n_in, self.n_out = weights.shape
            self.plan = mac_plan(self.n_in, self.n_out, reuse, weights, dsp)
            self.own_latency = mac_latency(self.plan, levels_per_stage, accum_type, out_type)
            if latency is not None and latency < self.own_latency:
                raise ValueError(f"latency {latency} is below the layer's own {self.own_latency}")
            self.latency = self.own_latency if latency is None else latency  # a longer one: outputs delayed
        except ValueError:
            self._MustUse__silence = True
            raise
        self.in_type, self.weight_type, self.bias_type = in_type, weight_type, bias_type
        self.accum_type, self.out_type = accum_type, out_type
        self.weights, self.bias, self.reuse = weights, bias, int(reuse)
        self.levels_per_stage, self.library = levels_per_stage, library
        self.multipliers = self.plan.multipliers
        self.enable_copies = bool(enable_copies)
        super().__init__({
            "i": In(self.n_in * in_type.width), "i_valid": In(1), "en": In(1, init=1),
            "o": Out(self.n_out * out_type.width), "o_valid": Out(1),
            **({"en_next": In(1, init=1)} if enable_copies else {}),
        })

    def _enable_copy(self, m, name):
        """The enable for one group's flip-flops: a kept register of ``en_next`` (equal to ``en`` every cycle), or
        ``en`` itself (without copies, or in Amaranth's simulator, where nets have no length)."""
        if not self.enable_copies or self.library is None:
            return self.en
        return kept_register(m, self.en_next, 1, name, self.library, init=1)

    def _place(self, m, kind, key, factory, name, ports):
        """A submodule, or an instance of a shared library definition; ``ports``: name -> (direction, value)."""
        if self.library is None:
            sub = m.submodules[name] = factory()
            for port, (direction, value) in ports.items():
                m.d.comb += (value.eq(getattr(sub, port)) if direction == "o" else getattr(sub, port).eq(value))
            return
        module_name = self.library.request(kind, key, factory)
        m.submodules[name] = Instance(module_name, i_clk=ClockSignal(), i_rst=ResetSignal(),
                                      **{f"{d}_{p}": v for p, (d, v) in ports.items()})

    def elaborate(self, platform):
        m = Module()
        plan, reuse = self.plan, self.reuse
        ti, tw, tacc = self.in_type, self.weight_type, self.accum_type
        cw = _counter_width(reuse)

        # control: the round counter and its copy one stage later (the input's rotation and o_valid)
        xin = Signal(self.n_in * ti.width, name="x")
        r, busy = Signal(cw, name="round"), Signal(name="busy")
        r_d, busy_d, done = Signal(cw, name="round_d"), Signal(name="busy_d"), Signal(name="done")
        wi = ti.width
        i, i_valid = self.i, self.i_valid
        if plan.input_stages:
            i, i_valid = delayed(m, i, plan.input_stages, name="i_q"), delayed(m, i_valid, plan.input_stages)
        with m.If(i_valid):
            m.d.sync += [xin.eq(i), r.eq(0), busy.eq(1)]
        with m.Elif(busy):
            if not plan.gather:
                m.d.sync += xin.eq(Cat(xin[wi:], xin[:wi]))  # element p now holds input p + r (mod n_in)
            with m.If(r == reuse - 1):
                m.d.sync += busy.eq(0)
            with m.Else():
                m.d.sync += r.eq(r + 1)
        m.d.sync += [r_d.eq(r), busy_d.eq(busy)]
        # the accumulate stage: as many edges after the operand registers as the products take
        r_d = delayed(m, r_d, plan.product_stages - 1, name="round_p")
        busy_d = delayed(m, busy_d, plan.product_stages - 1, name="busy_p")
        m.d.sync += done.eq(busy_d & (r_d == reuse - 1))

        # each group of GROUP multipliers has its own copy of the round control, in registers that synthesis does
        # not merge (see the module docstring): the selects of its operands and accumulators are local nets. With
        # spread stages the operands and the valid bit reach the groups through a register per SUPER groups first,
        # and each group runs that many cycles behind the central counter
        spread = plan.spread_stages
        n_groups = -(-plan.multipliers // GROUP)
        n_supers = -(-n_groups // SUPER)
        en_super = [self._enable_copy(m, f"en_s{k}") for k in range(n_supers)] if spread else []
        en_group = [self._enable_copy(m, f"en_g{g}") for g in range(n_groups)]
        if spread:
            ivs = [kept_register(m, i_valid, en_super[k], f"iv_s{k}", self.library) for k in range(n_supers)]
        group_ctl = []
        for g in range(n_groups):
            en_g = en_group[g]
            if spread:
                iv = kept_register(m, ivs[g // SUPER], en_g, f"iv{g}", self.library)
            elif plan.input_stages:  # the input stage's last valid register, one per group
                iv = kept_register(m, delayed(m, self.i_valid, plan.input_stages - 1, name=f"iv_q{g}_"), en_g,
                                   f"iv{g}", self.library)
            else:
                iv = i_valid
            rg = Signal(cw, name=f"round{g}_next")
            bg = Signal(name=f"busy{g}_next")
            r_g = kept_register(m, rg, en_g, f"round{g}", self.library)
            b_g = kept_register(m, bg, en_g, f"busy{g}", self.library)
            m.d.comb += [rg.eq(Mux(iv, 0, Mux(b_g & (r_g != reuse - 1), r_g + 1, r_g))),
                         bg.eq(iv | (b_g & (r_g != reuse - 1)))]
            r_gd = delayed(m, r_g, plan.product_stages, name=f"round{g}_p")
            b_gd = delayed(m, b_g, plan.product_stages, name=f"busy{g}_p")
            group_ctl.append((iv, rg, r_g, r_gd, b_gd))
        if spread and plan.gather:  # the central counter's next round: the multipliers' spread selections
            r_next = Signal(cw, name="round_next")
            m.d.comb += r_next.eq(Mux(i_valid, 0, Mux(busy & (r != reuse - 1), r + 1, r)))
        central, per_super, per_group = {}, {}, {}

        def operand(u, rounds):
            """Multiplier ``u``'s operand register: the input of its round, selected a cycle ahead."""
            g = u // GROUP
            iv, rn = group_ctl[g][:2]
            if plan.gather:  # each multiplier its own selection (round 0: from i)
                ins = [p[0] if p is not None else 0 for p in rounds]
                words = Cat(*[xin[i * wi:(i + 1) * wi] for i in ins])
                if not spread:
                    x = Signal(wi, name=f"x{u}")
                    m.d.sync += x.eq(Mux(iv, i[ins[0] * wi:(ins[0] + 1) * wi], words.word_select(rn, wi)))
                    return x
                xa = Signal(wi, name=f"xa{u}")
                m.d.sync += xa.eq(Mux(i_valid, i[ins[0] * wi:(ins[0] + 1) * wi], words.word_select(r_next, wi)))
                return delayed(m, xa, spread, name=f"x{u}_")
            pos = (u * reuse) % self.n_in  # the element this multiplier always reads
            nxt = (pos + 1) % self.n_in  # after the rotation, element pos holds what pos + 1 holds now
            if not spread:  # a register of its own: no fanout from xin to the far multipliers
                x = Signal(wi, name=f"x{u}")
                m.d.sync += x.eq(Mux(iv, i[pos * wi:(pos + 1) * wi], xin[nxt * wi:(nxt + 1) * wi]))
                return x
            if pos not in central:  # selected once, then copied: per SUPER groups, per group
                xa = central[pos] = Signal(wi, name=f"xa{pos}")
                m.d.sync += xa.eq(Mux(i_valid, i[pos * wi:(pos + 1) * wi], xin[nxt * wi:(nxt + 1) * wi]))
            key = g // SUPER, pos
            if key not in per_super:
                per_super[key] = kept_register(m, central[pos], en_super[key[0]], f"xs{key[0]}_{pos}",
                                               self.library)
            if (g, pos) not in per_group:
                per_group[g, pos] = kept_register(m, per_super[key], en_group[g], f"xg{g}_{pos}", self.library)
            return per_group[g, pos]

        # multipliers and the registers that keep finished segments
        unit_key = (reuse, ti, tw, tacc, plan.dsp)
        leaf = {}
        for u, (rounds, segs) in enumerate(zip(plan.rounds, plan.segments)):
            iv, rn, rg, rd, bd = group_ctl[u // GROUP]
            x = operand(u, rounds)
            w = Const(sum((int(self.weights[p]) & ((1 << tw.width) - 1)) << (k * tw.width)
                          for k, p in enumerate(rounds) if p is not None), reuse * tw.width)
            start = Const(sum(1 << s.first for s in segs), reuse)
            acc = Signal(shape_of(tacc), name=f"acc{u}")
            self._place(m, "mac", unit_key, lambda: MacUnit(reuse, ti, tw, tacc, plan.dsp, self.library), f"mac{u}",
                        {"x": ("i", x), "w": ("i", w), "start": ("i", start), "r_next": ("i", rn), "r": ("i", rg),
                         "active": ("i", bd), "en": ("i", en_group[u // GROUP]), "acc": ("o", acc)})
            for s, nxt in zip(segs, segs[1:]):
                seg = Signal(shape_of(tacc), name=f"seg{u}_{s.first}")
                with m.If(bd & (rd == nxt.first)):  # the accumulator restarts: keep what it held
                    m.d.sync += seg.eq(acc)
                leaf[s] = seg
            leaf[segs[-1]] = acc

        # per output: segments + bias through an adder tree
        n_leaves = plan.max_leaves
        tree_key = (n_leaves, tacc, self.bias_type, self.out_type, self.levels_per_stage)
        outs = [[] for _ in range(self.n_out)]
        tree_en = [None] * self.n_out  # each output's tree: the enable of the group of its first segment
        for s in leaf:
            outs[s.output].append(leaf[s])
            if tree_en[s.output] is None:
                tree_en[s.output] = en_group[s.unit // GROUP]
        ys = []
        for j in range(self.n_out):
            leaves = outs[j] + [Const(0, shape_of(tacc))] * (n_leaves - len(outs[j]))
            y = Signal(shape_of(self.out_type), name=f"y{j}")
            self._place(m, "sumtree", tree_key,
                        lambda: SumTree(n_leaves, tacc, self.bias_type, self.out_type, self.levels_per_stage),
                        f"tree{j}", {"leaves": ("i", Cat(*leaves)),
                                     "b": ("i", Const(int(self.bias[j]), shape_of(self.bias_type))),
                                     "en": ("i", tree_en[j] if tree_en[j] is not None else self.en),
                                     "y": ("o", y)})
            ys.append(delayed(m, y, self.latency - self.own_latency, name=f"y{j}_align"))
        m.d.comb += self.o.eq(Cat(*ys))

        m.d.comb += self.o_valid.eq(delayed(m, done, self.latency - (reuse + 1 + plan.input_stages
                                                                      + plan.product_stages)))
        return EnableInserter(self.en)(m)


def resource_registers(plan, in_type, weight_type, accum_type, out_type, levels_per_stage, enable_copies=False):
    """Flip-flop bits of a :class:`DenseResource` (control and valid bits included; ``enable_copies`` as there)."""
    wa = accum_type.width
    segs = sum(len(s) for s in plan.segments)
    latency = mac_latency(plan, levels_per_stage, accum_type, out_type)
    return (plan.n_in * in_type.width                                   # input register
            + plan.multipliers * (2 * wa + 1)                            # product, accumulator, segment start
            + plan.multipliers * (weight_type.width if plan.reuse > 1 else 0)  # the round's weight
            + _operand_registers(plan, in_type)                          # the round's input
            + (segs - plan.multipliers) * wa                             # finished segments
            + plan.n_out * (tree_registers(plan.max_leaves + 1, levels_per_stage) * wa
                            + out_type.width * cast_stages(accum_type, out_type))
            + 4 * _counter_width(plan.reuse) + latency                   # counters, valid pipeline
            + _groups(plan) * (bool(plan.input_stages)                   # each group's copy of the control
                               + (plan.product_stages + 1) * (_counter_width(plan.reuse) + 1))
            + (plan.product_stages - 1) * (plan.multipliers + _counter_width(plan.reuse) + 1)  # beside the DSPs
            + plan.input_stages * (plan.n_in * in_type.width + 1)        # the registered input
            + _spread_registers(plan, in_type)
            + (_groups(plan) + (-(-_groups(plan) // SUPER) if plan.spread_stages else 0) if enable_copies else 0))


def _groups(plan):
    return -(-plan.multipliers // GROUP)


def _operand_registers(plan, in_type):
    """Flip-flop bits of the multipliers' operand registers that synthesis keeps apart. Without spread stages each
    multiplier has one, but those with equal inputs are one register after Yosys's ``opt_merge``: with rotation,
    the multipliers that read the same element (and the same group's valid copy, where each group has one); when
    gathering, those of one group (its own round counter) that select the same inputs. The spread operands are
    counted by :func:`_spread_registers`."""
    if plan.spread_stages:
        return plan.multipliers * in_type.width  # replaced by the spread copies there
    own_iv = bool(plan.input_stages)
    if plan.gather:
        keys = {(u // GROUP, tuple(p[0] if p is not None else 0 for p in rounds))
                for u, rounds in enumerate(plan.rounds)}
    else:
        keys = {(u // GROUP if own_iv else 0, (u * plan.reuse) % plan.n_in) for u in range(plan.multipliers)}
    return len(keys) * in_type.width


def _spread_registers(plan, in_type):
    """Flip-flop bits of the operands' and valid bit's way to the groups (:attr:`MacPlan.spread_stages`)."""
    if not plan.spread_stages:
        return 0
    supers = -(-_groups(plan) // SUPER)
    if plan.gather:  # per multiplier: the selection, then a register per spread stage
        return supers + plan.multipliers * in_type.width * plan.spread_stages
    positions = {(u * plan.reuse) % plan.n_in for u in range(plan.multipliers)}
    per_group = {(u // GROUP, (u * plan.reuse) % plan.n_in) for u in range(plan.multipliers)}
    per_super = {(u // GROUP // SUPER, (u * plan.reuse) % plan.n_in) for u in range(plan.multipliers)}
    # the per-group copies replace the per-multiplier input registers counted above
    return (supers + in_type.width * (len(positions) + len(per_super) + len(per_group) - plan.multipliers))
