"""Element-wise activations: exact piecewise functions and table lookups, with hls4ml's arithmetic.

Piecewise (no tables, bit-exact by construction): ``Relu``, ``LeakyRelu`` (``alpha * x`` for ``x <= 0``, alpha in
the ``param`` precision), ``ThresholdedRelu``, ``Clip`` (ReLU6, HardTanh), ``HardSigmoid``
(``clip(slope * x + shift, 0, 1)``, slope ``ufixed<16,0>`` and shift ``ufixed<2,0>`` by default as in hls4ml),
``PRelu`` (per-feature slopes). Table-based (:mod:`nn2rtl.tables`): ``Sigmoid``, ``Tanh``, ``Softplus``,
``Softsign``, ``Elu``, ``Selu``.
"""

import numpy as np

from rtl_lib import activation as blocks

from ..config import AUTO
from ..errors import ConfigError
from ..fixed import FixedType, quantize_params
from ..tables import (
    DEFAULT_TABLE_SIZE,
    DEFAULT_TABLE_TYPE,
    SELU_ALPHA,
    SELU_LAMBDA,
    TABLE_FUNCS,
    TableSpec,
    build_table,
    exact_eval,
    fit_candidates,
    measure,
    table_index,
)
from . import Cost, Op, register, warn
from .dense import fused_into_producer

#: hls4ml's hard-sigmoid constant types and SELU's scale type.
SLOPE_TYPE = FixedType(16, 0, signed=False)
SHIFT_TYPE = FixedType(2, 0, signed=False)
SELU_LAMBDA_TYPE = FixedType(16, 1, signed=False)


def _result(node, graph, lc, auto=None):
    """The result type; ``auto`` (exact) is offered by the ops whose result can keep the input type."""
    if lc.result == AUTO:
        if auto is None:
            raise ConfigError(f"layer {node.label}: result precision 'auto' is not supported for {node.op}")
        graph.tensors[node.outputs[0]].type = node.types["result"] = auto
        return auto
    graph.tensors[node.outputs[0]].type = node.types["result"] = lc.result
    return lc.result


def _param(node, lc, value, what, per_element=False):
    """Quantise an activation parameter to the layer's ``param`` precision; it must fit."""
    t = lc.param if lc.param != AUTO else FixedType(16, 6)
    raw = quantize_params(t, value) if per_element else t.quantize(np.asarray(value, dtype=np.float64))
    lo, hi = float(t.to_fraction(t.min_raw)), float(t.to_fraction(t.max_raw))
    v = np.asarray(value, dtype=np.float64)
    if np.any(v < lo) or np.any(v > hi + float(t.lsb)):
        raise ConfigError(f"layer {node.label}: {what} {v.min() if np.any(v < lo) else v.max():g} does not fit the "
                          f"parameter precision {t}; set Precision.param of this layer wider")
    node.types["param"] = t
    return raw


def _wide(frac, int_bits=40):
    """A signed type wide enough for intermediate exact values with ``frac`` fractional bits."""
    return FixedType(int_bits + max(frac, 0) + 1, int_bits + 1 - min(frac, 0), True)


def _align(raw, src_frac, frac):
    return np.asarray(raw, dtype=np.int64) << (frac - src_frac)


def _size(graph, node):
    return graph.tensors[node.inputs[0]].size


class _Elementwise(Op):
    block_cls = None

    def reference(self, node, inputs):
        return [self.real(node, np.asarray(inputs[0], dtype=np.float64))]

    def cost(self, node, graph):
        blk = self.block(node, graph)
        blk._MustUse__silence = True  # built to be measured, not elaborated
        return Cost(latency=blk.latency, ii=1, multipliers=blk.multipliers, products=blk.multipliers,
                    registers=blk.registers, rom_bits=blk.rom_bits)


@register
class Relu(_Elementwise):
    name = "Relu"
    auto_result = True

    def quantize(self, node, graph, lc):
        _result(node, graph, lc, auto=graph.tensors[node.inputs[0]].type)

    def real(self, node, x):
        return np.maximum(x, 0.0)

    def golden(self, node, inputs):
        (x,) = inputs
        tin, tout = node.types["input"], node.types["result"]
        return [np.where(x > 0, tout.cast(x, tin), 0)]

    def block(self, node, graph, library=None):
        return blocks.Relu(_size(graph, node), node.types["input"], node.types["result"],
                           rectified=fused_into_producer(graph, node))

    def hls(self, node, graph, layer):
        layer.config(n_in=_size(graph, node))
        layer.call("nn2rtl::relu")


