"""ONNX front end, quantisation: QONNX ``Quant``/``BipolarQuant``/``Trunc`` and ONNX ``QuantizeLinear`` ->
(``Clip`` ->) ``DequantizeLinear``. On constants they are folded exactly as QONNX and ONNX Runtime compute them; on
activations a power-of-two scale becomes a ``Quantize`` node, any other scale a ``Threshold`` (comparisons) with
the scale moved into the next layer."""

from __future__ import annotations

import numpy as np

from ..fixed import QONNX_ROUNDING as _QONNX_NUMPY_ROUNDING
from ..fixed import Rounding, exact_type
from .base import _attrs, _Refuse

__all__ = ["QuantOps", "MAX_THRESHOLD_LEVELS"]

#: QONNX rounding modes -> ap_fixed rounding (CEIL and UP have no ap_fixed equivalent).
_QONNX_ROUNDING = {"ROUND": Rounding.RND_CONV, "HALF_EVEN": Rounding.RND_CONV, "FLOOR": Rounding.TRN,
                   "DOWN": Rounding.TRN_ZERO, "HALF_UP": Rounding.RND_INF, "HALF_DOWN": Rounding.RND_ZERO}
#: ONNX integer element types of QuantizeLinear outputs: (min, max).
_INT_RANGES = {"UINT8": (0, 255), "INT8": (-128, 127), "UINT16": (0, 65535), "INT16": (-32768, 32767),
               "UINT4": (0, 15), "INT4": (-8, 7), "INT32": (-(1 << 31), (1 << 31) - 1)}
#: A quantiser whose scale is not a power of two becomes comparisons (nn2rtl.ops.threshold): at most this many.
MAX_THRESHOLD_LEVELS = 4095


def _int_quant(x, scale, zp, bits, signed, narrow, rounding):
    """QONNX ``Quant`` on constants, computed as QONNX computes it (in the inputs' float type), returning the
    integer codes minus the zero point and the exact value ``(q - zp) * scale`` in float64."""
    x = np.asarray(x)
    dt = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
    y = x.astype(dt) / np.asarray(scale).astype(dt) + np.asarray(zp).astype(dt)
    if bits == 1 and signed:
        q = np.where(y >= 0, 1.0, -1.0)
    else:
        lo = -(2 ** (bits - 1)) + (1 if narrow else 0) if signed else 0
        hi = 2 ** (bits - 1) - 1 if signed else 2 ** bits - 1 - (1 if narrow else 0)
        q = _QONNX_NUMPY_ROUNDING[rounding](np.clip(y, lo, hi))
    codes = q.astype(np.float64) - np.asarray(zp, dtype=np.float64)
    return codes * np.asarray(scale, dtype=np.float64)


def _pow2_exponent(scale):
    """``log2(scale)`` when every element of ``scale`` is the same positive power of two, else ``None``."""
    s = np.unique(np.asarray(scale, dtype=np.float64).reshape(-1))
    if s.size != 1 or not s[0] > 0:
        return None
    m, e = np.frexp(s[0])
    return int(e) - 1 if m == 0.5 else None


def _dtype_name(arr):
    return {np.dtype(np.uint8): "UINT8", np.dtype(np.int8): "INT8", np.dtype(np.uint16): "UINT16",
            np.dtype(np.int16): "INT16", np.dtype(np.int32): "INT32"}.get(np.asarray(arr).dtype)


