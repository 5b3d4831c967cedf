"""A pipelined balanced adder tree in modular (wrap-around) arithmetic.

The schedule is a pure function, :func:`tree_latency`, used both to build the tree and by cost models, so the
latency a report states is the latency of the hardware.
"""

from amaranth.hdl import Const, Signal, Value

__all__ = ["tree_levels", "tree_latency", "tree_registers", "build_adder_tree", "build_reduce_tree"]


def tree_levels(n_leaves):
    """Number of adder levels of a balanced tree over ``n_leaves`` operands (0 for one operand or none)."""
    if n_leaves < 1:
        raise ValueError(f"an adder tree needs a non-negative number of leaves, not {n_leaves!r}")
    return (n_leaves - 1).bit_length()


def tree_latency(n_leaves, levels_per_stage):
    """Register stages in the tree: one after every ``levels_per_stage`` levels and after the last level."""
    if not isinstance(levels_per_stage, int) or levels_per_stage < 1:
        raise ValueError(f"levels_per_stage must be a positive integer, not {levels_per_stage!r}")
    levels = tree_levels(max(n_leaves, 1))
    return -(-levels // levels_per_stage)


def tree_registers(n_leaves, levels_per_stage):
    """Words of pipeline registers in a tree over ``n_leaves`` non-constant operands (for cost estimates)."""
    levels = tree_levels(max(n_leaves, 1))
    width, total = n_leaves, 0
    for depth in range(1, levels + 1):
        width = -(-width // 2)
        if depth % levels_per_stage == 0 or depth == levels:
            total += width
    return total


def build_adder_tree(m, leaves, shape, levels_per_stage, name, enable=None):
    """Sum ``leaves`` modulo ``2**shape.width`` (wrap), registering per :func:`tree_latency`.

    ``leaves`` are values already of ``shape``; constants among them cost no registers. Returns the sum, delayed
    by ``tree_latency(len(leaves), levels_per_stage)`` cycles of the ``sync`` domain.
    """
    def add(a, b):
        return (a + b)[:shape.width].as_signed() if shape.signed else (a + b)[:shape.width]
    return build_reduce_tree(m, leaves, shape, levels_per_stage, name, add, enable)


def build_reduce_tree(m, leaves, shape, levels_per_stage, name, combine, enable=None):
    """Reduce ``leaves`` (values of ``shape``) pairwise with ``combine(a, b)`` (an associative operation returning
    a value of ``shape``: a wrapping add, a maximum) in a balanced tree registered per :func:`tree_latency`."""
    if not leaves:
        leaves = [Const(0, shape)]
    level = [Value.cast(v) for v in leaves]
    levels = tree_levels(len(level))
    for depth in range(1, levels + 1):
        nxt = []
        for k in range(0, len(level) - 1, 2):
            nxt.append(combine(level[k], level[k + 1]))
        if len(level) % 2:
            nxt.append(level[-1])
        if depth % levels_per_stage == 0 or depth == levels:
            regs = []
            for k, v in enumerate(nxt):
                if isinstance(v, Const):
                    regs.append(v)
                    continue
                r = Signal(shape, name=f"{name}_l{depth}_{k}")
                if enable is None:
                    m.d.sync += r.eq(v)
                else:
                    with m.If(enable):
                        m.d.sync += r.eq(v)
                regs.append(r)
            nxt = regs
        level = nxt
    return level[0]
