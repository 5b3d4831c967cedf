"""ONNX front end, ops that relabel data: ``Constant``, ``Identity``, ``Dropout``, float ``Cast``, ``Flatten``,
``Reshape``, ``Squeeze`` and ``Unsqueeze`` keep the row-major data (they become ``Identity``/``Reshape`` nodes the
passes remove)."""

from __future__ import annotations

import numpy as np

from ..errors import ModelError, UnsupportedOpError
from .base import _Refuse
from .load import _tensor_array

__all__ = ["ShapeOps"]


class ShapeOps:
    """Handlers of the relabelling ops (a mixin of the importer)."""

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
