"""ONNX front end: an ONNX model file becomes a float :class:`~nn2rtl.graph.Graph`.

Supported (opsets 6 and newer, default domain): Gemm (transA/transB, alpha, beta), MatMul, Add of a constant
(a bias), Flatten, Reshape, Identity, Dropout, Constant, and the activations Relu, LeakyRelu, ThresholdedRelu,
PRelu, Clip (min/max as attributes before opset 11, as inputs from 11), HardSigmoid, Sigmoid, Tanh, Softplus,
Softsign, Elu, Selu and Softmax (over all features: axis 1 before opset 13, the feature axis from 13).
Initializers listed as graph inputs (old exporters) are constants, not inputs.

Before anything is built, :func:`preflight` checks every node and raises one
:class:`~nn2rtl.errors.UnsupportedOpError` naming *all* nodes nn2rtl cannot translate.

Emitted ops: ``Dense`` (float ``weight`` (n_in, n_out), optional ``bias``), ``BiasAdd`` (``bias``), ``Relu``,
and the layout no-ops ``Identity``/``Reshape``/``Flatten`` that :mod:`nn2rtl.passes` removes.
"""

from __future__ import annotations

import numpy as np

from ..errors import ModelError, UnsupportedOpError
from ..graph import Graph, Node, Tensor, sanitize_name

__all__ = ["load_model", "import_onnx", "preflight", "SUPPORTED_OPS", "MIN_OPSET", "MAX_OPSET"]

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
SUPPORTED_OPS = tuple(sorted(("Add", "Clip", "Constant", "Dropout", "Flatten", "Gemm", "Identity", "MatMul",
                              "PRelu", "Reshape", "Softmax") + tuple(ACTIVATIONS)))


def load_model(path):
    """Read and check an ONNX file; every failure is a one-line :class:`ModelError`."""
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
    try:
        onnx.checker.check_model(model)
    except Exception as e:  # onnx raises several exception types for a malformed graph
        raise ModelError(f"model {str(path)!r} is malformed: {str(e).strip().splitlines()[0]}") from None
    return model


def _opset(model):
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return imp.version
    raise ModelError("the model imports no version of the default ONNX operator set")


def _attrs(node):
    import onnx
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _constants(graph):
    from onnx import numpy_helper
    consts = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            a = _attrs(node)
            if "value" in a:
                consts[node.output[0]] = numpy_helper.to_array(a["value"])
            elif "value_float" in a:
                consts[node.output[0]] = np.array(a["value_float"], dtype=np.float32)
            elif "value_floats" in a:
                consts[node.output[0]] = np.array(a["value_floats"], dtype=np.float32)
            elif "value_int" in a:
                consts[node.output[0]] = np.array(a["value_int"], dtype=np.int64)
            elif "value_ints" in a:
                consts[node.output[0]] = np.array(a["value_ints"], dtype=np.int64)
    return consts


def _node_name(node, index):
    return node.name or f"{node.op_type}_{index}"


def preflight(model):
    """Raise :class:`UnsupportedOpError` listing every node nn2rtl cannot translate (and why)."""
    graph = model.graph
    consts = _constants(graph)
    bad = []
    for idx, node in enumerate(graph.node):
        name = _node_name(node, idx)
        if node.domain not in ("", "ai.onnx"):
            bad.append((name, f"{node.domain}.{node.op_type}", "custom domain"))
            continue
        if node.op_type not in SUPPORTED_OPS:
            bad.append((name, node.op_type, ""))
            continue
        a = _attrs(node)
        live = [i for i in node.input if i and i not in consts]
        why = None
        if node.op_type == "Gemm":
            if len(node.input) < 2 or node.input[1] not in consts:
                why = "weights B must be a constant"
            elif len(node.input) > 2 and node.input[2] and node.input[2] not in consts:
                why = "bias C must be a constant"
            elif node.input[0] in consts:
                why = "input A must be an activation"
        elif node.op_type == "MatMul":
            if node.input[1] not in consts or node.input[0] in consts:
                why = "only activation @ constant weights is supported"
        elif node.op_type == "Add":
            if len(live) != 1:
                why = "only the addition of a constant (a bias) to one activation is supported"
        elif node.op_type == "Reshape":
            if len(node.input) < 2 and "shape" not in a:
                why = "no target shape"
            elif len(node.input) >= 2 and node.input[1] not in consts:
                why = "the target shape must be a constant"
            elif a.get("allowzero", 0) and len(node.input) >= 2 and 0 in list(consts[node.input[1]]):
                why = "allowzero=1 with a zero in the target shape"
        elif node.op_type == "Flatten":
            if a.get("axis", 1) != 1:
                why = f"only axis=1 is supported, not {a['axis']}"
        elif node.op_type == "PRelu":
            if len(node.input) < 2 or node.input[1] not in consts:
                why = "the slope must be a constant"
        elif node.op_type == "Clip":
            if any(i and i not in consts for i in node.input[1:]):
                why = "the bounds must be constants"
        elif node.op_type == "Dropout":
            if len(node.input) > 2 and node.input[2] in consts and bool(np.asarray(consts[node.input[2]]).any()):
                why = "training_mode=true"
        if why:
            bad.append((name, node.op_type, why))
    if bad:
        raise UnsupportedOpError(bad)


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