@register
class LeakyRelu(_Elementwise):
    """``x > 0 ? x : alpha * x`` (alpha quantised to ``param``); ``PRelu`` is the same with a slope per feature."""

    name = "LeakyRelu"

    def quantize(self, node, graph, lc):
        _result(node, graph, lc)
        node.params["alpha"] = np.atleast_1d(_param(node, lc, node.attrs.get("alpha", 0.01), "alpha"))

    def real(self, node, x):
        return np.where(x > 0, x, node.attrs.get("alpha", 0.01) * x)

    def _alphas(self, node, n):
        a = np.asarray(node.params["alpha"], dtype=np.int64).reshape(-1)
        return np.broadcast_to(a, (n,)) if a.size == 1 else a

    def golden(self, node, inputs):
        (x,) = inputs
        tin, tout, tp = node.types["input"], node.types["result"], node.types["param"]
        prod = x * self._alphas(node, x.shape[1])[None, :]
        return [np.where(x > 0, tout.cast(x, tin), tout.cast(prod, tp.product(tin)))]

    def block(self, node, graph, library=None):
        n = _size(graph, node)
        return blocks.LeakyRelu(n, node.types["input"], node.types["result"], node.types["param"],
                                [int(a) for a in self._alphas(node, n)])

    def hls(self, node, graph, layer):
        a = np.asarray(node.params["alpha"]).reshape(-1)
        layer.config(n_in=_size(graph, node), param_t=node.types["param"], per_element=a.size > 1)
        layer.call("nn2rtl::leaky_relu", layer.const("alpha", a, node.types["param"]))


@register
class PRelu(LeakyRelu):
    name = "PRelu"

    def quantize(self, node, graph, lc):
        _result(node, graph, lc)
        node.params["alpha"] = np.asarray(_param(node, lc, node.params["slope"], "slope", per_element=True),
                                          dtype=np.int64).reshape(-1)
        del node.params["slope"]

    def real(self, node, x):
        return np.where(x > 0, x, np.asarray(node.params["slope"], dtype=np.float64).reshape(1, -1) * x)


@register
class ThresholdedRelu(_Elementwise):
    """``x > theta ? x : 0`` (theta quantised to ``param``, compared exactly)."""

    name = "ThresholdedRelu"
    auto_result = True

    def quantize(self, node, graph, lc):
        _result(node, graph, lc, auto=graph.tensors[node.inputs[0]].type)
        node.params["theta"] = np.atleast_1d(_param(node, lc, node.attrs.get("alpha", 1.0), "alpha (threshold)"))

    def real(self, node, x):
        return np.where(x > node.attrs.get("alpha", 1.0), x, 0.0)

    def golden(self, node, inputs):
        (x,) = inputs
        tin, tout, tp = node.types["input"], node.types["result"], node.types["param"]
        f = max(tin.frac, tp.frac)
        above = _align(x, tin.frac, f) > _align(node.params["theta"][0], tp.frac, f)
        return [np.where(above, tout.cast(x, tin), 0)]

    def block(self, node, graph, library=None):
        return blocks.Clip(_size(graph, node), node.types["input"], node.types["result"], node.types["param"],
                           lo=None, hi=None, threshold=int(node.params["theta"][0]))

    def hls(self, node, graph, layer):
        layer.config(n_in=_size(graph, node), param_t=node.types["param"])
        layer.call("nn2rtl::thresholded_relu", layer.const("theta", node.params["theta"][:1], node.types["param"]))


