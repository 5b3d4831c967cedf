"""ONNX front end, convolutional networks: layouts, ``Conv``, pooling, ``Pad``, ``Resize``, merges and ``Concat``.

**Layout.** ONNX is channels-first; the hardware wants channels-last. Every live tensor has its ONNX (logical)
shape and a *storage order*: the axis order its elements are laid out in (``_Layout.order``; absent means the
logical row-major order). Nothing moves data until an op needs a particular order:

* ``Conv`` and pooling read channels-last and write channels-last;
* element-wise ops (activations, batch normalisation, quantisers, ``Add`` of a constant) keep their input's order,
  with their per-element constants reordered to match;
* ``Transpose`` only changes the storage order: a ``Transpose`` pair written by tf2onnx around every NHWC layer
  costs nothing, and a ``Transpose -> BatchNormalization -> Transpose`` neither;
* ``Pad``, ``Resize`` and ``Concat`` are selections computed in whatever order their inputs have;
* every other op (``Flatten``, ``Reshape``, ``Gemm``, ``Softmax`` ...) reads the logical order: a ``Permute`` is
  placed before it when needed (wiring, and folded into the next ``Dense``'s weight rows by the passes), and the
  model's output is always in its logical order.

So the imported graph is the network the user trained, in one internal layout, whatever transposes the exporter
wrote; ``predict`` and ``simulate`` take and return the model's own layout.
"""

from __future__ import annotations

import math

import numpy as np
import onnx

from ..errors import ModelError
from ..fixed import exact_type
from ..graph import Node
from .base import _Refuse
from .dense import weight_params

__all__ = ["CnnOps", "LAYOUT_AWARE", "PROPAGATES_LAYOUT"]

#: ONNX ops whose handlers accept inputs in any storage order (all others see the logical order).
LAYOUT_AWARE = frozenset({
    "Relu", "Sigmoid", "Tanh", "Softplus", "Softsign", "LeakyRelu", "ThresholdedRelu", "Elu", "Selu", "HardSigmoid",
    "PRelu", "Clip", "BatchNormalization", "Add", "Sub", "Mul", "Div", "Max", "Min", "Quant", "BipolarQuant",
    "QuantizeLinear", "DequantizeLinear", "Trunc", "Identity", "Dropout", "Cast", "Transpose", "Conv", "MaxPool",
    "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceMax", "Pad", "Resize", "Upsample",
    "Concat"})
#: Graph ops that compute element by element: their output keeps the input's storage order.
PROPAGATES_LAYOUT = frozenset({
    "Identity", "ScaleShift", "Relu", "Sigmoid", "Tanh", "Softplus", "Softsign", "LeakyRelu", "ThresholdedRelu",
    "Elu", "Selu", "HardSigmoid", "PRelu", "Clip", "Quantize", "Threshold"})


def _positions(shape, order):
    """``pos[k]``: the logical (row-major) flat position of the element stored at ``k`` in ``order``."""
    n = int(np.prod(shape, dtype=np.int64))
    return np.arange(n, dtype=np.int64).reshape(shape).transpose(order).reshape(-1)


def trivial(shape, order):
    """Whether storing ``shape`` in ``order`` is the row-major order (only size-1 axes move)."""
    kept = [a for a in order if shape[a] != 1]
    return kept == sorted(kept)


def channels_last(rank):
    """The storage order of a channels-last layout for a logical ``(C, *spatial)`` shape of ``rank`` axes."""
    return tuple(range(1, rank)) + (0,)


def _refuse(msg):
    return _Refuse(msg)