def import_onnx(source):
    """ONNX file path (or a loaded ``ModelProto``) -> float :class:`Graph`. Runs :func:`preflight` first."""
    model = load_model(source) if not hasattr(source, "graph") else source
    opset = _opset(model)
    preflight(model)
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ModelError(f"the model uses ONNX opset {opset}; nn2rtl supports opsets {MIN_OPSET} to {MAX_OPSET} "
                         f"(convert it with onnx.version_converter)")
    g = model.graph
    consts = _constants(g)
    tensors, features = {}, {}
    inputs, batch = [], None
    for vi in g.input:
        if vi.name in consts:
            continue  # an initializer listed as an input (opset < 9 exporters)
        dims = _dims(vi, "input")
        if len(dims) < 2:
            raise ModelError(f"input '{vi.name}' has shape {dims}; expected [batch, features...]")
        if any(d is None or d <= 0 for d in dims[1:]):
            raise ModelError(f"input '{vi.name}' has shape {dims}: every dimension but the batch must be fixed")
        features[vi.name] = tuple(dims[1:])
        batch = dims[0]  # None when symbolic; exporters with a static batch repeat it in Reshape targets
        inputs.append(vi.name)
    if not inputs:
        raise ModelError("the model has no inputs")

    nodes, used_names = [], set()

    def fresh(name):
        base, k = name, 1
        while name in used_names:
            k += 1
            name = f"{base}_{k}"
        used_names.add(name)
        return name

    def feat(tensor, node):
        if tensor not in features:
            raise ModelError(f"node '{node.name}' ({node.op_type}) reads '{tensor}', which is not produced before it")
        return features[tensor]

    for idx, node in enumerate(g.node):
        op = node.op_type
        if op == "Constant":
            continue
        a = _attrs(node)
        src = _node_name(node, idx)
        name = fresh(sanitize_name(src, f"{op}_{idx}"))
        meta = {"source_name": src, "source_op": op}
        out = node.output[0]
        x = [i for i in node.input if i and i not in consts]
        if op in ("Identity", "Dropout"):
            features[out] = feat(x[0], node)
            nodes.append(Node(name, "Identity", [x[0]], [out], meta))
        elif op in ACTIVATIONS:
            features[out] = feat(x[0], node)
            target, defaults = ACTIVATIONS[op]
            attrs = {k: float(a.get(k, d)) for k, d in defaults.items()}
            nodes.append(Node(name, target, [x[0]], [out], {**meta, **attrs}))
        elif op == "PRelu":
            fin = feat(x[0], node)
            slope = np.asarray(consts[node.input[1]], dtype=np.float64)
            try:
                slope = np.broadcast_to(slope, fin).reshape(-1)
            except ValueError:
                raise UnsupportedOpError([(src, op, f"slope of shape {list(slope.shape)} does not broadcast to the "
                                                    f"features {list(fin)}")]) from None
            features[out] = fin
            nodes.append(Node(name, "PRelu", [x[0]], [out], meta, {"slope": slope.copy()}))
        elif op == "Clip":
            features[out] = feat(x[0], node)
            if opset < 11:
                lo, hi = a.get("min"), a.get("max")
            else:
                lo, hi = [float(np.asarray(consts[node.input[k]]).reshape(-1)[0])
                          if len(node.input) > k and node.input[k] else None for k in (1, 2)]
            attrs = {k: float(v) for k, v in (("min", lo), ("max", hi)) if v is not None and abs(v) < 1e30}
            nodes.append(Node(name, "Clip", [x[0]], [out], {**meta, **attrs}))
        elif op == "Softmax":
            fin = feat(x[0], node)
            rank = len(fin) + 1
            axis = a.get("axis", 1 if opset < 13 else -1)
            axis = axis + rank if axis < 0 else axis
            if opset < 13:  # the input is coerced to [prod(dims[:axis]), prod(dims[axis:])]
                ok = axis == 1 or int(np.prod(fin[:axis - 1])) == 1
            else:
                ok = axis >= 1 and int(np.prod(fin)) == fin[axis - 1]
            if not ok:
                raise UnsupportedOpError([(src, op, f"softmax over axis {a.get('axis')} of an input of shape "
                                                    f"[batch, {', '.join(map(str, fin))}]; only a softmax over all "
                                                    f"features is supported (add a Flatten before it)")])
            features[out] = fin
            nodes.append(Node(name, "Softmax", [x[0]], [out], meta))
        elif op == "Flatten":
            features[out] = (int(np.prod(feat(x[0], node))),)
            nodes.append(Node(name, "Flatten", [x[0]], [out], meta))
        elif op == "Reshape":
            shape = [int(s) for s in (consts[node.input[1]] if len(node.input) >= 2 else a["shape"])]
            features[out] = _reshape_features(feat(x[0], node), shape, src, batch)
            nodes.append(Node(name, "Reshape", [x[0]], [out], meta))
        elif op in ("Gemm", "MatMul"):
            fin = feat(x[0], node)
            if len(fin) != 1:
                raise UnsupportedOpError([(src, op, f"input of shape [batch, {', '.join(map(str, fin))}]; only "
                                                    f"[batch, features] is supported (add a Flatten)")])
            b = np.asarray(consts[node.input[1]], dtype=np.float64)
            if b.ndim != 2:
                raise UnsupportedOpError([(src, op, f"weights of rank {b.ndim}; expected a matrix")])
            bias = None
            if op == "Gemm":
                if a.get("transA", 0):
                    raise UnsupportedOpError([(src, op, "transA=1 on a batched activation")])
                w = b.T if a.get("transB", 0) else b
                w = w * float(a.get("alpha", 1.0))
                if len(node.input) > 2 and node.input[2]:
                    c = np.asarray(consts[node.input[2]], dtype=np.float64) * float(a.get("beta", 1.0))
                    bias = _broadcast_bias(c, w.shape[1], src, op)
            else:
                w = b
            if w.shape[0] != fin[0]:
                raise ModelError(f"node '{src}' ({op}): input has {fin[0]} features but the weights expect "
                                 f"{w.shape[0]}")
            features[out] = (w.shape[1],)
            params = {"weight": w}
            if bias is not None:
                params["bias"] = bias
            nodes.append(Node(name, "Dense", [x[0]], [out], meta, params))
        elif op == "Add":
            fin = feat(x[0], node)
            cname = [i for i in node.input if i in consts][0]
            c = np.asarray(consts[cname], dtype=np.float64)
            if len(fin) != 1:
                raise UnsupportedOpError([(src, op, "bias addition on a tensor that is not [batch, features]")])
            features[out] = fin
            nodes.append(Node(name, "BiasAdd", [x[0]], [out], meta, {"bias": _broadcast_bias(c, fin[0], src, op)}))
        else:  # pragma: no cover - preflight rejects everything else
            raise AssertionError(op)
    tensors = {t: Tensor(t, s) for t, s in features.items()}
    outputs = [o.name for o in g.output]
    for o in outputs:
        if o not in tensors:
            raise ModelError(f"graph output '{o}' is not computed from the inputs (a constant output?)")
    gname = sanitize_name(g.name, "model")
    return Graph(gname, inputs, outputs, nodes, tensors).verify()


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
