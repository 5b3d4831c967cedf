"""Softmax over the feature vector, with hls4ml's implementations and an exact argmax.

``implementation`` (hls4ml's option, default ``stable``):

* ``stable`` — ``d_i = x_max - x_i`` in ``inp_norm_t`` (``ufixed<W-1,I-1>`` of a signed input: it wraps for
  differences beyond its range, as in hls4ml), ``e_i = exp_table[top bits of d_i]``, the ``e_i`` summed by a
  balanced tree in ``accum_t``, the sum cast to ``inv_inp_t``, ``inv = inv_table[top bits of the sum]``, output
  ``e_i * inv`` cast to the result type. Types default to hls4ml's: ``exp_table_t = inv_table_t =
  fixed<18,8,RND,SAT>``, ``inv_inp_t = exp_table_t``, ``accum_t`` = the layer's accumulator (the model default).
* ``latency`` — the same without the max subtraction (the exp table is indexed by the input's top bits).
* ``argmax`` — hls4ml's one-hot: 1 at the first largest input, 0 elsewhere.
* ``argmax_index`` — ours: the output is one unsigned integer, the index of the first largest input (no tables).

``table_mode: centered`` samples each table at the centre of the values that share an entry; ``fitted`` also
fits the types to the data: ``d`` saturates at the point where ``exp(-d)`` falls below half an LSB of the exp table
(instead of wrapping), and the inverse table covers exactly the sums that can occur, ``[0, 2^ceil(log2(n+1)))``.
"""

import math

import numpy as np

from rtl_lib.softmax import Softmax as SoftmaxBlock
from rtl_lib.softmax import balanced_reduce

from ..config import AUTO
from ..errors import ConfigError
from ..fixed import FixedType, Overflow, Rounding
from ..tables import DEFAULT_TABLE_SIZE, c_eval
from . import Cost, Op, register, warn

IMPLEMENTATIONS = ("stable", "latency", "argmax", "argmax_index")
TABLE_TYPE = FixedType(18, 8, True, Rounding.RND, Overflow.SAT)


def _bits(size):
    return int(size).bit_length() - 1


def _slice_value(t, i, k):
    """The value of type ``t`` whose top ``k`` bits are ``i`` and the rest zero (hls4ml's ``real_val_from_idx``)."""
    raw = i << (t.width - k)
    if t.signed and raw >= 1 << (t.width - 1):
        raw -= 1 << t.width
    return raw


def _centre(t, i, k):
    """Centre of the values of ``t`` whose top ``k`` bits are ``i``."""
    lo = _slice_value(t, i, k)
    return (lo + (1 << (t.width - k)) / 2 - 0.5) * 2.0 ** -t.frac


def _quantize_entry(t, v):
    if math.isinf(v) or math.isnan(v):  # ap_fixed from +-inf saturates (or wraps to the extreme code)
        return t.max_raw if v > 0 else t.min_raw
    return int(t.quantize(v))  # exact also far outside the type (e^x of a wide input)


def _exp(x):
    try:
        return math.exp(x)
    except OverflowError:  # e^x beyond the largest double: the table saturates it like +inf
        return math.inf


def top_bits(raw, t, k):
    """Index from the top ``k`` bits of raw values of ``t`` (two's complement, as an unsigned number)."""
    u = np.asarray(raw, dtype=np.int64) & ((1 << t.width) - 1)
    return u >> (t.width - k)


