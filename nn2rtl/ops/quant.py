"""Quantisation and affine element-wise ops: what QONNX ``Quant``, ONNX ``QuantizeLinear``/``DequantizeLinear``,
``BatchNormalization`` and element-wise arithmetic by constants become.

``Quantize`` (attrs ``frac``, ``rounding``, optional raw bounds ``lo``/``hi``, ``shift``):
``clamp(round(x * 2**-shift * 2**frac), lo, hi) * 2**-frac``, exactly QONNX's ``Quant`` with a power-of-two scale
(the zero point and narrow range are in the bounds). Its result type is the narrowest that holds ``[lo, hi]``,
carrying the rounding mode and ``SAT``, so an input edge typed by it quantises floats exactly as the ``Quant`` does.

``ScaleShift`` (params ``scale`` and/or ``bias``, one per feature): ``cast(x * scale + bias)``, exact before the
cast, as hls4ml's batch normalisation layer computes it.

Types the model fixes (quantised constants, set by the front end in ``node.types``) win over the configuration's
defaults; a precision configured for the layer (``LayerName``/``LayerType``) wins over both. ``auto`` results are
exact: wide enough never to round or overflow, capped by ``Model.MaxAutoWidth`` (dropping fractional bits).
"""

import numpy as np

from rtl_lib import scale as blocks

from ..config import AUTO
from ..fixed import FixedType, Overflow, Rounding, exact_type, quantize_params, range_type, requantize_types
from . import Cost, Op, register

__all__ = ["Quantize", "ScaleShift", "cap_auto", "chosen"]


def cap_auto(t, lc):
    """``t`` narrowed to ``MaxAutoWidth`` bits (fractional bits dropped, integer bits kept) when one is set."""
    cap = lc.option("max_auto_width")
    if cap is None or t.width <= cap:
        return t
    if t.integer > cap:
        return FixedType(t.integer, t.integer, t.signed, t.rounding, t.overflow)
    return FixedType(cap, t.integer, t.signed, t.rounding, t.overflow)


def chosen(node, lc, var, default):
    """The precision of ``var`` (weight, bias): configured for the layer, else fixed by the model (a quantised
    constant, in ``node.types``), else ``default``."""
    if var in lc.explicit:
        return getattr(lc, var)
    return node.types.get(var, default)


def _round_real(y, rounding):
    r = Rounding(rounding)
    if r is Rounding.TRN:
        return np.floor(y)
    if r is Rounding.TRN_ZERO:
        return np.trunc(y)
    if r is Rounding.RND:
        return np.floor(y + 0.5)
    if r is Rounding.RND_MIN_INF:
        return np.ceil(y - 0.5)
    if r is Rounding.RND_ZERO:
        return np.sign(y) * np.ceil(np.abs(y) - 0.5)
    if r is Rounding.RND_INF:
        return np.sign(y) * np.floor(np.abs(y) + 0.5)
    return np.round(y)  # RND_CONV: ties to even


@register
class Quantize(Op):
    name = "Quantize"

    def quantize(self, node, graph, lc):
        tin = graph.tensors[node.inputs[0]].type
        frac, shift, rounding = node.attrs["frac"], node.attrs.get("shift", 0), Rounding(node.attrs["rounding"])
        src, mid = requantize_types(tin, shift, frac, rounding)
        ends = mid.cast(np.array([tin.min_raw, tin.max_raw], dtype=object), src)
        lo = max(int(ends[0]), node.attrs["lo"]) if node.attrs.get("lo") is not None else int(ends[0])
        hi = min(int(ends[1]), node.attrs["hi"]) if node.attrs.get("hi") is not None else int(ends[1])
        if lo > hi:  # every input lies beyond one bound: the output is that bound
            lo = hi = node.attrs["lo"] if node.attrs.get("lo") is not None and ends[1] < node.attrs["lo"] else \
                node.attrs["hi"]
        out = range_type(lo, hi, frac, rounding, Overflow.SAT)
        node.attrs["bounds"] = (lo, hi)
        graph.tensors[node.outputs[0]].type = node.types["result"] = out

    def reference(self, node, inputs):
        (x,) = inputs
        f = node.attrs["frac"] - node.attrs.get("shift", 0)
        q = _round_real(np.ldexp(np.asarray(x, dtype=np.float64), f), node.attrs["rounding"])
        lo, hi = node.attrs.get("lo"), node.attrs.get("hi")
        q = np.clip(q, -np.inf if lo is None else lo, np.inf if hi is None else hi)
        return [np.ldexp(q, -node.attrs["frac"])]

    def golden(self, node, inputs):
        (x,) = inputs
        src, mid = requantize_types(node.types["input"], node.attrs.get("shift", 0), node.attrs["frac"],
                                    node.types["result"].rounding)
        r = mid.cast(x, src)
        lo, hi = node.attrs["bounds"]
        return [node.types["result"].cast(np.minimum(np.maximum(r, lo), hi), mid.with_modes(Rounding.TRN))]

    def block(self, node, graph, library=None):
        tout = node.types["result"]
        lo, hi = node.attrs["bounds"]
        return blocks.Requantize(graph.tensors[node.inputs[0]].size, node.types["input"], tout,
                                 shift=node.attrs.get("shift", 0), lo=lo, hi=hi)

    def hls(self, node, graph, layer):
        src, mid = requantize_types(node.types["input"], node.attrs.get("shift", 0), node.attrs["frac"],
                                    node.types["result"].rounding)
        layer.config(n_in=graph.tensors[node.inputs[0]].size, src_t=src, mid_t=mid,
                     mid_trn_t=mid.with_modes(Rounding.TRN))
        layer.call("nn2rtl::requantize", layer.const("bounds", list(node.attrs["bounds"]),
                                                      comment=f"raw bounds on the grid of {mid}"))

    def cost(self, node, graph):
        blk = self.block(node, graph)
        blk._MustUse__silence = True
        return Cost(latency=blk.latency, ii=1, multipliers=0, products=0, registers=blk.registers)


