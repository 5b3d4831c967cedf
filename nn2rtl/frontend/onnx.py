"""ONNX front end: an ONNX model file becomes a float :class:`~nn2rtl.graph.Graph`.

The importer walks the graph once, in order (:class:`_Importer`, one ``op_<Type>`` method per ONNX op):

* **constant folding**: a node whose inputs are all constants is evaluated (ONNX's reference evaluator; QONNX
  ``Quant``/``BipolarQuant`` and ``QuantizeLinear``/``DequantizeLinear`` by our own exact code), and ``Shape``/``Size``
  of an activation read its static shape, so ``Shape -> Gather -> Unsqueeze -> Concat -> Reshape`` chains become
  constants; a symbolic batch reads as 1;
* **relabelling**: ``Identity``, ``Dropout``, float ``Cast``, ``Flatten``, ``Reshape``, ``Squeeze``, ``Unsqueeze`` and
  ``Transpose`` that only move size-1 axes keep the row-major data and are removed by :mod:`nn2rtl.passes`;
* **layers**: ``Gemm``/``MatMul`` by constant weights -> ``Dense``; ``Add``/``Sub``/``Mul``/``Div`` by a constant and
  ``BatchNormalization`` -> ``ScaleShift`` (fused into a neighbouring ``Dense`` by the passes where that is exact or
  the weights are float); the activations and ``Softmax`` of :mod:`nn2rtl.ops.activation`/``softmax``;
* **quantisation**: QONNX ``Quant`` (any bit width, signed or not, narrow, zero point, the rounding modes with an
  ``ap_fixed`` equivalent) and ``Trunc``, and ONNX ``QuantizeLinear`` -> ``DequantizeLinear`` pairs on activations
  become ``Quantize`` nodes when the scale is a power of two; on constants they are folded exactly, and a weight
  scale that is not a power of two is factored out of the weights into a ``ScaleShift`` after the sum.

Every node that cannot be translated is recorded with the reason; :class:`UnsupportedOpError` names them all at once.
:func:`inspect_onnx` returns the per-node table ``nn2rtl inspect`` prints.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import ModelError, UnsupportedOpError
from ..fixed import QONNX_ROUNDING as _QONNX_NUMPY_ROUNDING
from ..fixed import Rounding, exact_type
from ..graph import Graph, Node, Tensor, sanitize_name
from .cnn import LAYOUT_AWARE, PROPAGATES_LAYOUT, CnnOps

__all__ = ["load_model", "import_onnx", "inspect_onnx", "preflight", "SUPPORTED_OPS", "MIN_OPSET", "MAX_OPSET",
           "QONNX_DOMAINS"]

#: The semantics of every supported op are unchanged from opset 6 up to the newest opset this onnx package
#: knows (tested: 6 to 21); Reshape's allowzero (opset 14) is rejected when it matters.
MIN_OPSET = 6
MAX_OPSET = max(23, __import__("onnx").defs.onnx_opset_version())
#: Element-wise activations: ONNX op -> (graph op, attributes with their ONNX defaults).
ACTIVATIONS = {
    "Relu": ("Relu", {}), "Sigmoid": ("Sigmoid", {}), "Tanh": ("Tanh", {}), "Softplus": ("Softplus", {}),
    "Softsign": ("Softsign", {}), "LeakyRelu": ("LeakyRelu", {"alpha": 0.01}),
    "ThresholdedRelu": ("ThresholdedRelu", {"alpha": 1.0}), "Elu": ("Elu", {"alpha": 1.0}),
    "Selu": ("Selu", {"alpha": 1.67326319217681884765625, "gamma": 1.05070102214813232421875}),
    "HardSigmoid": ("HardSigmoid", {"alpha": 0.2, "beta": 0.5}),
}
#: Domains whose ``Quant``, ``BipolarQuant`` and ``Trunc`` follow QONNX's definitions.
QONNX_DOMAINS = ("qonnx.custom_op.general", "finn.custom_op.general", "onnx.brevitas", "qonnx")
#: Ops translated on activations (any standard op whose inputs are all constants is folded as well).
SUPPORTED_OPS = tuple(sorted(("Add", "AveragePool", "BatchNormalization", "BipolarQuant", "Cast", "Clip", "Concat",
                              "Constant", "Conv", "DequantizeLinear", "Div", "Dropout", "Flatten", "Gemm",
                              "GlobalAveragePool", "GlobalMaxPool", "Identity", "MatMul", "Max", "MaxPool", "Min",
                              "Mul", "PRelu", "Pad", "Quant", "QuantizeLinear", "ReduceMax", "ReduceMean",
                              "Reshape", "Resize", "Shape", "Size",
                              "Softmax", "Squeeze", "Sub", "Transpose", "Trunc", "Unsqueeze", "Upsample")
                             + tuple(ACTIVATIONS)))


def load_model(path):
    """Read and check an ONNX file; every failure is a one-line :class:`ModelError`.

    Tensors stored as external data are read only from files inside the model's own folder: a location that is
    absolute, climbs out with ``..`` or resolves (through links) outside the folder is refused before any file is
    opened. Then ``onnx.checker`` and ONNX shape inference run; an inconsistent model is refused here.
    """
    import onnx
    from google.protobuf.message import DecodeError
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ModelError(f"cannot read model {str(path)!r}: {e.strerror}") from None
    if not data:
        raise ModelError(f"model {str(path)!r} is empty")
    try:
        model = onnx.load_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as e:
        raise ModelError(f"model {str(path)!r} is not a valid ONNX file (truncated or corrupt?): "
                         f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    if len(model.graph.node) == 0 and len(model.graph.input) == 0:
        raise ModelError(f"model {str(path)!r} is not a valid ONNX file: it holds no graph")
    _check_names(model, path)
    _load_external(model, os.path.dirname(os.path.abspath(path)), path)
    _add_custom_imports(model)
    _check(model, path)
    return model


def _add_custom_imports(model):
    """Import version 1 of every custom operator domain the nodes use but the model does not import.

    QONNX exporters (Brevitas, the QKeras converter, FINN) write ``Quant``/``BipolarQuant``/``Trunc`` in their own
    domains and often import no opset for them; the QONNX executor, FINN and hls4ml read such a node as version 1
    of its domain. ``onnx.checker`` refuses the file instead, so the import is added (in memory) before the check;
    everything else the checker finds is still refused.
    """
    imported = {imp.domain for imp in model.opset_import}
    used = sorted({n.domain for n in model.graph.node if n.domain not in ("", "ai.onnx")} - imported)
    for domain in used:
        imp = model.opset_import.add()
        imp.domain, imp.version = domain, 1


def _tensor_array(t):
    """An initializer's values; a tensor whose data does not fit its shape and type (a corrupt file) is a
    one-line :class:`ModelError`."""
    from onnx import numpy_helper
    try:
        return numpy_helper.to_array(t)
    except (ValueError, TypeError, KeyError, NotImplementedError) as e:
        raise ModelError(f"initializer '{t.name}' is corrupt: its data does not match its shape {list(t.dims)} "
                         f"and type ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None


def _check_names(model, path):
    """Every name and op type must be text: protobuf hands back undecodable bytes (a corrupt file) as ``bytes``."""
    g = model.graph
    texts = [g.name, *(n.name for n in g.node), *(n.op_type for n in g.node), *(n.domain for n in g.node),
             *(x for n in g.node for x in (*n.input, *n.output)), *(a.name for n in g.node for a in n.attribute),
             *(t.name for t in g.initializer), *(v.name for v in (*g.input, *g.output, *g.value_info)),
             *(o.domain for o in model.opset_import)]
    for t in texts:
        if not isinstance(t, str):
            raise ModelError(f"model {str(path)!r} is corrupt: the name {bytes(t)[:40]!r} is not valid UTF-8 text")


def _load_external(model, base, path):
    from onnx import external_data_helper as ext
    tensors = [t for t in ext._get_all_tensors(model) if ext.uses_external_data(t)]
    if not tensors:
        return
    root = os.path.realpath(base)
    for t in tensors:
        info = {e.key: e.value for e in t.external_data}
        loc = info.get("location", "")
        full = os.path.realpath(os.path.join(root, loc))
        if (not loc or os.path.isabs(loc) or ".." in loc.replace("\\", "/").split("/")
                or os.path.commonpath([root, full]) != root):
            raise ModelError(f"model {str(path)!r}: tensor '{t.name}' points to external data {loc!r} outside the "
                             f"model's folder; nn2rtl reads external data only from files beside the model")
        if not os.path.exists(full):
            raise ModelError(f"model {str(path)!r}: external data file {loc!r} of tensor '{t.name}' is missing")
        if not os.path.isfile(full):  # a FIFO or a device would block or never end
            raise ModelError(f"model {str(path)!r}: external data {loc!r} of tensor '{t.name}' is not a regular "
                             f"file")
        size = os.path.getsize(full)
        try:
            offset = int(info.get("offset", 0))
            length = int(info.get("length", size - offset))
        except ValueError:
            raise ModelError(f"model {str(path)!r}: tensor '{t.name}' has a non-numeric external data offset or "
                             f"length") from None
        if offset < 0 or length < 0 or offset + length > size:
            raise ModelError(f"model {str(path)!r}: tensor '{t.name}' reads beyond the end of {loc!r}")
        declared = int(np.prod([int(d) for d in t.dims], dtype=object)) if t.dims else 1
        if max(declared, length // 8) > MAX_CONSTANT_ELEMENTS:  # refused before a byte is read
            raise ModelError(f"model {str(path)!r}: tensor '{t.name}' declares {declared} elements in {length} "
                             f"bytes of external data, more than the {MAX_CONSTANT_ELEMENTS} elements nn2rtl reads")
    try:
        ext.load_external_data_for_model(model, root)
    except (OSError, ValueError) as e:
        raise ModelError(f"model {str(path)!r}: cannot read its external data: {e}") from None


def _check(model, what):
    import onnx
    try:
        onnx.checker.check_model(model)
    except Exception as e:  # onnx raises several exception types for a malformed graph
        raise ModelError(f"model {str(what)!r} is malformed: {str(e).strip().splitlines()[0]}") from None
    try:
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=False)
    except Exception as e:  # InferenceError and friends
        raise ModelError(f"model {str(what)!r} has inconsistent shapes or types: "
                         f"{str(e).strip().splitlines()[0]}") from None


def _opset(model):
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return imp.version
    raise ModelError("the model imports no version of the default ONNX operator set")


def _attrs(node):
    """A node's attributes as Python values (string attributes decoded)."""
    import onnx
    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        out[a.name] = v.decode("utf-8", "replace") if isinstance(v, bytes) else v
    return out


