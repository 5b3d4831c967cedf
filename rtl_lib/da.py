"""Multiplier-free dense layer (``Strategy: distributed_arithmetic``): a constant matrix times a vector as one
shared shift-and-add graph (:mod:`rtl_lib.cmvm`), no multiplier and no DSP.

Each weight is written in canonical signed digits, so each product is a sum of shifted copies of its input. What
may be shared depends on the arithmetic (:func:`da_plan`):

- **exact** (``accum.frac >= (in * weight).frac``: quantised models, ``auto`` accumulators): casting a product to
  the accumulator drops nothing, so the layer is one sum per output of shifted inputs and the bias, and pairs of
  terms are shared across the whole matrix;
- **rounded** (hls4ml's default ``fixed<16,6>`` everywhere): each product is cast to the accumulator on its own, as
  hls4ml computes it, so a sum that mixes two products would round differently. Only each input's own products
  share subexpressions (``3x`` serves ``3x``, ``6x`` and ``-3x``); every distinct product is computed once and
  rounded, then each output adds its rounded products and its bias.

Both are bit-exact with the golden model. The graph is cut into pipeline stages every ``levels_per_stage`` adder
levels (:class:`~rtl_lib.cmvm.Schedule`), then the sum is cast to the output type (a register when that cast
rounds or saturates). The plan is a pure function of the weights and types, cached, and used both to build the
block and to report it (latency, registers, adders, depth).
"""

import hashlib
from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Cat, ClockSignal, Const, EnableInserter, Instance, Module, Mux, ResetSignal, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from nn2rtl.fixed import FixedType, Rounding

from .cmvm import PAIR_BUDGET, Graph, _operands, csd, reduce_terms, share
from .dense import cast_stages, setup_dense
from .fixed import cast, cast_is_wiring, shape_of
from .library import RtlilModule, rtlil_const
from .pipeline import delayed

__all__ = ["csd", "DAPlan", "DenseDA", "FixedCast", "da_plan", "da_latency", "da_registers", "da_rtlil",
           "kept_bits"]


@dataclass
class DAPlan:
    """The shift-and-add graph of one constant dense product and its pipeline.

    ``exact``: whether the products need no rounding (then shared across the matrix); ``graph`` and ``schedule``
    (:mod:`rtl_lib.cmvm`); ``roots[j]``: the node holding output ``j``'s accumulator value, or None when the
    output is the constant ``consts[j]`` (no input reaches it); ``adders`` (two-input adders built),
    ``plain_adders`` (the same products and sums without any sharing), ``depth`` (adder levels), ``blocks``
    (column blocks that sharing was split into, to bound its time on huge matrices)."""

    exact: bool
    graph: Graph
    roots: list
    consts: list
    schedule: object
    adders: int
    plain_adders: int
    depth: int
    blocks: int

    @property
    def adder_bits(self):
        """Bits of the graph's adders, each a carry chain that wide: about one LUT per bit on ECP5, iCE40 and xc7
        (Yosys on the jet MLP's layers: 109.5k ECP5 LUTs for 115.3k bits; the low bits that a shift leaves to one
        operand are wiring)."""
        return sum(w for op, w in zip(self.graph.ops, self.graph.width) if op[0] == "add")

    @property
    def sharing(self):
        """What the graph shares, in words (for the report)."""
        if self.exact:
            return "across the matrix" + (f" ({self.blocks} column blocks)" if self.blocks > 1 else "")
        return "within each input's products (each product is rounded on its own)"


def exact_sharing(in_type, weight_type, accum_type):
    """Whether the accumulator holds every fractional bit of the products (then a product is cast without
    rounding and products may be mixed)."""
    return accum_type.frac >= in_type.product(weight_type).frac


_PLANS = {}


