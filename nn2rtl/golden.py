"""The golden model: runs a typed graph on raw integers. The oracle every back end is checked against."""

import numpy as np

from .fixed import as_raw_array
from .ops import REGISTRY

__all__ = ["run_golden", "run_reference"]


def _run(graph, env, method):
    for n in graph.nodes:
        if n.op == "Identity":
            outs = [env[n.inputs[0]]]
        else:
            outs = getattr(REGISTRY[n.op], method)(n, [env[t] for t in n.inputs])
        env.update(zip(n.outputs, outs))
    return {name: env[name] for name in graph.outputs}


def run_golden(graph, inputs):
    """``inputs``: {input name: raw int array (batch, *shape)} -> {output name: raw int array}."""
    env = {}
    for name in graph.inputs:
        t = graph.tensors[name]
        x = as_raw_array(inputs[name], t.type.width).reshape(-1, t.size)
        if not t.type.check_raw(x):
            raise ValueError(f"raw input '{name}' holds values outside {t.type}")
        env[name] = x
    return _run(graph, env, "golden")


def run_reference(graph, inputs):
    """Float semantics of a (float or typed) graph's ops, ignoring types: for checking the front end."""
    env = {name: np.asarray(inputs[name], dtype=np.float64).reshape(-1, graph.tensors[name].size)
           for name in graph.inputs}
    return _run(graph, env, "reference")
