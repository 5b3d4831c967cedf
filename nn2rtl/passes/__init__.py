"""Graph -> Graph rewrites. Each pass returns a new graph and leaves its argument untouched.

:func:`lower` runs the float clean-up passes; :func:`quantize` applies a :class:`~nn2rtl.config.Config`.
"""

import dataclasses

import numpy as np

from ..config import AUTO, Config
from ..errors import ModelError, UnsupportedOpError
from ..fixed import FixedType, Overflow, exact_type, range_type
from ..ops import REGISTRY

__all__ = ["drop_noops", "sink_permutes", "move_scales", "fuse_thresholds", "fuse_scale_shift", "fuse_quantize",
           "lower", "quantize", "check_limits", "NOOPS", "ELEMENTWISE"]

#: Ops that do not change the data of a flat feature vector (row-major layout is preserved).
NOOPS = ("Identity", "Flatten", "Reshape")


def _rename_uses(graph, old, new):
    for n in graph.nodes:
        n.inputs = [new if t == old else t for t in n.inputs]


def drop_noops(graph):
    """Remove Identity/Dropout/Flatten/Reshape. Guarantees: no NOOPS op remains; graph inputs and outputs keep
    their names (a no-op whose output is a graph output is removed by renaming its producer's output)."""
    g = graph.copy()
    for n in list(g.nodes):
        if n.op not in NOOPS:
            continue
        src, dst = n.inputs[0], n.outputs[0]
        g.nodes.remove(n)
        if dst in g.outputs and src not in g.inputs:
            prod = g.producer(src)
            prod.outputs = [dst if t == src else t for t in prod.outputs]
            _rename_uses(g, src, dst)
            g.tensors[dst] = type(g.tensors[dst])(dst, g.tensors[src].shape, g.tensors[src].type)
            del g.tensors[src]
        elif dst in g.outputs:
            g.nodes.append(type(n)(n.name, "Identity", [src], [dst], n.attrs))  # input straight to output
        else:
            _rename_uses(g, dst, src)
            del g.tensors[dst]
    return g.verify()


def _merge_affine(s1, t1, s2, t2):
    """Constants of ``(x * s1 + t1) * s2 + t2`` as one affine map, or ``None`` unless float64 holds them exactly."""
    from fractions import Fraction
    n = len(s1 if s1 is not None else t1)
    one, zero = np.ones(n), np.zeros(n)
    a1, b1 = (one if s1 is None else s1), (zero if t1 is None else t1)
    a2, b2 = (one if s2 is None else s2), (zero if t2 is None else t2)
    scale, bias = a1 * a2, b1 * a2 + b2
    for k in range(n):
        if (Fraction(float(scale[k])) != Fraction(float(a1[k])) * Fraction(float(a2[k]))
                or Fraction(float(bias[k])) != Fraction(float(b1[k])) * Fraction(float(a2[k])) + Fraction(
                    float(b2[k]))):
            return None
    return (None if s1 is None and s2 is None else scale), (None if t1 is None and t2 is None else bias)


def _float_dense(n):
    """A Dense whose weights are float values to be quantised by the configuration (not a model's exact grid)."""
    return n is not None and n.op == "Dense" and "weight" not in n.types


def _single_use(g, tensor):
    return len(g.consumers(tensor)) == 1 and tensor not in g.outputs


