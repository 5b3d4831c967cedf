"""cocotb testbench for an io_stream top level, with cocotbext-axi's AXI4-Stream source and sink.

Reads its job from ``NN2RTL_TB_JOB`` (written by :func:`sim.stream_runner.run_stream_cocotb`): one frame per image
(its beats as integers), the bytes per beat on each side, how many images are timed, the random pause rates and
where to write what it observed. Phase 1 sends the timed images with neither side pausing; phase 2 the rest with
cocotbext-axi's pause generators pausing the source and the sink at random. A monitor records the cycle of every
handshake on both interfaces; the sink's frames (split on ``tlast``) give the beats. The verdict is computed by
the runner from these observations, with the same rules as the C++ stream harness.
"""

import json
import os
from itertools import cycle as forever

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge, Timer
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource

from sim.compat import make_clock, to_uint


@cocotb.test()
async def stream_images(dut):
    job = json.load(open(os.environ["NN2RTL_TB_JOB"]))
    frames = [[int(w) for w in f] for f in job["frames"]]
    bin_, bout = job["in_bytes"], job["out_bytes"]
    timed = job["timed"]
    rng = np.random.default_rng(job["seed"])

    cocotb.start_soon(make_clock(dut.clk, 10).start())
    # every input port is written once before the bus models start: under cocotb 1.9 and Verilator 5.006 a port
    # first written by cocotbext-axi's clock-edge callback kept reading 0 (tvalid moved, tdata did not)
    dut.rst.value = 1
    dut.s_axis_tvalid.value = 0
    dut.s_axis_tdata.value = 0
    dut.s_axis_tlast.value = 0
    dut.m_axis_tready.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    await Timer(1, "ns")
    dut.rst.value = 0
    # the bus models start after the reset (handed the reset signal, they saw its release at time 0 and stopped)
    source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk)
    sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk)

    in_at, out_at = [], []
    state = {"cycle": 0, "stalls": 0}

    async def monitor():
        while True:
            await FallingEdge(dut.clk)
            await ReadOnly()
            if to_uint(dut.s_axis_tvalid.value) and to_uint(dut.s_axis_tready.value):
                in_at.append(state["cycle"])
            ov, orr = to_uint(dut.m_axis_tvalid.value), to_uint(dut.m_axis_tready.value)
            if ov and orr:
                out_at.append(state["cycle"])
            elif ov:
                state["stalls"] += 1
            state["cycle"] += 1

    cocotb.start_soon(monitor())

    def frame_bytes(words, nbytes):
        return b"".join(int(w).to_bytes(nbytes, "little") for w in words)

    got = []
    for f in frames[:timed]:
        await source.send(AxiStreamFrame(frame_bytes(f, bin_)))
    for _ in range(timed):
        got.append(await sink.recv())
    source.set_pause_generator(forever((rng.random(997) > job["valid_prob"]).tolist()))
    sink.set_pause_generator(forever((rng.random(991) > job["ready_prob"]).tolist()))
    for f in frames[timed:]:
        await source.send(AxiStreamFrame(frame_bytes(f, bin_)))
    for _ in range(len(frames) - timed):
        got.append(await sink.recv())
    for _ in range(job["drain"]):  # nothing more may appear
        await RisingEdge(dut.clk)
    extra = len(out_at) - sum(len(bytes(g.tdata)) // bout for g in got)

    words, tlast = [], []
    for g in got:
        data = bytes(g.tdata)
        beats = [int.from_bytes(data[k:k + bout], "little") for k in range(0, len(data), bout)]
        words += beats
        tlast += [0] * (len(beats) - 1) + [1]
    with open(job["report"], "w") as fh:
        json.dump({"words": [str(w) for w in words], "tlast": tlast, "in_at": in_at, "out_at": out_at,
                   "extra": extra,
                   "stalls": state["stalls"], "cycles": state["cycle"]}, fh)