@register
class Clip(_Elementwise):
    """``min(max(x, lo), hi)`` with bounds in the ``param`` precision (ReLU6 = Clip(0, 6), HardTanh = Clip(-1, 1));
    hls4ml's ``relu_max`` order: below ``lo`` gives ``lo``, above ``hi`` gives ``hi``."""

    name = "Clip"
    auto_result = True

    def quantize(self, node, graph, lc):
        _result(node, graph, lc, auto=graph.tensors[node.inputs[0]].type)
        for k in ("min", "max"):
            v = node.attrs.get(k)
            if v is not None:
                node.params[k] = np.atleast_1d(_param(node, lc, v, f"clip bound {k}"))
                if float(node.params[k][0]) * 2.0 ** -node.types["param"].frac != float(v):
                    raise ConfigError(f"layer {node.label}: clip bound {k}={v:g} is not exact in the parameter "
                                      f"precision {node.types['param']}; choose a Precision.param that holds it")

    def real(self, node, x):
        lo, hi = node.attrs.get("min"), node.attrs.get("max")
        return np.clip(x, -np.inf if lo is None else lo, np.inf if hi is None else hi)

    def golden(self, node, inputs):
        (x,) = inputs
        tin, tout, tp = node.types["input"], node.types["result"], node.types.get("param", node.types["input"])
        f = max(tin.frac, tp.frac)
        xa = _align(x, tin.frac, f)
        y = tout.cast(x, tin)
        if "max" in node.params:
            hi = node.params["max"][0]
            y = np.where(xa > _align(hi, tp.frac, f), tout.cast(np.array(hi), tp), y)
        if "min" in node.params:
            lo = node.params["min"][0]
            y = np.where(xa < _align(lo, tp.frac, f), tout.cast(np.array(lo), tp), y)
        return [y]

    def block(self, node, graph, library=None):
        lo = int(node.params["min"][0]) if "min" in node.params else None
        hi = int(node.params["max"][0]) if "max" in node.params else None
        return blocks.Clip(_size(graph, node), node.types["input"], node.types["result"],
                           node.types.get("param", node.types["input"]), lo=lo, hi=hi)

    def hls(self, node, graph, layer):
        tp = node.types.get("param", node.types["input"])
        layer.config(n_in=_size(graph, node), param_t=tp, has_min="min" in node.params, has_max="max" in node.params)
        bounds = [int(node.params[k][0]) if k in node.params else 0 for k in ("min", "max")]
        layer.call("nn2rtl::clip", layer.const("bounds", bounds, tp, comment="min, max"))


@register
class HardSigmoid(_Elementwise):
    """``clip(slope * x + shift, 0, 1)`` computed exactly, then cast (hls4ml's ``hard_sigmoid``)."""

    name = "HardSigmoid"

    def quantize(self, node, graph, lc):
        _result(node, graph, lc)
        ts, tsh = lc.table("slope", SLOPE_TYPE), lc.table("shift", SHIFT_TYPE)
        for var, t, v in (("slope", ts, node.attrs.get("alpha", 0.2)), ("shift", tsh, node.attrs.get("beta", 0.5))):
            if not t.check_raw(t.quantize(v)) or (v < 0 and not t.signed) or abs(v) >= 2.0 ** t.integer:
                raise ConfigError(f"layer {node.label}: HardSigmoid {var} {v:g} does not fit {t}; set "
                                  f"Precision.{var} of this layer")
            node.types[var] = t
            node.params[var] = np.atleast_1d(t.quantize(v))
            got = float(t.dequantize(node.params[var])[0])
            tout = graph.tensors[node.outputs[0]].type
            if abs(got - v) > float(tout.lsb):  # visible at the output (the slope error, at |x| = 1)
                exact = FixedType(t.integer + tout.frac + 4, t.integer, t.signed)
                near = float(exact.dequantize(exact.quantize(v)))
                warn(node, f"HardSigmoid {var} {v:g} is {got:g} in {t} (hls4ml's type; off by {abs(got - v):.3g} "
                           f"at the output); set Precision.{var} to {exact} for {near:.6g}")

    def real(self, node, x):
        return np.clip(node.attrs.get("alpha", 0.2) * x + node.attrs.get("beta", 0.5), 0.0, 1.0)

    def golden(self, node, inputs):
        (x,) = inputs
        tin, tout, ts, tsh = (node.types[k] for k in ("input", "result", "slope", "shift"))
        f = max(ts.frac + tin.frac, tsh.frac)
        t = _align(x * int(node.params["slope"][0]), ts.frac + tin.frac, f) + _align(node.params["shift"][0],
                                                                                     tsh.frac, f)
        one = 1 << f if f >= 0 else 0
        t = np.clip(t, 0, one)
        return [tout.cast(t, _wide(f))]

    def block(self, node, graph, library=None):
        return blocks.HardSigmoid(_size(graph, node), node.types["input"], node.types["result"],
                                  node.types["slope"], int(node.params["slope"][0]),
                                  node.types["shift"], int(node.params["shift"][0]))

    def hls(self, node, graph, layer):
        tin, ts, tsh = (node.types[k] for k in ("input", "slope", "shift"))
        f = max(ts.frac + tin.frac, tsh.frac)
        wide = _wide(f)
        layer.config(n_in=_size(graph, node), slope_t=ts, shift_t=tsh, wide_t=wide)
        layer.call("nn2rtl::hard_sigmoid", layer.const("slope", node.params["slope"][:1], ts),
                   layer.const("shift", node.params["shift"][:1], tsh),
                   layer.const("one", [1 << f if f >= 0 else 0], wide, comment="the upper clip"))