def fuse_scale_shift(graph):
    """Fold element-wise affine maps (``ScaleShift``: batch normalisation, ``Add``/``Mul``/... by constants) into a
    neighbouring ``Dense`` in float, before anything is quantised.

    Guarantees: a ``ScaleShift`` after a ``Dense`` is folded into it when it only adds (a bias: always exact) or
    when the Dense's weights are float (``W * s``, ``b * s + t``); one before a float ``Dense`` (input scaling) is
    folded into its weights (``s * W``, ``b + t @ W``). Weights on a model's exact grid are never rescaled: the
    ``ScaleShift`` stays a layer of its own. Nothing else changes.
    """
    g = graph.copy()
    changed = True
    while changed:
        changed = False
        for n in list(g.nodes):
            if n.op != "ScaleShift" or n.attrs.get("folded_scale"):
                continue
            s, t = n.params.get("scale"), n.params.get("bias")
            prod = g.producer(n.inputs[0])
            if prod is not None and prod.op == "Dense" and _single_use(g, n.inputs[0]) and (
                    s is None or _float_dense(prod)):
                b = prod.params.get("bias")
                # the sum of two biases on exact grids is exact; anything else takes the layer's bias precision
                exact = s is None and (t is None or "bias" in n.types) and (b is None or "bias" in prod.types)
                if s is not None:
                    prod.params["weight"] = prod.params["weight"] * s[None, :]
                    b = None if b is None else b * s
                prod.params["bias"] = t if b is None else (b if t is None else b + t)
                if prod.params["bias"] is None:
                    del prod.params["bias"]
                prod.types.pop("bias", None)
                if exact and "bias" in prod.params:
                    prod.types["bias"] = exact_type(prod.params["bias"])
                g.nodes.remove(n)
                del g.tensors[prod.outputs[0]]
                prod.outputs = [n.outputs[0]]
                changed = True
                break
            if prod is not None and prod.op == "ScaleShift" and _single_use(g, n.inputs[0]) and not (
                    prod.attrs.get("folded_scale") or prod.types or n.types):
                merged = _merge_affine(prod.params.get("scale"), prod.params.get("bias"), s, t)
                if merged is not None:  # (x * s1 + t1) * s2 + t2, when the float64 constants stay exact
                    prod.params = {k: v for k, v in zip(("scale", "bias"), merged) if v is not None}
                    g.nodes.remove(n)
                    del g.tensors[prod.outputs[0]]
                    prod.outputs = [n.outputs[0]]
                    changed = True
                    break
            users = g.consumers(n.outputs[0])
            if (len(users) == 1 and users[0].op == "Dense" and _float_dense(users[0])
                    and n.outputs[0] not in g.outputs and n.inputs[0] not in g.outputs):
                d = users[0]
                w = d.params["weight"]
                b = d.params.get("bias")
                if t is not None:
                    b = (t @ w) if b is None else b + t @ w
                if s is not None:
                    d.params["weight"] = s[:, None] * w
                if b is not None:
                    d.params["bias"] = b
                g.nodes.remove(n)
                del g.tensors[n.outputs[0]]
                d.inputs = [n.inputs[0]]
                changed = True
                break
    return g.verify()


def _uniform_positive_scale(n):
    """The one positive value of a scale-only ``ScaleShift`` whose elements all share it, else ``None``."""
    if n.op != "ScaleShift" or "bias" in n.params or n.params.get("scale") is None:
        return None
    s = np.asarray(n.params["scale"], dtype=np.float64)
    return float(s[0]) if s.size and s[0] > 0 and np.all(s == s[0]) else None


def _merge_scale_shifts(first, second):
    """Params and types of ``second(first(x))`` as one ``ScaleShift`` when float64 holds the merged constants
    exactly (types kept exact where both were), else ``None``."""
    merged = _merge_affine(first.params.get("scale"), first.params.get("bias"),
                           second.params.get("scale"), second.params.get("bias"))
    if merged is None:
        return None
    params = {k: v for k, v in zip(("scale", "bias"), merged) if v is not None}

    def exact(nd, var):  # a constant of the model's exact grid, or none at all
        return var in nd.types or nd.params.get(var) is None
    types = {}
    if "scale" in params and exact(first, "scale") and exact(second, "scale"):
        types["scale"] = exact_type(params["scale"])
    if "bias" in params and all(exact(nd, v) for nd in (first, second) for v in ("bias", "scale")):
        types["bias"] = exact_type(params["bias"])
    return params, types


