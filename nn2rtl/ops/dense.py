"""Dense (fully connected) layer: ``y = x @ W + b`` with hls4ml's fixed-point semantics."""

import math

import numpy as np

from rtl_lib.da import DenseDA, da_latency, da_plan, da_registers, kept_bits
from rtl_lib.dense import DEFAULT_LEVELS_PER_STAGE, DenseParallel, count_multipliers, dense_latency, dense_registers
from rtl_lib.mac import DenseResource, check_dsp, mac_latency, mac_plan, resource_registers
from rtl_lib.popcount import XnorPopcountDense, popcount_latency, popcount_registers

from ..config import AUTO, Strategy
from ..errors import ConfigError
from ..fixed import MAX_INT64_BITS, FixedType, Overflow, as_raw_array, exact_type, quantize_params
from . import Cost, Op, register, warn
from .quant import cap_auto, chosen

#: Batch rows processed at once by the golden model (bounds memory: rows * n_in * n_out integers).
_CHUNK = 512


def _warn_range(node, what, t, values):
    """Weights beyond the weight type's range wrap (saturate, with SAT) silently in hls4ml: say so, with the
    integer bits that would hold them."""
    count, big = t.out_of_range(values)
    if count:
        need = math.floor(math.log2(big)) + 1 + int(t.signed)
        key = "weight" if what == "weights" else "bias"
        warn(node, f"{count} {what} lie outside {t} (largest magnitude {big:g}) and "
                   f"{'wrap' if t.overflow is Overflow.WRAP else 'saturate'}, as in hls4ml; "
                   f"Precision.{key} with at least {need} integer bits holds them")


def _accumulate(x, w, acc0, tp, tacc):
    """The definition: each product cast to the accumulator type on its own, added to the bias in input order
    (with WRAP the order does not matter and one sum is taken)."""
    prod = tacc.cast(x[:, :, None] * w[None, :, :], tp)   # (rows, n_in, n_out), each product cast
    if tacc.overflow is Overflow.WRAP:
        return tacc.cast(prod.sum(axis=1) + acc0, tacc)  # modular: order does not matter
    acc = np.broadcast_to(acc0, (x.shape[0], w.shape[1]))
    for i in range(x.shape[1]):  # saturation is order-dependent: add in input order, as hls4ml does
        acc = tacc.cast(acc + prod[:, i, :], tacc)
    return acc


def _floor_wrap_fits(tp, tacc, n_in):
    """Whether :func:`_floor_wrap_sum` applies: a TRN/WRAP accumulator (hls4ml's default) and int64 room."""
    from ..fixed import Rounding
    if tacc.rounding is not Rounding.TRN or tacc.overflow is not Overflow.WRAP:
        return False
    grow = max(0, tacc.frac - tp.frac)
    return tp.width + grow + n_in.bit_length() + 1 <= MAX_INT64_BITS


def _floor_wrap_sum(x, w, shift):
    """Sum over inputs of each product floored by ``shift`` bits (or scaled up by ``-shift``), not yet wrapped.

    Equal to :func:`_accumulate` for a TRN/WRAP accumulator (then cast once): wrapping each product and wrapping
    the sum agree modulo 2^W, so only the floor has to be taken per product; 10x faster on hls4ml's defaults."""
    if shift <= 0:  # nothing dropped: an integer matrix product
        return (x @ w) << -shift
    prod = x[:, :, None] * w[None, :, :]
    prod >>= shift  # arithmetic shift: floor
    return prod.sum(axis=1)


def _levels_per_stage(node):
    return node.attrs.get("levels_per_stage", DEFAULT_LEVELS_PER_STAGE)


def _reuse(node):
    return node.attrs.get("reuse_factor", 1)


def auto_accum(in_type, weight_type, n_in, has_bias, bias_type=None):
    """hls4ml's precision inference for a Dense accumulator: exact product widths grown by ``ceil(log2 n_in)``,
    one more integer bit when a bias is added. A bias with finer fractional bits than the products, or more integer
    bits, widens it further so that the sum stays exact."""
    grow = math.ceil(math.log2(n_in)) if n_in > 1 else 0
    extra = 1 if has_bias else 0
    p = in_type.product(weight_type)
    integer = p.integer + grow + extra
    frac = p.frac
    signed = p.signed
    if has_bias and bias_type is not None:
        frac = max(frac, bias_type.frac)
        integer = max(integer, bias_type.integer + 1 + (0 if bias_type.signed or not signed else 1))
        signed = signed or bias_type.signed
    return FixedType(integer + frac, integer, signed)