def _node_name(node, index):
    return node.name or f"{node.op_type}_{index}"


def _dims(value_info, what):
    t = value_info.type
    if not t.HasField("tensor_type"):
        raise ModelError(f"{what} '{value_info.name}' is not a tensor")
    import onnx
    if t.tensor_type.elem_type not in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16,
                                       onnx.TensorProto.BFLOAT16):
        raise ModelError(f"{what} '{value_info.name}' is not a floating-point tensor")
    if not t.tensor_type.HasField("shape"):
        raise ModelError(f"{what} '{value_info.name}' has no shape; export the model with a static input shape")
    return [d.dim_value if d.HasField("dim_value") else None for d in t.tensor_type.shape.dim]


class _Refuse(Exception):
    """A node nn2rtl cannot translate; collected, so that every such node is named at once."""


#: Ops that only move or relabel data: a constant made of quantised constants by them is still on their grid.
_MOVES = ("Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Gather", "Slice", "Concat",
          "Expand", "Tile", "Cast")
#: QONNX rounding modes -> ap_fixed rounding (CEIL and UP have no ap_fixed equivalent).
_QONNX_ROUNDING = {"ROUND": Rounding.RND_CONV, "HALF_EVEN": Rounding.RND_CONV, "FLOOR": Rounding.TRN,
                   "DOWN": Rounding.TRN_ZERO, "HALF_UP": Rounding.RND_INF, "HALF_DOWN": Rounding.RND_ZERO}
