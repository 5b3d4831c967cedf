"""The streaming architecture (``IOType: io_stream``) as a network of stream stages, planned from the typed graph.

Every tensor travels as a stream of beats in its own flat (golden-model) order. A feature map stored channels-last
is a **pixel stream**: one beat per spatial position, its channels packed (channel ``c`` in bits
``[c*W +: W]``), positions row-major. Any other tensor is a **vector**: one beat holding every element. Stages:

``source``/``sink``
    the top level's AXI4-Stream ports;
``window``
    :class:`rtl_lib.window.WindowGenerator`: line buffers turning a pixel stream into a stream of windows
    (``Conv``, pooling);
``pipe``
    :class:`rtl_lib.streaming.PipelineStream` around the op's own block, built for *one* beat: the convolution
    kernel of one output pixel (a ``Conv`` node whose input is a single window), the pooling tree of one window, an
    element-wise op on one pixel's channels, a merge of two pixels; or, for ops that need the whole tensor
    (``Dense``, ``Softmax``, permutations), the parallel architecture's block on one vector;
``upsample``
    :class:`rtl_lib.window.Upsampler`: nearest-neighbour upsampling by integer factors, one row of memory;
``pad``
    :class:`rtl_lib.window.ZeroPad`: zero pixels inserted around the image (an explicit ``Pad``);
``collect``/``serialize``
    pixels -> vector (:class:`~rtl_lib.streaming.Collector`) and vector -> pixels
    (:class:`~rtl_lib.streaming.Serializer`) where one op's stream meets another's;
``fork``/``fifo``/``join``
    a tensor read by two ops (residual and U-Net branches) is forked; each branch gets a FIFO whose depth the
    schedule sets (:mod:`nn2rtl.stream.schedule`); a two-input op joins its operands beat by beat.

The arithmetic never changes with the architecture: every ``pipe`` runs the op's block, so a stream design computes
the same bits as the parallel design of the same graph, and as the golden model.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from ..errors import UnsupportedOpError
from ..graph import Node, Tensor
from ..ops import REGISTRY
from ..ops.pool import pool_windows

__all__ = ["Stream", "Stage", "Plan", "plan_stream", "ELEMENTWISE"]

#: Graph ops that compute element by element (one pixel's channels at a time in a pixel stream).
ELEMENTWISE = frozenset({"Clip", "Elu", "HardSigmoid", "LeakyRelu", "PRelu", "Quantize", "Relu", "ScaleShift",
                         "Selu", "Sigmoid", "Softplus", "Softsign", "Tanh", "Threshold", "ThresholdedRelu"})
#: Parameters that are not per-element arrays even when their length happens to equal the tensor's size.
_NOT_PER_ELEMENT = frozenset({"table", "exp_table", "inv_table"})


@dataclass
class Stream:
    name: str
    bits: int                 #: payload bits per beat
    beats: int                #: beats per image
    pixels: tuple | None = None   #: spatial shape of a pixel stream (None: a vector or a joined pair)


@dataclass
class Stage:
    name: str
    kind: str
    inputs: list
    outputs: list
    node: str | None = None   #: the graph node it implements (None for glue)
    latency: int = 0
    ii: int = 1
    args: dict = field(default_factory=dict)
    cost: object = None       #: the op's :class:`~nn2rtl.ops.Cost` for the block of one beat


@dataclass
class Plan:
    stages: list
    streams: dict
    in_map: np.ndarray        #: stream element s of an image is input element in_map[s]
    out_map: np.ndarray       #: stream element s of an image is output element out_map[s]
    in_elements: int          #: elements per input beat
    out_elements: int
    in_type: object
    out_type: object

    def stage(self, name):
        return next(s for s in self.stages if s.name == name)


class _View:
    """The part of a graph an op's ``block``/``cost`` reads: the tensors of one node."""

    def __init__(self, tensors):
        self.tensors = tensors


def _refuse(node, why):
    return UnsupportedOpError([(node.attrs.get("source_name", node.name), node.attrs.get("source_op", node.op),
                                f"{why}: not supported by io_stream yet; use IOType io_parallel")])