# -- table-based -----------------------------------------------------------------------------------------------

def table_spec(node, func, lc, in_type):
    """The :class:`TableSpec` of a layer from its options: ``table_size``, ``table_mode``, ``table_range``
    (``fitted`` without a range: the caller picks among :func:`fit_candidates`)."""
    where = f"layer {node.label}"
    size = lc.option("table_size", DEFAULT_TABLE_SIZE)
    mode = lc.option("table_mode", "hls4ml")
    lo, hi, _ = TABLE_FUNCS[func]
    if lc.option("table_range") is not None:
        lo, hi = lc.option("table_range")
    return TableSpec(func, size, float(lo), float(hi), mode).check(where)


class _TableOp(_Elementwise):
    func = None

    def quantize(self, node, graph, lc):
        tout = _result(node, graph, lc)
        tin = node.types["input"]
        tt = lc.table("table", DEFAULT_TABLE_TYPE)
        if tt == AUTO:
            raise ConfigError(f"layer {node.label}: table precision 'auto' is not supported")
        spec = table_spec(node, self.func, lc, tin)
        node.types["table"] = tt
        self.extra_params(node, lc)
        candidates = [spec]
        if spec.mode == "fitted" and lc.option("table_range") is None:
            candidates = [TableSpec(self.func, spec.size, lo, hi, "fitted")
                          for lo, hi in fit_candidates(self.func, spec.size, tin)]
        best = None
        for cand in candidates:  # fitted: the window with the smallest worst-case error (the narrowest on ties)
            node.params["table"] = build_table(cand, tt)
            node.attrs["table"] = cand.to_dict()
            err = measure(lambda x: self.real(node, x), lambda r: self._golden1(node, r), tin, tout)
            score = err["max_abs_error"] if err["max_abs_error"] is not None else float("inf")
            if best is None or score < best[3]:
                best = (cand, node.params["table"], err, score)
        node.params["table"] = best[1]
        node.attrs["table"] = dict(best[0].to_dict(), error=best[2])

    def extra_params(self, node, lc):
        pass

    def spec(self, node):
        t = node.attrs["table"]
        return TableSpec(t["func"], t["size"], t["range"][0], t["range"][1], t["mode"])

    def real(self, node, x):
        return exact_eval(self.func, x)

    def lookup(self, node, x):
        idx = table_index(self.spec(node), x, node.types["input"])
        return np.asarray(node.params["table"], dtype=np.int64)[idx]

    def _golden1(self, node, x):
        tt, tout = node.types["table"], node.types["result"]
        return tout.cast(self.lookup(node, x), tt)

    def golden(self, node, inputs):
        return [self._golden1(node, np.asarray(inputs[0], dtype=np.int64))]

    def block(self, node, graph, library=None):
        return blocks.TableActivation(_size(graph, node), node.types["input"], node.types["result"],
                                      self.spec(node), node.types["table"],
                                      [int(v) for v in node.params["table"]], **self.block_extra(node))

    def block_extra(self, node):
        return {}

    #: what the HLS template does with the table entry: 0 the entry, 1 (ELU) x >= 0 ? x : scale * entry,
    #: 2 (SELU) x >= 0 ? scale * x : entry
    hls_kind = 0

    def hls_scale(self, node):
        return FixedType(1, 1, False), 0

    def hls(self, node, graph, layer):
        from ..hls.cpp import storage_width
        spec, tin = self.spec(node), node.types["input"]
        mode = (1 if spec.one_sided else 0) if spec.mode == "hls4ml" else 2
        lo = round(spec.lo * 2.0 ** tin.frac) if mode == 2 else 0
        ts, scale = self.hls_scale(node)
        layer.config(n_in=_size(graph, node), table_t=node.types["table"], scale_t=ts, kind=self.hls_kind,
                     table_mode=mode, table_shift=spec.bin_log2 + tin.frac, table_size=spec.size,
                     table_extra=max(0, storage_width([lo]) - tin.width))
        layer.call("nn2rtl::table_activation",
                   layer.const("table", node.params["table"], node.types["table"],
                               comment=f"{spec.func} over [{spec.lo:g}, {spec.hi:g}), {spec.mode}"),
                   layer.const("lo", [lo], comment="raw input at the table's first entry"),
                   layer.const("scale", [scale], ts))


