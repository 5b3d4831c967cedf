"""Quantisers with any scale, as comparisons: ``Threshold`` (FINN's MultiThreshold, computed exactly).

A quantiser ``q = clip(round(y / s + z), lo, hi)`` is a monotone step function of its input ``y``, and so is the
quantiser of any chain of monotone element-wise maps before it (``pre``: affine maps such as a batch
normalisation, a bias or a scale moved forward from the layer before, ``max``/``min`` such as a ReLU or a Clip).
For an input on a fixed-point grid, ``q >= l`` holds exactly from some grid value on (or up to one, when the chain
decreases): each of the ``hi - lo`` levels is decided by one comparison with an integer threshold. The thresholds
are computed once, in exact rational arithmetic (every float32 or float64 constant is a dyadic rational), so the
result is the quantiser's definition evaluated exactly, whatever the scale: no multiplier, no division, no
rounding error. The same construction on the float64 grid quantises floating-point inputs exactly at the edge of a
design (:func:`float_thresholds`).

Node attributes (set by the front end):

* ``scale`` (> 0), ``zero_point``, ``lo``/``hi`` (the integer range of ``q`` before the zero point is removed),
  ``rounding`` (a QONNX rounding mode: ``ROUND``, ``HALF_EVEN``, ``FLOOR``, ``CEIL``, ``DOWN``, ``UP``, ``HALF_UP``,
  ``HALF_DOWN``), or ``bipolar`` (``q = y / s + z >= 0 ? 1 : -1``: QONNX ``BipolarQuant``, and ``Quant`` of one
  signed bit, which QONNX defines so);
* ``frac``: the output is the code ``q - z`` (``q`` when bipolar) on a grid of ``2**-frac``; the front end sets it
  so that ``s = m * 2**-frac`` with ``m`` odd and moves ``m`` forward as a scale of its own (none when ``m == 1``);
* ``pre``: the absorbed maps, first to last, each ``{"op": "affine", "key": k}`` (per-element ``pre<k>_scale``
  and ``pre<k>_bias`` in ``params``) or ``{"op": "max"|"min", "value": v}``; ``absorbed`` names the layers.

After type inference the node holds ``thresholds`` (elements x levels, ascending raw values of the input type,
clamped to ``[min_raw, max_raw + 1]``: always and never), ``base`` and ``sign`` per element; the output is
``base + sign * step * #{k: x >= thresholds[k]}`` (``step`` 2 when bipolar, else 1).
"""

from __future__ import annotations

import math
import sys
from fractions import Fraction

import numpy as np

from rtl_lib.threshold import MultiThreshold

from ..errors import UnsupportedOpError
from ..fixed import QONNX_ROUNDING, range_type, round_qonnx_exact
from . import Cost, Op, register

__all__ = ["Threshold", "level_conditions", "grid_thresholds", "float_thresholds", "evaluate_exact", "ROUNDINGS"]

ROUNDINGS = ("ROUND", "HALF_EVEN", "FLOOR", "CEIL", "DOWN", "UP", "HALF_UP", "HALF_DOWN")
_ALL, _NONE = ("all",), ("none",)


def quantize_exact(y: Fraction, a):
    """The quantiser of a ``Threshold`` node's attributes ``a`` on one exact value: the output code."""
    s, z = Fraction(a["scale"]), a["zero_point"]
    if a.get("bipolar"):  # QONNX BipolarQuant, and Quant of one signed bit
        return (1 if y / s + z >= 0 else -1) - z
    q = round_qonnx_exact(y / s + z, a["rounding"])
    return min(max(q, a["lo"]), a["hi"]) - z


def _pre_maps(node_attrs, params, k):
    """The absorbed maps for element ``k`` as exact tuples: ("affine", a, b) / ("max", v) / ("min", v)."""
    out = []
    for p in node_attrs.get("pre", ()):
        if p["op"] == "affine":
            s, b = params.get(f"pre{p['key']}_scale"), params.get(f"pre{p['key']}_bias")
            out.append(("affine", Fraction(1) if s is None else Fraction(float(s[k])),
                        Fraction(0) if b is None else Fraction(float(b[k]))))
        else:
            out.append((p["op"], Fraction(float(p["value"]))))
    return tuple(out)


