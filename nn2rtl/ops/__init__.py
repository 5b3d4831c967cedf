"""Operator registry: one class per typed op, holding everything the op means.

Each op implements

* ``quantize(node, graph, layer_config)`` — assign fixed-point types to the node's parameters, internal variables
  and outputs, and replace float parameters by raw integers (type inference);
* ``reference(node, inputs)`` — float semantics, used to check the front end against ONNX Runtime;
* ``golden(node, inputs)`` — exact integer semantics on raw values (batch first), the oracle;
* ``block(node, graph)`` — the :mod:`rtl_lib` component that implements it;
* ``cost(node, graph)`` — latency, initiation interval and resources, read off the same block;
* ``hls(node, graph, layer)`` — the HLS C++ it becomes: configuration, constants and the call of one template of
  the layer library (:class:`nn2rtl.hls.Layer`), with the same arithmetic as ``golden``.
"""

from dataclasses import asdict, dataclass

__all__ = ["Cost", "Op", "REGISTRY", "register", "get_op"]


@dataclass(frozen=True)
class Cost:
    latency: int       #: cycles from input valid to output valid
    ii: int            #: initiation interval: cycles between accepted inputs
    multipliers: int   #: multipliers instantiated
    products: int      #: multiplications per inference
    registers: int     #: flip-flop bits (estimate before synthesis)
    rom_bits: int = 0  #: bits of constant tables (weights selected per round, activation tables, thresholds)
    comparators: int = 0  #: comparisons with constants (multi-threshold quantisers: one per binary-search step)
    adders: int = 0  #: two-input adders of shift-and-add products (Strategy distributed_arithmetic)
    adder_bits: int = 0  #: their bits (about a LUT each: :attr:`rtl_lib.da.DAPlan.adder_bits`)

    def to_dict(self):
        return asdict(self)


class Op:
    name = None
    #: whether ``result: auto`` (exact, never rounding or overflowing) is offered; in a model that carries its
    #: own quantisation such ops default to it
    auto_result = False

    def quantize(self, node, graph, layer_config):
        raise NotImplementedError

    def details(self, node, graph):
        """Extra figures of the layer's hardware for the report (a dict; empty by default)."""
        return {}

    def reference(self, node, inputs):
        raise NotImplementedError

    def golden(self, node, inputs):
        raise NotImplementedError

    def block(self, node, graph, library=None):
        raise NotImplementedError

    def cost(self, node, graph):
        raise NotImplementedError

    def hls(self, node, graph, layer):
        raise NotImplementedError


REGISTRY = {}


def register(cls):
    REGISTRY[cls.name] = cls()
    return cls


def get_op(name):
    return REGISTRY[name]


def warn(node, message):
    """Record a warning on ``node`` (shown by ``convert`` and listed in ``design.json``): the design does something
    other than what the model or configuration asked, bit-identical to hls4ml but worth knowing."""
    node.attrs.setdefault("warnings", []).append(f"layer {node.label}: {message}")


from . import activation, conv, dense, merge, permute, pool, quant, softmax, threshold  # noqa: E402,F401  (registration)