#: ONNX integer element types of QuantizeLinear outputs: (min, max).
_INT_RANGES = {"UINT8": (0, 255), "INT8": (-128, 127), "UINT16": (0, 65535), "INT16": (-32768, 32767),
               "UINT4": (0, 15), "INT4": (-8, 7), "INT32": (-(1 << 31), (1 << 31) - 1)}
#: A quantiser whose scale is not a power of two becomes comparisons (nn2rtl.ops.threshold): at most this many.
MAX_THRESHOLD_LEVELS = 4095
#: Constants beyond this many elements are refused before anything is evaluated.
MAX_CONSTANT_ELEMENTS = 1 << 26


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


class _Importer(CnnOps):
    """Walks the ONNX graph once, in order: constant sub-graphs are evaluated (folded), activations become graph
    nodes, and every node that cannot be translated is recorded with the reason (nothing stops at the first)."""

    def __init__(self, model):
        self.model, self.opset = model, _opset(model)
        g = model.graph
        for init in g.initializer:
            n = int(np.prod(init.dims, dtype=np.int64))
            if n > MAX_CONSTANT_ELEMENTS:
                raise ModelError(f"initializer '{init.name}' holds {n} values; nn2rtl refuses constants of more "
                                 f"than {MAX_CONSTANT_ELEMENTS} (a model this size cannot fit an FPGA fabric)")
        self.consts = {init.name: _tensor_array(init) for init in g.initializer}
        self.qconsts = set()   # constants on a quantisation grid (outputs of Quant/DequantizeLinear, moved)
        self.features = {}     # live tensor -> shape without the batch dimension (the model's logical shape)
        self.order = {}        # live tensor -> storage axis order, where it is not the logical row-major one
        self.broken = set()    # outputs of nodes that could not be translated
        self.broken_const = set()  # ... of which those that would have been constants
        self.pending_q = {}    # QuantizeLinear outputs -> (scale, zero point), awaiting their DequantizeLinear
        self.nodes, self.problems, self.rows, self.used = [], [], [], set()
        self.quantized = False
        self.batch = None
        self.inputs, self.input_errors = [], []
        for vi in g.input:
            if vi.name in self.consts:
                continue  # an initializer listed as an input (opset < 9 exporters)
            dims = _dims(vi, "input")
            # a bad input shape is reported after the walk, unless untranslatable nodes are reported instead
            if len(dims) < 2:
                self.input_errors.append(f"input '{vi.name}' has shape {dims}; expected [batch, features...]")
            elif any(d is None or d <= 0 for d in dims[1:]):
                self.input_errors.append(f"input '{vi.name}' has shape {dims}: every dimension but the batch must "
                                         f"be fixed")
            self.features[vi.name] = tuple(d or 1 for d in dims[1:])
            self.batch = dims[0]  # None when symbolic; exporters with a static batch repeat it in Reshape targets
            self.inputs.append(vi.name)
        if not self.inputs:
            raise ModelError("the model has no inputs")

    def graph(self):
        """The float graph the walk built (call after :meth:`run`, when nothing was refused)."""
        if self.input_errors:
            raise ModelError(self.input_errors[0])
        tensors = {t: Tensor(t, s) for t, s in self.features.items()}
        outputs = [o.name for o in self.model.graph.output]
        for o in outputs:
            if o not in tensors:
                raise ModelError(f"graph output '{o}' is not computed from the inputs (a constant output?)")
        g = Graph(sanitize_name(self.model.graph.name, "model"), self.inputs, outputs, self.nodes, tensors)
        g.meta["quantized"] = self.quantized
        return g.verify()

    # -- helpers ---------------------------------------------------------------------------------------------------

    def fresh(self, name):
        base, k = name, 1
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.used.add(name)
        return name

    def const(self, name, what):
        if name not in self.consts:
            raise _Refuse(f"{what} must be a constant")
        return self.consts[name]

    def emit(self, op, inputs, outputs, features, attrs=None, params=None, types=None):
        name = self.fresh(self.cur_name if not self.emitted else f"{self.cur_name}_{op.lower()}")
        self.emitted += 1
        if op in PROPAGATES_LAYOUT and len(inputs) == 1 and inputs[0] in self.order:
            params = self.layout_params(inputs, params or {})  # element-wise: keeps the input's storage order
            for o in outputs:
                self.order[o] = self.order[inputs[0]]
        self.nodes.append(Node(name, op, list(inputs), list(outputs), {**self.meta, **(attrs or {})},
                               dict(params or {}), dict(types or {})))
        for o in outputs:
            self.features[o] = tuple(features)
        return name

    # -- the walk --------------------------------------------------------------------------------------------------

    def run(self):
        for idx, node in enumerate(self.model.graph.node):
            src = _node_name(node, idx)
            op = node.op_type
            kind = op if node.domain in ("", "ai.onnx") else (op if node.domain in QONNX_DOMAINS else None)
            status = None
            if any(i in self.broken for i in node.input if i):
                self.broken.update(o for o in node.output if o)
                if kind in ("Shape", "Size") or all(i in self.consts or i in self.broken_const
                                                    for i in node.input if i):
                    # a shape computation downstream of an untranslated node: it would have been folded
                    self.broken_const.update(o for o in node.output if o)
                    self.rows.append((src, op, "-", "not evaluated (its input is not translated)"))
                elif kind is None or not hasattr(self, f"op_{kind}"):  # still name every unknown op at once
                    why = f"custom domain '{node.domain}'" if kind is None else ""
                    self.problems.append((src, op if kind else f"{node.domain}.{op}", why))
                    self.rows.append((src, op, "-", "UNSUPPORTED" + (f": {why}" if why else "")))
                else:
                    self.rows.append((src, op, "-", "not translated (its input is not)"))
                continue
            self.cur_name, self.emitted = sanitize_name(src, f"{op}_{idx}"), 0
            self.meta = {"source_name": src, "source_op": op}
            try:
                if kind is None:
                    raise _Refuse(f"custom domain '{node.domain}'")
                if any(a.g.ByteSize() or len(a.graphs) for a in node.attribute):
                    raise _Refuse("control flow (a subgraph) has no fixed-latency hardware form; unroll or remove "
                                  "it before export")
                live = [i for i in node.input if i and i not in self.consts]
                for i in live:
                    if i not in self.features:
                        raise ModelError(f"node '{src}' ({op}) reads '{i}', which is not produced before it")
                    if i in self.pending_q and kind not in ("DequantizeLinear", "Clip"):
                        raise _Refuse(f"reads the integer output of QuantizeLinear '{i}'; only QuantizeLinear -> "
                                      f"DequantizeLinear pairs (the QDQ format) are supported, not QOperator ops "
                                      f"(re-export with QuantFormat.QDQ)")
                if not live and kind != "Constant" and node.input:
                    self.fold(node, kind)
                    status = "folded (constant)"
                elif kind in ("Shape", "Size"):
                    self.fold_shape(node, kind)
                    status = "folded (static shape)"
                else:
                    handler = getattr(self, f"op_{kind}", None)
                    if handler is None:
                        raise _Refuse("")
                    if kind not in LAYOUT_AWARE:  # the op reads its inputs in the model's own order
                        node, live = self.with_logical_inputs(node, live)
                    handler(node, _attrs(node), live)
                    last = self.nodes[-1].op if self.emitted else None
                    status = ("folded (constant)" if kind == "Constant" else
                              "removed (relabels the data)" if last in ("Identity", "Reshape") else "ok")
            except _Refuse as e:
                self.problems.append((src, op if node.domain in ("", "ai.onnx") else f"{node.domain}.{op}",
                                      str(e)))
                self.broken.update(o for o in node.output if o)
                status = "UNSUPPORTED" + (f": {e}" if str(e) else "")
            shape = self.describe(node.output[0]) if node.output else "-"
            self.rows.append((src, op, shape, status))
        if not self.problems:
            self.logical_outputs()
        for o in self.model.graph.output:
            if o.name in self.pending_q:
                self.problems.append((o.name, "QuantizeLinear", "a graph output is the integer output of a "
                                      "QuantizeLinear; end the graph with its DequantizeLinear"))
        return self

    def describe(self, t):
        if t in self.features:
            return "[N, " + ", ".join(map(str, self.features[t])) + "]" if self.features[t] else "[N]"
        if t in self.consts:
            return "const " + str(list(np.shape(self.consts[t])))
        return "-"

    # -- constant folding ------------------------------------------------------------------------------------------

    def fold(self, node, kind):
        ins = [self.consts[i] if i else None for i in node.input]
        own = getattr(self, f"fold_{kind}", None)
        if own is not None:
            outs = own(node, _attrs(node), ins)
            self.qconsts.add(node.output[0])
        else:
            from onnx.reference import ReferenceEvaluator
            try:
                ev = ReferenceEvaluator(node, opsets={"": self.opset})
                outs = ev.run(None, {i: v for i, v in zip(node.input, ins) if i})
            except Exception as e:  # the reference evaluator raises many types
                raise _Refuse(f"cannot evaluate this constant expression: {str(e).splitlines()[0][:200]}") from None
            if kind in _MOVES and all(i in self.qconsts for i in node.input[:1] if i):
                self.qconsts.update(o for o in node.output if o)
        for o, v in zip(node.output, outs):
            if o:
                self.consts[o] = np.asarray(v)

    def fold_shape(self, node, kind):
        x = node.input[0]
        full = np.array([self.batch if self.batch else 1, *self.features[x]], dtype=np.int64)
        if kind == "Size":
            self.consts[node.output[0]] = np.array(np.prod(full), dtype=np.int64)
            return
        a = _attrs(node)
        rank = len(full)
        start, end = a.get("start", 0), a.get("end", rank)
        start, end = (start + rank if start < 0 else start), (end + rank if end < 0 else end)
        self.consts[node.output[0]] = full[max(0, start):min(rank, end)]

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

    # -- activations -----------------------------------------------------------------------------------------------

    def op_Constant(self, node, a, live):
        if "value" in a:
            v = _tensor_array(a["value"])
        elif "value_float" in a or "value_floats" in a:
            v = np.array(a.get("value_float", a.get("value_floats")), dtype=np.float32)
        elif "value_int" in a or "value_ints" in a:
            v = np.array(a.get("value_int", a.get("value_ints")), dtype=np.int64)
        else:
            raise _Refuse("a Constant without a numeric value")
        self.consts[node.output[0]] = v

    def op_Identity(self, node, a, live):
        self.emit("Identity", live[:1], node.output[:1], self.features[live[0]])

    def op_Dropout(self, node, a, live):
        if len(node.input) > 2 and node.input[2] and bool(np.asarray(self.consts.get(node.input[2], 0)).any()):
            raise _Refuse("training_mode=true")
        if len(node.output) > 1 and node.output[1]:
            raise _Refuse("the dropout mask output is used")
        self.op_Identity(node, a, live)

    def op_Cast(self, node, a, live):
        import onnx
        if a.get("to") not in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16):
            raise _Refuse("a cast of an activation to a non-float type")
        self.op_Identity(node, a, live)

    def relabel(self, node, live, shape):
        fin = self.features[live[0]]
        if int(np.prod(shape, dtype=np.int64)) != int(np.prod(fin, dtype=np.int64)):
            raise ModelError(f"node '{self.meta['source_name']}' ({node.op_type}): cannot reshape {list(fin)} "
                             f"to {list(shape)}")
        self.emit("Reshape", live[:1], node.output[:1], shape)

    def op_Flatten(self, node, a, live):
        fin = self.features[live[0]]
        axis = a.get("axis", 1)
        axis = axis + len(fin) + 1 if axis < 0 else axis
        if axis == 0 or int(np.prod(fin[:axis - 1], dtype=np.int64)) != 1:
            raise _Refuse(f"axis={a.get('axis', 1)} folds features into the batch dimension")
        self.relabel(node, live, (int(np.prod(fin, dtype=np.int64)),))

    def op_Reshape(self, node, a, live):
        if len(node.input) >= 2:
            shape = [int(v) for v in np.asarray(self.const(node.input[1], "the target shape")).reshape(-1)]
        elif "shape" in a:
            shape = list(a["shape"])
        else:
            raise _Refuse("no target shape")
        if a.get("allowzero", 0) and 0 in shape:
            raise _Refuse("allowzero=1 with a zero in the target shape")
        self.relabel(node, live, _reshape_features(self.features[live[0]], shape, self.meta["source_name"],
                                                   self.batch))

    def _axes(self, node, a, rank):
        if len(node.input) > 1 and node.input[1]:
            axes = [int(v) for v in np.asarray(self.const(node.input[1], "the axes")).reshape(-1)]
        else:
            axes = a.get("axes")
        return None if axes is None else sorted(ax + rank if ax < 0 else ax for ax in axes)

    def op_Squeeze(self, node, a, live):
        fin = self.features[live[0]]
        axes = self._axes(node, a, len(fin) + 1)
        if axes is None:
            axes = [k + 1 for k, d in enumerate(fin) if d == 1]
        if 0 in axes:
            raise _Refuse("squeezes the batch dimension")
        if any(fin[ax - 1] != 1 for ax in axes):
            raise ModelError(f"node '{self.meta['source_name']}' (Squeeze): axes {axes} of [N, "
                             f"{', '.join(map(str, fin))}] are not all of size 1")
        self.relabel(node, live, tuple(d for k, d in enumerate(fin) if k + 1 not in axes))

    def op_Unsqueeze(self, node, a, live):
        fin = self.features[live[0]]
        axes = self._axes(node, a, len(fin) + 1 + len(a.get("axes", [])) +
                          (np.asarray(self.consts.get(node.input[1], [])).size if len(node.input) > 1 else 0))
        if not axes or 0 in axes:
            raise _Refuse("unsqueezes before the batch dimension")
        out = list(fin)
        for ax in axes:
            out.insert(ax - 1, 1)
        self.relabel(node, live, tuple(out))

    def op_Gemm(self, node, a, live):
        if node.input[0] in self.consts or len(node.input) < 2:
            raise _Refuse("input A must be an activation")
        b = np.asarray(self.const(node.input[1], "weights B"), dtype=np.float64)
        if a.get("transA", 0):
            raise _Refuse("transA=1 on a batched activation")
        if b.ndim != 2:
            raise _Refuse(f"weights of rank {b.ndim}; expected a matrix")
        w = (b.T if a.get("transB", 0) else b) * float(a.get("alpha", 1.0))
        bias = None
        if len(node.input) > 2 and node.input[2]:
            c = np.asarray(self.const(node.input[2], "bias C"), dtype=np.float64) * float(a.get("beta", 1.0))
            bias = _broadcast_bias(c, w.shape[1], self.meta["source_name"], "Gemm")
        exact = node.input[1] in self.qconsts and float(a.get("alpha", 1.0)) == 1.0
        bias_exact = bias is not None and node.input[2] in self.qconsts and float(a.get("beta", 1.0)) == 1.0
        self.dense(node, live, w, bias, exact, bias_exact)

    def op_MatMul(self, node, a, live):
        if node.input[0] not in live or node.input[1] in live:
            raise _Refuse("only activation @ constant weights is supported")
        w = np.asarray(self.consts[node.input[1]], dtype=np.float64)
        if w.ndim != 2:
            raise _Refuse(f"weights of rank {w.ndim}; expected a matrix")
        self.dense(node, live, w, None, node.input[1] in self.qconsts, False)

    def dense(self, node, live, w, bias, exact, bias_exact):
        fin = self.features[live[0]]
        if len(fin) != 1:
            raise _Refuse(f"input of shape [N, {', '.join(map(str, fin))}]; only [N, features] is supported "
                          f"(add a Flatten)")
        if w.shape[0] != fin[0]:
            raise ModelError(f"node '{self.meta['source_name']}' ({node.op_type}): input has {fin[0]} features but "
                             f"the weights expect {w.shape[0]}")
        params, types = {"weight": w}, {}
        odd = None
        if exact:
            # quantised weights keep their exact grid; a scale that is not a power of two (an odd factor per
            # output column) is folded into a per-column scaling after the sum, where it is exact
            odd = _odd_column_factors(w)
            if odd is not None:
                w = w / odd[None, :]
                params["weight"] = w
            types["weight"] = exact_type(w)
        if bias is not None and odd is None:
            params["bias"] = bias
            if bias_exact:
                types["bias"] = exact_type(bias)
        out = node.output[0]
        if odd is None:
            self.emit("Dense", live[:1], [out], (w.shape[1],), params=params, types=types)
            return
        mid = self.fresh_tensor(out + "_unscaled")
        self.emit("Dense", live[:1], [mid], (w.shape[1],), params=params, types=types)
        sp, st = {"scale": odd.astype(np.float64)}, {"scale": exact_type(odd.astype(np.float64))}
        if bias is not None:
            sp["bias"] = bias
            if bias_exact:
                st["bias"] = exact_type(bias)
        self.emit("ScaleShift", [mid], [out], (w.shape[1],), attrs={"folded_scale": True}, params=sp, types=st)

    def fresh_tensor(self, name):
        base, k = name, 1
        while name in self.features or name in self.consts:
            k += 1
            name = f"{base}_{k}"
        return name

    def _const_operand(self, node, live):
        fin = self.features[live[0]]
        cname = [i for i in node.input if i and i not in live][0]
        c = np.asarray(self.consts[cname], dtype=np.float64)
        try:
            b = np.broadcast_to(c, (1,) + tuple(fin)) if c.ndim <= len(fin) + 1 else None
        except ValueError:
            b = None
        if b is None:
            raise _Refuse(f"constant of shape {list(c.shape)} does not broadcast to [N, {', '.join(map(str, fin))}] "
                          f"without changing it")
        return b.reshape(-1).copy(), cname, list(node.input).index(cname)

    def op_Add(self, node, a, live):
        self._arith(node, live, "Add")

    op_Sub = op_Mul = op_Div = op_Add

    def _arith(self, node, live, _):
        op = node.op_type
        if len(live) == 2 and op in ("Add", "Sub", "Mul"):
            self.merge(node, live, op.lower())
            return
        if len(live) != 1:
            raise _Refuse(f"{op} of two activations; only Add, Sub and Mul (and Max, Min) of two are supported")
        c, cname, pos = self._const_operand(node, live)
        fin = self.features[live[0]]
        if op == "Add":
            params = {"bias": c}
        elif op == "Sub":
            params = {"bias": -c} if pos == 1 else {"scale": -np.ones_like(c), "bias": c}
        elif op == "Mul":
            params = {"scale": c}
        else:
            if pos == 0:
                raise _Refuse("a constant divided by an activation")
            if np.any(c == 0):
                raise _Refuse("division by zero")
            params = {"scale": 1.0 / c}
        types = {}
        if cname in self.qconsts and op in ("Add", "Mul"):
            types = {k: exact_type(v) for k, v in params.items()}
        self.emit("ScaleShift", live[:1], node.output[:1], fin, attrs={"from": op}, params=params, types=types)

    def op_BatchNormalization(self, node, a, live):
        if a.get("training_mode", 0):
            raise _Refuse("training_mode=1")
        if any(o for o in node.output[1:]):
            raise _Refuse("running mean/variance outputs are used (a training graph)")
        fin = self.features[live[0]]
        gamma, beta, mean, var = (np.asarray(self.const(i, "the batch-normalisation parameters"), dtype=np.float64)
                                  .reshape(-1) for i in node.input[1:5])
        if not fin or gamma.size != fin[0]:
            raise ModelError(f"node '{self.meta['source_name']}' (BatchNormalization): {gamma.size} channels for "
                             f"an input of shape [N, {', '.join(map(str, fin))}]")
        scale = gamma / np.sqrt(var + float(a.get("epsilon", 1e-5)))
        bias = beta - scale * mean
        per = int(np.prod(fin[1:], dtype=np.int64))
        self.emit("ScaleShift", live[:1], node.output[:1], fin, attrs={"from": "BatchNormalization"},
                  params={"scale": np.repeat(scale, per), "bias": np.repeat(bias, per)})

    def op_Relu(self, node, a, live):
        self.activation(node, a, live)

    op_Sigmoid = op_Tanh = op_Softplus = op_Softsign = op_LeakyRelu = op_ThresholdedRelu = op_Relu
    op_Elu = op_Selu = op_HardSigmoid = op_Relu

    def activation(self, node, a, live):
        target, defaults = ACTIVATIONS[node.op_type]
        attrs = {k: float(a.get(k, d)) for k, d in defaults.items()}
        self.emit(target, live[:1], node.output[:1], self.features[live[0]], attrs=attrs)

    def op_PRelu(self, node, a, live):
        fin = self.features[live[0]]
        slope = np.asarray(self.const(node.input[1], "the slope"), dtype=np.float64)
        try:
            slope = np.broadcast_to(slope, fin).reshape(-1)
        except ValueError:
            raise _Refuse(f"slope of shape {list(slope.shape)} does not broadcast to the features {list(fin)}") \
                from None
        self.emit("PRelu", live[:1], node.output[:1], fin, params={"slope": slope.copy()})

    def op_Clip(self, node, a, live):
        if live and live[0] in self.pending_q:
            self.clip_codes(node, live)
            return
        if self.opset < 11:
            lo, hi = a.get("min"), a.get("max")
        else:
            lo, hi = [float(np.asarray(self.const(node.input[k], "the bounds")).reshape(-1)[0])
                      if len(node.input) > k and node.input[k] else None for k in (1, 2)]
        attrs = {k: float(v) for k, v in (("min", lo), ("max", hi)) if v is not None and abs(v) < 1e30}
        self.emit("Clip", live[:1], node.output[:1], self.features[live[0]], attrs=attrs)

    def op_Softmax(self, node, a, live):
        fin = self.features[live[0]]
        rank = len(fin) + 1
        axis = a.get("axis", 1 if self.opset < 13 else -1)
        axis = axis + rank if axis < 0 else axis
        if self.opset < 13:  # the input is coerced to [prod(dims[:axis]), prod(dims[axis:])]
            ok = axis == 1 or int(np.prod(fin[:axis - 1])) == 1
        else:
            ok = axis >= 1 and int(np.prod(fin)) == fin[axis - 1]
        if not ok:
            raise _Refuse(f"softmax over axis {a.get('axis')} of an input of shape [batch, "
                          f"{', '.join(map(str, fin))}]; only a softmax over all features is supported (add a "
                          f"Flatten before it)")
        self.emit("Softmax", live[:1], node.output[:1], fin)

    # -- quantisation ----------------------------------------------------------------------------------------------

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