def _binary(node, graph, in_type, tw, accum):
    """Whether every input is +-1 (the output of a bipolar quantiser without zero point) and every weight is raw
    +-1, with an accumulator at least as fine as the products: then the sum is exactly an XNOR-popcount."""
    src = graph.producer(node.inputs[0])
    if src is None or src.op != "Threshold" or not src.attrs.get("bipolar") or src.attrs.get("zero_point"):
        return False
    w = np.asarray(node.params["weight"])
    return (bool(np.all(np.abs(w) == 1)) and in_type.signed and tw.signed
            and accum.frac >= in_type.product(tw).frac and accum.overflow is Overflow.WRAP)


def quantize_weights(node, graph, lc, in_type, n_in):
    """Weight, bias, accumulator and result types of a dense product over ``n_in`` inputs (Dense, Conv): weights
    and bias replaced by raw integers; returns ``(weight type, accumulator type)``."""
    w = node.params["weight"]
    b = node.params.get("bias")
    tw = chosen(node, lc, "weight", lc.weight)
    if tw == AUTO:
        tw = cap_auto(exact_type(w), lc)
    node.types["weight"] = tw
    _warn_range(node, "weights", tw, w)
    node.params["weight"] = quantize_params(tw, w)
    tb = None
    if b is not None:
        tb = chosen(node, lc, "bias", AUTO if lc.option("model_quantized") else lc.bias)
        if tb == AUTO:
            tb = cap_auto(exact_type(b), lc)
        node.types["bias"] = tb
        _warn_range(node, "biases", tb, b)
        node.params["bias"] = quantize_params(tb, b)
    accum = lc.accum
    if accum == AUTO:
        accum = cap_auto(auto_accum(in_type, tw, n_in, b is not None, tb), lc)
    node.types["accum"] = accum
    result = lc.result if lc.result != AUTO else accum
    graph.tensors[node.outputs[0]].type = result
    return tw, accum


def choose_reuse(node, lc, products):
    """The layer's reuse factor (at most its products per kernel), recorded with its strategy and tree depth."""
    if lc.strategy is Strategy.DISTRIBUTED_ARITHMETIC and lc.reuse_factor > 1:
        raise ConfigError(f"layer {node.label}: Strategy distributed_arithmetic computes every product at once as "
                          f"shifts and adds (reuse factor 1), but ReuseFactor is {lc.reuse_factor}; use ReuseFactor "
                          f"1, or Strategy Latency or Resource for a multiplier array")
    reuse = min(lc.reuse_factor, products)
    if reuse < lc.reuse_factor:  # as hls4ml, which picks a valid reuse factor: more rounds would only idle
        warn(node, f"ReuseFactor {lc.reuse_factor} exceeds its {products} products; {products} used (one "
                   f"multiplier, II {products})")
    node.attrs["reuse_factor"] = reuse
    node.attrs["strategy"] = lc.strategy.value
    node.attrs["levels_per_stage"] = lc.levels_per_stage
    return reuse


def choose_dsp(node, lc, in_type):
    """``Model.DSP`` for a multiply-accumulate array (recorded as ``dsp``; other datapaths have no DSP choice): an
    ECP5 MULT18X18D multiplies operands of at most 18 bits."""
    dsp = lc.options.get("dsp", "inferred")
    if dsp == "inferred" or node.attrs.get("implementation") != "mac-array":
        return
    try:
        check_dsp(dsp, in_type, node.types["weight"])
    except ValueError as e:
        raise ConfigError(f"layer {node.label}: Model.DSP {dsp}: {e}; narrow its precision, or use DSP "
                          f"inferred") from None
    node.attrs["dsp"] = dsp


def free_running(graph):
    """Whether the design's blocks run with their enable constant high (``FlowControl fifo``)."""
    return getattr(graph, "meta", {}).get("flow_control") == "fifo"  # stream views have no meta (never fifo)


