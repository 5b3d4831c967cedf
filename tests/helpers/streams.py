"""Driving Amaranth stream interfaces in Amaranth's simulator: random input gaps and output stalls."""

from amaranth.sim import Simulator


def drive_stream(top, src, snk, words, n_out_beats, rng, p_in=0.7, p_out=0.6, cycles=None):
    """Offer ``words`` on stream ``src`` with random gaps, take ``n_out_beats`` beats from ``snk`` with random
    stalls (Amaranth's simulator); the output words (and the cycle of each in the list ``cycles``)."""
    got = []
    cycles = [] if cycles is None else cycles

    async def bench(ctx):
        k = 0
        for cycle in range(20000):
            offer = k < len(words) and rng.random() < p_in
            ctx.set(src.valid, offer)
            ctx.set(src.payload, words[k] if offer else 0)
            ready = bool(rng.random() < p_out)
            ctx.set(snk.ready, ready)
            took = offer and ctx.get(src.ready)
            if ctx.get(snk.valid) and ready:
                got.append(ctx.get(snk.payload))
                cycles.append(cycle)
            await ctx.tick()
            k += int(took)
            if len(got) == n_out_beats:
                return
    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got
