"""The streaming architecture (``IOType: io_stream``): plan (:mod:`.plan`), schedule (:mod:`.schedule`), top level
(:mod:`.top`). :class:`StreamDesign` ties them together for a typed graph."""

from __future__ import annotations

import numpy as np

from ..errors import ModelError
from ..ops import Cost
from .plan import plan_stream
from .schedule import size_fifos, stream_timing
from .top import StreamTop, tdata_bits

__all__ = ["StreamDesign", "MAX_BEAT_BITS"]

#: Amaranth (like many tools) limits one value to 65535 bits: the widest beat a stream can carry.
MAX_BEAT_BITS = (1 << 16) - 1


class StreamDesign:
    """The stream architecture of ``graph``: its stages, FIFO depths and timing (all from one schedule)."""

    def __init__(self, graph):
        self.graph = graph
        self.plan = plan_stream(graph, graph.meta.get("elements_per_beat"))
        for s in self.plan.stages:
            bits = self.plan.streams[s.outputs[0]].bits if s.outputs else 0
            if bits > MAX_BEAT_BITS:
                node = graph.node(s.node) if s.node else None
                where = f"layer {node.label}" if node is not None else f"stage {s.name}"
                raise ModelError(f"{where}: a beat of {bits} bits (one {'window' if s.kind == 'window' else 'vector'}"
                                 f"); the limit is {MAX_BEAT_BITS}. Use fewer channels, narrower types, or a "
                                 f"smaller kernel")
        self.depths = size_fifos(self.plan)
        self.timing = stream_timing(self.plan, self.depths)
        self.latency_first = self.timing["latency_first"][0]
        self.latency_last = self.timing["latency_last"][0]
        self.ii = max(self.timing["ii"]) if self.timing["ii"] else self.in_beats
        self.clock_period = float(graph.meta.get("clock_period", 5.0))

    @property
    def in_beats(self):
        return self.plan.streams[self._source.outputs[0]].beats

    @property
    def out_beats(self):
        return self.plan.streams[self._sink.inputs[0]].beats

    @property
    def _source(self):
        return next(s for s in self.plan.stages if s.kind == "source")

    @property
    def _sink(self):
        return next(s for s in self.plan.stages if s.kind == "sink")

    def costs(self):
        """Per graph node: the cost of its block for one beat (what is built once), zero for absorbed nodes."""
        out = {}
        for n in self.graph.nodes:
            if n.op == "Identity":
                continue
            pipes = [s for s in self.plan.stages if s.node == n.name and s.kind == "pipe"]
            out[n.name] = pipes[0].cost if pipes else Cost(latency=0, ii=1, multipliers=0, products=0, registers=0)
        return out

    def fifo_reasons(self):
        """Each FIFO: its depth and why (the branch it sits on, and where that branch meets the other)."""
        out = []
        for s in self.plan.stages:
            if s.kind != "fifo":
                continue
            consumer = next(c for c in self.plan.stages if s.outputs[0] in c.inputs)
            node = self.graph.node(consumer.node).label if consumer.node else consumer.name
            d = self.depths[s.name]
            out.append({"name": s.name, "depth": d, "width": self.plan.streams[s.inputs[0]].bits,
                        "bits": d * self.plan.streams[s.inputs[0]].bits, "feeds": node,
                        "reason": f"largest occupancy of the schedule (input every cycle, output always ready): "
                                  f"the branch into {node} waits here for the other branch of its tensor"})
        return out

    def memory_bits(self):
        line = sum(s.args["memory_bits"] for s in self.plan.stages if s.kind in ("window", "upsample"))
        fifo = sum(f["bits"] for f in self.fifo_reasons())
        return {"line_buffers": int(line), "fifos": int(fifo)}

    def stage_registers(self):
        """Registers of the glue: window registers, collected vectors, serialiser buffers (estimate)."""
        total = 0
        for s in self.plan.stages:
            if s.kind == "window":      # the window registers and the output register
                total += 2 * self.plan.streams[s.outputs[0]].bits
            elif s.kind == "collect":   # the partial vector and the output register
                total += 2 * self.plan.streams[s.outputs[0]].bits
            elif s.kind == "serialize":
                total += self.plan.streams[s.inputs[0]].bits
        return total

    def report(self):
        p = self.plan
        return {
            "io_type": "io_stream",
            "latency_first_beat": self.latency_first, "latency_last_beat": self.latency_last,
            "ii_per_image": self.ii, "input_beats": self.in_beats, "output_beats": self.out_beats,
            "clock_period_ns": self.clock_period,
            "images_per_second": 1e9 / (self.ii * self.clock_period),
            "input": {"port": "s_axis_tdata", "width": tdata_bits(p.streams[self._source.outputs[0]].bits),
                      "elements_per_beat": p.in_elements, "order": _order_text(self.graph, p.in_map, True)},
            "output": {"port": "m_axis_tdata", "width": tdata_bits(p.streams[self._sink.inputs[0]].bits),
                       "elements_per_beat": p.out_elements, "order": _order_text(self.graph, p.out_map, False)},
            "memory_bits": self.memory_bits(),
            "fifos": self.fifo_reasons(),
            "stages": [{"name": s.name, "kind": s.kind, "node": s.node, "latency": s.latency, "ii": s.ii}
                       for s in p.stages],
        }

    def top(self, library=None):
        return StreamTop(self.plan, self.depths, library)

    def to_stream(self, raw, side="in"):
        """Raw rows (the model's own order) -> rows in stream order (beats of elements, zero-padded)."""
        p = self.plan
        m, e = (p.in_map, p.in_elements) if side == "in" else (p.out_map, p.out_elements)
        rows = np.asarray(raw)[:, m]
        pad = (-rows.shape[1]) % e
        if pad:
            rows = np.concatenate([rows, np.zeros((rows.shape[0], pad), dtype=rows.dtype)], axis=1)
        return rows


def _order_text(graph, index, is_input):
    t = graph.tensors[graph.inputs[0] if is_input else graph.outputs[0]]
    if np.array_equal(index, np.arange(t.size)):
        return "the model's own (row-major) order"
    return "channels-last: one spatial position per beat, its channels packed; positions row-major"