def _odd_column_factors(w):
    """Per output column, the odd integer ``m_j`` (> 1 for some column) such that every weight of the column is
    ``m_j`` times a dyadic number: what a scale that is not a power of two leaves in quantised weights. ``None``
    when every column is already on a power-of-two grid."""
    from fractions import Fraction
    from math import gcd
    out = np.ones(w.shape[1], dtype=np.int64)
    for j in range(w.shape[1]):
        g = 0
        for v in w[:, j]:
            if v:
                g = gcd(g, Fraction(float(v)).numerator)
        while g and g % 2 == 0:
            g //= 2
        out[j] = max(g, 1)
    return out if np.any(out > 1) else None


def preflight(model):
    """Raise :class:`UnsupportedOpError` listing every node nn2rtl cannot translate (and why)."""
    imp = _Importer(model).run()
    if imp.problems:
        raise UnsupportedOpError(imp.problems)


def inspect_onnx(source):
    """ONNX file (or ``ModelProto``) -> (rows, graph or None, problems): one row per ONNX node ``(name, op,
    output shape, status)``, the float graph when every node translates, and the untranslatable nodes."""
    model = load_model(source) if not hasattr(source, "graph") else source
    _add_custom_imports(model)
    _check_opset(model)
    imp = _Importer(model).run()
    graph = None if imp.problems else imp.graph()
    return imp.rows, graph, imp.problems