class QuantOps:
    """Quantisers on constants (``fold_*``) and on activations (``op_*``) (a mixin of the importer)."""

    def fold_Quant(self, node, a, ins):
        x, scale, zp, bits = ins[:4]
        bits = float(np.asarray(bits).reshape(-1)[0])
        rounding = str(a.get("rounding_mode", "ROUND")).upper()
        if bits != int(bits) or rounding not in _QONNX_NUMPY_ROUNDING:
            raise _Refuse(f"bit width {bits:g} / rounding mode {rounding!r} is not supported")
        return [_int_quant(x, scale, zp, int(bits), bool(a.get("signed", 1)), bool(a.get("narrow", 0)), rounding)]

    def fold_BipolarQuant(self, node, a, ins):
        x, scale = ins[:2]
        return [np.where(np.asarray(x, dtype=np.float64) / np.asarray(scale, dtype=np.float64) >= 0, 1.0, -1.0)
                * np.asarray(scale, dtype=np.float64)]

    def fold_DequantizeLinear(self, node, a, ins):
        q, scale = ins[0], np.asarray(ins[1], dtype=np.float64)
        zp = np.asarray(ins[2], dtype=np.float64) if len(ins) > 2 and ins[2] is not None else np.zeros(1)
        if scale.size > 1:
            axis = a.get("axis", 1)
            shape = [1] * np.ndim(q)
            shape[axis] = -1
            scale, zp = scale.reshape(shape), (zp.reshape(shape) if zp.size > 1 else zp)
        return [(np.asarray(q, dtype=np.float64) - zp) * scale]

    def fold_QuantizeLinear(self, node, a, ins):
        x, scale = np.asarray(ins[0]), np.asarray(ins[1], dtype=np.float32)
        zp = ins[2] if len(ins) > 2 and ins[2] is not None else np.zeros(1, dtype=np.uint8)
        lo, hi = _INT_RANGES.get(_dtype_name(zp), (None, None))
        if lo is None:
            raise _Refuse(f"zero point of type {np.asarray(zp).dtype} is not supported")
        if scale.size > 1:
            shape = [1] * x.ndim
            shape[a.get("axis", 1)] = -1
            scale = scale.reshape(shape)
            zp = np.asarray(zp).reshape(shape) if np.asarray(zp).size > 1 else zp
        q = np.clip(np.round(x.astype(np.float32) / scale) + np.asarray(zp, dtype=np.float32), lo, hi)
        return [q.astype(np.asarray(zp).dtype)]

    def _grid(self, scale, what):
        e = _pow2_exponent(scale)
        if e is None:
            s = np.unique(np.asarray(scale, dtype=np.float64).reshape(-1))
            if s.size > 1:
                raise _Refuse(f"{what} has {s.size} different scales (per-channel quantisation of an activation); "
                              f"only one scale per activation tensor is supported")
            raise _Refuse(f"{what} scale {s[0]:.9g} is not a power of two, so x / scale cannot be computed exactly "
                          f"in fixed point and cannot be folded into a neighbouring layer exactly; quantise "
                          f"activations with power-of-two scales (Brevitas: *FixedPoint quantizers such as "
                          f"Int8ActPerTensorFixedPoint; QKeras: quantized_bits/quantized_relu with alpha=1)")
        return -e

    def quantize_node(self, live, out, frac, lo, hi, rounding, shift=0):
        attrs = {"frac": int(frac), "lo": None if lo is None else int(lo), "hi": None if hi is None else int(hi),
                 "rounding": rounding.value, "shift": int(shift)}
        self.quantized = True
        return self.emit("Quantize", live[:1], [out], self.features[live[0]], attrs=attrs)

    def op_Quant(self, node, a, live):
        if node.input[0] not in live or any(i in live for i in node.input[1:]):
            raise _Refuse("scale, zero point and bit width must be constants")
        scale, zp, bits = (np.asarray(self.consts[i], dtype=np.float64) for i in node.input[1:4])
        bits = bits.reshape(-1)[0]
        signed, narrow = bool(a.get("signed", 1)), bool(a.get("narrow", 0))
        rounding = str(a.get("rounding_mode", "ROUND")).upper()
        if bits != int(bits) or bits < 1:
            raise _Refuse(f"bit width {bits:g} is not a positive integer")
        bits = int(bits)
        if rounding not in _QONNX_NUMPY_ROUNDING:
            raise _Refuse(f"unknown rounding mode {rounding!r} (QONNX defines {', '.join(_QONNX_NUMPY_ROUNDING)})")
        z = np.unique(zp.reshape(-1))
        if z.size != 1 or z[0] != int(z[0]):
            raise _Refuse("the zero point must be one integer")
        z = int(z[0])
        s = self._activation_scale(scale)
        if bits == 1 and signed:  # QONNX defines a 1-bit signed Quant as bipolar: y / s + z >= 0 ? 1 : -1
            self.threshold_node(live, node.output[0], s, z, -1, 1, "ROUND", bipolar=True)
            return
        lo = -(2 ** (bits - 1)) + (1 if narrow else 0) if signed else 0
        hi = 2 ** (bits - 1) - 1 if signed else 2 ** bits - 1 - (1 if narrow else 0)
        e = _pow2_exponent(s)
        if e is not None and rounding in _QONNX_ROUNDING:  # a requantisation on a power-of-two grid
            self.quantize_node(live, node.output[0], -e, lo - z, hi - z, _QONNX_ROUNDING[rounding])
        else:  # any scale (or a rounding ap_fixed lacks): thresholds, and the odd factor of the scale moved on
            self.threshold_node(live, node.output[0], s, z, lo, hi, rounding)

    def op_BipolarQuant(self, node, a, live):
        if node.input[0] not in live or any(i in live for i in node.input[1:]):
            raise _Refuse("the scale must be a constant")
        s = self._activation_scale(np.asarray(self.consts[node.input[1]], dtype=np.float64))
        self.threshold_node(live, node.output[0], s, 0, -1, 1, "ROUND", bipolar=True)

    def _activation_scale(self, scale):
        s = np.unique(np.asarray(scale, dtype=np.float64).reshape(-1))
        if s.size != 1:
            raise _Refuse(f"the activation has {s.size} different scales (per-channel quantisation of an "
                          f"activation); one scale per activation tensor is supported")
        if not (np.isfinite(s[0]) and s[0] > 0):
            raise _Refuse(f"the activation scale is {s[0]:g}; a quantiser's scale must be a positive finite number")
        return float(s[0])

    def threshold_node(self, live, out, s, z, lo, hi, rounding, bipolar=False, move=True):
        """``q = clip(round(y / s + z), lo, hi) - z`` for any positive scale ``s``: a ``Threshold`` node giving the
        code on the grid ``2**-frac`` (``s = m * 2**-frac``, ``m`` odd), then ``* m`` as a scale of its own that the
        passes move forward into the next layer's scaling (nothing when ``m`` is 1)."""
        from fractions import Fraction
        levels = 1 if bipolar else hi - lo
        if levels > MAX_THRESHOLD_LEVELS:
            raise _Refuse(f"a quantiser of {hi - lo + 1} levels with scale {s:.9g}, which is not a power of two: it "
                          f"is built as comparisons, at most {MAX_THRESHOLD_LEVELS} of them ({MAX_THRESHOLD_LEVELS + 1}"
                          f" levels, 12 bits); quantise this activation to 12 bits or fewer, or with a power-of-two "
                          f"scale")
        f = Fraction(s)
        num, den = f.numerator, f.denominator  # den is a power of two (s is a binary float)
        tz = (num & -num).bit_length() - 1
        m, frac = num >> tz, den.bit_length() - 1 - tz
        attrs = {"scale": s, "zero_point": int(z), "lo": int(lo), "hi": int(hi), "rounding": rounding,
                 "bipolar": bool(bipolar), "frac": int(frac), "pre": [], "absorbed": []}
        self.quantized = True
        fin = self.features[live[0]]
        if m == 1 or not move:
            self.emit("Threshold", live[:1], [out], fin, attrs=attrs)
            return m
        mid = self.fresh_tensor(out + "_code")
        self.emit("Threshold", live[:1], [mid], fin, attrs=attrs)
        self.scale_node(mid, out, m)
        return m

    def scale_node(self, src, out, m):
        """``* m`` (an odd integer): the part of a quantiser's scale that is not a power of two."""
        fin = self.features[src]
        n = int(np.prod(fin, dtype=np.int64))
        self.emit("ScaleShift", [src], [out], fin, attrs={"from": "scale", "moved_scale": True, "folded_scale": True},
                  params={"scale": np.full(n, float(m))}, types={"scale": exact_type([float(m)])})

    def op_Trunc(self, node, a, live):
        if any(i in live for i in node.input[1:]):
            raise _Refuse("scale, zero point and bit widths must be constants")
        vals = [np.asarray(self.consts[i], dtype=np.float64) for i in node.input[1:]]
        rounding = str(a.get("rounding_mode", "FLOOR")).upper()
        if rounding not in _QONNX_ROUNDING:
            raise _Refuse(f"rounding mode {rounding!r} has no ap_fixed equivalent")
        if np.any(vals[1] != 0):
            raise _Refuse("a non-zero zero point")
        frac = self._grid(vals[0], "the input")
        pre = self.fresh_tensor(node.output[0] + "_grid")
        self.quantize_node(live, pre, frac, None, None, Rounding.RND_CONV)  # QONNX first rounds onto the grid
        version = next((imp.version for imp in self.model.opset_import if imp.domain == node.domain), 1)
        if version < 2:  # v1: (x, scale, zeropt, in_bits, out_bits): drop in_bits - out_bits LSBs, same scale
            if len(node.input) != 5:
                raise _Refuse(f"Trunc version 1 takes 5 inputs, not {len(node.input)}")
            k = int(vals[2].reshape(-1)[0]) - int(vals[3].reshape(-1)[0])
            self.quantize_node([pre], node.output[0], frac, None, None, _QONNX_ROUNDING[rounding], shift=k)
        else:  # v2: (x, scale, zeropt, in_bits, out_scale, out_bits), clamped to the output bit width
            if len(node.input) != 6:
                raise _Refuse(f"Trunc version 2 takes 6 inputs, not {len(node.input)}")
            out_frac = self._grid(vals[3], "the output")
            bits = int(vals[4].reshape(-1)[0])
            signed, narrow = bool(a.get("signed", 1)), bool(a.get("narrow", 0))
            lo = -(2 ** (bits - 1)) + (1 if narrow else 0) if signed else 0
            hi = 2 ** (bits - 1) - 1 if signed else 2 ** bits - 1 - (1 if narrow else 0)
            self.quantize_node([pre], node.output[0], out_frac, lo, hi, _QONNX_ROUNDING[rounding])

    def op_QuantizeLinear(self, node, a, live):
        if any(i in live for i in node.input[1:]):
            raise _Refuse("scale and zero point must be constants")
        scale = np.asarray(self.consts[node.input[1]], dtype=np.float64)
        zp = self.consts[node.input[2]] if len(node.input) > 2 and node.input[2] else np.zeros(1, dtype=np.uint8)
        name = _dtype_name(zp)
        if "output_dtype" in a and a["output_dtype"]:
            import onnx
            name = onnx.TensorProto.DataType.Name(a["output_dtype"])
        if name not in _INT_RANGES:
            raise _Refuse(f"quantisation to {name or np.asarray(zp).dtype} is not supported (integer types only)")
        z = np.unique(np.asarray(zp, dtype=np.float64).reshape(-1))
        if z.size != 1:
            raise _Refuse("per-channel zero points on an activation")
        s = self._activation_scale(scale)
        qlo, qhi = _INT_RANGES[name]
        z = int(z[0])
        e = _pow2_exponent(s)
        if e is not None:
            self.quantize_node(live, node.output[0], -e, qlo - z, qhi - z, Rounding.RND_CONV)
            m = 1
        else:  # ONNX rounds half to even and saturates: a QONNX ROUND quantiser on the type's range
            m = self.threshold_node(live, node.output[0], s, z, qlo, qhi, "ROUND", move=False)
        self.pending_q[node.output[0]] = (s, z, len(self.nodes) - 1, m)

    def op_DequantizeLinear(self, node, a, live):
        x = live[0]
        if x not in self.pending_q:
            raise _Refuse("dequantises an activation that no QuantizeLinear produced")
        scale = np.unique(np.asarray(self.const(node.input[1], "the scale"), dtype=np.float64).reshape(-1))
        zp = (np.unique(np.asarray(self.consts[node.input[2]], dtype=np.float64).reshape(-1))
              if len(node.input) > 2 and node.input[2] else np.zeros(1))
        s, z, _, m = self.pending_q[x]
        if scale.size != 1 or zp.size != 1 or (float(scale[0]), int(zp[0])) != (s, z):
            raise _Refuse("its scale or zero point differs from its QuantizeLinear's")
        if m == 1:
            self.emit("Identity", [x], node.output[:1], self.features[x])
        else:
            self.scale_node(x, node.output[0], m)

    def clip_codes(self, node, live):
        """``QuantizeLinear -> Clip -> DequantizeLinear`` (Brevitas QCDQ: fewer bits than the integer type): the
        clip narrows the quantiser's integer range."""
        x = live[0]
        s, z, index, m = self.pending_q[x]
        if self.opset < 11:
            bounds = [None if _attrs(node).get(k) is None else np.array([_attrs(node)[k]]) for k in ("min", "max")]
        else:
            bounds = [np.asarray(self.const(node.input[k], "the clip bounds")).reshape(-1)
                      if len(node.input) > k and node.input[k] else None for k in (1, 2)]
        q = self.nodes[index]
        if q.outputs != [x] or any(x in n.inputs for n in self.nodes):
            raise _Refuse("clips a quantised integer that is also used elsewhere")
        for k, b in enumerate(bounds):
            if b is None:
                continue
            if b.size != 1 or float(b[0]) != int(b[0]):
                raise _Refuse("clip bounds of a quantised integer must be single integers")
            v = int(b[0])
            if q.op == "Quantize":  # its bounds are codes (q - z)
                key = ("lo", "hi")[k]
                cur = q.attrs[key]
                q.attrs[key] = (max if k == 0 else min)(v - z, cur) if cur is not None else v - z
            else:
                key = ("lo", "hi")[k]
                q.attrs[key] = (max if k == 0 else min)(v, q.attrs[key])
        if q.op == "Threshold" and q.attrs["lo"] > q.attrs["hi"] or (
                q.op == "Quantize" and q.attrs["lo"] is not None and q.attrs["hi"] is not None
                and q.attrs["lo"] > q.attrs["hi"]):
            raise _Refuse("the clip bounds leave no integer")
        self.emit("Identity", [x], node.output[:1], self.features[x])
        self.pending_q[node.output[0]] = self.pending_q[x]