def registered_enable(graph):
    """Whether the design's enable is a register whose input the blocks may copy (``FlowControl skid``)."""
    return getattr(graph, "meta", {}).get("flow_control") == "skid"


def _dsp(node):
    return node.attrs.get("dsp", "inferred")


def implementation(lc, reuse):
    """The datapath of a dense product: shifts and adds (Strategy distributed_arithmetic), one constant-weight
    neuron per output (reuse factor 1), or a multiply-accumulate array."""
    if lc.strategy is Strategy.DISTRIBUTED_ARITHMETIC:
        return "distributed-arithmetic"
    return "parallel" if reuse == 1 else "mac-array"


def da_cost(weights, bias, types, lps, latency=None, in_lo=None, relu=False):
    """``(latency, registers, adders, adder bits)`` of a shift-and-add dense product (:mod:`rtl_lib.da`)."""
    plan = da_plan_of(weights, bias, types, lps, in_lo)
    tacc, tout = types["accum"], types["result"]
    return (latency or da_latency(plan, tacc, tout), da_registers(plan, tacc, tout, latency, relu), plan.adders,
            plan.adder_bits)


def relu_fused(graph, node):
    """Whether the shift-and-add layer ``node`` takes the ReLU that alone reads its output into its output register
    (:class:`rtl_lib.da.DenseDA` ``relu``): a signed result of 2 bits or more that is not a graph output. The
    ReLU's block then only casts (:func:`fused_into_producer`)."""
    if (node.attrs.get("implementation") != "distributed-arithmetic" or node.op != "Dense"
            or not hasattr(graph, "consumers")):  # a streaming stage's view: each op is a stage of its own
        return False
    out = node.outputs[0]
    users = graph.consumers(out)
    tout = node.types["result"]
    return (out not in graph.outputs and len(users) == 1 and users[0].op == "Relu" and tout.signed
            and tout.width >= 2)


def fused_into_producer(graph, relu_node):
    """Whether the ReLU ``relu_node`` was taken into its producer's output register (its input is never
    negative)."""
    producer = graph.producer(relu_node.inputs[0]) if hasattr(graph, "producer") else None
    return producer is not None and relu_fused(graph, producer)


def adder_graph_details(plans, weights, instances=1):
    """The report's ``adder_graph`` of a shift-and-add layer from its plans (one per group): adders with and
    without sharing, the multipliers Strategy Latency would take instead, depth and pipeline stages."""
    return {"adder_graph": {
        "adders": instances * sum(p.adders for p in plans),
        "adders_unshared": instances * sum(p.plain_adders for p in plans),
        "multipliers_instead": instances * sum(count_multipliers(w) for w in weights),
        "depth": max(p.depth for p in plans),
        "stages": max(p.schedule.latency for p in plans),
        "sharing": plans[0].sharing,
    }}


def da_plan_of(weights, bias, types, lps, in_lo=None):
    """The :class:`rtl_lib.da.DAPlan` of a shift-and-add dense product with these raw weights and types."""
    return da_plan(weights, bias, types.get("bias", types["accum"]) if bias is not None else types["accum"],
                   types["input"], types["weight"], types["accum"], lps, in_lo,
                   kept_bits(types["accum"], types["result"]))


def never_negative(graph, tensor):
    """Whether ``tensor`` comes straight from a ReLU whose result cannot wrap below zero: a saturating result
    type, or one whose largest rounded input still fits (rounding is monotone, so then no positive input wraps).
    A shift-and-add layer reading it then sizes its adders from 0 up instead of from the type's minimum."""
    producer = graph.producer(tensor)
    if producer is None or producer.op != "Relu":
        return False
    tin, tout = producer.types["input"], producer.types["result"]
    if not tout.signed:
        return False  # the type says it already
    if tout.overflow is not Overflow.WRAP:
        return True
    wide = FixedType(tout.width + 64, tout.integer + 64, True, tout.rounding, Overflow.WRAP)
    top = int(wide.cast(np.array([tin.max_raw], dtype=object), tin)[0])
    return top <= tout.max_raw


