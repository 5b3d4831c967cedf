"""A pipelined balanced adder tree in modular (wrap-around) arithmetic.

The schedule is a pure function, :func:`tree_latency`, used both to build the tree and by cost models, so the
latency a report states is the latency of the hardware.
"""

from amaranth.hdl import Cat, Const, Signal, Value

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


def build_adder_tree(m, leaves, shape, levels_per_stage, name, enable=None, raw_products=False):
    """Sum ``leaves`` modulo ``2**shape.width`` (wrap), registering per :func:`tree_latency`.

    ``leaves`` are values already of ``shape``; constants among them cost no registers. Returns the sum, delayed
    by ``tree_latency(len(leaves), levels_per_stage)`` cycles of the ``sync`` domain.

    An adder whose sum the next level reads in the same stage is *guarded*: it adds ``a << 1`` and ``b << 1`` (a
    constant 0 bit below the sum) and the reader takes the bits above. Yosys's ``alumacc`` would otherwise merge
    the chain into one multi-operand ``$macc``, built from full adders in LUTs instead of a carry chain per adder
    (see :func:`rtl_lib.da.da_rtlil`). ``raw_products``: the leaves are registered multiplier outputs, unchanged
    (an accumulator that holds the full products); the first level is then left plain, because Yosys packs the sum
    of two products into the xc7 DSP48's post-adder, and the guard's shifted operands break that pattern.
    """
    def add(a, b):
        return (a + b)[:shape.width].as_signed() if shape.signed else (a + b)[:shape.width]

    def guarded(a, b):
        s = (Cat(Const(0, 1), a) + Cat(Const(0, 1), b))[1:shape.width + 1]
        return s.as_signed() if shape.signed else s
    return build_reduce_tree(m, leaves, shape, levels_per_stage, name, add, enable, inner=guarded,
                             plain_first=raw_products)


def build_reduce_tree(m, leaves, shape, levels_per_stage, name, combine, enable=None, inner=None,
                      plain_first=False):
    """Reduce ``leaves`` (values of ``shape``) pairwise with ``combine(a, b)`` (an associative operation returning
    a value of ``shape``: a wrapping add, a maximum) in a balanced tree registered per :func:`tree_latency`;
    ``inner(a, b)``, when given, instead of ``combine`` where the result feeds the next level unregistered.
    ``plain_first``: the first level uses ``combine`` all the same, and the second level uses ``inner`` where it
    reads those sums unregistered."""
    if not leaves:
        leaves = [Const(0, shape)]
    level = [Value.cast(v) for v in leaves]
    levels = tree_levels(len(level))
    for depth in range(1, levels + 1):
        nxt = []
        registered = depth % levels_per_stage == 0 or depth == levels
        if inner is None or (depth == 1 and plain_first):
            plain = True
        elif depth == 2 and plain_first:  # reads the plain first level's sums in their stage
            plain = 1 % levels_per_stage == 0
        else:
            plain = registered
        for k in range(0, len(level) - 1, 2):
            nxt.append((combine if plain else inner)(level[k], level[k + 1]))
        if len(level) % 2:
            nxt.append(level[-1])
        if registered:
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
