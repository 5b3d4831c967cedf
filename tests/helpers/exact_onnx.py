"""An exact evaluator of quantised ONNX graphs: the definition of QONNX ``Quant``/``BipolarQuant`` and ONNX
``QuantizeLinear``/``Clip``/``DequantizeLinear`` in rational arithmetic, independent of nn2rtl's front end.

Every float constant is a dyadic rational, so a live tensor is held exactly as integer numerators over one common
integer denominator (``value = N / D``), and matrix products run as int64 products of 26-bit limbs recombined as
Python integers. Constant sub-graphs (quantised weights) are evaluated as the QONNX executor and ONNX Runtime
evaluate them: in float, with ``qonnx``'s own ``int_quant``, since that is the model their users trained.

Conv, MaxPool and AveragePool (any pads, strides, dilations, groups, ``ceil_mode``, ``count_include_pad``) are
evaluated window by window, written from the ONNX operator definitions.

One choice is not exact arithmetic because none exists: ``BatchNormalization`` on an activation uses the float64
values of ``gamma / sqrt(var + eps)`` and ``beta - mean * gamma / sqrt(var + eps)`` as its coefficients (a square
root has no exact rational value); from those on everything is exact.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import onnx
from onnx import numpy_helper

__all__ = ["evaluate_exact", "Exact", "exact_compare", "design_fractions"]

def _dyadic(values):
    """Float array -> (integer numerators as an object array, common power-of-two denominator)."""
    v = np.asarray(values, dtype=np.float64)
    fr = [Fraction(float(x)) for x in v.reshape(-1)]
    den = max([f.denominator for f in fr], default=1)
    num = np.array([int(f * den) for f in fr], dtype=object).reshape(v.shape)
    return num, den


def _limbs(a, bits):
    """Signed limbs of ``bits`` bits: ``a = sum(limb[i] << (bits * i))``, each limb an int64 array."""
    a = np.asarray(a, dtype=object)
    out = []
    half = 1 << (bits - 1)
    while True:
        if all(-half <= int(v) < half for v in a.reshape(-1)):
            out.append(a.astype(np.int64))
            return out
        out.append((a & ((1 << bits) - 1)).astype(np.int64))
        a = a >> bits


def exact_matmul(a, b):
    """Integer (object) matrices -> exact product, by int64 products of limbs recombined as Python ints."""
    bits = (62 - int(a.shape[-1]).bit_length()) // 2
    la, lb = _limbs(a, bits), _limbs(b, bits)
    acc = None
    for i, x in enumerate(la):
        for j, y in enumerate(lb):
            p = (x @ y).astype(object) * (1 << (bits * (i + j)))
            acc = p if acc is None else acc + p
    return acc


class Exact:
    """A live tensor ``num / den`` (``num`` an object array of Python ints, ``den`` a positive int)."""

    def __init__(self, num, den):
        self.num, self.den = np.asarray(num, dtype=object), int(den)

    @classmethod
    def of(cls, floats):
        return cls(*_dyadic(floats))

    def align(self, den):
        assert den % self.den == 0
        return self.num * (den // self.den)

    def affine(self, scale=None, bias=None):
        num, den = self.num, self.den
        if scale is not None:
            sn, sd = _dyadic(scale)
            num, den = num * sn, den * sd
        if bias is not None:
            bn, bd = _dyadic(bias)
            d = math.lcm(den, bd)
            num, den = num * (d // den) + bn * (d // bd), d
        return Exact(num, den)

    def floats(self):
        return np.vectorize(lambda n: float(Fraction(int(n), self.den)), otypes=[np.float64])(self.num)

    def fractions(self):
        return np.vectorize(lambda n: Fraction(int(n), self.den), otypes=[object])(self.num)


def _round_div(n, d, mode):
    """round(n / d) for Python ints (d > 0) with a QONNX rounding mode."""
    q, r = divmod(n, d)  # floor
    if mode == "FLOOR":
        return q
    if mode == "CEIL":
        return q + (1 if r else 0)
    if mode == "DOWN":
        return q + (1 if r and n < 0 else 0)
    if mode == "UP":
        return q + (1 if r and n > 0 else 0)
    twice = 2 * r
    if twice != d:
        return q + (1 if twice > d else 0)
    if mode in ("ROUND", "HALF_EVEN"):
        return q + (q % 2)
    if mode == "HALF_UP":
        return q + (1 if n > 0 else 0)
    return q + (1 if n < 0 else 0)  # HALF_DOWN


def _margin(n, d, lo, hi, mode, bipolar):
    """Per row, how close (in code units) any element's ``u = n / d`` lies to a boundary where the quantiser's
    output steps (float32 arithmetic may land on either side of one that close)."""
    u = np.vectorize(lambda v: v / d, otypes=[np.float64])(n)
    if bipolar:
        dist = np.abs(u)
    else:
        if mode in ("FLOOR", "CEIL", "DOWN", "UP"):
            dist = np.abs(u - np.round(u))
        else:
            dist = np.abs(u - np.floor(u) - 0.5)
        dist = np.where((u < lo - 1) | (u > hi + 1), np.inf, dist)
    return dist.reshape(len(u), -1).min(axis=1)


def _quant(x: Exact, scale, zp, lo, hi, mode, bipolar=False, margins=None):
    """clip(round(x / s + z), lo, hi) - z, times s, exactly."""
    s = Fraction(float(np.asarray(scale).reshape(-1)[0]))
    z = int(float(np.asarray(zp).reshape(-1)[0]))
    # x / s + z = (num * s.den + z * den * s.num) / (den * s.num)
    n = x.num * s.denominator + z * x.den * s.numerator
    d = x.den * s.numerator
    if margins is not None:
        m = _margin(n, d, lo, hi, mode, bipolar)
        margins["row"] = np.minimum(margins.get("row", m), m)
    if bipolar:
        q = np.vectorize(lambda v: 1 if v >= 0 else -1, otypes=[object])(n)
    else:
        q = np.vectorize(lambda v: min(max(_round_div(int(v), d, mode), lo), hi), otypes=[object])(n)
    codes = q - z
    return Exact(codes * s.numerator, s.denominator)


def _bits_range(bits, signed, narrow):
    lo = -(2 ** (bits - 1)) + (1 if narrow else 0) if signed else 0
    hi = 2 ** (bits - 1) - 1 if signed else 2 ** bits - 1 - (1 if narrow else 0)
    return lo, hi


_INT = {onnx.TensorProto.UINT8: (0, 255), onnx.TensorProto.INT8: (-128, 127), onnx.TensorProto.UINT16: (0, 65535),
        onnx.TensorProto.INT16: (-32768, 32767), onnx.TensorProto.INT32: (-(1 << 31), (1 << 31) - 1)}
_NP_INT = {np.dtype(np.uint8): onnx.TensorProto.UINT8, np.dtype(np.int8): onnx.TensorProto.INT8,
           np.dtype(np.int32): onnx.TensorProto.INT32}


def _clip(arr, lo, hi):
    """Element-wise clamp of an object array (``None``: no bound)."""
    out = [min(max(v, lo if lo is not None else v), hi if hi is not None else v) for v in arr.reshape(-1)]
    return np.array(out, dtype=object).reshape(arr.shape)


def _windows(spatial, kernel, strides, pads, dilations, ceil_mode=False):
    """Per output position (row-major), the input positions of its window (``None`` where it lies in the padding
    or beyond the input), for ONNX Conv/MaxPool/AveragePool attributes."""
    import itertools
    nd = len(spatial)
    out = []
    for d in range(nd):
        span = spatial[d] + pads[d] + pads[nd + d] - dilations[d] * (kernel[d] - 1) - 1
        n = (-(-span // strides[d]) if ceil_mode else span // strides[d]) + 1
        if ceil_mode and (n - 1) * strides[d] >= spatial[d] + pads[d]:
            n -= 1  # the last window must start inside the input or the left padding
        out.append(n)
    res = []
    for o in itertools.product(*(range(n) for n in out)):
        win = []
        for k in itertools.product(*(range(n) for n in kernel)):
            pos = tuple(o[d] * strides[d] - pads[d] + k[d] * dilations[d] for d in range(nd))
            inside = all(0 <= p < spatial[d] for d, p in enumerate(pos))
            pad = all(-pads[d] <= p < spatial[d] + pads[nd + d] for d, p in enumerate(pos))
            win.append(pos if inside else ("pad" if pad else None))
        res.append(win)
    return out, res


def _spatial_attrs(a, spatial, kernel):
    nd = len(spatial)
    strides = list(a.get("strides") or [1] * nd)
    dil = list(a.get("dilations") or [1] * nd)
    pads = list(a.get("pads") or [0] * (2 * nd))
    auto = a.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        for d in range(nd):
            total = max(0, (-(-spatial[d] // strides[d]) - 1) * strides[d] + dil[d] * (kernel[d] - 1) + 1
                        - spatial[d])
            small, big = total // 2, total - total // 2
            pads[d], pads[nd + d] = (small, big) if auto == "SAME_UPPER" else (big, small)
    elif auto == "VALID":
        pads = [0] * (2 * nd)
    return strides, pads, dil


def _conv(xs, w, b, a):
    """Exact ONNX Conv of a live tensor with float (dyadic) weights: per output pixel and group, a matrix product."""
    n = xs.num
    batch, spatial = n.shape[0], n.shape[2:]
    f, cg, kernel = w.shape[0], w.shape[1], w.shape[2:]
    group = int(a.get("group", 1))
    strides, pads, dil = _spatial_attrs(a, spatial, kernel)
    out, wins = _windows(spatial, kernel, strides, pads, dil)
    wn, wd = _dyadic(w)
    fg = f // group
    res = np.zeros((batch, f, len(wins)), dtype=object)
    for p, win in enumerate(wins):
        for g in range(group):
            cols = []
            for ch in range(g * cg, (g + 1) * cg):
                for pos in win:
                    cols.append(n[(slice(None), ch) + pos] if isinstance(pos, tuple)
                                else np.zeros(batch, dtype=object))
            patch = np.stack(cols, axis=1)
            wm = wn[g * fg:(g + 1) * fg].reshape(fg, -1).T
            res[:, g * fg:(g + 1) * fg, p] = exact_matmul(patch, wm)
    r = Exact(res.reshape((batch, f) + tuple(out)), xs.den * wd)
    if b is not None:
        r = r.affine(bias=np.broadcast_to(np.asarray(b, np.float64).reshape((1, f) + (1,) * len(out)), r.num.shape))
    return r


def _pool(xs, a, mode):
    """Exact MaxPool / AveragePool (a mean is an exact fraction: the denominator grows by the window counts)."""
    n = xs.num
    batch, c, spatial = n.shape[0], n.shape[1], n.shape[2:]
    kernel = list(a["kernel_shape"])
    strides, pads, dil = _spatial_attrs(a, spatial, kernel)
    out, wins = _windows(spatial, kernel, strides, pads, dil, bool(a.get("ceil_mode", 0)))
    include_pad = bool(a.get("count_include_pad", 0))
    counts = [sum(1 for pos in win if isinstance(pos, tuple) or (include_pad and pos == "pad")) for win in wins]
    common = 1
    for k in counts:
        common = math.lcm(common, k)
    res = np.zeros((batch, c, len(wins)), dtype=object)
    for p, win in enumerate(wins):
        vals = [n[(slice(None), slice(None)) + pos] for pos in win if isinstance(pos, tuple)]
        if mode == "max":
            res[:, :, p] = np.maximum.reduce(vals)
        else:
            res[:, :, p] = sum(vals) * (common // counts[p])
    shape = (batch, c) + tuple(out)
    return Exact(res.reshape(shape), xs.den * (common if mode == "avg" else 1))


def _attrs(node):
    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def evaluate_exact(model, x, margins=None):
    """Exact outputs (an array of :class:`~fractions.Fraction`, batch first) of ``model`` on float inputs ``x``.

    With a dict ``margins``, ``margins["row"]`` becomes, per row, the smallest distance (in code units) of any
    activation quantiser's input from a rounding boundary: where float32 evaluation may decide differently."""
    from onnx.reference import ReferenceEvaluator
    from qonnx.custom_op.general.intquant import resolve_rounding_mode
    g = model.graph
    opset = next(i.version for i in model.opset_import if i.domain in ("", "ai.onnx"))
    consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    inp = [i for i in g.input if i.name not in consts][0]
    live = {inp.name: Exact.of(np.asarray(x, dtype=np.float64))}
    qint = {}  # QuantizeLinear outputs on activations: (integer codes as Exact, zero point, scale)
    for node in g.node:
        a = _attrs(node)
        op = node.op_type
        if all((i in consts) or not i for i in node.input) and op != "Constant":
            ins = [consts.get(i) if i else None for i in node.input]
            if op == "Quant":  # integer codes as QONNX computes them (float32), times the scale exactly
                xq, s, z, b = ins
                f32 = np.float32
                y = xq.astype(f32) / np.asarray(s, dtype=f32) + np.asarray(z, dtype=f32)
                bits = int(np.asarray(b).reshape(-1)[0])
                signed, narrow = bool(a.get("signed", 1)), bool(a.get("narrow", 0))
                if bits == 1 and signed:
                    codes = np.where(y >= 0, 1.0, -1.0)
                else:
                    lo, hi = _bits_range(bits, signed, narrow)
                    codes = resolve_rounding_mode(a.get("rounding_mode", "ROUND"))(np.clip(y, lo, hi))
                outs = [(codes.astype(np.float64) - np.asarray(z, dtype=np.float64)) * np.asarray(s, np.float64)]
            elif op == "DequantizeLinear":  # exactly, not in float32
                q, s = ins[0], np.asarray(ins[1], dtype=np.float64)
                z = np.asarray(ins[2], dtype=np.float64) if len(ins) > 2 and ins[2] is not None else np.zeros(1)
                if s.size > 1:
                    shape = [1] * q.ndim
                    shape[a.get("axis", 1)] = -1
                    s, z = s.reshape(shape), (z.reshape(shape) if z.size > 1 else z)
                outs = [(q.astype(np.float64) - z) * s]
            elif op == "BipolarQuant":
                outs = [np.where(ins[0] / ins[1] >= 0, 1.0, -1.0) * ins[1]]
            else:
                ev = ReferenceEvaluator(node, opsets={"": opset})
                outs = ev.run(None, {i: v for i, v in zip(node.input, ins) if i})
            for o, v in zip(node.output, outs):
                consts[o] = np.asarray(v)
            continue
        if op == "Constant":
            consts[node.output[0]] = numpy_helper.to_array(a["value"])
            continue
        if op == "Shape":
            t = live[node.input[0]]
            consts[node.output[0]] = np.array(t.num.shape, dtype=np.int64)
            continue
        xs = live.get(node.input[0])
        out = node.output[0]
        if op == "Quant":
            s, z, b = (consts[i] for i in node.input[1:4])
            b = int(np.asarray(b).reshape(-1)[0])
            signed, narrow = bool(a.get("signed", 1)), bool(a.get("narrow", 0))
            mode = a.get("rounding_mode", "ROUND").upper()
            lo, hi = _bits_range(b, signed, narrow)
            live[out] = _quant(xs, s, z, lo, hi, mode, bipolar=(b == 1 and signed), margins=margins)
        elif op == "BipolarQuant":
            live[out] = _quant(xs, consts[node.input[1]], 0, -1, 1, "ROUND", bipolar=True, margins=margins)
        elif op == "QuantizeLinear":
            s = consts[node.input[1]]
            zp = consts[node.input[2]] if len(node.input) > 2 and node.input[2] else np.zeros((), np.uint8)
            lo, hi = _INT[_NP_INT[np.asarray(zp).dtype]]
            q = _quant(xs, s, zp, lo, hi, "ROUND", margins=margins)  # = (q - z) * s
            qint[out] = (q, int(np.asarray(zp).reshape(-1)[0]), float(np.asarray(s).reshape(-1)[0]))
        elif op == "Clip" and node.input[0] in qint:
            q, z, s = qint[node.input[0]]
            sf = Fraction(s)
            codes = q.num // sf.numerator  # exact: q holds codes * s.numerator over s.denominator
            lo = int(consts[node.input[1]]) - z if len(node.input) > 1 and node.input[1] else None
            hi = int(consts[node.input[2]]) - z if len(node.input) > 2 and node.input[2] else None
            codes = _clip(codes, lo, hi)
            qint[out] = (Exact(codes * sf.numerator, sf.denominator), z, s)
        elif op == "DequantizeLinear":
            live[out] = qint[node.input[0]][0]
        elif op in ("Gemm", "MatMul"):
            w = np.asarray(consts[node.input[1]], dtype=np.float64)
            if a.get("transB", 0):
                w = w.T
            w = w * float(a.get("alpha", 1.0))
            wn, wd = _dyadic(w)
            r = Exact(exact_matmul(xs.num, wn), xs.den * wd)
            if op == "Gemm" and len(node.input) > 2 and node.input[2]:
                r = r.affine(bias=np.asarray(consts[node.input[2]], dtype=np.float64) * float(a.get("beta", 1.0)))
            live[out] = r
        elif op in ("Add", "Sub", "Mul", "Div"):
            ci = [i for i in node.input if i in consts][0]
            c = np.asarray(consts[ci], dtype=np.float64)
            c = np.broadcast_to(c, xs.num.shape[1:]) if c.ndim else c
            if op == "Add":
                live[out] = xs.affine(bias=np.broadcast_to(c, xs.num.shape))
            elif op == "Sub":
                first = node.input[0] == ci
                live[out] = (xs.affine(scale=-np.ones(xs.num.shape), bias=np.broadcast_to(c, xs.num.shape))
                             if first else xs.affine(bias=-np.broadcast_to(c, xs.num.shape)))
            elif op == "Mul":
                live[out] = xs.affine(scale=np.broadcast_to(c, xs.num.shape))
            else:  # exact division by a dyadic constant: multiply the denominator
                cn, cd = _dyadic(np.broadcast_to(c, xs.num.shape))
                sign = np.vectorize(lambda v: 1 if v > 0 else -1, otypes=[object])(cn)
                absn = cn * sign
                common = 1
                for v in set(int(t) for t in absn.reshape(-1)):
                    common = math.lcm(common, v)
                live[out] = Exact(xs.num * cd * sign * (common // absn), xs.den * common)
        elif op == "Conv":
            b = consts[node.input[2]] if len(node.input) > 2 and node.input[2] else None
            live[out] = _conv(xs, np.asarray(consts[node.input[1]], np.float64), b, a)
        elif op in ("MaxPool", "AveragePool"):
            live[out] = _pool(xs, a, "max" if op == "MaxPool" else "avg")
        elif op == "Relu":
            live[out] = Exact(np.vectorize(lambda v: max(v, 0), otypes=[object])(xs.num), xs.den)
        elif op == "Clip":
            lo = float(consts[node.input[1]]) if len(node.input) > 1 and node.input[1] else -math.inf
            hi = float(consts[node.input[2]]) if len(node.input) > 2 and node.input[2] else math.inf
            f = xs.fractions()
            bounds = [Fraction(v) if math.isfinite(v) else None for v in (lo, hi)]
            clipped = _clip(f, *bounds)
            d = xs.den
            for v in bounds:
                if v is not None:
                    d = math.lcm(d, v.denominator)
            live[out] = Exact(np.array([int(v * d) for v in clipped.reshape(-1)], dtype=object).reshape(f.shape), d)
        elif op == "BatchNormalization":
            gamma, beta, mean, var = (np.asarray(consts[i], dtype=np.float64) for i in node.input[1:5])
            sc = gamma / np.sqrt(var + float(a.get("epsilon", 1e-5)))
            bi = beta - sc * mean
            shape = (1, -1) + (1,) * (xs.num.ndim - 2)
            live[out] = xs.affine(scale=np.broadcast_to(sc.reshape(shape), xs.num.shape),
                                  bias=np.broadcast_to(bi.reshape(shape), xs.num.shape))
        elif op in ("Reshape", "Flatten", "Identity", "Dropout", "Squeeze", "Unsqueeze", "Transpose"):
            n = xs.num
            if op == "Reshape":
                shape = [int(v) for v in consts[node.input[1]]]
                shape = [n.shape[0] if k == 0 and v in (0, 1) else v for k, v in enumerate(shape)]
                shape[0] = n.shape[0]
                n = n.reshape(shape)
            elif op == "Flatten":
                n = n.reshape(n.shape[0], -1)
            elif op == "Transpose":
                n = n.transpose(a.get("perm"))
            elif op == "Squeeze":
                axes = a.get("axes") or [int(v) for v in consts[node.input[1]]]
                n = n.squeeze(tuple(axes))
            elif op == "Unsqueeze":
                axes = a.get("axes") or [int(v) for v in consts[node.input[1]]]
                for ax in sorted(axes):
                    n = np.expand_dims(n, ax)
            live[out] = Exact(n, xs.den)
        else:
            raise NotImplementedError(f"exact evaluation of {op}")
    res = live[g.output[0].name]
    return res.fractions()


def design_fractions(design, x):
    """The golden model's outputs of ``design`` on float inputs ``x`` as exact fractions."""
    raw = design.predict_raw(design.quantize_input(x))
    scale = Fraction(2) ** (-design.output.type.frac)
    return np.vectorize(lambda r: int(r) * scale, otypes=[object])(raw).reshape(len(raw), -1)


def exact_compare(design, model, x):
    """(nn2rtl's outputs, the exact evaluation) on ``x``, both as fractions shaped (rows, outputs)."""
    want = evaluate_exact(model, np.asarray(x)).reshape(len(x), -1)
    return design_fractions(design, x), want