def evaluate_exact(attrs, params, k, x: Fraction):
    """Element ``k`` of a ``Threshold`` node on one exact input value (the definition, for tests and checks)."""
    y = x
    for m in _pre_maps(attrs, params, k):
        if m[0] == "affine":
            y = m[1] * y + m[2]
        elif m[0] == "max":
            y = max(y, m[1])
        else:
            y = min(y, m[1])
    return quantize_exact(y, attrs)


def _holds(cond, v):
    kind, t, strict = cond
    if kind == "ge":
        return v > t or (v == t and not strict)
    return v < t or (v == t and not strict)


def level_conditions(attrs):
    """``[(level, condition on y)]``: ``q >= level`` exactly when ``y`` meets the condition ``("ge"|"le", t,
    strict)``; levels ascend from the lowest code plus one, so the code is ``lowest + step * #met``."""
    s, z = Fraction(attrs["scale"]), attrs["zero_point"]
    if attrs.get("bipolar"):  # y / s + z >= 0
        return [(1 - z, ("ge", -z * s, False))]
    mode = attrs["rounding"]
    out = []
    for lv in range(attrs["lo"] + 1, attrs["hi"] + 1):
        # round(u) >= lv as a condition u >= c (strict or not), u = y / s + z
        if mode == "FLOOR":
            c, strict = Fraction(lv), False
        elif mode == "CEIL":
            c, strict = Fraction(lv - 1), True
        elif mode == "DOWN":
            c, strict = (Fraction(lv), False) if lv > 0 else (Fraction(lv - 1), True)
        elif mode == "UP":
            c, strict = (Fraction(lv - 1), True) if lv > 0 else (Fraction(lv), False)
        else:
            c = Fraction(2 * lv - 1, 2)
            up = {"ROUND": lv % 2 == 0, "HALF_EVEN": lv % 2 == 0, "HALF_UP": lv >= 1, "HALF_DOWN": lv <= 0}[mode]
            strict = not up
        out.append((lv - z, ("ge", (c - z) * s, strict)))
    return out


def _pull_back(cond, maps):
    """The condition on the input of ``maps`` equivalent to ``cond`` on their output (each map is monotone)."""
    for m in reversed(maps):
        if cond in (_ALL, _NONE):
            return cond
        kind, t, strict = cond
        if m[0] == "affine":
            a, b = m[1], m[2]
            if a == 0:
                cond = _ALL if _holds(cond, b) else _NONE
            else:
                flip = a < 0
                cond = ({"ge": "le", "le": "ge"}[kind] if flip else kind, (t - b) / a, strict)
        elif m[0] == "max":  # y = max(v, x)
            v = m[1]
            if kind == "ge":
                cond = _ALL if _holds(cond, v) else cond
            else:
                cond = cond if _holds(cond, v) else _NONE
        else:  # min
            v = m[1]
            if kind == "ge":
                cond = cond if _holds(cond, v) else _NONE
            else:
                cond = _ALL if _holds(cond, v) else cond
    return cond


def _element_thresholds(levels, maps, to_grid, lowest, step, never, always):
    """Ascending thresholds, base and sign for one element: ``code = base + sign * step * #{x >= T}``."""
    conds = [_pull_back(c, maps) for _, c in levels]
    kinds = {c[0] for c in conds if c not in (_ALL, _NONE)}
    n = len(levels)
    if kinds == {"le"}:  # decreasing: q >= l  <=>  x <= T  <=>  not x >= T'
        ts = [never if c == _ALL else always if c == _NONE else to_grid(c) for c in conds]
        return sorted(ts), lowest + step * n, -1
    ts = [always if c == _ALL else never if c == _NONE else to_grid(c) for c in conds]
    return sorted(ts), lowest, 1