def move_scales(graph):
    """Carry a quantiser's leftover scale forward to where it costs nothing extra.

    A quantiser with a scale ``s = m * 2**-f`` (``m`` odd) gives codes on the grid ``2**-f`` followed by ``* m``
    (a ``ScaleShift`` marked ``moved_scale``). Guarantees: such a scale moves past a ``Relu`` (``relu(x * m) =
    relu(x) * m``, ``m > 0``) and past a ``Dense`` whose weights are the model's exact grid (``W(x * m) + b =
    W(x) * m + b``: the sum runs on the codes, and the scale and the bias follow it), where it merges with the
    next ``ScaleShift`` when float64 holds the product exactly. A ``Threshold`` then absorbs it
    (:func:`fuse_thresholds`); otherwise it stays one constant multiplier per element. Values are unchanged.
    """
    g = graph.copy()
    changed = True
    while changed:
        changed = False
        for n in list(g.nodes):
            m = _uniform_positive_scale(n) if n.attrs.get("moved_scale") else None
            if m is None or not _single_use(g, n.outputs[0]):
                continue
            user = g.consumers(n.outputs[0])[0]
            a, b = n.inputs[0], n.outputs[0]
            if user.op == "Relu":
                c = user.outputs[0]
                user.inputs, user.outputs = [a], [b]
                n.inputs, n.outputs = [b], [c]
                i, j = g.nodes.index(n), g.nodes.index(user)
                g.nodes[i], g.nodes[j] = user, n
                changed = True
                break
            if user.op == "Dense" and "weight" in user.types:
                c = user.outputs[0]
                n_out = user.params["weight"].shape[1]
                user.inputs, user.outputs = [a], [b]
                g.tensors[b] = type(g.tensors[b])(b, g.tensors[c].shape)
                n.inputs, n.outputs = [b], [c]
                n.params = {"scale": np.full(n_out, m)}
                n.types = {"scale": exact_type([m])}
                if "bias" in user.params:
                    n.params["bias"] = user.params.pop("bias")
                    if "bias" in user.types:
                        n.types["bias"] = user.types.pop("bias")
                g.nodes.remove(n)
                g.nodes.insert(g.nodes.index(user) + 1, n)
                nxt = g.consumers(c)
                if (len(nxt) == 1 and nxt[0].op == "ScaleShift" and c not in g.outputs
                        and not (set(nxt[0].types) - {"scale", "bias"})):
                    merged = _merge_scale_shifts(n, nxt[0])
                    if merged is not None:
                        n.params, n.types = merged
                        n.attrs["merged"] = nxt[0].attrs.get("source_name", nxt[0].name)
                        del g.tensors[c]
                        n.outputs = list(nxt[0].outputs)
                        g.nodes.remove(nxt[0])
                changed = True
                break
    return g.verify()


def fuse_thresholds(graph):
    """Absorb the element-wise maps before a ``Threshold`` into its thresholds (FINN's streamlining).

    Guarantees: a ``ScaleShift`` (batch normalisation, bias, moved scale), ``Relu`` or ``Clip`` whose only user is a
    ``Threshold`` is removed and recorded in the threshold's ``pre`` maps, repeatedly, so a quantised layer ends in
    its sum and the next quantiser's comparisons, with no multiplier in between. The thresholds are computed
    exactly from the absorbed constants (:mod:`nn2rtl.ops.threshold`), so values are unchanged.
    """
    g = graph.copy()
    for t in [n for n in g.nodes if n.op == "Threshold"]:
        while True:
            src = t.inputs[0]
            p = g.producer(src)
            if p is None or not _single_use(g, src):
                break
            if p.op == "ScaleShift":
                key = 1 + max([q["key"] for q in t.attrs["pre"] if q["op"] == "affine"], default=-1)
                pre = [{"op": "affine", "key": key}]
                for var in ("scale", "bias"):
                    if p.params.get(var) is not None:
                        t.params[f"pre{key}_{var}"] = np.asarray(p.params[var], dtype=np.float64)
            elif p.op == "Relu":
                pre = [{"op": "max", "value": 0.0}]
            elif p.op == "Clip":
                pre = [{"op": k2, "value": float(p.attrs[k1])} for k1, k2 in (("min", "max"), ("max", "min"))
                       if k1 in p.attrs]
            else:
                break
            t.attrs["pre"] = pre + list(t.attrs["pre"])
            what = f"scale of {p.label}" if p.attrs.get("moved_scale") else p.label
            t.attrs["absorbed"] = [what] + list(t.attrs.get("absorbed", []))
            t.inputs = list(p.inputs)
            g.nodes.remove(p)
            del g.tensors[src]
    return g.verify()