@register
class Sigmoid(_TableOp):
    name, func = "Sigmoid", "sigmoid"


@register
class Tanh(_TableOp):
    name, func = "Tanh", "tanh"


@register
class Softplus(_TableOp):
    name, func = "Softplus", "softplus"


@register
class Softsign(_TableOp):
    name, func = "Softsign", "softsign"


@register
class Elu(_TableOp):
    """``x >= 0 ? x : alpha * table(x)`` with the table of ``exp(x) - 1`` over ``[-8, 0]`` (hls4ml's ``elu``)."""

    name, func = "Elu", "elu"

    def extra_params(self, node, lc):
        node.params["alpha"] = np.atleast_1d(_param(node, lc, node.attrs.get("alpha", 1.0), "alpha"))

    def real(self, node, x):
        return np.where(x >= 0, x, node.attrs.get("alpha", 1.0) * np.expm1(np.minimum(x, 0)))

    def _golden1(self, node, x):
        tin, tt, tout, tp = (node.types[k] for k in ("input", "table", "result", "param"))
        neg = tout.cast(int(node.params["alpha"][0]) * self.lookup(node, x), tp.product(tt))
        return np.where(x >= 0, tout.cast(x, tin), neg)

    def block_extra(self, node):
        return {"positive": "identity", "scale_type": node.types["param"], "scale": int(node.params["alpha"][0])}

    hls_kind = 1

    def hls_scale(self, node):
        return node.types["param"], int(node.params["alpha"][0])


@register
class Selu(_TableOp):
    """``x >= 0 ? lambda * x : table(x)`` (hls4ml's ``selu``: lambda as ``ufixed<16,1>``; the table holds
    ``lambda * alpha * (exp(x) - 1)`` over ``[-8, 0]``)."""

    name, func = "Selu", "selu"

    def quantize(self, node, graph, lc):
        for k, d in (("alpha", SELU_ALPHA), ("gamma", SELU_LAMBDA)):
            v = node.attrs.get(k)
            if v is not None and abs(v - d) > 1e-6 * d:
                raise ConfigError(f"layer {node.label}: Selu with {k}={v:g}; only the standard constants "
                                  f"(alpha={SELU_ALPHA:.6g}, gamma={SELU_LAMBDA:.6g}) are supported")
        super().quantize(node, graph, lc)

    def extra_params(self, node, lc):
        node.types["lambda"] = SELU_LAMBDA_TYPE
        node.params["lambda"] = np.atleast_1d(SELU_LAMBDA_TYPE.quantize(SELU_LAMBDA))

    def real(self, node, x):
        return SELU_LAMBDA * np.where(x >= 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0)))

    def _golden1(self, node, x):
        tin, tt, tout, tl = (node.types[k] for k in ("input", "table", "result", "lambda"))
        pos = tout.cast(int(node.params["lambda"][0]) * x, tl.product(tin))
        return np.where(x >= 0, pos, tout.cast(self.lookup(node, x), tt))

    def block_extra(self, node):
        return {"positive": "scale", "scale_type": node.types["lambda"], "scale": int(node.params["lambda"][0])}

    hls_kind = 2

    def hls_scale(self, node):
        return node.types["lambda"], int(node.params["lambda"][0])
