"""Streams around the pipelined blocks: the glue of the streaming architecture.

:class:`PipelineStream` turns a block with the ports of :class:`~rtl_lib.dense.DenseParallel` (``i``, ``i_valid``,
``en``, ``o``, ``o_valid``; a block with a ``reuse`` attribute, such as :class:`~rtl_lib.mac.DenseResource`,
takes an input at most once every ``reuse`` enabled cycles) into a component with an input and an output
:class:`amaranth.lib.stream` interface. Backpressure stalls the whole pipeline (``en`` low) while a result waits on
the output, so nothing is lost and the latency from an accepted input to its result offered on the output is the
block's ``latency`` when the output never stalls. ``ready`` passes combinationally from the output to the input:
a FIFO between layers breaks that path.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["PipelineStream", "Collector", "Serializer", "Fork", "Join", "ResultFifo", "skip_fifo_depth"]


class ResultFifo(wiring.Component):
    """The output FIFO of a pipeline that never stops: ``depth`` places for results the consumer has not taken.

    A result (``w_valid``, ``w_data``) goes straight to the output when nothing waits and ``r_ready`` is high;
    otherwise it waits. The caller guarantees room (no more results in flight than places), so there is no
    ``w_ready``. Every arriving result is written to the free place at the write pointer, whether it waits or
    goes straight out (then it is not committed): the memory's write enable and address are flip-flops, where a
    write enable that depends on ``r_ready`` and the fill level is a LUT in front of a net reaching every memory
    slice of a wide result (1,024 bits: 448 ECP5 LUT-RAMs; that route was a 16x64 layer's critical path, 6.0 ns).

    Ports: ``w_data``, ``w_valid``; ``r_data``, ``r_valid``, ``r_ready``.
    """

    def __init__(self, width, depth):
        if depth < 1:
            self._MustUse__silence = True
            raise ValueError(f"a result FIFO needs at least one place, not {depth}")
        self.width, self.depth = width, depth
        super().__init__({"w_data": In(width), "w_valid": In(1), "r_data": Out(width), "r_valid": Out(1),
                          "r_ready": In(1)})

    def elaborate(self, platform):
        m = Module()
        depth = self.depth
        m.submodules.storage = mem = Memory(shape=self.width, depth=depth, init=[])
        wp, rp = mem.write_port(), mem.read_port(domain="comb")
        w_ptr, r_ptr = Signal(range(depth), name="w_ptr"), Signal(range(depth), name="r_ptr")
        level = Signal(range(depth + 1), name="level")
        waiting = level != 0
        commit = self.w_valid & ~(~waiting & self.r_ready)  # it waits: nothing ahead of it goes, or r_ready low
        pop = waiting & self.r_ready
        m.d.comb += [wp.addr.eq(w_ptr), wp.data.eq(self.w_data), wp.en.eq(self.w_valid), rp.addr.eq(r_ptr),
                     self.r_data.eq(Mux(waiting, rp.data, self.w_data)), self.r_valid.eq(waiting | self.w_valid)]

        def step(ptr):
            return Mux(ptr == depth - 1, 0, ptr + 1)
        with m.If(commit):
            m.d.sync += w_ptr.eq(step(w_ptr))
        with m.If(pop):
            m.d.sync += r_ptr.eq(step(r_ptr))
        m.d.sync += level.eq(level + commit - pop)
        return m


class PipelineStream(wiring.Component):
    """``ii``: the block takes an input at most once every ``ii`` enabled cycles (default: its ``reuse``). A block
    of latency 0 (combinational, no ``en``) passes ``valid`` forward and ``ready`` back unchanged."""

    def __init__(self, block, ii=None):
        self.block = block
        self.latency = block.latency
        self.ii = int(ii if ii is not None else getattr(block, "reuse", 1))
        super().__init__({"i": In(stream.Signature(len(block.i))), "o": Out(stream.Signature(len(block.o)))})

    def elaborate(self, platform):
        m = Module()
        b = m.submodules.block = self.block
        if self.latency == 0:
            m.d.comb += [b.i.eq(self.i.payload), b.i_valid.eq(self.i.valid), self.o.payload.eq(b.o),
                         self.o.valid.eq(self.i.valid), self.i.ready.eq(self.o.ready)]
            return m
        en = Signal()
        m.d.comb += en.eq(self.o.ready | ~b.o_valid)  # an OR, not a NOT on top: see nn2rtl.rtl
        can = Const(1)
        if self.ii > 1:  # an input at most once every ii enabled cycles
            wait = Signal(range(self.ii))
            can = wait == 0
            with m.If(en):
                with m.If(self.i.valid & can):
                    m.d.sync += wait.eq(self.ii - 1)
                with m.Elif(~can):
                    m.d.sync += wait.eq(wait - 1)
        m.d.comb += [b.en.eq(en), b.i.eq(self.i.payload), b.i_valid.eq(self.i.valid & en & can),
                     self.i.ready.eq(en & can), self.o.payload.eq(b.o), self.o.valid.eq(b.o_valid)]
        return m


class Collector(wiring.Component):
    """``n`` beats of ``beat_bits`` -> one beat of all of them (the first in the low bits): a feature map streamed
    pixel by pixel becomes the vector a Dense reads (a flatten in the streaming order, channels-last; the graph's
    permutation into the ONNX order is folded into the Dense's weight rows, as in the parallel architecture).

    The vector waits in its own register, so the next image's beats are taken while it waits; the last beat of an
    image waits until that register is free."""

    def __init__(self, n, beat_bits):
        self.n, self.beat_bits = int(n), int(beat_bits)
        super().__init__({"i": In(stream.Signature(beat_bits)), "o": Out(stream.Signature(self.n * beat_bits))})

    def elaborate(self, platform):
        m = Module()
        b, n = self.beat_bits, self.n
        count = Signal(range(n), name="count")
        partial = Signal(max(1, (n - 1) * b), name="partial")
        last = count == n - 1
        free = ~self.o.valid | self.o.ready
        m.d.comb += self.i.ready.eq(~last | free)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(self.i.valid & self.i.ready):
            with m.If(last):
                m.d.sync += [count.eq(0), self.o.valid.eq(1),
                             self.o.payload.eq(Cat(partial[:(n - 1) * b], self.i.payload) if n > 1
                                               else self.i.payload)]
            with m.Else():
                m.d.sync += count.eq(count + 1)
                for k in range(n - 1):
                    with m.If(count == k):
                        m.d.sync += partial[k * b:(k + 1) * b].eq(self.i.payload)
        return m


class Serializer(wiring.Component):
    """One beat of ``n * beat_bits`` -> ``n`` beats of ``beat_bits`` (the low bits first): a vector becomes a stream
    of pixels or of groups of elements. The next vector is taken in the cycle its predecessor's last beat leaves,
    so a vector every ``n`` cycles passes without a gap."""

    def __init__(self, n, beat_bits):
        self.n, self.beat_bits = int(n), int(beat_bits)
        super().__init__({"i": In(stream.Signature(self.n * beat_bits)), "o": Out(stream.Signature(beat_bits))})

    def elaborate(self, platform):
        m = Module()
        b, n = self.beat_bits, self.n
        count = Signal(range(n), name="count")
        full = Signal(name="full")
        held = Signal(n * b, name="held")
        last = count == n - 1
        m.d.comb += [self.o.valid.eq(full), self.o.payload.eq(held.word_select(count, b)),
                     self.i.ready.eq(~full | (self.o.ready & last))]
        with m.If(self.o.valid & self.o.ready):
            with m.If(last):
                m.d.sync += [count.eq(0), full.eq(0)]
            with m.Else():
                m.d.sync += count.eq(count + 1)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [full.eq(1), held.eq(self.i.payload)]
        return m


class Fork(wiring.Component):
    """One stream to two (the branches of a residual or U-Net block): each output takes every beat; an output
    that took it waits for the other (``valid`` never depends on ``ready``)."""

    def __init__(self, bits):
        super().__init__({"i": In(stream.Signature(bits)), "a": Out(stream.Signature(bits)),
                          "b": Out(stream.Signature(bits))})

    def elaborate(self, platform):
        m = Module()
        done_a, done_b = Signal(name="done_a"), Signal(name="done_b")
        m.d.comb += [self.a.payload.eq(self.i.payload), self.b.payload.eq(self.i.payload),
                     self.a.valid.eq(self.i.valid & ~done_a), self.b.valid.eq(self.i.valid & ~done_b),
                     self.i.ready.eq((done_a | self.a.ready) & (done_b | self.b.ready))]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [done_a.eq(0), done_b.eq(0)]
        with m.Else():
            with m.If(self.a.valid & self.a.ready):
                m.d.sync += done_a.eq(1)
            with m.If(self.b.valid & self.b.ready):
                m.d.sync += done_b.eq(1)
        return m


class Join(wiring.Component):
    """Two streams to one beat of both (``a`` in the low bits): a merge reads its two operands together."""

    def __init__(self, a_bits, b_bits):
        super().__init__({"a": In(stream.Signature(a_bits)), "b": In(stream.Signature(b_bits)),
                          "o": Out(stream.Signature(a_bits + b_bits))})

    def elaborate(self, platform):
        m = Module()
        both = self.a.valid & self.b.valid
        m.d.comb += [self.o.valid.eq(both), self.o.payload.eq(Cat(self.a.payload, self.b.payload)),
                     self.a.ready.eq(both & self.o.ready), self.b.ready.eq(both & self.o.ready)]
        return m


def skip_fifo_depth(takes, emits, latency):
    """FIFO depth on the short branch of a merge whose long branch is a window generator and a pipeline of
    ``latency`` cycles (a closed form for this one shape of network; nn2rtl's planner sizes every FIFO of any
    network with the cycle model of :mod:`nn2rtl.stream.schedule`). :func:`rtl_lib.window.window_schedule` gives
    ``takes`` and ``emits`` per step of an image, one output per input pixel. Returns ``(full_rate, minimum)``.

    ``minimum`` is the structural bound: the long branch's ``i``-th output needs every input pixel up to the one
    its window ends on, and the FIFO then holds pixels ``i`` to that one, except the last, which the
    :class:`Fork` holds; with fewer places the fork waits for the FIFO, the window generator for its next pixel,
    and nothing moves (deadlock). ``full_rate`` is the largest
    occupancy of the schedule without stalls (pixel ``j`` pushed at its step, output ``i`` popped ``latency + 1``
    cycles after its window's step), so the input is never held up by the FIFO."""
    import numpy as np
    takes, emits = np.asarray(takes, bool), np.asarray(emits, bool)
    if takes.sum() != emits.sum():
        raise ValueError("a merge adds the long branch's outputs to the input pixels one for one")
    pushed = np.cumsum(takes)                      # pixels pushed up to and including each step
    need = pushed[emits]                           # pixels taken when output i's window is complete
    minimum = int((need - np.arange(len(need))).max()) - 1
    push_t = np.flatnonzero(takes)
    pop_t = np.flatnonzero(emits) + 1 + latency
    events = sorted([(t, 1) for t in push_t] + [(t, -1) for t in pop_t], key=lambda e: (e[0], -e[1]))
    level = peak = 0
    for _, d in events:  # a full FIFO refuses a push even in the cycle of a pop: pushes count first
        level += d
        peak = max(peak, level)
    return max(peak, minimum), minimum