@register
class ScaleShift(Op):
    name = "ScaleShift"
    auto_result = True

    def quantize(self, node, graph, lc):
        tin = graph.tensors[node.inputs[0]].type
        n = graph.tensors[node.inputs[0]].size
        for var, cfg_var in (("scale", "weight"), ("bias", "bias")):
            v = node.params.get(var)
            if v is None:
                continue
            v = np.broadcast_to(np.asarray(v, dtype=np.float64).reshape(-1), (n,))
            if cfg_var in lc.explicit:
                t = getattr(lc, cfg_var)
            elif var in node.types:
                t = node.types[var]
            else:  # in a quantised model constants are kept exact; otherwise they take the layer's precision
                t = AUTO if lc.option("model_quantized") else getattr(lc, cfg_var)
            if t == AUTO:
                t = cap_auto(exact_type(v), lc)
            node.types[var] = t
            node.params[var] = quantize_params(t, v)
        result = lc.result
        if result == AUTO:
            result = cap_auto(self._exact_result(node, tin, n), lc)
        graph.tensors[node.outputs[0]].type = node.types["result"] = result

    @staticmethod
    def _exact_result(node, tin, n):
        s = node.params.get("scale")
        b = node.params.get("bias")
        ts, tb = node.types.get("scale"), node.types.get("bias")
        fp = tin.frac + (ts.frac if s is not None else 0)
        f = max(fp, tb.frac if b is not None else fp)
        xs = np.array([tin.min_raw, tin.max_raw], dtype=object)
        sv = np.ones(n, dtype=object) if s is None else np.asarray(s).astype(object)
        ends = xs[:, None] * sv[None, :]
        ends = ends * (1 << (f - fp))
        if b is not None:
            ends = ends + np.asarray(b).astype(object)[None, :] * (1 << (f - tb.frac))
        return range_type(min(ends.flat), max(ends.flat), f)

    def reference(self, node, inputs):
        (x,) = inputs
        y = np.asarray(x, dtype=np.float64)
        if node.params.get("scale") is not None:
            y = y * np.asarray(node.params["scale"], dtype=np.float64).reshape(1, -1)
        if node.params.get("bias") is not None:
            y = y + np.asarray(node.params["bias"], dtype=np.float64).reshape(1, -1)
        return [y]

    def golden(self, node, inputs):
        (x,) = inputs
        tin, tout = node.types["input"], node.types["result"]
        s, b = node.params.get("scale"), node.params.get("bias")
        xo = np.asarray(x).astype(object)
        if s is not None:
            p, fp = xo * np.asarray(s).astype(object)[None, :], tin.frac + node.types["scale"].frac
        else:
            p, fp = xo, tin.frac
        if b is not None:
            tb = node.types["bias"]
            f = max(fp, tb.frac)
            p = p * (1 << (f - fp)) + np.asarray(b).astype(object)[None, :] * (1 << (f - tb.frac))
            fp = f
        wide = max(max(abs(int(v)) for v in p.flat).bit_length() + 2, 2) if p.size else 2
        return [tout.cast(p, FixedType(wide, wide - fp, True))]

    def block(self, node, graph, library=None):
        n = graph.tensors[node.inputs[0]].size
        s, b = node.params.get("scale"), node.params.get("bias")
        return blocks.ScaleShift(n, node.types["input"], node.types["result"], node.types.get("scale"),
                                 None if s is None else list(s), node.types.get("bias"),
                                 None if b is None else list(b))

    def hls(self, node, graph, layer):
        n = graph.tensors[node.inputs[0]].size
        members = dict(n_in=n, has_scale=node.params.get("scale") is not None,
                       has_bias=node.params.get("bias") is not None)
        consts = []
        for var in ("scale", "bias"):
            v = node.params.get(var)
            t = node.types.get(var) if v is not None else FixedType(1, 1, False)
            members[f"{var}_t"] = t
            consts.append(layer.const(var, np.broadcast_to(np.asarray(v if v is not None else 0).reshape(-1), (n,)),
                                      t))
        layer.config(**members)
        layer.call("nn2rtl::scale_shift", *consts)

    def cost(self, node, graph):
        blk = self.block(node, graph)
        blk._MustUse__silence = True
        return Cost(latency=blk.latency, ii=1, multipliers=blk.multipliers, products=blk.multipliers,
                    registers=blk.registers)