def _cl_index(shape):
    """Logical ``(C, *spatial)`` flat positions in channels-last storage order: ``index[p*C + c] = c*P + p``."""
    c, p = shape[0], int(np.prod(shape[1:], dtype=np.int64))
    return (np.arange(c)[None, :] * p + np.arange(p)[:, None]).reshape(-1)


class _Planner:
    def __init__(self, graph, elements_per_beat=None):
        self.g = graph
        self.epb = elements_per_beat
        self.stages, self.streams = [], {}
        self.form = {}      # tensor -> ("pixels", spatial, C) | ("vector", n)
        self.stream_of = {}  # (tensor, form kind) -> stream name
        self.counter = 0

    # -- helpers ---------------------------------------------------------------------------------------------

    def new_stream(self, base, bits, beats, pixels=None):
        name = f"s{len(self.streams)}_{base}"
        self.streams[name] = Stream(name, int(bits), int(beats), pixels)
        return name

    def add(self, name, kind, inputs, out_bits, out_beats, pixels=None, **kw):
        out = self.new_stream(name, out_bits, out_beats, pixels)
        st = Stage(f"{kind}{len(self.stages)}_{name}", kind, list(inputs), [out], **kw)
        self.stages.append(st)
        return out

    def width(self, t):
        return self.g.tensors[t].type.width

    def pixels(self, t, spatial, c):
        """The pixel stream of tensor ``t`` (flat order channels-last: ``p*C + c``)."""
        key = (t, "pixels")
        if key in self.stream_of:
            s = self.streams[self.stream_of[key]]
            if tuple(s.pixels) != tuple(spatial):
                raise AssertionError(f"tensor {t} streamed as {s.pixels} and {spatial}")
            return self.stream_of[key]
        vec = self.vector(t)
        p = int(np.prod(spatial, dtype=np.int64))
        s = self.add(f"{_short(t)}_px", "serialize", [vec], c * self.width(t), p, tuple(spatial), args={"n": p})
        self.stream_of[key] = s
        return s

    def vector(self, t):
        key = (t, "vector")
        if key in self.stream_of:
            return self.stream_of[key]
        src = self.stream_of[(t, "pixels")]
        n = self.streams[src].beats
        s = self.add(f"{_short(t)}_vec", "collect", [src], self.g.tensors[t].size * self.width(t), 1,
                     args={"n": n})
        self.stream_of[key] = s
        return s

    def pixel_form(self, t):
        f = self.form.get(t)
        if f and f[0] in ("pixels", "vector_pixels") and int(np.prod(f[1], dtype=np.int64)) > 1:
            return ("pixels", f[1], f[2])
        return None

    def per_pixel(self, node, c_in, c_out, params=None, attrs=None):
        """A copy of ``node`` for one pixel: tensors of ``c_in``/``c_out`` elements."""
        n = Node(node.name, node.op, list(node.inputs), list(node.outputs), copy.deepcopy(attrs or node.attrs),
                 dict(params if params is not None else node.params), dict(node.types))
        tensors = {}
        for t, size in [(x, c_in) for x in node.inputs] + [(x, c_out) for x in node.outputs]:
            tensors[t] = Tensor(t, (size,), self.g.tensors[t].type)
        return n, _View(tensors)

    def pipe(self, node, pnode, view, inputs, out_bits, out_beats, pixels=None, what=""):
        op = REGISTRY[pnode.op]
        cost = op.cost(pnode, view)
        return self.add(_short(node.name) + what, "pipe", inputs, out_bits, out_beats, pixels, node=node.name,
                        latency=cost.latency, ii=cost.ii, cost=cost, args={"pnode": pnode, "view": view})

    # -- the walk --------------------------------------------------------------------------------------------

    def run(self):
        g = self.g
        (tin,) = [g.tensors[t] for t in g.inputs]
        in_map = self.source(tin)
        for node in g.nodes:
            if node.op == "Identity":
                src, dst = node.inputs[0], node.outputs[0]
                self.form[dst] = self.form[src]
                for kind in ("pixels", "vector"):
                    if (src, kind) in self.stream_of:
                        self.stream_of[(dst, kind)] = self.stream_of[(src, kind)]
                continue
            handler = getattr(self, f"op_{node.op}", None)
            if node.op in ELEMENTWISE:
                handler = self.op_elementwise
            if handler is None or not handler(node):
                self.op_vector(node)
        out_map, out_elements, tout = self.sink(g.tensors[g.outputs[0]])
        self.add_forks()
        return Plan(self.stages, self.streams, in_map, out_map, self.in_elements, out_elements, tin.type, tout)

    def source(self, tin):
        shape = tuple(tin.shape)
        consumers = self.g.consumers(tin.name)
        w = tin.type.width
        if len(shape) >= 2 and int(np.prod(shape[1:], dtype=np.int64)) > 1:
            c, spatial = shape[0], shape[1:]
            idx = _cl_index(shape)
            layouts = [n for n in consumers if n.op == "Permute" and np.array_equal(n.params["index"], idx)]
            if c == 1 or (consumers and len(layouts) == len(consumers)):
                s = self.add("input", "source", [], c * w, int(np.prod(spatial)), tuple(spatial))
                self.stages[-1].args["elements"] = c
                self.in_elements = c
                for t in [tin.name] if c == 1 else [n.outputs[0] for n in layouts]:
                    self.form[t] = ("pixels", tuple(spatial), c)
                    self.stream_of[(t, "pixels")] = s
                for n in layouts:
                    n.attrs["stream_absorbed"] = True
                return idx if c > 1 else np.arange(tin.size)
        n = tin.size
        k = min(self.epb or n, n)
        beats = -(-n // k)
        s = self.add("input", "source", [], k * w, beats)
        self.stages[-1].args["elements"] = k
        self.in_elements = k
        if beats > 1:
            s = self.add("input_vec", "collect", [s], beats * k * w, 1, args={"n": beats})
        self.form[tin.name] = ("vector", n)
        self.stream_of[(tin.name, "vector")] = s
        return np.arange(n)

    def sink(self, tout):
        g = self.g
        prod = g.producer(tout.name)
        if prod is not None and prod.op == "Permute" and self.pixel_form(prod.inputs[0]) \
                and (prod.inputs[0], "pixels") in self.stream_of:
            _, spatial, c = self.form[prod.inputs[0]]
            if np.array_equal(prod.params["index"], np.argsort(_cl_index((c, *spatial)))) and \
                    len(g.consumers(prod.inputs[0])) == 1:
                # the output's layout change is the stream's order: drop it (and the vector it made, if unused)
                self.drop_vector_op(prod)
                s = self.stream_of[(prod.inputs[0], "pixels")]
                self.add("output", "sink", [s], 0, 0)
                return _cl_index((c, *spatial)), c, g.tensors[prod.inputs[0]].type
        if self.pixel_form(tout.name) and (tout.name, "pixels") in self.stream_of:
            _, spatial, c = self.form[tout.name]
            self.add("output", "sink", [self.stream_of[(tout.name, "pixels")]], 0, 0)
            return np.arange(tout.size), c, tout.type
        n = tout.size
        k = min(self.epb or n, n)
        beats = -(-n // k)
        s = self.vector(tout.name)
        if beats > 1:
            s = self.add("output_beats", "serialize", [s], k * tout.type.width, beats, args={"n": beats, "pad": True})
        self.add("output", "sink", [s], 0, 0)
        return np.arange(n), k, tout.type

    def drop_vector_op(self, node):
        """Remove the stages built for ``node`` as a vector op (the output layout change the sink absorbs)."""
        mine = [s for s in self.stages if s.node == node.name]
        ins = {i for s in mine for i in s.inputs}
        self.stages = [s for s in self.stages if s.node != node.name]
        for s in mine:
            for o in s.outputs:
                self.streams.pop(o, None)
        # a collect that only fed it goes too
        for name in ins:
            users = [s for s in self.stages if name in s.inputs]
            if not users:
                prod = [s for s in self.stages if name in s.outputs]
                if prod and prod[0].kind == "collect":
                    self.stages.remove(prod[0])
                    self.streams.pop(name, None)
                    for k, v in list(self.stream_of.items()):
                        if v == name:
                            del self.stream_of[k]
        node.attrs["stream_absorbed"] = True

    # -- ops -------------------------------------------------------------------------------------------------

    def op_vector(self, node):
        """Any op on whole tensors: its parallel block on one vector beat (pixels collected first)."""
        g = self.g
        ins = [self.vector_of(t) for t in node.inputs]
        if len(ins) == 2:
            a, b = ins
            ins = [self.add(_short(node.name) + "_join", "join", [a, b],
                            self.streams[a].bits + self.streams[b].bits, 1, node=node.name)]
        elif len(ins) > 2:
            raise _refuse(node, f"{len(ins)} inputs")
        out = node.outputs[0]
        op = REGISTRY[node.op]
        cost = op.cost(node, g)
        s = self.add(_short(node.name), "pipe", ins, g.tensors[out].size * self.width(out), 1, node=node.name,
                     latency=cost.latency, ii=cost.ii, cost=cost, args={"pnode": node, "view": g})
        self.form[out] = ("vector", g.tensors[out].size)
        self.stream_of[(out, "vector")] = s
        node.attrs["stream"] = "vector"
        return True

    def vector_of(self, t):
        return self.vector(t)

    def window(self, node, t, spatial, c, kernel, strides, pads, pad_pixel=0):
        """A window generator over the pixel stream of ``t`` (1-D streams are one row)."""
        if len(spatial) == 1:
            h, w = 1, spatial[0]
            kernel, strides, pads = (1, kernel[0]), (1, strides[0]), (0, pads[0], 0, pads[1])
        else:
            h, w = spatial
            pads = (pads[0], pads[1], pads[2], pads[3])
        src = self.pixels(t, spatial, c)
        kh, kw = kernel
        bits = c * self.width(t)
        top, left, bottom, right = pads
        out_h = (h + top + bottom - kh) // strides[0] + 1
        out_w = (w + left + right - kw) // strides[1] + 1
        return self.add(_short(node.name) + "_win", "window", [src], kh * kw * bits, out_h * out_w, node=node.name,
                        latency=1, args={"height": h, "width": w, "pixel_bits": bits, "kernel": tuple(kernel),
                                         "strides": tuple(strides), "pads": tuple(pads), "pad_pixel": pad_pixel,
                                         "memory_bits": (kh - 1) * (w + left + right) * bits})

    def _spatial_ok(self, node):
        a = node.attrs
        if any(d != 1 for d in a.get("dilations", ())):
            raise _refuse(node, f"dilations {list(a['dilations'])}")
        *spatial, _ = a["in_shape"]
        if len(spatial) > 2:
            raise _refuse(node, f"{len(spatial)} spatial dimensions")

    @staticmethod
    def _stream_pads(a):
        """The pads the window generator walks: the model's, and at the end of each axis the positions a window
        reaches beyond them (pooling's ``ceil_mode``; they are padding that the divisor does not count)."""
        *spatial, _ = a["in_shape"]
        r = len(spatial)
        pads = list(a["pads"])
        for d in range(r):
            out = a["out_shape"][d]
            need = (out - 1) * a["strides"][d] + a["kernel"][d] - spatial[d] - pads[d]
            pads[r + d] = max(pads[r + d], need)
        return tuple(pads)

    def op_Conv(self, node):
        a = node.attrs
        self._spatial_ok(node)
        *spatial, c = a["in_shape"]
        *ospatial, f = a["out_shape"]
        win = self.window(node, node.inputs[0], tuple(spatial), c, a["kernel"], a["strides"], a["pads"])
        attrs = dict(a, in_shape=(*a["kernel"], c), out_shape=(*[1] * len(spatial), f), pads=(0,) * len(a["pads"]),
                     strides=(1,) * len(spatial))
        k = int(np.prod(a["kernel"]))
        pnode, view = self.per_pixel(node, k * c, f, attrs=attrs)
        out = node.outputs[0]
        s = self.pipe(node, pnode, view, [win], f * self.width(out), self.streams[win].beats, tuple(ospatial))
        self.form[out] = ("pixels", tuple(ospatial), f)
        self.stream_of[(out, "pixels")] = s
        node.attrs["stream"] = "pixels"
        return True

    def op_Pool(self, node):
        a = node.attrs
        self._spatial_ok(node)
        *spatial, c = a["in_shape"]
        *ospatial, _ = a["out_shape"]
        tin = node.types["input"]
        mode = a["mode"]
        pad = 0
        if mode == "max":
            mask = (1 << tin.width) - 1
            pad = sum((tin.min_raw & mask) << (k * tin.width) for k in range(c))
        win = self.window(node, node.inputs[0], tuple(spatial), c, a["kernel"], a["strides"], self._stream_pads(a),
                          pad)
        k = int(np.prod(a["kernel"]))
        _, div = pool_windows(a)
        divisors = [int(d) for d in div[::c]]
        attrs = dict(a, in_shape=(*a["kernel"], c), out_shape=(*[1] * len(spatial), c), pads=(0,) * len(a["pads"]),
                     strides=(1,) * len(spatial), count_include_pad=1)
        pnode, view = self.per_pixel(node, k * c, c, attrs=attrs)
        out = node.outputs[0]
        s = self.pipe(node, pnode, view, [win], c * self.width(out), self.streams[win].beats, tuple(ospatial))
        if mode == "avg" and len(set(divisors)) > 1:
            self.stages[-1].args["divisors"] = divisors  # the divisor changes at the border
        self.form[out] = ("pixels", tuple(ospatial), c)
        self.stream_of[(out, "pixels")] = s
        node.attrs["stream"] = "pixels"
        return True

    def _pixel_params(self, node, p, c):
        """The node's per-element parameters for one pixel, or None when they differ from pixel to pixel."""
        n = p * c
        out = {}
        for k, v in node.params.items():
            a = np.asarray(v)
            if k not in _NOT_PER_ELEMENT and a.ndim >= 1 and a.shape[0] == n:
                rows = a.reshape(p, c, *a.shape[1:])
                if not (rows == rows[:1]).all():
                    return None
                out[k] = rows[0]
            else:
                out[k] = v
        return out

    def op_elementwise(self, node):
        t = node.inputs[0]
        f = self.pixel_form(t)
        if not f:
            return False
        _, spatial, c = f
        params = self._pixel_params(node, int(np.prod(spatial)), c)
        if params is None:
            return False
        pnode, view = self.per_pixel(node, c, c, params=params)
        out = node.outputs[0]
        src = self.pixels(t, spatial, c)
        s = self.pipe(node, pnode, view, [src], c * self.width(out), self.streams[src].beats, tuple(spatial))
        self.form[out] = ("pixels", tuple(spatial), c)
        self.stream_of[(out, "pixels")] = s
        node.attrs["stream"] = "pixels"
        return True

    def op_Merge(self, node):
        fa, fb = (self.pixel_form(t) for t in node.inputs)
        if not fa or fa != fb:
            return False
        _, spatial, c = fa
        a, b = (self.pixels(t, spatial, c) for t in node.inputs)
        j = self.add(_short(node.name) + "_join", "join", [a, b], self.streams[a].bits + self.streams[b].bits,
                     self.streams[a].beats, tuple(spatial), node=node.name)
        pnode, view = self.per_pixel(node, c, c)
        out = node.outputs[0]
        s = self.pipe(node, pnode, view, [j], c * self.width(out), self.streams[a].beats, tuple(spatial))
        self.form[out] = ("pixels", tuple(spatial), c)
        self.stream_of[(out, "pixels")] = s
        node.attrs["stream"] = "pixels"
        return True

    def op_Concat(self, node):
        forms = [self.pixel_form(t) for t in node.inputs]
        if len(forms) != 2 or not all(forms) or forms[0][1] != forms[1][1]:
            return False
        spatial = forms[0][1]
        ca, cb = forms[0][2], forms[1][2]
        p = int(np.prod(spatial))
        # a concatenation of channels pixel by pixel: out[q*(ca+cb) + j] = a[q*ca + j] or b[q*cb + j - ca]
        q = np.arange(p)[:, None]
        want = np.concatenate([q * ca + np.arange(ca)[None, :], p * ca + q * cb + np.arange(cb)[None, :]], axis=1)
        if not np.array_equal(np.asarray(node.params["index"]), want.reshape(-1)):
            return False
        a, b = (self.pixels(t, spatial, f[2]) for t, f in zip(node.inputs, forms))
        j = self.add(_short(node.name) + "_join", "join", [a, b], self.streams[a].bits + self.streams[b].bits, p,
                     tuple(spatial), node=node.name)
        pnode, _ = self.per_pixel(node, 0, ca + cb, params={"index": np.arange(ca + cb)})
        tensors = {node.inputs[0]: Tensor(node.inputs[0], (ca,), self.g.tensors[node.inputs[0]].type),
                   node.inputs[1]: Tensor(node.inputs[1], (cb,), self.g.tensors[node.inputs[1]].type),
                   node.outputs[0]: Tensor(node.outputs[0], (ca + cb,), self.g.tensors[node.outputs[0]].type)}
        out = node.outputs[0]
        s = self.pipe(node, pnode, _View(tensors), [j], (ca + cb) * self.width(out), p, tuple(spatial))
        self.form[out] = ("pixels", tuple(spatial), ca + cb)
        self.stream_of[(out, "pixels")] = s
        node.attrs["stream"] = "pixels"
        return True

    def op_Permute(self, node):
        t = node.inputs[0]
        if node.attrs.get("stream_absorbed"):
            return True  # the input's layout change: the source already streams channels-last
        f = self.pixel_form(t)
        idx = np.asarray(node.params["index"])
        if f and (self.upsample(node, f, idx) or self.zero_pad(node, f, idx)):
            return True
        if f:
            # another selection of whole pixels keeps pixels; computed on the collected vector
            _, spatial, c = f
            if idx.size % c == 0:
                rows = idx.reshape(-1, c)
                src = rows[:, :1] // c
                whole = np.where(rows[:, :1] < 0, (rows < 0).all(axis=1, keepdims=True),
                                 (rows == src * c + np.arange(c)[None, :]).all(axis=1, keepdims=True))
                if whole.all():
                    self.op_vector(node)
                    out_shape = self.g.tensors[node.outputs[0]].shape
                    if len(out_shape) >= 2 and out_shape[0] == c:
                        self.form[node.outputs[0]] = ("vector_pixels", tuple(out_shape[1:]), c)
                    return True
        return False

    def _selection_dims(self, node, form):
        """``(h, w, oh, ow, c, out spatial)`` of a pixel selection from ``form`` (1-D as one row), or None."""
        _, spatial, c = form
        out_shape = tuple(self.g.tensors[node.outputs[0]].shape)
        if len(out_shape) != len(spatial) + 1 or out_shape[0] != c or len(spatial) > 2:
            return None
        h, w = (1, spatial[0]) if len(spatial) == 1 else spatial
        oh, ow = (1, out_shape[1]) if len(spatial) == 1 else out_shape[1:]
        return h, w, oh, ow, c, out_shape[1:]

    def _pixel_stage(self, node, form, kind, pixels_out, args):
        """A stage of ``kind`` from the pixel stream of ``node``'s input to that of its output."""
        _, spatial, c = form
        t, out = node.inputs[0], node.outputs[0]
        bits = c * self.width(t)
        s = self.add(_short(node.name), kind, [self.pixels(t, spatial, c)], bits,
                     int(np.prod(pixels_out, dtype=np.int64)), pixels_out, node=node.name,
                     args={"pixel_bits": bits, **args})
        self.form[out] = ("pixels", pixels_out, c)
        self.stream_of[(out, "pixels")] = s
        node.attrs["stream"] = "pixels"
        return True

    def upsample(self, node, form, idx):
        """Nearest-neighbour upsampling by integer factors (each output pixel reads input pixel
        ``(y // sy, x // sx)``): an :class:`~rtl_lib.window.Upsampler` with one row of memory."""
        dims = self._selection_dims(node, form)
        if dims is None or dims[2] % dims[0] or dims[3] % dims[1]:
            return False
        h, w, oh, ow, c, pixels_out = dims
        sy, sx = oh // h, ow // w
        y, x = np.divmod(np.arange(oh * ow), ow)
        want = (((y // sy) * w + x // sx)[:, None] * c + np.arange(c)[None, :]).reshape(-1)
        if not np.array_equal(idx, want):
            return False
        bits = c * self.width(node.inputs[0])
        return self._pixel_stage(node, form, "upsample", pixels_out, {
            "height": h, "width": w, "sy": sy, "sx": sx, "memory_bits": w * bits if sy > 1 else 0})

    def zero_pad(self, node, form, idx):
        """Zero padding of the spatial axes (an output pixel reads input pixel ``(y - top, x - left)`` or zero): a
        :class:`~rtl_lib.window.ZeroPad`."""
        dims = self._selection_dims(node, form)
        if dims is None:
            return False
        h, w, oh, ow, c, pixels_out = dims
        inside = idx.reshape(oh * ow, c)[:, 0] >= 0
        if not inside.any():
            return False
        top, left = divmod(int(np.flatnonzero(inside)[0]), ow)
        bottom, right = oh - h - top, ow - w - left
        if min(bottom, right) < 0:
            return False
        y, x = np.divmod(np.arange(oh * ow), ow)
        ins = (y >= top) & (y < top + h) & (x >= left) & (x < left + w)
        src = np.where(ins, (y - top) * w + (x - left), -1)
        want = np.where(ins[:, None], src[:, None] * c + np.arange(c)[None, :], -1).reshape(-1)
        if not np.array_equal(idx, want):
            return False
        return self._pixel_stage(node, form, "pad", pixels_out, {
            "height": h, "width": w, "pads": (top, left, bottom, right)})

    # -- branches --------------------------------------------------------------------------------------------

    def add_forks(self):
        """A stream read by several stages: a chain of forks, a FIFO on every branch (depth from the schedule)."""
        for name in list(self.streams):
            users = [(s, k) for s in self.stages for k, i in enumerate(s.inputs) if i == name]
            if len(users) < 2:
                continue
            st = self.streams[name]
            cur = name
            for n, (s, k) in enumerate(users[:-1]):
                a = self.new_stream(f"{name}_b{n}", st.bits, st.beats, st.pixels)
                rest = self.new_stream(f"{name}_r{n}", st.bits, st.beats, st.pixels)
                self.stages.insert(self._index_after(cur), Stage(f"fork{len(self.stages)}_{name}", "fork", [cur],
                                                                 [a, rest]))
                f = self.new_stream(f"{name}_f{n}", st.bits, st.beats, st.pixels)
                self.stages.insert(self._index_after(a), Stage(f"fifo{len(self.stages)}_{name}_{n}", "fifo", [a],
                                                               [f]))
                s.inputs[k] = f
                cur = rest
            s, k = users[-1]
            f = self.new_stream(f"{name}_f{len(users) - 1}", st.bits, st.beats, st.pixels)
            self.stages.insert(self._index_after(cur), Stage(f"fifo{len(self.stages)}_{name}_{len(users) - 1}", "fifo",
                                                             [cur], [f]))
            s.inputs[k] = f

    def _index_after(self, stream):
        for k, s in enumerate(self.stages):
            if stream in s.outputs:
                return k + 1
        raise AssertionError(stream)


def _short(name):
    return "".join(ch if ch.isalnum() else "_" for ch in str(name))[:40]


def plan_stream(graph, elements_per_beat=None):
    """The stage network of ``graph`` in the streaming architecture (see the module docstring)."""
    return _Planner(graph, elements_per_beat).run()