#: Ops that act on each element on its own (their per-element constants are indexed like the data).
ELEMENTWISE = ("ScaleShift", "PRelu", "Threshold", "Relu", "Clip", "Quantize", "LeakyRelu", "ThresholdedRelu",
               "HardSigmoid", "Sigmoid", "Tanh", "Softplus", "Softsign", "Elu", "Selu")


def sink_permutes(graph):
    """Move each ``Permute`` (a ``Transpose`` that reorders data) down past element-wise ops and fold it into the
    next ``Dense`` by reordering its weight rows.

    Guarantees: an element-wise op after a ``Permute`` is moved before it, its per-element constants reordered
    (``op(x[index])[j] = op'(x)[index[j]]``); a ``Permute`` feeding a ``Dense`` disappears (``x[index] @ W =
    x @ W'`` with ``W'[index[j]] = W[j]``). One left elsewhere is wiring. Values are unchanged.
    """
    g = graph.copy()
    changed = True
    while changed:
        changed = False
        for p in [n for n in g.nodes if n.op == "Permute"]:
            if not _single_use(g, p.outputs[0]):
                continue
            user = g.consumers(p.outputs[0])[0]
            idx = np.asarray(p.params["index"])
            n = idx.size
            if g.tensors[p.inputs[0]].size != n or not np.array_equal(np.sort(idx), np.arange(n)):
                continue  # padding, repetition or cropping: not a permutation, stays a selection
            if user.op == "Dense" and not user.types.get("input"):
                w = np.asarray(user.params["weight"])
                w2 = np.empty_like(w)
                w2[idx] = w
                user.params["weight"] = w2
                user.inputs = list(p.inputs)
                g.nodes.remove(p)
                del g.tensors[p.outputs[0]]
                changed = True
                break
            if user.op in ELEMENTWISE:
                for k, v in list(user.params.items()):
                    a = np.asarray(v)
                    if a.ndim == 1 and a.size == n:  # per element: constant j belongs to input index[j]
                        b = np.empty_like(a)
                        b[idx] = a
                        user.params[k] = b
                a, b, c = p.inputs[0], p.outputs[0], user.outputs[0]
                user.inputs, user.outputs = [a], [b]
                p.inputs, p.outputs = [b], [c]
                shape_in, shape_out = g.tensors[a].shape, g.tensors[c].shape
                g.tensors[b] = type(g.tensors[b])(b, shape_in)
                g.tensors[c] = type(g.tensors[c])(c, shape_out)
                i, j = g.nodes.index(p), g.nodes.index(user)
                g.nodes[i], g.nodes[j] = user, p
                changed = True
                break
    return g.verify()


def lower(graph):
    """All float clean-up passes, in order."""
    return fuse_scale_shift(fuse_thresholds(move_scales(sink_permutes(drop_noops(graph)))))


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
    check_limits(g, config)
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
    check_parallel_width(g)
    return g


#: The widest tensor the parallel architecture carries: it moves a whole tensor in one bus per clock, and Amaranth
#: (like many tools) limits one value to 65535 bits, e.g. a 16x16x16 feature map at 16 bits.
MAX_PARALLEL_BITS = (1 << 16) - 1


