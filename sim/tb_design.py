"""cocotb testbench for an nn2rtl top level: drives raw vectors, checks every bit and the latency.

Reads its job from the ``NN2RTL_TB_JOB`` JSON file (written by :mod:`sim.runner`): the vectors file (``.npz`` with
``inputs`` (N, n_in), ``expected`` (N, n_out) raw integers and ``gaps`` (N,) idle cycles before each vector),
element widths, the stated latency and II, the vector from which the consumer stalls at random (``out_ready``
low) and how often, and where to write the report. The report gives the measured latency and II, and for every
mismatch the vector, output index, expected and got. The verdict is :func:`sim.checks.summarize`, the same as the
C++ harness's: a result lost, extra (also in a drain period after the last one) or changed during a stall, an
input taken while the output stalls, or an unmeasured or wrong II fails.
"""

import json
import os

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge, Timer

from sim.checks import SimResult, summarize
from sim.compat import make_clock, to_uint


def pack(values, width):
    mask = (1 << width) - 1
    word = 0
    for k, v in enumerate(values):
        word |= (int(v) & mask) << (k * width)
    return word


def unpack(word, n, width, signed):
    mask = (1 << width) - 1
    out = []
    for k in range(n):
        v = (word >> (k * width)) & mask
        if signed and v >> (width - 1):
            v -= 1 << width
        out.append(v)
    return out


@cocotb.test()
async def check_vectors(dut):
    job = json.load(open(os.environ["NN2RTL_TB_JOB"]))
    data = np.load(job["vectors"], allow_pickle=True)  # our own file, written by sim.runner
    inputs, expected, gaps = data["inputs"], data["expected"], data["gaps"]
    n_vec, n_out = expected.shape
    w_in, w_out, out_signed = job["in_width"], job["out_width"], job["out_signed"]
    stall_from, ready_prob = job["stall_from"], job["ready_prob"]
    rng = np.random.default_rng(job["seed"])

    cocotb.start_soon(make_clock(dut.clk, 10).start())
    dut.rst.value = 1
    dut.in_valid.value = 0
    dut.in_data.value = 0
    dut.out_ready.value = 1
    for _ in range(3):
        await RisingEdge(dut.clk)
    await Timer(1, "ns")
    dut.rst.value = 0

    # Inputs are driven 1 ns after a rising edge, handshakes sampled at the falling edge of the same cycle.
    # Vector k is offered gaps[k] cycles after vector k-1 was taken, and held until in_ready takes it. From
    # vector stall_from on, out_ready is low with probability 1 - ready_prob. Cycles are counted twice: all of
    # them, and "enabled" ones (no output stall), in which latency and II are exact. After the last result the
    # design runs job["drain"] more cycles, in which no result may appear.
    accepted_at, result_at, got, accepted_stalls, result_stalls = [], [], [], [], []
    hold_violations = ready_while_stalled = extra = drained = 0
    k, idle, cycle, enabled, stall_cycles = 0, int(gaps[0]) if n_vec else 0, 0, 0, 0
    held = None  # (data) of a result offered but not taken in the previous cycle
    prev_stalled = False  # FlowControl skid: in_ready must be low in the cycle after a stalled one
    while cycle < job["limit"]:
        done = len(got) >= n_vec
        if done and drained >= job["drain"]:
            break
        await RisingEdge(dut.clk)
        await Timer(1, "ns")
        offering = k < n_vec and idle == 0
        dut.in_valid.value = int(offering)
        if offering:
            dut.in_data.value = pack(inputs[k], w_in)
        stalling = not done and k >= stall_from and rng.random() > ready_prob
        dut.out_ready.value = int(not stalling)
        await FallingEdge(dut.clk)
        await ReadOnly()
        out_valid = to_uint(dut.out_valid.value)
        if held is not None:
            if not out_valid or to_uint(dut.out_data.value) != held:
                hold_violations += 1
            held = None
        if out_valid and not stalling:
            if done:
                extra += 1
            else:
                result_at.append(enabled)
                result_stalls.append(stall_cycles)
                got.append(unpack(to_uint(dut.out_data.value), n_out, w_out, out_signed))
        elif out_valid:
            held = to_uint(dut.out_data.value)
            if job["stall_blocks_input"] and not job["ready_lag"] and to_uint(dut.in_ready.value):
                ready_while_stalled += 1
        if job["stall_blocks_input"] and job["ready_lag"] and prev_stalled and to_uint(dut.in_ready.value):
            ready_while_stalled += 1
        prev_stalled = bool(out_valid and stalling)
        if offering and to_uint(dut.in_ready.value):
            accepted_at.append(enabled)
            accepted_stalls.append(stall_cycles)
            k += 1
            idle = int(gaps[k]) if k < n_vec else 0
        elif not offering and idle:
            idle -= 1
        if out_valid and stalling:
            stall_cycles += 1
        else:
            enabled += 1
        if done:
            drained += 1
        cycle += 1

    outputs = np.array(got, dtype=object).reshape(len(got), n_out)
    report = summarize(expected, accepted_at, result_at, outputs, gaps, job["latency"], job["ii"],
                       stall_cycles=stall_cycles, hold_violations=hold_violations,
                       ready_while_stalled=ready_while_stalled, extra_results=extra, cycles=cycle,
                       accepted_stalls=accepted_stalls, result_stalls=result_stalls,
                       free_running=not job["stall_blocks_input"])
    with open(job["report"], "w") as f:
        json.dump(report, f, indent=1)
    failures = SimResult(**report).failures()
    for line in failures:
        dut._log.error(line)
    assert not failures, "; ".join(failures)