def kept_bits(accum_type, out_type):
    """How many low bits of the accumulator the output cast reads, when fewer than all: a wrapping output keeps
    ``accum.frac - out.frac`` bits for its rounding and ``out.width`` above them; a sum computed modulo
    ``2**kept`` (every adder cut there) gives the same output. None when the cast reads every bit: it saturates,
    the output is as wide as the accumulator, or it rounds by the sign of the value (``TRN_ZERO``, ``RND_ZERO``,
    ``RND_INF``: toward or away from zero), which is the accumulator's top bit."""
    from nn2rtl.fixed import Overflow
    drop = accum_type.frac - out_type.frac
    kept = drop + out_type.width
    by_sign = out_type.rounding.by_sign and drop > 0
    if out_type.overflow is not Overflow.WRAP or drop < 0 or kept >= accum_type.width or by_sign:
        return None
    return kept


def _plan_key(weights, bias, bias_type, in_type, weight_type, accum_type, levels_per_stage, in_lo=None,
              kept=None):
    h = hashlib.sha256()
    for a in (weights, bias):
        a = np.asarray(a, dtype=object)
        h.update(repr(a.shape).encode())
        h.update(repr([int(v) for v in a.flat]).encode())
    return (h.hexdigest(), repr((bias_type, in_type, weight_type, accum_type, levels_per_stage))
            + ("" if in_lo is None else f" lo={in_lo}") + ("" if kept is None else f" kept={kept}"))


def da_plan(weights, bias, bias_type, in_type, weight_type, accum_type, levels_per_stage, in_lo=None, kept=None):
    """The :class:`DAPlan` of ``y = cast_acc(b) + sum cast_acc(x_i * w_ij)`` (raw integer weights and bias; a
    None bias is zero), cached by content. ``in_lo``: the smallest raw input that can occur, when the producer
    guarantees more than the input type does (0 after a ReLU): every node is then as wide as its exact range
    from there, no wider. ``kept``: the low bits of each sum that are used (:func:`kept_bits`); no node is wider
    (the values wrap there, as the accumulator wraps at its width)."""
    w = np.asarray(weights)
    n_in, n_out = w.shape
    if bias is None:
        bias, bias_type = np.zeros(n_out, dtype=np.int64), accum_type
    key = _plan_key(w, bias, bias_type, in_type, weight_type, accum_type, levels_per_stage, in_lo, kept)
    if key not in _PLANS:
        if len(_PLANS) > 256:
            _PLANS.clear()
        _PLANS[key] = _build_plan(w, bias, bias_type, in_type, weight_type, accum_type, levels_per_stage, in_lo,
                                  kept)
    return _PLANS[key]