def _raw_grid(frac, lo, hi):
    """Conditions on a value become ``x_raw >= T`` on the grid ``raw * 2**-frac`` (clamped to [lo, hi + 1])."""
    scale = Fraction(2) ** frac

    def to_grid(cond):
        kind, t, strict = cond
        r = t * scale
        if kind == "ge":
            v = (math.floor(r) + 1) if strict else math.ceil(r)
        else:  # x <= t: not (x >= largest grid value <= t, plus one)
            v = (math.ceil(r) - 1 if strict else math.floor(r)) + 1
        return min(max(v, lo), hi + 1)
    return to_grid


def _float_grid(cond):
    """``x >= T`` over float64 values ``x``: the smallest float64 meeting the condition (or just past it)."""
    kind, t, strict = cond
    big = Fraction(sys.float_info.max)
    if t > big:  # beyond every float64: x >= t never holds, x <= t always does (U = inf: never counted)
        return math.inf
    if t < -big:
        return -math.inf
    f = float(t)  # nearest float64
    if kind == "ge":
        if Fraction(f) < t or (strict and Fraction(f) == t):
            f = math.nextafter(f, math.inf)
        return f
    # x <= t  <=>  not (x >= the smallest float64 beyond t)
    if Fraction(f) < t or (not strict and Fraction(f) == t):
        f = math.nextafter(f, math.inf)
    return f


def _lowest(attrs):
    return (-1 if attrs.get("bipolar") else attrs["lo"]) - attrs["zero_point"]


def grid_thresholds(attrs, params, n, in_type):
    """(thresholds [n, levels], base [n], sign [n]) on ``in_type``'s raw grid; elements with the same absorbed
    constants share one computation."""
    levels = level_conditions(attrs)
    lowest = _lowest(attrs)
    step = 2 if attrs.get("bipolar") else 1
    to_grid = _raw_grid(in_type.frac, in_type.min_raw, in_type.max_raw)
    cache, th, base, sign = {}, [], [], []
    for k in range(n):
        maps = _pre_maps(attrs, params, k)
        if maps not in cache:
            cache[maps] = _element_thresholds(levels, maps, to_grid, lowest, step, in_type.max_raw + 1,
                                              in_type.min_raw)
        t, b, s = cache[maps]
        th.append(t)
        base.append(b)
        sign.append(s)
    return th, base, sign


def float_thresholds(attrs, params, n):
    """The same on float64 inputs: ``(thresholds, base, sign)`` with float thresholds (``inf``: never)."""
    levels = level_conditions(attrs)
    lowest = _lowest(attrs)
    step = 2 if attrs.get("bipolar") else 1
    cache, th, base, sign = {}, [], [], []
    for k in range(n):
        maps = _pre_maps(attrs, params, k)
        if maps not in cache:
            cache[maps] = _element_thresholds(levels, maps, _float_grid, lowest, step, math.inf, -math.inf)
        t, b, s = cache[maps]
        th.append(t)
        base.append(b)
        sign.append(s)
    return th, base, sign


def count_codes(x, thresholds, base, sign, step, chunk=256):
    """``base + sign * step * #{k: x >= thresholds[:, k]}`` per element, for rows of ``x`` (ints or floats)."""
    th = np.asarray(thresholds)
    out = np.empty(x.shape, dtype=np.int64)
    if th.shape[1] == 0:
        out[:] = np.asarray(base, dtype=np.int64)[None, :]
        return out
    for s in range(0, x.shape[0], chunk):
        xc = x[s:s + chunk]
        cnt = (xc[:, :, None] >= th[None, :, :]).sum(axis=2)
        out[s:s + chunk] = np.asarray(base, dtype=np.int64)[None, :] + \
            np.asarray(sign, dtype=np.int64)[None, :] * step * cnt
    return out


def _step(node):
    return 2 if node.attrs.get("bipolar") else 1