class CnnOps:
    """Mixed into the ONNX importer: storage orders, and the handlers of convolutional networks."""

    # -- storage orders --------------------------------------------------------------------------------------------

    def order_of(self, t):
        shape = self.features[t]
        return self.order.get(t, tuple(range(len(shape))))

    def stored(self, t, order):
        """``t`` stored in ``order`` (a ``Permute`` node when its elements have to move)."""
        shape = self.features[t]
        order = tuple(order)
        cur = self.order_of(t)
        if _positions(shape, cur).tolist() == _positions(shape, order).tolist():
            return t
        inv = np.empty(len(_positions(shape, cur)), dtype=np.int64)
        inv[_positions(shape, cur)] = np.arange(inv.size)
        index = inv[_positions(shape, order)]
        out = self.fresh_tensor(f"{t}_{'logical' if order == tuple(sorted(order)) else 'layout'}")
        name = self.fresh(f"{self.cur_name}_layout")
        self.nodes.append(Node(name, "Permute", [t], [out], {**self.meta, "layout": True}, {"index": index}, {}))
        self.features[out] = shape
        if order != tuple(range(len(shape))):
            self.order[out] = order
        return out

    def logical(self, t):
        return self.stored(t, tuple(range(len(self.features[t]))))

    def layout_params(self, inputs, params):
        """Per-element constants (given in the logical order of the single input) reordered to its storage."""
        if len(inputs) != 1 or inputs[0] not in self.order:
            return params
        shape = self.features[inputs[0]]
        pos = _positions(shape, self.order[inputs[0]])
        out = {}
        for k, v in params.items():
            a = np.asarray(v)
            out[k] = a[pos] if a.ndim == 1 and a.size == pos.size and a.size > 1 else v
        return out

    def with_logical_inputs(self, node, live):
        """``(node, live)`` with every live input in its logical order (a renamed copy of ``node`` if needed)."""
        new = [self.logical(t) for t in live]
        if new == live:
            return node, live
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        rename = dict(zip(live, new))
        for k, i in enumerate(copy.input):
            if i in rename:
                copy.input[k] = rename[i]
        return copy, new

    def logical_outputs(self):
        """Make every graph output logical: its producer writes a renamed tensor and a ``Permute`` restores it."""
        for o in self.model.graph.output:
            t = o.name
            if t not in self.features or trivial(self.features[t], self.order_of(t)):
                continue
            stored = self.fresh_tensor(f"{t}_stored")
            for n in self.nodes:
                n.outputs = [stored if x == t else x for x in n.outputs]
                n.inputs = [stored if x == t else x for x in n.inputs]
            self.features[stored] = self.features[t]
            self.order[stored] = self.order.pop(t)
            self.cur_name, self.meta = "output", {"source_name": t, "source_op": "Output"}
            fixed = self.logical(stored)
            for n in self.nodes:
                n.outputs = [t if x == fixed else x for x in n.outputs]
            self.features[t] = self.features.pop(fixed)

    # -- Transpose -------------------------------------------------------------------------------------------------

    def op_Transpose(self, node, a, live):
        fin = self.features[live[0]]
        rank = len(fin) + 1
        perm = list(a.get("perm", list(range(rank))[::-1]))
        if perm[0] != 0:
            raise _refuse(f"perm {perm} moves the batch dimension")
        if sorted(perm) != list(range(rank)):
            raise ModelError(f"node '{self.meta['source_name']}' (Transpose): perm {perm} is not a permutation of "
                             f"the {rank} axes")
        p = [q - 1 for q in perm[1:]]
        inv = [p.index(k) for k in range(len(p))]
        cur = self.order_of(live[0])
        shape = tuple(fin[q] for q in p)
        # the data stays where it is: only the logical axes are renamed (storage = out.transpose(new))
        new = tuple(inv[k] for k in cur)
        self.emit("Reshape", live[:1], node.output[:1], shape, attrs={"perm": [int(q) for q in perm]})
        if not trivial(shape, new):
            self.order[node.output[0]] = new

    # -- convolution -----------------------------------------------------------------------------------------------

    def _spatial(self, node, a, fin, kernel, dilations=None):
        """``(strides, pads, dilations)`` of a windowed op over the logical ``(C, *spatial)`` input ``fin``."""
        r = len(fin) - 1
        strides = list(a.get("strides", [1] * r))
        dil = list(dilations if dilations is not None else a.get("dilations", [1] * r))
        auto = a.get("auto_pad", "NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if len(strides) != r or len(dil) != r or len(kernel) != r:
            raise ModelError(f"node '{self.meta['source_name']}' ({node.op_type}): kernel, strides and dilations "
                             f"need {r} values for an input of shape [N, {', '.join(map(str, fin))}]")
        if auto in ("NOTSET", "") or auto is None:
            pads = list(a.get("pads", [0] * (2 * r)))
        elif auto == "VALID":
            pads = [0] * (2 * r)
        elif auto in ("SAME_UPPER", "SAME_LOWER"):
            pads = [0] * (2 * r)
            for k in range(r):
                out = -(-fin[k + 1] // strides[k])
                total = max(0, (out - 1) * strides[k] + (kernel[k] - 1) * dil[k] + 1 - fin[k + 1])
                small = total // 2
                pads[k], pads[k + r] = (small, total - small) if auto == "SAME_UPPER" else (total - small, small)
        else:
            raise _refuse(f"auto_pad={auto!r}")
        if len(pads) != 2 * r or min(pads) < 0:
            raise ModelError(f"node '{self.meta['source_name']}' ({node.op_type}): pads {pads} are not {2 * r} "
                             f"non-negative values")
        if min(strides) < 1 or min(dil) < 1 or min(kernel) < 1:
            raise ModelError(f"node '{self.meta['source_name']}' ({node.op_type}): kernel {kernel}, strides "
                             f"{strides} and dilations {dil} must be positive")
        return strides, pads, dil

    def _check_rank(self, node, fin):
        if len(fin) not in (2, 3):
            raise _refuse(f"input of shape [N, {', '.join(map(str, fin))}]; 1-D ([N, C, L]) and 2-D ([N, C, H, W]) "
                          f"inputs are supported")

    def op_Conv(self, node, a, live):
        x = live[0]
        fin = self.features[x]
        self._check_rank(node, fin)
        if node.input[1] in live:
            raise _refuse("weights computed from an activation; only constant weights are supported")
        w = np.asarray(self.const(node.input[1], "the weights"), dtype=np.float64)
        r = len(fin) - 1
        c = fin[0]
        group = int(a.get("group", 1))
        if w.ndim != r + 2 or group < 1 or c % group or w.shape[0] % group or w.shape[1] * group != c:
            raise ModelError(f"node '{self.meta['source_name']}' (Conv): weights of shape {list(w.shape)} with "
                             f"group={group} do not fit an input of shape [N, {', '.join(map(str, fin))}]")
        kernel = list(a.get("kernel_shape", w.shape[2:]))
        if list(kernel) != list(w.shape[2:]):
            raise ModelError(f"node '{self.meta['source_name']}' (Conv): kernel_shape {kernel} differs from the "
                             f"weights' {list(w.shape[2:])}")
        strides, pads, dil = self._spatial(node, a, fin, kernel)
        from ..ops.windows import out_spatial
        osp = out_spatial(fin[1:], kernel, strides, pads, dil)
        if min(osp) < 1:
            raise ModelError(f"node '{self.meta['source_name']}' (Conv): a {kernel} kernel does not fit the padded "
                             f"input [N, {', '.join(map(str, fin))}]")
        f = w.shape[0]
        fg, cg = f // group, c // group
        # (F, Cg, *k) -> per group (window positions, then channels) x filters
        wg = w.reshape(group, fg, cg, -1).transpose(0, 3, 2, 1).reshape(group, -1, fg)
        bias = None
        if len(node.input) > 2 and node.input[2]:
            bias = np.asarray(self.const(node.input[2], "the bias"), dtype=np.float64).reshape(-1)
            if bias.size != f:
                raise ModelError(f"node '{self.meta['source_name']}' (Conv): {bias.size} biases for {f} filters")
        exact = node.input[1] in self.qconsts
        bias_exact = bias is not None and node.input[2] in self.qconsts
        params, types, odd = weight_params(wg, wg.transpose(1, 0, 2).reshape(wg.shape[1], -1), (group, 1, fg), bias,
                                           exact, bias_exact)
        cl = channels_last(len(fin))
        xin = self.stored(x, cl)
        attrs = {"in_shape": tuple(fin[1:]) + (c,), "out_shape": tuple(osp) + (f,), "kernel": tuple(kernel),
                 "strides": tuple(strides), "pads": tuple(pads), "dilations": tuple(dil), "group": group}
        out = node.output[0]
        oshape = (f,) + tuple(osp)
        mid = out if odd is None else self.fresh_tensor(out + "_unscaled")
        self.emit("Conv", [xin], [mid], oshape, attrs=attrs, params=params, types=types)
        self.order[mid] = cl
        if odd is not None:
            per = int(np.prod(osp, dtype=np.int64))
            sp = {"scale": np.repeat(odd.astype(np.float64), per)}
            st = {"scale": exact_type(odd.astype(np.float64))}
            if bias is not None:
                sp["bias"] = np.repeat(bias, per)
                if bias_exact:
                    st["bias"] = exact_type(bias)
            self.emit("ScaleShift", [mid], [out], oshape, attrs={"folded_scale": True}, params=sp, types=st)

    # -- pooling ---------------------------------------------------------------------------------------------------

    def _pool(self, node, a, live, mode, kernel, strides, pads, dil, ceil_mode, count_pad):
        from ..ops.windows import out_spatial
        x = live[0]
        fin = self.features[x]
        if any(p >= k for p, k in zip(pads, list(kernel) * 2)):
            raise ModelError(f"node '{self.meta['source_name']}' ({node.op_type}): padding {pads} is not smaller "
                             f"than the kernel {kernel}")
        osp = out_spatial(fin[1:], kernel, strides, pads, dil, ceil_mode=bool(ceil_mode))
        if min(osp) < 1:
            raise ModelError(f"node '{self.meta['source_name']}' ({node.op_type}): a {kernel} window does not fit "
                             f"the input [N, {', '.join(map(str, fin))}]")
        c = fin[0]
        cl = channels_last(len(fin))
        xin = self.stored(x, cl)
        attrs = {"mode": mode, "in_shape": tuple(fin[1:]) + (c,), "out_shape": tuple(osp) + (c,),
                 "kernel": tuple(kernel), "strides": tuple(strides), "pads": tuple(pads), "dilations": tuple(dil),
                 "count_include_pad": int(count_pad), "ceil_mode": int(ceil_mode)}
        self.emit("Pool", [xin], node.output[:1], (c,) + tuple(osp), attrs=attrs)
        self.order[node.output[0]] = cl

    def op_MaxPool(self, node, a, live):
        fin = self.features[live[0]]
        self._check_rank(node, fin)
        if len(node.output) > 1 and node.output[1]:
            raise _refuse("the Indices output is used")
        kernel = list(a.get("kernel_shape", []))
        strides, pads, dil = self._spatial(node, a, fin, kernel)
        self._pool(node, a, live, "max", kernel, strides, pads, dil, a.get("ceil_mode", 0), False)

    def op_AveragePool(self, node, a, live):
        fin = self.features[live[0]]
        self._check_rank(node, fin)
        kernel = list(a.get("kernel_shape", []))
        strides, pads, dil = self._spatial(node, a, fin, kernel)
        if dil != [1] * len(dil):
            raise _refuse(f"dilations {dil}; average pooling with dilation is not supported")
        self._pool(node, a, live, "avg", kernel, strides, pads, dil, a.get("ceil_mode", 0),
                   a.get("count_include_pad", 0))

    def _global(self, node, live, mode):
        fin = self.features[live[0]]
        self._check_rank(node, fin)
        r = len(fin) - 1
        self._pool(node, {}, live, mode, list(fin[1:]), [1] * r, [0] * (2 * r), [1] * r, 0, False)

    def op_GlobalAveragePool(self, node, a, live):
        self._global(node, live, "avg")

    def op_GlobalMaxPool(self, node, a, live):
        self._global(node, live, "max")

    def op_ReduceMean(self, node, a, live):
        """A mean or maximum over every spatial axis (how the dynamo exporter writes ``AdaptiveAvgPool2d(1)`` and
        ``x.mean((2, 3))``) is global pooling; other reductions are refused."""
        fin = self.features[live[0]]
        rank = len(fin) + 1
        if len(node.input) > 1 and node.input[1]:
            axes = [int(v) for v in np.asarray(self.const(node.input[1], "the axes")).reshape(-1)]
        else:
            axes = list(a.get("axes", range(rank)))
        axes = sorted(ax + rank if ax < 0 else ax for ax in axes)
        if len(fin) not in (2, 3) or axes != list(range(2, rank)):
            raise _refuse(f"a reduction over axes {axes} of [N, {', '.join(map(str, fin))}]; only a reduction over "
                          f"every spatial axis of [N, C, L] or [N, C, H, W] (global pooling) is supported")
        self._global(node, live, "avg" if node.op_type == "ReduceMean" else "max")
        if not a.get("keepdims", 1):
            self.features[node.output[0]] = (fin[0],)
            self.order.pop(node.output[0], None)

    op_ReduceMax = op_ReduceMean

    # -- selections: Pad, Resize, Concat ---------------------------------------------------------------------------

    def _select(self, node, x, out_shape, source):
        """A ``Permute`` that builds ``out_shape`` (logical, stored in ``x``'s order) from ``x``: ``source(coords)``
        maps the output's logical coordinates (one array per axis) to the input's, or -1 where it reads zero."""
        fin = self.features[x]
        order = self.order_of(x)
        grids = np.meshgrid(*[np.arange(n) for n in out_shape], indexing="ij")
        src = source([g.transpose(order).reshape(-1) for g in grids])      # in output storage order
        valid = np.all([(s >= 0) & (s < n) for s, n in zip(src, fin)], axis=0)
        lin = np.zeros(valid.shape, dtype=np.int64)
        strides_in = np.ones(len(fin), dtype=np.int64)  # input storage position of logical coordinates
        stored_shape = [fin[k] for k in order]
        acc = 1
        for pos in range(len(order) - 1, -1, -1):
            strides_in[order[pos]] = acc
            acc *= stored_shape[pos]
        for s, st in zip(src, strides_in):
            lin += np.clip(s, 0, None) * st
        index = np.where(valid, lin, -1)
        self.emit("Permute", [x], node.output[:1], tuple(out_shape), params={"index": index})
        if not trivial(tuple(out_shape), order):
            self.order[node.output[0]] = order

    def op_Pad(self, node, a, live):
        x = live[0]
        fin = self.features[x]
        rank = len(fin) + 1
        mode = a.get("mode", "constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if mode != "constant":
            raise _refuse(f"mode={mode!r}; only constant (zero) padding is supported")
        if len(node.input) > 1 and node.input[1]:
            pads = [int(v) for v in np.asarray(self.const(node.input[1], "the pads")).reshape(-1)]
        else:
            pads = list(a.get("pads", []))
        value = 0.0
        if len(node.input) > 2 and node.input[2]:
            value = float(np.asarray(self.const(node.input[2], "the padding value")).reshape(-1)[0])
        elif "value" in a:
            value = float(a["value"])
        if value != 0.0:
            raise _refuse(f"padding value {value:g}; only zero padding is supported")
        axes = list(range(rank))
        if len(node.input) > 3 and node.input[3]:
            axes = [int(v) % rank for v in np.asarray(self.const(node.input[3], "the axes")).reshape(-1)]
        if len(pads) != 2 * len(axes):
            raise ModelError(f"node '{self.meta['source_name']}' (Pad): {len(pads)} pads for {len(axes)} axes")
        begin, end = [0] * rank, [0] * rank
        for k, ax in enumerate(axes):
            begin[ax], end[ax] = pads[k], pads[k + len(axes)]
        if begin[0] or end[0]:
            raise _refuse("pads the batch dimension")
        out = tuple(fin[k] + begin[k + 1] + end[k + 1] for k in range(len(fin)))
        if min(out) < 1:
            raise ModelError(f"node '{self.meta['source_name']}' (Pad): pads {pads} leave nothing of the input")
        self._select(node, x, out, lambda cs: [c - begin[k + 1] for k, c in enumerate(cs)])

    def op_Resize(self, node, a, live):
        x = live[0]
        fin = self.features[x]
        mode = a.get("mode", "nearest")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if mode != "nearest":
            raise _refuse(f"mode={mode!r}; only nearest-neighbour resizing is supported")
        scales = sizes = None
        if node.op_type == "Upsample":
            scales = (np.asarray(self.const(node.input[1], "the scales")).reshape(-1) if len(node.input) > 1
                      else np.asarray(a.get("scales", [])))
        else:
            if len(node.input) > 2 and node.input[2] and np.asarray(self.consts.get(node.input[2], [])).size:
                scales = np.asarray(self.const(node.input[2], "the scales")).reshape(-1)
            if len(node.input) > 3 and node.input[3]:
                sizes = [int(v) for v in np.asarray(self.const(node.input[3], "the sizes")).reshape(-1)]
        if a.get("axes") is not None:
            raise _refuse("the axes attribute")
        full = [1] + list(fin)
        if sizes is not None:
            if len(sizes) != len(full):
                raise ModelError(f"node '{self.meta['source_name']}' (Resize): {len(sizes)} sizes for rank "
                                 f"{len(full)}")
            scales = np.array([s / n for s, n in zip(sizes, full)], dtype=np.float64)
            out = [int(s) for s in sizes[1:]]
        elif scales is not None and len(scales) == len(full):
            out = [int(math.floor(n * float(s))) for n, s in zip(fin, scales[1:])]
        else:
            raise ModelError(f"node '{self.meta['source_name']}' ({node.op_type}): needs scales or sizes for "
                             f"each of the {len(full)} axes")
        if float(scales[0]) != 1.0 or (len(fin) > 1 and float(scales[1]) != 1.0):
            raise _refuse("resizes the batch or channel axis")
        ctm = a.get("coordinate_transformation_mode", "half_pixel" if node.op_type == "Resize" and self.opset >= 11
                    else "asymmetric")
        ctm = ctm.decode() if isinstance(ctm, bytes) else ctm
        nearest = a.get("nearest_mode", "round_prefer_floor")
        nearest = nearest.decode() if isinstance(nearest, bytes) else nearest
        if node.op_type == "Upsample" or self.opset < 11:
            ctm, nearest = "asymmetric", "floor"

        def source(cs):
            res = [cs[0]]
            for k in range(1, len(fin)):
                s = float(scales[k + 1])
                xo = cs[k].astype(np.float64)
                if ctm == "asymmetric":
                    xi = xo / s
                elif ctm == "half_pixel":
                    xi = (xo + 0.5) / s - 0.5
                elif ctm == "pytorch_half_pixel":
                    xi = (xo + 0.5) / s - 0.5 if out[k] > 1 else np.zeros_like(xo)
                elif ctm == "align_corners":
                    xi = xo * (fin[k] - 1) / (out[k] - 1) if out[k] > 1 else np.zeros_like(xo)
                else:
                    raise _refuse(f"coordinate_transformation_mode={ctm!r}")
                if nearest == "floor":
                    xi = np.floor(xi)
                elif nearest == "ceil":
                    xi = np.ceil(xi)
                elif nearest == "round_prefer_ceil":
                    xi = np.floor(xi + 0.5)
                else:  # round_prefer_floor
                    xi = np.ceil(xi - 0.5)
                res.append(np.clip(xi, 0, fin[k] - 1).astype(np.int64))
            return res
        self._select(node, x, tuple(out), source)

    op_Upsample = op_Resize

    def op_Concat(self, node, a, live):
        if len(live) != len([i for i in node.input if i]):
            raise _refuse("a constant operand; only activations can be concatenated")
        shapes = [self.features[t] for t in live]
        rank = len(shapes[0]) + 1
        axis = int(a.get("axis", 1))
        axis = axis + rank if axis < 0 else axis
        if axis == 0:
            raise _refuse("concatenates along the batch dimension")
        ax = axis - 1
        if any(len(s) != len(shapes[0]) or any(s[k] != shapes[0][k] for k in range(len(s)) if k != ax)
               for s in shapes):
            raise ModelError(f"node '{self.meta['source_name']}' (Concat): input shapes "
                             f"{[list(s) for s in shapes]} differ beyond axis {axis}")
        order = self.order_of(live[0])
        out = list(shapes[0])
        out[ax] = sum(s[ax] for s in shapes)
        out = tuple(out)
        grids = np.meshgrid(*[np.arange(n) for n in out], indexing="ij")
        coords = [g.transpose(order).reshape(-1) for g in grids]
        index = np.full(coords[0].shape, -1, dtype=np.int64)
        offset, start = 0, 0
        for t, s in zip(live, shapes):
            sel = (coords[ax] >= start) & (coords[ax] < start + s[ax])
            pos = _positions(s, self.order_of(t))
            inv = np.empty(pos.size, dtype=np.int64)
            inv[pos] = np.arange(pos.size)
            local = [c[sel] - (start if k == ax else 0) for k, c in enumerate(coords)]
            logical = np.ravel_multi_index(local, s)
            index[sel] = offset + inv[logical]
            offset += pos.size
            start += s[ax]
        self.emit("Concat", list(live), node.output[:1], out, params={"index": index})
        if not trivial(out, order):
            self.order[node.output[0]] = order

    # -- merges of two activations ---------------------------------------------------------------------------------

    def merge(self, node, live, op):
        a_t, b_t = live
        if self.features[a_t] != self.features[b_t]:
            raise _refuse(f"operands of shapes [N, {', '.join(map(str, self.features[a_t]))}] and "
                          f"[N, {', '.join(map(str, self.features[b_t]))}]; merges of activations need equal shapes "
                          f"(no broadcasting)")
        order = self.order_of(a_t)
        b_t = self.stored(b_t, order)
        self.emit("Merge", [a_t, b_t], node.output[:1], self.features[a_t], attrs={"op": op})
        if a_t in self.order:
            self.order[node.output[0]] = order

    def op_Max(self, node, a, live):
        if len(live) != 2 or len(node.input) != 2:
            raise _refuse("only the maximum or minimum of two activations is supported")
        self.merge(node, live, node.op_type.lower())

    op_Min = op_Max