def _build_plan(w, bias, bias_type, ti, tw, tacc, levels_per_stage, in_lo=None, kept=None):
    n_in, n_out = w.shape
    lo = ti.min_raw if in_lo is None else max(int(in_lo), ti.min_raw)
    fp, fa, W = ti.product(tw).frac, tacc.frac, tacc.width
    W = min(W, kept) if kept else W  # every value wraps at W bits: the sums, the rounded products
    exact = exact_sharing(ti, tw, tacc)
    b_acc = [int(v) for v in tacc.cast(np.asarray(bias, dtype=object), bias_type).flat]
    digits = [[csd(int(w[i, j])) for j in range(n_out)] for i in range(n_in)]
    g = Graph()
    if exact:
        terms = [[(i, k + fa - fp, s) for i in range(n_in) for k, s in digits[i][j]] for j in range(n_out)]
        pairs = sum(len(t) * (len(t) - 1) // 2 for t in terms)
        blocks = max(1, min(n_in, -(-pairs // PAIR_BUDGET)))
        size = -(-n_in // blocks)
        ins = [g.input(i, lo, ti.max_raw, block=i // size) for i in range(n_in)]
        sums = share(g, [[(ins[i], k, s) for i, k, s in t] for t in terms], cap=W)
    else:
        blocks = n_in
        ins = [g.input(i, lo, ti.max_raw, block=i) for i in range(n_in)]
        distinct = sorted({(i, int(w[i, j])) for i in range(n_in) for j in range(n_out) if w[i, j]})
        cap = W + fp - fa
        shared = share(g, [[(ins[i], k, s) for k, s in csd(v)] for i, v in distinct], cap=cap)
        rounds = tacc.rounding is not Rounding.TRN
        product = {}
        for (i, v), t in zip(distinct, shared):
            node, sh, sg = reduce_terms(g, t, cap)
            product[(i, v)] = g.cast(node, sh, sg, fp - fa, tacc.rounding, int(sg < 0) + int(rounds), cap=W)
        sums = [[(product[(i, int(w[i, j]))], 0, 1) for i in range(n_in) if w[i, j]] for j in range(n_out)]
    roots, consts = [], []
    for j in range(n_out):
        terms = list(sums[j]) + ([(g.const(b_acc[j]), 0, 1)] if b_acc[j] else [])
        r = reduce_terms(g, terms, cap=W)
        if r is None or g.ops[r[0]][0] == "const":  # nothing reaches this output: its bias
            roots.append(None)
            consts.append(b_acc[j])
            continue
        node, sh, sg = r
        if sh or sg < 0:  # a shift is wiring, a negation one adder
            node = g.cast(node, sh, sg, 0, Rounding.TRN, int(sg < 0), cap=W)
        roots.append(node)
        consts.append(None)
    schedule = g.schedule(roots, levels_per_stage)
    nnz = (w != 0).sum(axis=0)
    plain = sum(max(len(d) - 1, 0) for row in digits for d in row)
    plain += sum(max(int(nnz[j]) + int(b_acc[j] != 0) - 1, 0) for j in range(n_out))
    return DAPlan(exact, g, roots, consts, schedule, schedule.adders, plain, schedule.depth, blocks)


def da_latency(plan, accum_type, out_type):
    """Cycles from input to output of a :class:`DenseDA` with this plan: the graph's stages, then the output
    cast's register when it rounds or saturates."""
    return plan.schedule.latency + cast_stages(accum_type, out_type)


def da_registers(plan, accum_type, out_type, latency=None, relu=False):
    """Flip-flop bits of a :class:`DenseDA`: the graph's pipeline (from its schedule), the output cast and the
    alignment to a longer ``latency``, the valid pipeline. ``relu``: the ReLU is taken into the last register
    (see :class:`DenseDA`), which then holds ``out.width - 1`` bits per output where, without a register after the
    cast, the graph registered each root whole."""
    own = da_latency(plan, accum_type, out_type)
    latency = latency or own
    live = sum(r is not None for r in plan.roots)
    bits = plan.schedule.register_bits + live * out_type.width * (cast_stages(accum_type, out_type) + latency - own)
    if relu and relu_in_root_register(plan, accum_type, out_type, latency):
        g = plan.graph
        bits += live * (out_type.width - 1) - sum(g.width[r] for r in {r for r in plan.roots if r is not None})
    return bits + latency


def relu_in_root_register(plan, accum_type, out_type, latency):
    """Whether a fused ReLU goes into the roots' own last register (no register follows the output cast)."""
    return cast_stages(accum_type, out_type) == 0 and latency == da_latency(plan, accum_type, out_type)


def _relu(v):
    """``v < 0 ? 0 : v`` without its sign bit (a constant 0): ``len(v) - 1`` bits."""
    return Mux(v[-1], 0, v[:-1])


class DenseDA(wiring.Component):
    """A dense layer with constant weights as one shift-and-add graph (see the module docstring).

    Ports as :class:`~rtl_lib.dense.DenseParallel`: ``i``, ``i_valid``, ``en``, ``o``, ``o_valid``. Attributes:
    ``plan`` (:class:`DAPlan`), ``latency``, ``adders``, ``exact``, ``multipliers`` (0). ``library`` is accepted
    for the common interface of dense blocks and not needed: the layer is one module. ``in_lo``: the smallest raw
    input the producer can deliver, when above the input type's (0 after a ReLU; see :func:`da_plan`).
    ``free_running``: the design drives ``en`` constant high (``FlowControl fifo``); only the form of the written
    netlist depends on it (see :func:`da_rtlil`). ``relu``: the layer's output goes only to a ReLU, so each output
    is written ``y < 0 ? 0 : y`` (the ReLU's own result then is its input) by its last register: the selection on
    the sign becomes the flip-flops' synchronous reset, where a ReLU after the register costs a LUT per bit (15
    per 16-bit element on xc7). Without a register after the output cast, that register is the graph's own
    (:func:`relu_in_root_register`): it then takes the cast of the last stage's value instead of the whole root.
    """

    multipliers = 0

    def __init__(self, in_type, weights, weight_type, bias, bias_type, accum_type, out_type, levels_per_stage=2,
                 latency=None, library=None, in_lo=None, free_running=False, relu=False):
        self.in_lo, self.free_running = in_lo, bool(free_running)
        self.relu = bool(relu)
        if self.relu and (not out_type.signed or out_type.width < 2):
            self._MustUse__silence = True
            raise ValueError(f"a ReLU taken into the output register needs a signed output type of 2 bits or more, "
                             f"not {out_type}")

        def own(w, b):
            self.plan = da_plan(w, b, bias_type if bias is not None else accum_type, in_type, weight_type,
                                accum_type, levels_per_stage, in_lo, kept_bits(accum_type, out_type))
            return da_latency(self.plan, accum_type, out_type)
        try:
            setup_dense(self, in_type, weights, weight_type, bias, bias_type, accum_type, out_type, levels_per_stage,
                        library, latency, own)
        except ValueError:
            self._MustUse__silence = True
            raise
        self.exact, self.adders = self.plan.exact, self.plan.adders
        super().__init__({"i": In(self.n_in * in_type.width), "i_valid": In(1), "en": In(1, init=1),
                          "o": Out(self.n_out * out_type.width), "o_valid": Out(1)})

    def elaborate(self, platform):
        if self.library is not None:  # the graph written as RTLIL: Amaranth would take seconds per thousand adders
            key = (_plan_key(self.weights, self.bias, self.bias_type, self.in_type, self.weight_type,
                             self.accum_type, self.levels_per_stage, self.in_lo,
                             kept_bits(self.accum_type, self.out_type)),
                   repr((self.out_type, self.latency, self.free_running, self.relu)))
            name = self.library.request_text("da", key, lambda name: da_rtlil(self, name, self.library))
            m = Module()
            m.submodules.graph = Instance(name, i_clk=ClockSignal(), i_rst=ResetSignal(), i_en=self.en, i_i=self.i,
                                          i_i_valid=self.i_valid, o_o=self.o, o_o_valid=self.o_valid)
            return m
        m = Module()
        ti, tacc, tout = self.in_type, self.accum_type, self.out_type
        plan = self.plan
        g, sc = plan.graph, plan.schedule
        chains = {}

        def at(n, stage):
            """Node ``n``'s value in ``stage`` (through its register chain)."""
            op = g.ops[n]
            if op[0] == "const":
                return Const(op[1], signed(g.width[n]))
            return chains[n][stage - sc.stage[n]]

        for n in sc.needed:
            op = g.ops[n]
            if op[0] == "const":
                continue
            st = sc.stage[n]
            if op[0] == "in":
                i = op[1]
                raw = self.i[i * ti.width:(i + 1) * ti.width]
                e = raw.as_signed() if ti.signed else Cat(raw, Const(0, 1)).as_signed()
            elif op[0] == "add":
                _, a, sa, b, sb, sub = op
                va, vb = at(a, st) << sa, at(b, st) << sb
                e = va - vb if sub else va + vb
            else:
                _, a, shift, sign, k, rounding = op
                e = at(a, st) << shift
                if sign < 0:
                    e = -e
                if k > 0:
                    e = cast(e, FixedType(len(e), len(e) - k, True),
                             FixedType(g.width[n], g.width[n], True, rounding))
            v = Signal(signed(g.width[n]), name=f"n{n}")
            m.d.comb += v.eq(e)
            chain = [v]
            for d in range(sc.delays[n]):
                r = Signal(signed(g.width[n]), name=f"n{n}_r{d + 1}")
                m.d.sync += r.eq(chain[-1])
                chain.append(r)
            chains[n] = chain
        outs = []
        align = self.latency - da_latency(plan, tacc, tout)
        in_root = self.relu and relu_in_root_register(plan, tacc, tout, self.latency)
        for j, (root, c) in enumerate(zip(plan.roots, plan.consts)):
            if root is None:  # a constant output
                value = int(tout.cast(np.array(c), tacc))
                outs.append(Const(max(value, 0) if self.relu else value, shape_of(tout)))
                continue
            acc = Signal(shape_of(tacc), name=f"acc{j}")
            if in_root:  # the last stage's value, cast and rectified into the output register
                m.d.comb += acc.eq(at(root, sc.latency - 1))
                y = Signal(tout.width - 1, name=f"y{j}_relu")
                m.d.sync += y.eq(_relu(cast(acc, tacc, tout)))
                outs.append(Cat(y, Const(0, 1)))
                continue
            m.d.comb += acc.eq(at(root, sc.latency))
            y = Signal(shape_of(tout), name=f"y{j}")
            domain = m.d.sync if cast_stages(tacc, tout) else m.d.comb
            value = cast(acc, tacc, tout)
            if self.relu:  # rectified in front of the first register after the cast
                domain += y.eq(Cat(_relu(value), Const(0, 1)))
            else:
                domain += y.eq(value)
            outs.append(delayed(m, y, align, name=f"y{j}_align"))
        m.d.comb += self.o.eq(Cat(*outs))
        m.d.comb += self.o_valid.eq(delayed(m, self.i_valid, self.latency))
        return EnableInserter(self.en)(m)


class FixedCast(wiring.Component):
    """``y = cast(a)`` from ``src`` to ``dst`` (:func:`rtl_lib.fixed.cast`, every rounding and overflow mode),
    combinational: the rounding of a product and the output cast of a :func:`da_rtlil` graph."""

    def __init__(self, src, dst):
        self.src, self.dst = src, dst
        super().__init__({"a": In(shape_of(src)), "y": Out(shape_of(dst))})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.y.eq(cast(self.a, self.src, self.dst))
        return m


def _shifted(sig, width, shift):
    """``sig << shift`` as a concatenation (MSB first) and its width."""
    return (f"{{ {sig} {rtlil_const(0, shift)} }}" if shift else sig), width + shift


def _extended(sig, width, shift, to):
    """``sig << shift`` (signed, ``width`` bits) sign-extended to ``to`` bits, as a concatenation."""
    parts = [f"{sig} [{width - 1}]"] * (to - width - shift) + [sig] + ([rtlil_const(0, shift)] if shift else [])
    return "{ " + " ".join(parts) + " }"


def _fitted(sig, width, shift, to):
    """``sig << shift`` (signed, ``width`` bits) as exactly ``to`` bits: sign-extended or cut, by wiring."""
    if width + shift <= to:
        return _extended(sig, width, shift, to)
    keep = to - shift
    if keep <= 0:
        return rtlil_const(0, to)
    bits = sig if keep == width else f"{sig} [{keep - 1}:0]"
    return f"{{ {bits} {rtlil_const(0, shift)} }}" if shift else bits


def da_rtlil(block, name, library):
    """The :class:`DenseDA` ``block`` as one module ``name`` written directly as RTLIL (converted to Verilog with
    the rest of the design): a signed adder cell per graph node, a register chain per value crossing stages
    (:class:`~rtl_lib.cmvm.Schedule`), roundings and output casts as shared :class:`FixedCast` definitions
    requested from ``library``. Same ports, schedule and arithmetic as :meth:`DenseDA.elaborate` (which the
    Amaranth simulator runs); every value wraps at its width.

    A *guarded* adder (its sum read only by one adder or negation of the same stage) computes one bit more, a
    constant 0 below the sum, into a kept wire its reader takes bits ``[w:1]`` of. The reason: Yosys's ``alumacc``
    merges such a chain into one multi-operand ``$macc`` when the reader's operand is the inner sum whole (and as
    wide), and ``maccmap`` builds that from full adders (LUT3 to LUT6 and MUXF7 on xc7) instead of a carry chain
    per adder. The guard bit costs no LUT (a constant) and no reader sees a whole sum. Yosys 0.23 ignores ``keep``
    there; newer versions honour it too. The jet MLP's first layer (xc7, 1,366 adders): 230 merges and 25,688 LUTs
    unguarded with FlowControl fifo, none and 24,540 guarded; the whole jet MLP 106,013 and 99,448.

    How the adders are written depends on ``block.free_running`` (the design's enable is constant: ``FlowControl
    fifo``). Then each is an unsigned cell on operands sign-extended by wiring to the full sum's width, cut to the
    node's width (guarded: fitted to its width plus one). With a live enable the adders are signed cells: the
    unsigned form made Yosys 0.23 move the enable of ~15k flip-flops into LUTs on the 16x64 layer (41,103 LUTs
    against 26,619), before the handshake's enable was written as an OR (see ``nn2rtl.rtl``)."""
    plan, ti, tacc, tout = block.plan, block.in_type, block.accum_type, block.out_type
    g, sc = plan.graph, plan.schedule
    wi, wo, W, L = ti.width, tout.width, tacc.width, block.latency
    r = RtlilModule(name)
    clk, rst, en = r.wire("clk", 1, "input"), r.wire("rst", 1, "input"), r.wire("en", 1, "input")
    i = r.wire("i", block.n_in * wi, "input")
    i_valid = r.wire("i_valid", 1, "input")
    o = r.wire("o", block.n_out * wo, "output")
    o_valid = r.wire("o_valid", 1, "output")

    def at(n, stage):
        op = g.ops[n]
        if op[0] == "const":
            return rtlil_const(op[1], g.width[n])
        d = stage - sc.stage[n]
        return f"\\n{n}" if d == 0 else f"\\n{n}_r{d}"

    def cast_def(src, dst):
        return library.request("dacast", (src, dst), lambda: FixedCast(src, dst))

    fused = block.relu and relu_in_root_register(plan, tacc, tout, L)
    fused_roots = {n for n in plan.roots if n is not None and g.ops[n][0] != "const"} if fused else set()

    users = {}  # the guarded adders (see above): read by one adder or negation of their stage only
    for n in sc.needed:
        for a in _operands(g.ops[n]):
            users[a] = users.get(a, 0) + 1
    guarded = set()
    for n in sc.needed:
        op = g.ops[n]
        if op[0] == "add" or (op[0] == "cast" and op[3] < 0):  # an adder, a negation
            guarded.update(a for a in _operands(op) if g.ops[a][0] == "add" and users[a] == 1
                           and sc.stage[a] == sc.stage[n] and sc.delays[a] == 0)
    for n in sc.needed:
        op = g.ops[n]
        if op[0] == "const":
            continue
        w, st = g.width[n], sc.stage[n]
        y = r.wire(f"n{n}", w)
        if op[0] == "in":
            k = op[1]
            bits = f"{i} [{(k + 1) * wi - 1}:{k * wi}]"
            if ti.signed and g.lo[n] >= 0 and wi > 1:  # never negative (``in_lo``): the sign bit is known 0
                bits = f"{i} [{(k + 1) * wi - 2}:{k * wi}]"
            r.connect(y, bits if ti.signed and g.lo[n] < 0 else f"{{ 1'0 {bits} }}")
        elif op[0] == "add":
            _, a, sa, b, sb, sub = op
            va, wa = _shifted(at(a, st), g.width[a], sa)
            vb, wb = _shifted(at(b, st), g.width[b], sb)
            if n in guarded:  # one more bit, a constant 0 below the sum: the reader takes the bits above it
                f = r.wire(f"n{n}_f", w + 1, keep=True)
                if block.free_running:  # on operands fitted to that width by wiring
                    r.cell("$sub" if sub else "$add", {"A_SIGNED": 0, "B_SIGNED": 0, "A_WIDTH": w + 1,
                                                       "B_WIDTH": w + 1, "Y_WIDTH": w + 1},
                           {"A": _fitted(at(a, st), g.width[a], sa + 1, w + 1),
                            "B": _fitted(at(b, st), g.width[b], sb + 1, w + 1), "Y": f})
                else:
                    r.binary("sub" if sub else "add", f"{{ {va} 1'0 }}", wa + 1, f"{{ {vb} 1'0 }}", wb + 1, f, w + 1)
                r.connect(y, f"{f} [{w}:1]")
            elif block.free_running:  # unsigned, operands sign-extended by wiring to the full sum's width, then cut
                wn = max(wa, wb) + 1 + int(sub)
                f = r.wire(f"n{n}_f", wn)
                r.cell("$sub" if sub else "$add", {"A_SIGNED": 0, "B_SIGNED": 0, "A_WIDTH": wn, "B_WIDTH": wn,
                                                   "Y_WIDTH": wn},
                       {"A": _extended(at(a, st), g.width[a], sa, wn), "B": _extended(at(b, st), g.width[b], sb, wn),
                        "Y": f})
                r.connect(y, f"{f} [{w - 1}:0]")
            else:
                r.binary("sub" if sub else "add", va, wa, vb, wb, y, w)
        else:
            _, a, shift, sign, k, rounding = op
            va, wa = _shifted(at(a, st), g.width[a], shift)
            if k <= 0:
                r.unary("neg" if sign < 0 else "pos", va, wa, y, w)
            else:
                we = wa + 1
                e = r.wire(f"n{n}_e", we)
                r.unary("neg" if sign < 0 else "pos", va, wa, e, we)
                if rounding is Rounding.TRN and k >= we:  # floor of a value below 2**k in size: its sign, 0 or -1
                    r.unary("pos", f"{e} [{we - 1}]", 1, y, w)
                elif rounding is Rounding.TRN:  # floor: drop the low bits
                    r.unary("pos", f"{e} [{we - 1}:{k}]", we - k, y, w)
                else:
                    r.cell(f"\\{cast_def(FixedType(we, we - k, True), FixedType(w, w, True, rounding))}", {},
                           {"a": e, "y": y}, name=f"\\round{n}")
        prev = y
        # with the ReLU in the roots' registers, their last one (read by the output only) is not written
        for d in range(1, sc.delays[n] + 1 - int(n in fused_roots)):
            q = r.wire(f"n{n}_r{d}", w)
            r.dffe(prev, q, w, clk, en)
            prev = q
    outs = []
    align = L - da_latency(plan, tacc, tout)
    stages = cast_stages(tacc, tout) + align
    for j, (root, c) in enumerate(zip(plan.roots, plan.consts)):
        if root is None:
            value = int(tout.cast(np.array(c), tacc))
            outs.append(rtlil_const(max(value, 0) if block.relu else value, wo))
            continue
        acc = r.wire(f"acc{j}", W)
        r.unary("pos", at(root, sc.latency - int(bool(fused_roots))), g.width[root], acc, W)
        yc = r.wire(f"y{j}_c", wo)
        lo = tacc.frac - tout.frac
        if cast_is_wiring(tacc, tout) and lo >= 0 and lo + wo <= W:
            r.connect(yc, f"{acc} [{lo + wo - 1}:{lo}]")
        else:
            r.cell(f"\\{cast_def(tacc, tout)}", {}, {"a": acc, "y": yc}, name=f"\\cast{j}")
        prev = yc
        if block.relu:  # y < 0 ? 0 : y in the next register: the sign, when enabled, is its synchronous reset
            neg = r.wire(f"y{j}_neg", 1)  # reset over enable (Xilinx FDRE, ECP5 LSR): the AND keeps a stall's hold
            r.cell("$and", {"A_SIGNED": 0, "B_SIGNED": 0, "A_WIDTH": 1, "B_WIDTH": 1, "Y_WIDTH": 1},
                   {"A": f"{yc} [{wo - 1}]", "B": en, "Y": neg})
            q = r.wire(f"y{j}_r", wo - 1)
            r.sdffe(f"{yc} [{wo - 2}:0]", q, wo - 1, clk, en, neg)
            prev = r.wire(f"y{j}_rz", wo)
            r.connect(prev, f"{{ 1'0 {q} }}")
            if fused_roots:  # the output register is this one
                outs.append(prev)
                continue
        # ... else it is the first one after the cast
        for d in range(1 + int(block.relu), stages + 1):
            q = r.wire(f"y{j}_r{d}", wo)
            r.dffe(prev, q, wo, clk, en)
            prev = q
        outs.append(prev)
    valid = r.wire("valid", L)
    r.sdffe(f"{{ {valid} [{L - 2}:0] {i_valid} }}" if L > 1 else i_valid, valid, L, clk, en, rst)
    r.connect(o_valid, f"{valid} [{L - 1}]")
    r.connect(o, f"{{ {' '.join(reversed(outs))} }}")
    return r.text()
