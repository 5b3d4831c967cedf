"""Packing raw values into the flat port vectors of a block, and back."""


def pack(row, w):
    """Element k of ``row`` in bits [k*w +: w], two's complement."""
    return sum((int(v) & ((1 << w) - 1)) << (k * w) for k, v in enumerate(row))


def unpack(word, n, w, signed=True):
    out = []
    for k in range(n):
        v = (word >> (k * w)) & ((1 << w) - 1)
        out.append(v - (1 << w) if signed and v >> (w - 1) else v)
    return out


def run_valid_stream(block, rows, in_width, out_type, n_out):
    """Feed ``rows`` (raw inputs) one per cycle with ``i_valid``, then ``block.latency`` idle cycles; return the
    outputs of every cycle where ``o_valid`` is high, unpacked as ``out_type`` raw values (Amaranth simulator)."""
    import numpy as np
    from amaranth.sim import Simulator
    got = []

    async def bench(ctx):
        for row in list(rows) + [None] * block.latency:
            ctx.set(block.i_valid, row is not None)
            if row is not None:
                ctx.set(block.i, pack(row, in_width))
            await ctx.tick()
            if ctx.get(block.o_valid):
                got.append(unpack(ctx.get(block.o), n_out, out_type.width, out_type.signed))
    sim = Simulator(block)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return np.array(got)
