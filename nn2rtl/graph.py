"""The graph every stage of nn2rtl works on.

Tensors are *activations* only: ``shape`` excludes the batch dimension, and ``type`` is ``None`` until the
quantisation pass assigns a :class:`~nn2rtl.fixed.FixedType`. Constant operands (weights, biases, reshape targets)
live in the node that uses them, in ``Node.params`` — float arrays straight from the model, raw integers after
quantisation (their types in ``Node.types``).

Passes never mutate a graph they are given: they build a new one (:meth:`Graph.copy` is cheap; arrays are
shared, never written in place).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

import numpy as np

from .errors import ModelError
from .fixed import FixedType

__all__ = ["Tensor", "Node", "Graph", "sanitize_name"]


def sanitize_name(name, fallback):
    """A Verilog/C++-safe identifier from an ONNX name (``/fc1/Gemm`` -> ``fc1_Gemm``)."""
    s = re.sub(r"[^A-Za-z0-9_]", "_", name or "").strip("_")
    s = re.sub(r"_+", "_", s)
    if not s:
        s = fallback
    if s[0].isdigit():
        s = "n" + s
    return s


@dataclass
class Tensor:
    name: str
    shape: tuple
    type: FixedType | None = None

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass
class Node:
    name: str
    op: str
    inputs: list
    outputs: list
    attrs: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    types: dict = field(default_factory=dict)

    @property
    def label(self):
        """How error messages name this node: its original model name and op type."""
        return f"'{self.attrs.get('source_name', self.name)}' ({self.attrs.get('source_op', self.op)})"


class Graph:
    """A dataflow graph: named input and output tensors, nodes in topological order."""

    def __init__(self, name, inputs, outputs, nodes, tensors, meta=None):
        self.name = name
        self.meta = dict(meta or {})  #: facts about the model as a whole (``quantized``: it carries its own grids)
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.nodes = list(nodes)
        self.tensors = dict(tensors)

    def copy(self):
        nodes = [Node(n.name, n.op, list(n.inputs), list(n.outputs), dict(n.attrs), dict(n.params), dict(n.types))
                 for n in self.nodes]
        return Graph(self.name, self.inputs, self.outputs, nodes, {k: copy.copy(t) for k, t in self.tensors.items()},
                     self.meta)

    def producer(self, tensor):
        for n in self.nodes:
            if tensor in n.outputs:
                return n
        return None

    def consumers(self, tensor):
        return [n for n in self.nodes if tensor in n.inputs]

    def node(self, name):
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def verify(self, typed=False):
        """Check the graph is well formed; raise :class:`ModelError` naming the first problem.

        Every tensor is defined once, before use; node names are unique; graph outputs are produced;
        with ``typed``, every tensor has a type and params are raw integers.
        """
        defined = set(self.inputs)
        for t in self.inputs + self.outputs:
            if t not in self.tensors:
                raise ModelError(f"graph tensor '{t}' has no shape information")
        names = set()
        for n in self.nodes:
            if n.name in names:
                raise ModelError(f"duplicate node name '{n.name}'")
            names.add(n.name)
            for t in n.inputs:
                if t not in defined:
                    raise ModelError(f"node {n.label} reads '{t}' before it is defined (graph not in order?)")
            for t in n.outputs:
                if t in defined:
                    raise ModelError(f"tensor '{t}' is defined twice (second time by {n.label})")
                if t not in self.tensors:
                    raise ModelError(f"tensor '{t}' produced by {n.label} has no shape")
                defined.add(t)
            if typed:
                for k, v in n.params.items():
                    if not np.issubdtype(np.asarray(v).dtype, np.integer) and np.asarray(v).dtype != object:
                        raise ModelError(f"node {n.label}: parameter '{k}' is not quantised")
        for t in self.outputs:
            if t not in defined:
                raise ModelError(f"graph output '{t}' is never produced")
        if typed:
            for name, t in self.tensors.items():
                if name in defined and t.type is None:
                    raise ModelError(f"tensor '{name}' has no fixed-point type")
        return self

    def dump(self):
        """A readable, deterministic text form (used by ``nn2rtl inspect`` and as golden files in tests)."""
        def tdesc(name):
            t = self.tensors[name]
            ty = f" {t.type}" if t.type is not None else ""
            return f"{name}[{','.join(map(str, t.shape))}]{ty}"
        lines = [f"graph {self.name}"]
        lines += [f"  input  {tdesc(t)}" for t in self.inputs]
        for n in self.nodes:
            attrs = " ".join(f"{k}={v}" for k, v in sorted(n.attrs.items()) if not k.startswith("source_"))
            params = " ".join(f"{k}:{'x'.join(map(str, np.shape(v)))}"
                              + (f" {n.types[k]}" if k in n.types else "") for k, v in sorted(n.params.items()))
            extra = " ".join(f"{k}={v}" for k, v in sorted(n.types.items()) if k not in n.params)
            body = " ".join(s for s in (attrs, params, extra) if s)
            lines.append(f"  {n.name} = {n.op}({', '.join(tdesc(t) for t in n.inputs)})"
                         f" -> {', '.join(tdesc(t) for t in n.outputs)}" + (f"  {{{body}}}" if body else ""))
        lines += [f"  output {tdesc(t)}" for t in self.outputs]
        return "\n".join(lines) + "\n"