@register
class Softmax(Op):
    name = "Softmax"

    def quantize(self, node, graph, lc):
        where = f"layer {node.label}"
        tin = graph.tensors[node.inputs[0]].type
        n = graph.tensors[node.inputs[0]].size
        impl = lc.option("implementation", "stable")
        if impl not in IMPLEMENTATIONS:
            raise ConfigError(f"{where}: softmax implementation must be one of {', '.join(IMPLEMENTATIONS)}, "
                              f"not {impl!r}")
        node.attrs["implementation"] = impl
        out = graph.tensors[node.outputs[0]]
        if impl == "argmax_index":
            if node.outputs[0] not in graph.outputs or graph.consumers(node.outputs[0]):
                raise ConfigError(f"{where}: implementation 'argmax_index' replaces the {n} probabilities by one "
                                  f"index, so it must be the model's output; use 'argmax' (one-hot) here")
            out.shape = (1,)
            out.type = FixedType(max(1, (n - 1).bit_length()), max(1, (n - 1).bit_length()), False)
            return
        if lc.result == AUTO:
            raise ConfigError(f"{where}: result precision 'auto' is not supported for Softmax")
        out.type = lc.result
        if impl == "argmax":
            return
        mode = lc.option("table_mode", "hls4ml")
        node.attrs["table_mode"] = mode
        exp_t = lc.table("exp_table", TABLE_TYPE)
        inv_t = lc.table("inv_table", TABLE_TYPE)
        inv_inp = lc.table("inv_inp", exp_t)
        accum = lc.accum
        if accum == AUTO:  # hls4ml's unused formula: the exp table type grown by log2(n)
            g = math.ceil(math.log2(n)) if n > 1 else 0
            accum = FixedType(exp_t.width + g, exp_t.integer + g, exp_t.signed)
        size = lc.option("table_size", DEFAULT_TABLE_SIZE)
        inv_size = lc.option("inv_table_size")
        exp_size = lc.option("exp_table_size")
        if inv_size is None:  # hls4ml: the table may not be longer than the input or inverse types can index
            size = min(size, 2 ** min(tin.width, inv_t.width))
            inv_size = size
        exp_size = exp_size or size
        norm = lc.table("inp_norm", None)
        if impl == "stable" and norm is None:
            w, i = tin.width - int(tin.signed), tin.integer - int(tin.signed)
            norm = FixedType(w, i, False)
            if tin.signed:
                exp_size = min(inv_size, 2 ** w)
        if mode == "fitted":
            if impl == "stable" and lc.table("inp_norm", None) is None:
                # exp(-d) is below half an LSB of the exp table beyond d = ln(2 / lsb): saturate there
                dmax = 2 ** math.ceil(math.log2(math.log(2 / float(exp_t.lsb))))
                ib = int(math.log2(dmax))
                norm = FixedType(max(ib + tin.frac, 1), ib, False, Rounding.TRN, Overflow.SAT)
                exp_size = min(exp_size, 2 ** norm.width)
            if lc.table("inv_inp", None) is None:
                ib = max(1, math.ceil(math.log2(n + 1)))
                inv_inp = FixedType(max(ib + accum.frac, 1), ib, False, Rounding.TRN, Overflow.SAT)
                inv_size = min(inv_size, 2 ** inv_inp.width)
        src = norm if impl == "stable" else tin
        step = 2.0 ** (src.integer - _bits(exp_size))  # input span of one exp-table entry
        if step > 0.125:  # exp changes by more than 12% inside one entry: the index reads bits that say little
            warn(node, f"softmax's exp table steps by {step:g} over its input (index type {src}, {exp_size} "
                       f"entries), so its outputs are coarse, as in hls4ml; TableMode: fitted saturates the "
                       f"normalised input where exp vanishes, or use a narrower input precision")
        for what, t, s in (("exp", src, exp_size), ("inv", inv_inp, inv_size)):
            if s > 2 ** t.width:
                raise ConfigError(f"{where}: {what} table of {s} entries is longer than its index type {t} can "
                                  f"address; set {what}_table_size to at most {2 ** t.width}")
        ke, ki = _bits(exp_size), _bits(inv_size)
        centred = mode in ("centered", "fitted")
        if centred:
            exp_pts = [_centre(src, i, ke) for i in range(exp_size)]
            inv_pts = [_centre(inv_inp, i, ki) for i in range(inv_size)]
            sign = -1.0 if impl == "stable" else 1.0
            near_e = exp_t.with_modes(Rounding.RND_CONV, Overflow.SAT)
            near_i = inv_t.with_modes(Rounding.RND_CONV, Overflow.SAT)
            exp_tab = [_quantize_entry(near_e, _exp(sign * p)) for p in exp_pts]
            inv_tab = [_quantize_entry(near_i, 1.0 / p if p else math.inf) for p in inv_pts]
        else:
            sign = -1.0 if impl == "stable" else 1.0
            exp_tab = [_quantize_entry(exp_t, c_eval("exp", sign * float(src.to_fraction(_slice_value(src, i, ke)))))
                       for i in range(exp_size)]
            inv_tab = [_quantize_entry(inv_t, c_eval("inv", float(inv_inp.to_fraction(_slice_value(inv_inp, i, ki)))))
                       for i in range(inv_size)]
        node.types.update({"exp_table": exp_t, "inv_table": inv_t, "inv_inp": inv_inp, "accum": accum})
        if impl == "stable":
            node.types["inp_norm"] = norm
        node.params["exp_table"] = np.array(exp_tab, dtype=np.int64)
        node.params["inv_table"] = np.array(inv_tab, dtype=np.int64)
        node.attrs["tables"] = {"exp_table_size": exp_size, "inv_table_size": inv_size}

    def reference(self, node, inputs):
        (x,) = inputs
        impl = node.attrs.get("implementation", "stable")
        if impl == "argmax_index":
            return [np.argmax(x, axis=1)[:, None].astype(np.float64)]
        if impl == "argmax":
            return [np.eye(x.shape[1])[np.argmax(x, axis=1)]]
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return [e / e.sum(axis=1, keepdims=True)]

    def golden(self, node, inputs):
        x = np.asarray(inputs[0], dtype=np.int64)
        impl = node.attrs["implementation"]
        tin, tout = node.types["input"], node.types["result"]
        if impl in ("argmax", "argmax_index"):
            idx = np.argmax(x, axis=1)  # the first largest, as hls4ml's strict '>' scan
            if impl == "argmax_index":
                return [idx[:, None].astype(np.int64)]
            one = tout.cast(np.array(1), FixedType(2, 2))
            y = np.zeros(x.shape, dtype=np.int64)
            y[np.arange(len(x)), idx] = one
            return [y]
        exp_t, inv_t, inv_inp, acc = (node.types[k] for k in ("exp_table", "inv_table", "inv_inp", "accum"))
        ke, ki = _bits(node.attrs["tables"]["exp_table_size"]), _bits(node.attrs["tables"]["inv_table_size"])
        if impl == "stable":
            norm = node.types["inp_norm"]
            diff_t = FixedType(tin.width + 1, tin.integer + 1, True)
            d = norm.cast(x.max(axis=1, keepdims=True) - x, diff_t)
            idx = top_bits(d, norm, ke)
        else:
            idx = top_bits(x, tin, ke)
        e = acc.cast(node.params["exp_table"][idx], exp_t)
        cols = [e[:, j] for j in range(e.shape[1])]
        s = balanced_reduce(cols, lambda a, b: acc.cast(a + b, acc.sum(acc)))
        si = inv_inp.cast(s, acc)
        inv = node.params["inv_table"][top_bits(si, inv_inp, ki)]
        return [tout.cast(e * inv[:, None], acc.product(inv_t))]

    def block(self, node, graph, library=None):
        n = graph.tensors[node.inputs[0]].size
        impl = node.attrs["implementation"]
        if impl in ("argmax", "argmax_index"):
            return SoftmaxBlock(n, node.types["input"], node.types["result"], impl)
        return SoftmaxBlock(n, node.types["input"], node.types["result"], impl,
                            norm_type=node.types.get("inp_norm"), exp_type=node.types["exp_table"],
                            exp_table=[int(v) for v in node.params["exp_table"]], accum_type=node.types["accum"],
                            inv_inp_type=node.types["inv_inp"], inv_type=node.types["inv_table"],
                            inv_table=[int(v) for v in node.params["inv_table"]])

    def hls(self, node, graph, layer):
        n = graph.tensors[node.inputs[0]].size
        impl = node.attrs["implementation"]
        layer.config(n_in=n)
        if impl in ("argmax", "argmax_index"):
            layer.call(f"nn2rtl::{impl}")
            return
        t = node.types
        layer.config(implementation=0 if impl == "stable" else 1,
                     exp_bits=_bits(node.attrs["tables"]["exp_table_size"]),
                     inv_bits=_bits(node.attrs["tables"]["inv_table_size"]), exp_t=t["exp_table"],
                     inv_t=t["inv_table"], inv_inp_t=t["inv_inp"], accum_t=t["accum"],
                     norm_t=t.get("inp_norm", t["input"]))
        layer.call("nn2rtl::softmax", layer.const("exp_table", node.params["exp_table"], t["exp_table"]),
                   layer.const("inv_table", node.params["inv_table"], t["inv_table"]))

    def cost(self, node, graph):
        blk = self.block(node, graph)
        blk._MustUse__silence = True  # built to be measured, not elaborated
        return Cost(latency=blk.latency, ii=1, multipliers=blk.multipliers, products=blk.multipliers,
                    registers=blk.registers, rom_bits=blk.rom_bits)
