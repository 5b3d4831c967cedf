"""RTL back end: a typed graph becomes one top-level Amaranth component, then Verilog.

The top level (clock ``clk``, synchronous active-high reset ``rst``) has flat vectors::

    in_data  [n_in * W_in]    element k in bits [k*W_in +: W_in]  (raw fixed-point, two's complement)
    in_valid, in_ready        an input is taken in a cycle where both are high; in_ready is high at most once
                              every II cycles (II = the largest reuse factor) and low while the output stalls
    out_data [n_out * W_out]  element k in bits [k*W_out +: W_out]
    out_valid, out_ready      a result is delivered in a cycle where both are high; out_data and out_valid hold
                              while out_ready is low

Each node elaborates to the :mod:`rtl_lib` block its op names; latency is the longest sum of the blocks' latencies
along any path, read off the blocks themselves. Where branches meet (a residual ``Add``, a ``Concat``), the earlier
inputs wait in registers until the last arrives (:func:`balance_registers`).

Flow control: the blocks are fixed-latency pipelines that share one clock enable, ``en = ~(out_valid &
~out_ready)``: a result the consumer does not take freezes the whole pipeline, so nothing is lost or duplicated and
latency counts enabled cycles. The input side admits one input every II enabled cycles, which is what every block
with a reuse factor needs; no block has to refuse data.

With ``FlowControl: fifo`` (``graph.meta["flow_control"]``) the blocks' enable is constant high: nothing stops the
pipeline, so no enable net fans out to every flip-flop (on an ECP5 that net, not the adders, set the clock). A
result the consumer does not take waits in an output FIFO of :func:`fifo_depth` places (a result that finds the
FIFO empty and the consumer ready goes straight out: the latency is the pipeline's), and ``in_ready`` is high
while fewer inputs are in flight than the FIFO has places, so nothing is ever dropped. The II is unchanged.

With ``FlowControl: skid`` the enable is a register, ``en <= out_ready | ~out_valid`` (``en_next``): the pipeline
stops one cycle after a result is refused, and the result of that cycle waits in a skid register (full exactly
while ``en`` is low). ``in_ready`` is ``en`` (a flip-flop), low in the cycle after each stalled one. Latency and
II are those of ``stall``. Blocks with an ``en_next`` port (the multiply-accumulate arrays) keep copies of the
enable register near their loads.
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl_lib.streaming import ResultFifo

from .errors import UnsupportedOpError
from .ops import REGISTRY

__all__ = ["Top", "to_verilog", "schedule", "arrivals", "balance_registers", "fifo_depth"]


def arrivals(graph, costs):
    """Cycle at which each tensor is ready (graph inputs at 0): a node starts when its last input arrives."""
    arrival = {t: 0 for t in graph.inputs}
    for n in graph.nodes:
        start = max(arrival[t] for t in n.inputs)
        lat = costs[n.name].latency if n.name in costs else 0
        for t in n.outputs:
            arrival[t] = start + lat
    return arrival


def schedule(graph):
    """Per-node cost and the design's latency/II, from the blocks that build the hardware."""
    costs = {n.name: REGISTRY[n.op].cost(n, graph) for n in graph.nodes if n.op != "Identity"}
    arrival = arrivals(graph, costs)
    latency = max(arrival[t] for t in graph.outputs)
    ii = max([c.ii for c in costs.values()], default=1)
    return costs, latency, ii