def check_parallel_width(graph):
    """Refuse a tensor wider than :data:`MAX_PARALLEL_BITS` (elements times bits): beyond it the design belongs to
    the streaming architecture."""
    for src, name in [(None, t) for t in graph.inputs] + [(n, t) for n in graph.nodes for t in n.outputs]:
        t = graph.tensors[name]
        bits = t.size * t.type.width
        if bits > MAX_PARALLEL_BITS:
            where = f"layer {src.label}: its output" if src is not None else f"input '{name}'"
            raise ModelError(
                f"{where} has {t.size} elements of {t.type.width} bits ({bits} bits); io_parallel moves a whole "
                f"tensor at once and is limited to {MAX_PARALLEL_BITS} bits per tensor (e.g. 16x16x16 at 16 "
                f"bits). Use a smaller input or fewer channels, narrower types (Precision), or the streaming "
                f"architecture (io_stream) for feature maps this size")


def fuse_quantize(graph):
    """Fold a ``Quantize`` into the layer before it when the layer's own final cast can do its work exactly.

    Guarantees: a ``Quantize`` (no binary-point shift) fed only by a ``Dense`` or ``ScaleShift`` whose result type
    was ``auto`` disappears when its bounds are its type's full range (or the symmetric range: ``SAT_SYM``): the
    layer casts its exact sum straight into the quantiser's type, rounding and saturating the same way. Fed by a
    ``Relu`` with an unsigned full-range quantiser, the ``Relu`` takes its type (``x > 0 ? cast(x) : 0`` is the same
    clamp). Values are unchanged; one pipeline stage per quantiser is saved.
    """
    g = graph.copy()
    for q in list(g.nodes):
        if q.op != "Quantize" or q.attrs.get("shift"):
            continue
        p = g.producer(q.inputs[0])
        if p is None or len(g.consumers(q.inputs[0])) != 1 or q.inputs[0] in g.outputs:
            continue
        t = q.types["result"]
        lo, hi = q.attrs["bounds"]
        if hi != t.max_raw:
            continue
        if lo == t.min_raw:
            fused = t
        elif t.signed and lo == t.min_raw + 1:
            fused = t.with_modes(overflow=Overflow.SAT_SYM)
        else:
            continue
        if p.op in ("Dense", "ScaleShift") and p.attrs.get("result_auto"):
            pass
        elif p.op == "Relu" and lo == 0 and not t.signed:
            pass
        else:
            continue
        del g.tensors[p.outputs[0]]
        p.outputs = [q.outputs[0]]
        p.types["result"] = fused
        p.attrs["fused_quantize"] = q.attrs.get("source_name", q.name)
        g.tensors[q.outputs[0]].type = fused
        g.nodes.remove(q)
        for n in g.consumers(q.outputs[0]):
            n.types["input"] = fused
    return g.verify(typed=True)


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


def check_limits(graph, config):
    """Refuse, before anything is built, layers beyond the configured limits (``Model.MaxLayerProducts``,
    ``Model.MaxTensorSize``): a model that size is almost always a mistake (a missing pooling layer, a wrong
    export), and building it would take hours and fail to fit."""
    for n in graph.nodes:
        for t in n.outputs:
            size = graph.tensors[t].size
            if size > config.max_tensor_size:
                raise ModelError(f"layer {n.label}: its output has {size} elements, more than the limit of "
                                 f"{config.max_tensor_size}; raise Model.MaxTensorSize if this is intended")
        w = n.params.get("weight")
        if w is not None:
            pixels = int(np.prod(n.attrs["out_shape"][:-1], dtype=np.int64)) if n.op == "Conv" else 1
            products = int(np.prod(np.shape(w), dtype=np.int64)) * pixels
            if products > config.max_layer_products:
                raise ModelError(f"layer {n.label}: {products} multiplications per inference, more than the limit "
                                 f"of {config.max_layer_products}; raise Model.MaxLayerProducts if this is intended")
