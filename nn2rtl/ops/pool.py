"""Max and average pooling (1-D, 2-D, global) in the internal channels-last layout, with hls4ml's arithmetic.

Attributes (set by the front end): ``mode`` (``max`` or ``avg``), ``in_shape`` (spatial dimensions then channels),
``out_shape``, ``kernel``, ``strides``, ``pads`` (ONNX order), ``dilations``, ``count_include_pad``.

* ``max``: the largest element of the window; padding never wins (the type's minimum);
* ``avg``: the elements cast to the accumulator type and summed, divided by the number of elements counted
  (with ``count_include_pad``, the padding inside the padded input counts; positions beyond it, from
  ``ceil_mode``, never do) rounding toward zero, as ``ap_fixed`` divides by an integer; then cast to the result.

hls4ml pads a max-pooling window with a value whose sign bit is set, which for an unsigned type is the middle of
its range rather than its minimum; nn2rtl uses the minimum, so the two agree wherever hls4ml's result is a
maximum of the window.
"""

import math

import numpy as np

from rtl_lib.pool import Pool as PoolBlock
from rtl_lib.pool import pool_latency

from ..config import AUTO
from ..errors import ConfigError
from ..fixed import FixedType, Overflow, Rounding, as_raw_array
from . import Cost, Op, register, warn
from .quant import cap_auto, chosen
from .windows import window_index

__all__ = ["Pool", "pool_windows"]


def pool_windows(attrs):
    """``(windows, divisors)``: per output element (channels-last), its input elements (-1: padding), and for
    average pooling the count it is divided by."""
    *spatial, c = attrs["in_shape"]
    pix, kind = window_index(spatial, attrs["kernel"], attrs["strides"], attrs["pads"], attrs["dilations"],
                             attrs["out_shape"][:-1])
    idx = np.where(pix[:, None, :] < 0, -1, pix[:, None, :] * c + np.arange(c)[None, :, None])  # (P, C, K)
    counted = (kind == 0) | ((kind == 1) & bool(attrs.get("count_include_pad", 0)))
    div = np.repeat(counted.sum(axis=1), c)
    return idx.reshape(-1, idx.shape[2]), div


def _levels(node):
    return node.attrs.get("levels_per_stage", 2)


@register
class Pool(Op):
    name = "Pool"
    auto_result = True

    def quantize(self, node, graph, lc):
        tin = graph.tensors[node.inputs[0]].type
        window = int(np.prod(node.attrs["kernel"], dtype=np.int64))
        accum = chosen(node, lc, "accum", lc.accum)
        if accum == AUTO:  # hls4ml: the sum of the window exact, and room for the division's quotient bits
            grow = math.ceil(math.log2(window)) if window > 1 and node.attrs["mode"] == "avg" else 0
            accum = cap_auto(FixedType(tin.width + 2 * grow, tin.integer + grow, tin.signed), lc)
        node.types["accum"] = accum
        if node.attrs["mode"] == "avg" and window > 1:
            need = FixedType(tin.width + math.ceil(math.log2(window)), tin.integer + math.ceil(math.log2(window)),
                             tin.signed)
            if accum.integer < need.integer or (accum.signed and not tin.signed and accum.integer <= need.integer):
                warn(node, f"average pooling sums {window} values of {tin} in the accumulator {accum}, whose range "
                           f"they can leave (the sum wraps before the division, as in hls4ml, which uses the same "
                           f"types); set Precision.accum of this layer (or LayerType.Pool) to 'auto' or to at least "
                           f"{need.integer} integer bits, e.g. {need}")
        result = lc.result if lc.result != AUTO else (tin if node.attrs["mode"] == "max" else accum)
        graph.tensors[node.outputs[0]].type = result
        node.attrs["levels_per_stage"] = lc.levels_per_stage

    def reference(self, node, inputs):
        x = np.asarray(inputs[0], dtype=np.float64)
        idx, div = pool_windows(node.attrs)
        pad = -np.inf if node.attrs["mode"] == "max" else 0.0
        win = np.concatenate([x, np.full((x.shape[0], 1), pad)], axis=1)[:, idx]
        return [win.max(axis=2) if node.attrs["mode"] == "max" else win.sum(axis=2) / div]

    def golden(self, node, inputs):
        tin, tacc, tout = node.types["input"], node.types["accum"], node.types["result"]
        x = as_raw_array(inputs[0], 100 if max(tin.width, tacc.width) > 60 else tin.width)
        idx, div = pool_windows(node.attrs)
        if node.attrs["mode"] == "max":
            pad = np.full((x.shape[0], 1), tin.min_raw, dtype=x.dtype)
            win = np.concatenate([x, pad], axis=1)[:, idx]
            return [tout.cast(tacc.cast(win.max(axis=2), tin), tacc)]
        zero = np.zeros((x.shape[0], 1), dtype=x.dtype)
        win = np.concatenate([x, zero], axis=1)[:, idx]                 # (rows, outputs, window), pads read 0
        acc = np.zeros(win.shape[:2], dtype=x.dtype)
        for k in range(win.shape[2]):  # hls4ml's loop: y += x[k], each sum cast to the accumulator type
            acc = tacc.cast(_add_exact(acc, tacc, win[:, :, k], tin), _sum_type(tacc, tin))
        q = np.where(acc < 0, -((-acc) // div), acc // div)              # toward zero, as ap_fixed divides
        return [tout.cast(tacc.cast(q, tacc), tacc)]

    def block(self, node, graph, library=None):
        tin, tacc = node.types["input"], node.types["accum"]
        idx, div = pool_windows(node.attrs)
        if node.attrs["mode"] == "avg" and (tacc.overflow is not Overflow.WRAP or (
                tacc.rounding is not Rounding.TRN and tacc.frac < tin.frac)):
            raise ConfigError(f"layer {node.label}: accumulator {tacc} rounds or saturates each partial sum, "
                              f"which makes the sum depend on the order of additions; the RTL adds in a tree: "
                              f"use a truncating, wrapping Precision.accum, or 'auto'")
        n_in = int(np.prod(node.attrs["in_shape"], dtype=np.int64))
        return PoolBlock(n_in, tin, tacc, node.types["result"], idx, node.attrs["mode"],
                         divisors=div if node.attrs["mode"] == "avg" else None, levels_per_stage=_levels(node))

    def hls(self, node, graph, layer):
        idx, div = pool_windows(node.attrs)
        layer.config(n_in=int(np.prod(node.attrs["in_shape"], dtype=np.int64)), n_out=idx.shape[0],
                     window=idx.shape[1], mode=0 if node.attrs["mode"] == "max" else 1,
                     accum_t=node.types["accum"])
        layer.call("nn2rtl::pool", layer.index("windows", idx, comment="input elements of every output; -1: padding"),
                   layer.index("divisors", div if node.attrs["mode"] == "avg" else np.ones(idx.shape[0], np.int64)))

    def cost(self, node, graph):
        idx, _ = pool_windows(node.attrs)
        latency = pool_latency(idx.shape[1], _levels(node))
        tout = node.types["result"]
        return Cost(latency=latency, ii=1, multipliers=0, products=0,
                    registers=idx.shape[0] * tout.width * latency + latency)


def _sum_type(tacc, tin):
    return tacc.with_modes().sum(tin.with_modes())


def _add_exact(acc, tacc, x, tin):
    """``acc + x`` exactly, as raw integers of :func:`_sum_type` (both operands aligned to its grid)."""
    t = _sum_type(tacc, tin)
    return (np.asarray(acc) << (t.frac - tacc.frac)) + (np.asarray(x) << (t.frac - tin.frac))
