"""The top level of a stream design: AXI4-Stream ports around the planned stage network.

Ports (clock ``clk``, synchronous active-high reset ``rst``)::

    s_axis_tdata [8*ceil(B_in/8)]   one input beat: E_in elements of the input type, element k in bits [k*W +: W]
    s_axis_tvalid, s_axis_tready    a beat is taken in a cycle where both are high
    s_axis_tlast                    accepted and ignored: the design counts the beats of an image itself
    m_axis_tdata [8*ceil(B_out/8)]  one output beat, packed the same way (unused high bits zero)
    m_axis_tvalid, m_axis_tready    a beat is delivered in a cycle where both are high; held while tready is low
    m_axis_tlast                    high on the last beat of each image

A pixel stream's beat is one spatial position with its channels (channels-last, positions row-major); a vector's
beats are groups of consecutive elements (the whole vector by default).
"""

import numpy as np
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from rtl_lib.streaming import Collector, Fork, Join, PipelineStream, Serializer
from rtl_lib.window import Upsampler, WindowGenerator, ZeroPad

from ..ops import REGISTRY

__all__ = ["StreamTop", "tdata_bits"]


def tdata_bits(bits):
    """AXI4-Stream ``tdata`` is a whole number of bytes."""
    return max(8, -(-bits // 8) * 8)


def build_block(stage, library=None):
    """The Amaranth block of a ``pipe`` stage: the op's own block for one beat."""
    pnode, view = stage.args["pnode"], stage.args["view"]
    if "divisors" in stage.args:
        from rtl_lib.pool import PositionalAvgPool
        k = int(np.prod(pnode.attrs["kernel"]))
        c = pnode.attrs["in_shape"][-1]
        return PositionalAvgPool(k, c, pnode.types["input"], pnode.types["accum"], pnode.types["result"],
                                 stage.args["divisors"], levels_per_stage=pnode.attrs.get("levels_per_stage", 2))
    return REGISTRY[pnode.op].block(pnode, view, library)


class StreamTop(wiring.Component):
    def __init__(self, plan, depths, library=None):
        self.plan, self.depths, self.library = plan, depths, library
        streams = plan.streams
        src = next(s for s in plan.stages if s.kind == "source")
        snk = next(s for s in plan.stages if s.kind == "sink")
        self.in_bits = streams[src.outputs[0]].bits
        self.out_bits = streams[snk.inputs[0]].bits
        self.out_beats = streams[snk.inputs[0]].beats
        super().__init__({
            "s_axis_tdata": In(tdata_bits(self.in_bits)), "s_axis_tvalid": In(1), "s_axis_tready": Out(1),
            "s_axis_tlast": In(1),
            "m_axis_tdata": Out(tdata_bits(self.out_bits)), "m_axis_tvalid": Out(1), "m_axis_tready": In(1, init=1),
            "m_axis_tlast": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        sig = {}
        for name, s in self.plan.streams.items():
            short = name.split("_")[0]
            sig[name] = (Signal(max(1, s.bits), name=f"{short}_data"), Signal(name=f"{short}_valid"),
                         Signal(name=f"{short}_ready"))

        def produce(name, port):
            d, v, r = sig[name]
            m.d.comb += [d.eq(port.payload), v.eq(port.valid), port.ready.eq(r)]

        def consume(port, name):
            d, v, r = sig[name]
            m.d.comb += [port.payload.eq(d[:len(port.payload)]), port.valid.eq(v), r.eq(port.ready)]

        # every block first: one that refuses its parameters leaves nothing half built
        blocks = {s.name: build_block(s, self.library) for s in self.plan.stages if s.kind == "pipe"}
        for s in self.plan.stages:
            k = s.kind
            if k == "source":
                d, v, r = sig[s.outputs[0]]
                m.d.comb += [d.eq(self.s_axis_tdata), v.eq(self.s_axis_tvalid), self.s_axis_tready.eq(r)]
                continue
            if k == "sink":
                d, v, r = sig[s.inputs[0]]
                count = Signal(range(max(2, self.out_beats)), name="out_beat")
                last = count == self.out_beats - 1
                m.d.comb += [self.m_axis_tdata.eq(d), self.m_axis_tvalid.eq(v), r.eq(self.m_axis_tready),
                             self.m_axis_tlast.eq(last)]
                with m.If(v & self.m_axis_tready):
                    m.d.sync += count.eq(Mux(last, 0, count + 1))
                continue
            if k == "window":
                a = s.args
                blk = WindowGenerator(a["height"], a["width"], a["pixel_bits"], a["kernel"], a["strides"], a["pads"],
                                      a["pad_pixel"])
            elif k == "pipe":
                block = blocks[s.name]
                if block.latency != s.latency:
                    raise AssertionError(f"{s.name}: block latency {block.latency}, planned {s.latency}")
                blk = PipelineStream(block, ii=s.ii)
            elif k == "upsample":
                a = s.args
                blk = Upsampler(a["height"], a["width"], a["pixel_bits"], a["sy"], a["sx"])
            elif k == "pad":
                a = s.args
                blk = ZeroPad(a["height"], a["width"], a["pixel_bits"], a["pads"])
            elif k == "collect":
                blk = Collector(s.args["n"], self.plan.streams[s.inputs[0]].bits)
            elif k == "serialize":
                blk = Serializer(s.args["n"], self.plan.streams[s.outputs[0]].bits)
            elif k == "fork":
                blk = Fork(self.plan.streams[s.inputs[0]].bits)
            elif k == "join":
                a, b = (self.plan.streams[i].bits for i in s.inputs)
                blk = Join(a, b)
            elif k == "fifo":
                blk = SyncFIFO(width=self.plan.streams[s.inputs[0]].bits, depth=self.depths[s.name])
            else:
                raise AssertionError(k)
            m.submodules[s.name] = blk
            if k == "fork":
                consume(blk.i, s.inputs[0])
                produce(s.outputs[0], blk.a)
                produce(s.outputs[1], blk.b)
            elif k == "join":
                consume(blk.a, s.inputs[0])
                consume(blk.b, s.inputs[1])
                produce(s.outputs[0], blk.o)
            elif k == "fifo":
                consume(blk.w_stream, s.inputs[0])
                produce(s.outputs[0], blk.r_stream)
            else:
                consume(blk.i, s.inputs[0])
                produce(s.outputs[0], blk.o)
        return m
