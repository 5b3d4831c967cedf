"""Streams around the pipelined blocks: the glue of the streaming architecture.

:class:`PipelineStream` turns a block with the ports of :class:`~rtl_lib.dense.DenseParallel` (``i``, ``i_valid``,
``en``, ``o``, ``o_valid``; a block with a ``reuse`` attribute, such as :class:`~rtl_lib.mac.DenseResource`,
takes an input at most once every ``reuse`` enabled cycles) into a component with an input and an output
:class:`amaranth.lib.stream` interface. Backpressure stalls the whole pipeline (``en`` low) while a result waits on
the output, so nothing is lost and the latency from an accepted input to its result offered on the output is the
block's ``latency`` when the output never stalls. ``ready`` passes combinationally from the output to the input:
a FIFO between layers breaks that path.
"""

from amaranth.hdl import Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["PipelineStream"]


class PipelineStream(wiring.Component):
    def __init__(self, block):
        self.block = block
        self.latency = block.latency
        self.ii = int(getattr(block, "reuse", 1))
        super().__init__({"i": In(stream.Signature(len(block.i))), "o": Out(stream.Signature(len(block.o)))})

    def elaborate(self, platform):
        m = Module()
        b = m.submodules.block = self.block
        en = Signal()
        m.d.comb += en.eq(~(b.o_valid & ~self.o.ready))
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
