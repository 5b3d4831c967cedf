"""Reading an ONNX file safely: one-line :class:`~nn2rtl.errors.ModelError` for every way a file can be wrong
(unreadable, truncated, external data outside the model's folder, malformed, inconsistent shapes, an opset outside
the supported range), custom QONNX domains imported as the QONNX executor reads them."""

from __future__ import annotations

import os

import numpy as np

from ..errors import ModelError

__all__ = ["load_model", "MIN_OPSET", "MAX_OPSET", "MAX_CONSTANT_ELEMENTS"]

#: The semantics of every supported op are unchanged from opset 6 up to the newest opset this onnx package
#: knows (tested: 6 to 21); Reshape's allowzero (opset 14) is rejected when it matters.
MIN_OPSET = 6
MAX_OPSET = max(23, __import__("onnx").defs.onnx_opset_version())
#: Constants beyond this many elements are refused before anything is evaluated.
MAX_CONSTANT_ELEMENTS = 1 << 26


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

def _check_opset(model):
    opset = _opset(model)
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ModelError(f"the model uses ONNX opset {opset}; nn2rtl supports opsets {MIN_OPSET} to {MAX_OPSET} "
                         f"(convert it with onnx.version_converter)")
