"""Assigning fixed-point types: :func:`quantize` applies a :class:`~nn2rtl.config.Config`; the edge
quantiser of models quantised with arbitrary scales."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..config import AUTO, Config
from ..errors import ConfigError, UnsupportedOpError
from ..fixed import FixedType, Overflow, range_type
from ..ops import REGISTRY
from .fuse_quantize import fuse_quantize
from .limits import check_limits, check_parallel_width
from .noops import _rename_uses, drop_noops


def quantize(graph, config: Config):
    """Assign a :class:`FixedType` to every tensor and raw integers to every parameter.

    Input types come from ``LayerName.<input>.Precision.result`` (else the model default); each op's types from
    its op class. Guarantees: ``graph.verify(typed=True)`` holds; every node records ``types['input']`` and
    ``types['result']``.
    """
    g = graph.copy()
    bad = [(n.attrs.get("source_name", n.name), n.attrs.get("source_op", n.op), "no fixed-point implementation")
           for n in g.nodes if n.op not in REGISTRY and n.op != "Identity"]
    if bad:
        raise UnsupportedOpError(bad)
    names = set(g.inputs)
    for n in g.nodes:
        names.update({n.name, n.attrs.get("source_name", n.name)})
    config.check_names(names, set(REGISTRY) | {"Input"})
    check_limits(g, config, stream=config.io_type == "io_stream")
    quantized = bool(g.meta.get("quantized"))
    edge = _edge_quantizer(g, config) if quantized else set()
    for t in g.inputs:
        if t not in edge:
            g.tensors[t].type = _input_type(g, t, config, quantized)
    for n in g.nodes:
        n.types["input"] = g.tensors[n.inputs[0]].type
        if n.op == "Identity":
            g.tensors[n.outputs[0]].type = n.types["input"]
            n.types["result"] = n.types["input"]
            continue
        names = [n.name, n.attrs.get("source_name", n.name)]
        lc = config.layer(names, n.op)
        if quantized:  # keep the model's grids: exact results and accumulators unless configured
            op = REGISTRY[n.op]
            lc = dataclasses.replace(
                lc, options={**lc.options, "model_quantized": True},
                result=lc.result if "result" in lc.explicit or not op.auto_result else AUTO,
                accum=lc.accum if "accum" in lc.explicit else AUTO)
        REGISTRY[n.op].quantize(n, g, lc)
        n.types["result"] = g.tensors[n.outputs[0]].type
        if lc.result == AUTO:
            n.attrs["result_auto"] = True
        if n.op == "Quantize" and _is_noop_quantize(n):
            n.op = "Identity"  # the input already lies on the grid and within the bounds
            g.tensors[n.outputs[0]].type = n.types["result"] = n.types["input"]
    for n in g.nodes:
        for k, v in n.params.items():
            assert np.issubdtype(np.asarray(v).dtype, np.integer) or np.asarray(v).dtype == object, (n.name, k)
    if any(n.op == "Identity" for n in g.nodes):
        g = drop_noops(g)  # quantisers that turned out to be no-ops
    g = fuse_quantize(g.verify(typed=True))
    if config.io_type == "io_stream":  # the stream planner checks the width of every beat instead
        if config.flow_control != "stall":
            raise ConfigError("Model.FlowControl chooses how an io_parallel design stalls; io_stream designs have "
                              "their own FIFOs and backpressure: drop FlowControl or use IOType io_parallel")
        g.meta.update(io_type="io_stream", elements_per_beat=config.elements_per_beat,
                      clock_period=config.clock_period)
    else:
        check_parallel_width(g)
        if config.flow_control != "stall":  # recorded only when not the default: graphs stay as they were
            g.meta["flow_control"] = config.flow_control
    return g


def _edge_quantizer(g, config):
    """A model whose input goes straight into a ``Threshold`` (a quantiser with any scale, with whatever input
    scaling it absorbed) quantises at the edge: ``predict`` and ``simulate`` apply it to the floats exactly
    (thresholds on the float64 grid, recorded in ``graph.meta['input_quantizer']``) and the hardware takes the
    codes, as FINN designs do. An input precision set in the configuration keeps the quantiser in hardware."""
    from ..ops.threshold import float_thresholds
    done = set()
    for t in g.inputs:
        users = g.consumers(t)
        if (len(users) != 1 or users[0].op != "Threshold" or users[0].outputs[0] in g.outputs
                or config.configured([t], "Input", "result")):
            continue
        q = users[0]
        n = g.tensors[t].size
        th, base, sign = float_thresholds(q.attrs, q.params, n)
        step = 2 if q.attrs.get("bipolar") else 1
        codes = []
        for k in range(n):
            c0 = sum(1 for v in th[k] if v == -np.inf)
            c1 = sum(1 for v in th[k] if v != np.inf)
            codes += [base[k] + sign[k] * step * c0, base[k] + sign[k] * step * c1]
        rows, index = [], {}
        for r in th:
            index.setdefault(tuple(r), len(index))
        rows = [list(r) for r in index]
        g.meta["input_quantizer"] = {
            "source": q.attrs.get("source_name", q.name), "absorbed": list(q.attrs.get("absorbed", [])),
            "rows": [[float(v).hex() for v in r] for r in rows], "row": [index[tuple(r)] for r in th],
            "base": [int(b) for b in base], "sign": [int(v) for v in sign], "step": step}
        g.tensors[t].type = range_type(min(codes), max(codes), q.attrs.get("frac", 0))
        _rename_uses(g, q.outputs[0], t)
        del g.tensors[q.outputs[0]]
        g.nodes.remove(q)
        done.add(t)
    return done


def input_codes(meta, rows):
    """The edge quantiser of :func:`_edge_quantizer` on float rows: raw input codes."""
    from ..ops.threshold import count_codes
    q = meta["input_quantizer"]
    table = [[float.fromhex(v) for v in r] for r in q["rows"]]
    th = np.array([table[i] for i in q["row"]], dtype=np.float64).reshape(len(q["row"]), -1)
    return count_codes(np.asarray(rows, dtype=np.float64), th, q["base"], q["sign"], q["step"])


def _input_type(g, t, config, quantized):
    """A graph input's type: configured (``LayerName.<input>``), else, in a quantised model whose input feeds one
    ``Quantize``, that quantiser's own type (so quantising floats at the edge is the model's quantisation), else the
    model default."""
    users = g.consumers(t)
    if (quantized and not config.configured([t], "Input", "result") and len(users) == 1 and users[0].op == "Quantize"
            and users[0].attrs.get("lo") is not None and users[0].attrs.get("hi") is not None
            and not users[0].attrs.get("shift")):
        a = users[0].attrs
        from ..fixed import Rounding
        return range_type(a["lo"], a["hi"], a["frac"], Rounding(a["rounding"]), Overflow.SAT)
    p = config.precision_of([t], "Input", "result")
    return FixedType.parse(config.precision["default"] if p == AUTO else p)  # 'auto' means nothing for an input


def _is_noop_quantize(n):
    """A ``Quantize`` that neither rounds (its input is on a grid at least as coarse) nor clamps (every input value
    lies within its bounds) passes values through unchanged."""
    tin, frac = n.types["input"], n.attrs["frac"]
    if n.attrs.get("shift") or tin.frac > frac:
        return False
    lo, hi = n.attrs["bounds"]
    scale = 1 << (frac - tin.frac)
    return lo <= tin.min_raw * scale and tin.max_raw * scale <= hi
