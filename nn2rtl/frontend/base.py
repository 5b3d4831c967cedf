"""What every op family of the ONNX importer shares: attribute decoding, node names, input shapes, the refusal
exception, bias broadcasting and the QONNX domains."""

from __future__ import annotations

import numpy as np

from ..errors import ModelError, UnsupportedOpError

#: Domains whose ``Quant``, ``BipolarQuant`` and ``Trunc`` follow QONNX's definitions.
QONNX_DOMAINS = ("qonnx.custom_op.general", "finn.custom_op.general", "onnx.brevitas", "qonnx")


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

def _broadcast_bias(c, n, src, op):
    c = np.asarray(c, dtype=np.float64)
    if c.size == 1:
        return np.full(n, float(c.reshape(-1)[0]))
    if c.size == n and (c.ndim == 1 or c.shape[:-1] == (1,) * (c.ndim - 1)):
        return c.reshape(n)
    raise UnsupportedOpError([(src, op, f"bias of shape {list(c.shape)} does not broadcast to [batch, {n}]")])