def da_input_floor(node):
    """The ``in_lo`` of a shift-and-add layer's plan: 0 when its input never goes negative, else None."""
    return 0 if node.attrs.get("input_never_negative") else None


def require_wrap_accum(node):
    """The RTL adds products in a tree: refuse (ConfigError) a saturating accumulator, whose sum depends on order."""
    if node.types["accum"].overflow is not Overflow.WRAP:
        raise ConfigError(
            f"layer {node.label}: accumulator {node.types['accum']} saturates, which makes the sum depend on "
            f"the order of additions; the RTL adds in a tree and needs a WRAP accumulator: drop the overflow "
            f"mode from Precision.accum, or use 'auto' (wide enough never to overflow)")


def dense_golden(x, w, bias, types):
    """hls4ml's dense product on raw integers: ``x`` (rows, n_in) of ``types['input']``, ``w`` (n_in, n_out) of
    ``types['weight']``, ``bias`` (n_out,) of ``types['bias']`` or None; each product cast to ``types['accum']``,
    summed with the bias, cast to ``types['result']``."""
    graph_in_type = types["input"]
    tw, tacc = types["weight"], types["accum"]
    tout = types["result"]
    n_in, n_out = w.shape
    tp = graph_in_type.product(tw)
    acc0 = (tacc.cast(bias, types["bias"]) if bias is not None
            else np.zeros(n_out, dtype=np.int64 if tacc.width <= MAX_INT64_BITS else object))
    wide = tp.width > MAX_INT64_BITS or tacc.width + n_in.bit_length() + 1 > MAX_INT64_BITS
    w = as_raw_array(w, 100 if wide else tw.width)
    fast = not wide and _floor_wrap_fits(tp, tacc, n_in)
    out = []
    for s in range(0, x.shape[0], _CHUNK):
        xc = as_raw_array(x[s:s + _CHUNK], 100 if wide else graph_in_type.width)
        if fast:
            acc = tacc.cast(_floor_wrap_sum(xc, w, tp.frac - tacc.frac) + acc0, tacc)
        else:
            acc = _accumulate(xc, w, acc0, tp, tacc)
        out.append(tout.cast(acc, tacc))
    if not out:
        return np.zeros((0, n_out), dtype=np.int64)
    return np.concatenate(out, axis=0)


#: the type of the zero bias of a layer without one (adding it changes nothing)
NO_BIAS_TYPE = FixedType(1, 1, False)


def hls_multipliers(op, node, graph):
    """The HLS multiplier allocation: the RTL's multipliers (a shift-and-add layer: every product, so that the
    HLS tool is free to make them shifts and adds too)."""
    if node.attrs.get("implementation") == "distributed-arithmetic":
        return max(1, op.cost(node, graph).products)
    return max(1, op.cost(node, graph).multipliers)


def hls_weights(node, layer, bias_shape):
    """The weight and bias constants of a dense product in the HLS C++ (zeros when there is no bias) and the
    configuration members that type them."""
    bias = node.params.get("bias")
    tb = node.types.get("bias", NO_BIAS_TYPE) if bias is not None else NO_BIAS_TYPE
    if bias is None:
        bias = np.zeros(bias_shape, dtype=np.int64)
    layer.config(weight_t=node.types["weight"], bias_t=tb, accum_t=node.types["accum"])
    return layer.const("weight", node.params["weight"], node.types["weight"]), layer.const("bias", bias, tb)