@register
class Threshold(Op):
    name = "Threshold"

    def quantize(self, node, graph, lc):
        tin = graph.tensors[node.inputs[0]].type
        n = graph.tensors[node.inputs[0]].size
        th, base, sign = grid_thresholds(node.attrs, node.params, n, tin)
        # the constants are spent: what remains are integers on the input grid
        node.params = {"thresholds": np.array(th, dtype=object if tin.width > 60 else np.int64).reshape(n, -1),
                       "base": np.array(base, dtype=np.int64), "sign": np.array(sign, dtype=np.int64)}
        step = _step(node)
        lo_raw, hi_raw = tin.min_raw, tin.max_raw
        codes = []
        for k in range(n):  # the codes element k can reach: from the count at the lowest to that at the highest input
            c0 = sum(1 for t in th[k] if t <= lo_raw)
            c1 = sum(1 for t in th[k] if t <= hi_raw)
            codes += [base[k] + sign[k] * step * c0, base[k] + sign[k] * step * c1]
        out = range_type(min(codes), max(codes), node.attrs.get("frac", 0))
        node.attrs["levels"] = int(node.params["thresholds"].shape[1])
        node.attrs.pop("pre", None)  # spent: the thresholds hold them
        node.attrs["levels_per_stage"] = lc.levels_per_stage
        graph.tensors[node.outputs[0]].type = node.types["result"] = out

    def reference(self, node, inputs):
        (x,) = inputs
        if "thresholds" in node.params:
            raise ValueError(f"layer {node.label}: float semantics are defined on the float graph (before typing)")
        y = np.asarray(x, dtype=np.float64)
        for p in node.attrs.get("pre", ()):
            if p["op"] == "affine":
                s, b = node.params.get(f"pre{p['key']}_scale"), node.params.get(f"pre{p['key']}_bias")
                y = y * (1.0 if s is None else np.asarray(s, dtype=np.float64)[None, :]) + \
                    (0.0 if b is None else np.asarray(b, dtype=np.float64)[None, :])
            elif p["op"] == "max":
                y = np.maximum(y, p["value"])
            else:
                y = np.minimum(y, p["value"])
        a = node.attrs
        if a.get("bipolar"):
            q = np.where(y / a["scale"] + a["zero_point"] >= 0, 1.0, -1.0) - a["zero_point"]
        else:
            u = np.clip(y / a["scale"] + a["zero_point"], a["lo"], a["hi"])
            q = QONNX_ROUNDING[a["rounding"]](u) - a["zero_point"]
        return [np.ldexp(q, -a.get("frac", 0))]

    def golden(self, node, inputs):
        (x,) = inputs
        p = node.params
        return [count_codes(np.asarray(x), p["thresholds"], p["base"], p["sign"], _step(node))]

    def block(self, node, graph, library=None):
        p = node.params
        return MultiThreshold(graph.tensors[node.inputs[0]].size, node.types["input"], node.types["result"],
                              [list(r) for r in p["thresholds"]], [int(v) for v in p["base"]],
                              [int(v) for v in p["sign"]], _step(node),
                              levels_per_stage=node.attrs.get("levels_per_stage", 2))

    def hls(self, node, graph, layer):
        p = node.params
        th = np.asarray(p["thresholds"])
        if node.types["result"].width > 62:
            raise UnsupportedOpError([(node.attrs.get("source_name", node.name), node.attrs.get("source_op", node.op),
                                       f"a {node.types['result']} threshold output is wider than the HLS "
                                       f"template's 62 bits")])
        layer.config(n_in=th.shape[0], levels=th.shape[1], step=_step(node))
        layer.call("nn2rtl::multi_threshold",
                   layer.const("thresholds", th, comment="ascending raw input values per element"),
                   layer.index("base", p["base"], ctype="int64_t"), layer.index("sign", p["sign"]))

    def cost(self, node, graph):
        blk = self.block(node, graph)
        blk._MustUse__silence = True
        return Cost(latency=blk.latency, ii=1, multipliers=0, products=0, registers=blk.registers,
                    rom_bits=blk.rom_bits, comparators=blk.comparators)