def _check_opset(model):
    opset = _opset(model)
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ModelError(f"the model uses ONNX opset {opset}; nn2rtl supports opsets {MIN_OPSET} to {MAX_OPSET} "
                         f"(convert it with onnx.version_converter)")


def import_onnx(source):
    """ONNX file path (or a loaded ``ModelProto``) -> float :class:`Graph`. Names every untranslatable node at once
    in one :class:`UnsupportedOpError`."""
    model = load_model(source) if not hasattr(source, "graph") else source
    _add_custom_imports(model)
    _check_opset(model)
    imp = _Importer(model).run()
    if imp.problems:
        raise UnsupportedOpError(imp.problems)
    graph = imp.graph()
    if not graph.inputs or not graph.outputs:
        raise ModelError(f"the model's graph has {len(graph.inputs)} inputs (besides constants) and "
                         f"{len(graph.outputs)} outputs: there is nothing to compute")
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise ModelError(f"the model's graph {graph.name!r} has {len(graph.inputs)} inputs "
                         f"({', '.join(graph.inputs)}) and {len(graph.outputs)} outputs ({', '.join(graph.outputs)}); "
                         "nn2rtl compiles networks with one input and one output: concatenate the inputs into one "
                         "tensor (and the outputs likewise) before export")
    _check_finite(graph)
    return graph