def fifo_depth(latency, ii):
    """Places of the output FIFO of ``FlowControl: fifo``: the inputs that can be in flight at the full rate. An
    input holds its place from the cycle it is taken to the cycle its result is, ``latency + 1`` cycles, and a new
    one comes every ``ii``; with fewer places ``in_ready`` would drop before the II (the simulation measures it)."""
    return -(-(latency + 1) // ii) if latency > 0 else 0


def balance_registers(graph, costs):
    """Flip-flop bits that delay the earlier inputs of a merge until its last input arrives (branches of unequal
    latency, as in a residual block)."""
    arrival = arrivals(graph, costs)
    total = 0
    for n in graph.nodes:
        start = max(arrival[t] for t in n.inputs)
        total += sum((start - arrival[t]) * graph.tensors[t].size * graph.tensors[t].type.width for t in n.inputs)
    return total


class Top(wiring.Component):
    def __init__(self, graph, library=None):
        self.library = library
        if len(graph.inputs) != 1 or len(graph.outputs) != 1:
            raise UnsupportedOpError([(graph.name, "Graph", f"{len(graph.inputs)} inputs and {len(graph.outputs)} "
                                                            "outputs; the RTL back end needs one of each")])
        self.graph = graph
        tin = graph.tensors[graph.inputs[0]]
        tout = graph.tensors[graph.outputs[0]]
        self.in_tensor, self.out_tensor = tin, tout
        self.costs, self.latency, self.ii = schedule(graph)
        super().__init__({
            "in_data": In(tin.size * tin.type.width),
            "in_valid": In(1),
            "in_ready": Out(1),
            "out_data": Out(tout.size * tout.type.width),
            "out_valid": Out(1),
            "out_ready": In(1, init=1),
        })

    def elaborate(self, platform):
        # every block first: a block that refuses its parameters leaves no half-built module behind
        blocks = {n.name: REGISTRY[n.op].block(n, self.graph, self.library)
                  for n in self.graph.nodes if n.op != "Identity"}
        m = Module()
        flow = self.graph.meta.get("flow_control", "stall")
        depth = fifo_depth(self.latency, self.ii) if flow == "fifo" else 0
        skid = flow == "skid" and self.latency > 0
        en = Signal(name="en", init=int(skid))
        en_next = Signal(name="en_next")
        if skid:
            # the enable is a register: the pipeline stops in the cycle after a result is refused, so the result of
            # that cycle waits in a one-place skid register. It holds a result exactly while en is low (a refusal
            # holds en low until the result is taken), so en is its "empty" bit too. Blocks that copy the enable
            # near their loads (the multiply-accumulate groups) register en_next themselves
            m.d.comb += en_next.eq(self.out_ready | ~self.out_valid)
            m.d.sync += en.eq(en_next)
            room = en
        elif depth:
            m.d.comb += en.eq(1)  # the pipeline never stops: results that wait go to the FIFO
            in_flight = Signal(range(depth + 1), name="in_flight")
            room = in_flight != depth
            m.d.sync += in_flight.eq(in_flight + (self.in_valid & self.in_ready) - (self.out_valid & self.out_ready))
        else:
            # written as an OR: Yosys 0.23 folds a top-level NOT into the flip-flops' enable polarity, then puts
            # an inverter per flip-flop back (xc7 CE is active high); unmerged, one LUT2 per flip-flop
            m.d.comb += en.eq(self.out_ready | ~self.out_valid)
            room = en
        if self.ii > 1:  # enabled cycles until the next input may enter
            wait = Signal(range(self.ii), name="wait")
            m.d.comb += self.in_ready.eq(room & (wait == 0))
            with m.If(en):
                with m.If(self.in_valid & self.in_ready):
                    m.d.sync += wait.eq(self.ii - 1)
                with m.Elif(wait != 0):
                    m.d.sync += wait.eq(wait - 1)
        elif self.latency == 0:
            # nothing is stored (every layer is combinational): the input is taken exactly when its result is,
            # so ready passes back and valid passes forward (en would loop through out_valid)
            m.d.comb += self.in_ready.eq(self.out_ready)
            # every top level has the same ports: a register (which Yosys then removes as unused) keeps clk/rst
            keep = Signal(name="keep_clock_ports")
            m.d.sync += keep.eq(self.in_valid)
        else:
            m.d.comb += self.in_ready.eq(room)
        valid_in = self.in_valid if self.latency == 0 else self.in_valid & self.in_ready
        arrival = arrivals(self.graph, self.costs)
        data = {self.in_tensor.name: (self.in_data, valid_in)}
        for n in self.graph.nodes:
            start = max(arrival[t] for t in n.inputs)
            parts = []
            for k, t in enumerate(n.inputs):  # an earlier branch waits for the last one in registers
                d, v = data[t]
                for c in range(start - arrival[t]):
                    dd = Signal(len(d), name=f"{n.name}_in{k}_d{c}")
                    vv = Signal(name=f"{n.name}_in{k}_v{c}")
                    with m.If(en):
                        m.d.sync += [dd.eq(d), vv.eq(v)]
                    d, v = dd, vv
                parts.append(d)
            d = parts[0] if len(parts) == 1 else Cat(*parts)
            if n.op == "Identity":
                data[n.outputs[0]] = (d, v)
                continue
            blk = blocks[n.name]
            m.submodules[n.name] = blk
            m.d.comb += [blk.i.eq(d), blk.i_valid.eq(v)]
            if "en" in blk.signature.members:
                m.d.comb += blk.en.eq(en)
            if "en_next" in blk.signature.members:
                m.d.comb += blk.en_next.eq(en_next)
            data[n.outputs[0]] = (blk.o, blk.o_valid)
        d, v = data[self.out_tensor.name]
        if skid:
            held = Signal(len(d), name="skid")
            with m.If(en):  # every cycle the pipeline moves: the result it makes now is kept should it be refused
                m.d.sync += held.eq(d)
            m.d.comb += [self.out_data.eq(Mux(en, d, held)), self.out_valid.eq(~en | v)]
        elif depth:
            m.submodules.out_fifo = fifo = ResultFifo(len(d), depth)
            m.d.comb += [fifo.w_data.eq(d), fifo.w_valid.eq(v), self.out_data.eq(fifo.r_data),
                         self.out_valid.eq(fifo.r_valid), fifo.r_ready.eq(self.out_ready)]
        else:
            m.d.comb += [self.out_data.eq(d), self.out_valid.eq(v)]
        return m


def to_verilog(graph, top_name):
    """Verilog text of the whole design (one module per block plus the top)."""
    from rtl_lib.library import ModuleLibrary, convert
    library = ModuleLibrary(top_name)
    top = Top(graph, library)
    return top, convert(top, top_name, library)