@register
class Dense(Op):
    name = "Dense"
    auto_result = True

    def quantize(self, node, graph, lc):
        in_type = graph.tensors[node.inputs[0]].type
        w = node.params["weight"]
        tw, accum = quantize_weights(node, graph, lc, in_type, w.shape[0])
        products = int(w.shape[0] * w.shape[1])
        reuse = choose_reuse(node, lc, products)
        # reuse 1: one multiplier per product (Latency, or Resource with nothing to share); otherwise a MAC array;
        # +-1 inputs (a bipolar quantiser) times +-1 weights: XNOR-popcount, no multiplier
        node.attrs["implementation"] = implementation(lc, reuse)
        if reuse == 1 and _binary(node, graph, in_type, tw, accum):
            node.attrs["implementation"] = "xnor-popcount"
        choose_dsp(node, lc, in_type)
        if node.attrs["implementation"] == "distributed-arithmetic" and never_negative(graph, node.inputs[0]):
            node.attrs["input_never_negative"] = True

    def reference(self, node, inputs):
        (x,) = inputs
        y = x @ node.params["weight"]
        if node.params.get("bias") is not None:
            y = y + node.params["bias"]
        return [y]

    def golden(self, node, inputs):
        (x,) = inputs
        return [dense_golden(x, node.params["weight"], node.params.get("bias"), node.types)]

    def block(self, node, graph, library=None):
        require_wrap_accum(node)
        args = dict(in_type=node.types["input"], weights=node.params["weight"], weight_type=node.types["weight"],
                    bias=node.params.get("bias"), bias_type=node.types.get("bias"), accum_type=node.types["accum"],
                    out_type=node.types["result"], levels_per_stage=_levels_per_stage(node), library=library)
        reuse = _reuse(node)
        if node.attrs.get("implementation") == "xnor-popcount":
            args.pop("library")
            return XnorPopcountDense(**args)
        if node.attrs.get("implementation") == "distributed-arithmetic":
            return DenseDA(in_lo=da_input_floor(node), free_running=free_running(graph),
                           relu=relu_fused(graph, node), **args)
        if reuse == 1:
            return DenseParallel(**args)
        return DenseResource(reuse=reuse, dsp=_dsp(node), enable_copies=registered_enable(graph), **args)

    def details(self, node, graph):
        if node.attrs.get("implementation") != "distributed-arithmetic":
            return {"dsp": _dsp(node)} if node.attrs.get("dsp") else {}
        w, b = node.params["weight"], node.params.get("bias")
        details = adder_graph_details([da_plan_of(w, b, node.types, _levels_per_stage(node),
                                                  da_input_floor(node))], [w])
        if relu_fused(graph, node):
            details["relu"] = "in the output register"
        return details

    def hls(self, node, graph, layer):
        n_in, n_out = node.params["weight"].shape
        layer.config(n_in=n_in, n_out=n_out, reuse_factor=_reuse(node),
                     multiplier_limit=hls_multipliers(self, node, graph))
        layer.call("nn2rtl::dense", *hls_weights(node, layer, (n_out,)))

    def cost(self, node, graph):
        """Read off the schedules the blocks are built with (:func:`dense_latency`, :func:`mac_latency`). At reuse
        factor 1 a zero weight costs nothing and a +-2^k weight is a shift: ``multipliers`` counts the others."""
        n_in, n_out = node.params["weight"].shape
        lps, reuse = _levels_per_stage(node), _reuse(node)
        tacc, tout = node.types["accum"], node.types["result"]
        if node.attrs.get("implementation") == "xnor-popcount":
            return Cost(latency=popcount_latency(n_in, lps), ii=1, multipliers=0, products=n_in * n_out,
                        registers=popcount_registers(n_in, n_out, lps, tout))
        if node.attrs.get("implementation") == "distributed-arithmetic":
            latency, registers, adders, bits = da_cost(node.params["weight"], node.params.get("bias"), node.types,
                                                       lps, in_lo=da_input_floor(node), relu=relu_fused(graph, node))
            return Cost(latency=latency, ii=1, multipliers=0, products=n_in * n_out, registers=registers,
                        adders=adders, adder_bits=bits)
        if reuse == 1:
            w, b = node.params["weight"], node.params.get("bias")
            return Cost(latency=dense_latency(w, b, lps, tacc, tout), ii=1, multipliers=count_multipliers(w),
                        products=n_in * n_out, registers=dense_registers(w, b, lps, tacc, tout), rom_bits=0)
        plan = mac_plan(n_in, n_out, reuse, node.params["weight"], _dsp(node))
        return Cost(latency=mac_latency(plan, lps, tacc, tout), ii=reuse, multipliers=plan.multipliers,
                    products=n_in * n_out,
                    registers=resource_registers(plan, node.types["input"], node.types["weight"], tacc, tout, lps,
                                                 enable_copies=registered_enable(graph)),
                    rom_bits=plan.multipliers * reuse * node.types["weight"].width)