def _check_finite(graph):
    """Weights, biases and other constants must be finite numbers: NaN or infinity (a diverged training run, a
    bad export) has no fixed-point value. Names every offending node and parameter at once."""
    bad = []
    for n in graph.nodes:
        for k, v in sorted(n.params.items()):
            a = np.asarray(v)
            if a.dtype.kind == "f" and not np.isfinite(a).all():
                count = int((~np.isfinite(a)).sum())
                bad.append(f"'{n.attrs.get('source_name', n.name)}' ({n.attrs.get('source_op', n.op)}) {k}: "
                           f"{count} of {a.size} values are NaN or infinite")
    if bad:
        raise ModelError("the model's constants are not finite numbers (a diverged training run?): " + "; ".join(bad)
                         + ". Retrain or clean the weights, then export again")




def _broadcast_bias(c, n, src, op):
    c = np.asarray(c, dtype=np.float64)
    if c.size == 1:
        return np.full(n, float(c.reshape(-1)[0]))
    if c.size == n and (c.ndim == 1 or c.shape[:-1] == (1,) * (c.ndim - 1)):
        return c.reshape(n)
    raise UnsupportedOpError([(src, op, f"bias of shape {list(c.shape)} does not broadcast to [batch, {n}]")])


def _reshape_features(fin, target, src, batch=None):
    total = int(np.prod(fin))
    if not target:
        raise UnsupportedOpError([(src, "Reshape", "reshape to a scalar")])
    rest = list(target[1:])
    if target[0] not in (-1, 0, 1, batch):
        raise UnsupportedOpError([(src, "Reshape", f"target {target} changes the batch dimension")])
    rest = [fin[k] if d == 0 and k < len(fin) else d for k, d in enumerate(rest, start=0)]
    if target[0] == -1 and -1 not in rest:
        if int(np.prod(rest)) != total:
            raise UnsupportedOpError([(src, "Reshape", f"target {target} changes the batch dimension")])
        return tuple(rest)
    if rest.count(-1) > 1:
        raise ModelError(f"node '{src}' (Reshape): more than one -1 in target shape {target}")
    if -1 in rest:
        known = int(np.prod([d for d in rest if d != -1]))
        rest[rest.index(-1)] = total // known if known else 0
    if int(np.prod(rest)) != total:
        raise ModelError(f"node '{src}' (Reshape): cannot reshape {total} features to {target}")
    return tuple(rest)
