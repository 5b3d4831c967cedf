"""ONNX front end: an ONNX model file becomes a float :class:`~nn2rtl.graph.Graph`.

The importer walks the graph once, in order (:class:`_Importer`, one ``op_<Type>`` method per ONNX op; the
handlers live in one module per op family: :mod:`.shapes`, :mod:`.dense`, :mod:`.elementwise`, :mod:`.quant`,
:mod:`.cnn`; reading the file safely is :mod:`.load`):

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

import numpy as np

from ..errors import ModelError, UnsupportedOpError
from ..graph import Graph, Node, Tensor, sanitize_name
from .base import QONNX_DOMAINS, _attrs, _dims, _node_name, _Refuse
from .cnn import LAYOUT_AWARE, PROPAGATES_LAYOUT, CnnOps
from .dense import DenseOps
from .elementwise import ACTIVATIONS, ElementwiseOps
from .load import (
    MAX_CONSTANT_ELEMENTS,
    MAX_OPSET,
    MIN_OPSET,
    _add_custom_imports,
    _check_opset,
    _opset,
    _tensor_array,
    load_model,
)
from .quant import QuantOps
from .shapes import ShapeOps

__all__ = ["load_model", "import_onnx", "inspect_onnx", "preflight", "SUPPORTED_OPS", "MIN_OPSET", "MAX_OPSET",
           "QONNX_DOMAINS"]

#: Ops translated on activations (any standard op whose inputs are all constants is folded as well).
SUPPORTED_OPS = tuple(sorted(("Add", "AveragePool", "BatchNormalization", "BipolarQuant", "Cast", "Clip", "Concat",
                              "Constant", "Conv", "DequantizeLinear", "Div", "Dropout", "Flatten", "Gemm",
                              "GlobalAveragePool", "GlobalMaxPool", "Identity", "MatMul", "Max", "MaxPool", "Min",
                              "Mul", "PRelu", "Pad", "Quant", "QuantizeLinear", "ReduceMax", "ReduceMean",
                              "Reshape", "Resize", "Shape", "Size",
                              "Softmax", "Squeeze", "Sub", "Transpose", "Trunc", "Unsqueeze", "Upsample")
                             + tuple(ACTIVATIONS)))

#: Ops that only move or relabel data: a constant made of quantised constants by them is still on their grid.
_MOVES = ("Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Gather", "Slice", "Concat",
          "Expand", "Tile", "Cast")


class _Importer(ShapeOps, DenseOps, ElementwiseOps, QuantOps, CnnOps):
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

    def fresh_tensor(self, name):
        base, k = name, 1
        while name in self.features or name in self.consts:
            k += 1
            name = f"{base}_{k}"
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
