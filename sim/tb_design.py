"""cocotb testbench for an nn2rtl top level: drives raw vectors, checks every bit and the latency.

Reads its job from the ``NN2RTL_TB_JOB`` JSON file (written by :mod:`sim.runner`): the vectors file (``.npz`` with
``inputs`` (N, n_in), ``expected`` (N, n_out) raw integers and ``gaps`` (N,) idle cycles before each vector),
element widths, the stated latency, and where to write the report. The report lists measured latency per
vector, and for every mismatch the vector, output index, expected and got.
"""

import json
import os

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge, Timer

from sim.compat import make_clock, to_uint

MAX_REPORTED = 50


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
    data = np.load(job["vectors"], allow_pickle=True)
    inputs, expected, gaps = data["inputs"], data["expected"], data["gaps"]
    n_vec, n_out = expected.shape
    w_in, w_out, out_signed = job["in_width"], job["out_width"], job["out_signed"]
    latency = job["latency"]

    cocotb.start_soon(make_clock(dut.clk, 10).start())
    dut.rst.value = 1
    dut.in_valid.value = 0
    dut.in_data.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    await Timer(1, "ns")
    dut.rst.value = 0

    # cycle s: inputs are driven 1 ns after rising edge s, outputs sampled at the falling edge of cycle s
    schedule = []  # cycle -> vector index or None
    for k in range(n_vec):
        schedule += [None] * int(gaps[k]) + [k]
    schedule += [None] * (latency + 8)
    sent_at, got = {}, []
    for cycle, k in enumerate(schedule):
        await RisingEdge(dut.clk)
        await Timer(1, "ns")
        if k is None:
            dut.in_valid.value = 0
        else:
            dut.in_valid.value = 1
            dut.in_data.value = pack(inputs[k], w_in)
            sent_at[k] = cycle
        await FallingEdge(dut.clk)
        await ReadOnly()
        if to_uint(dut.out_valid.value):
            got.append((cycle, unpack(to_uint(dut.out_data.value), n_out, w_out, out_signed)))

    mismatches, latencies = [], []
    for k, (cycle, values) in enumerate(got[:n_vec]):
        latencies.append(cycle - sent_at[k])
        for j in range(n_out):
            if values[j] != int(expected[k, j]):
                mismatches.append({"vector": k, "output": j, "expected": int(expected[k, j]), "got": values[j]})
    report = {
        "vectors": n_vec, "results": len(got), "mismatches": len(mismatches),
        "first_mismatches": mismatches[:MAX_REPORTED],
        "latency_min": min(latencies, default=None), "latency_max": max(latencies, default=None),
        "stated_latency": latency,
        "back_to_back_cycles": int(sum(1 for g in gaps if g == 0)),
    }
    with open(job["report"], "w") as f:
        json.dump(report, f, indent=1)
    for mm in mismatches[:10]:
        dut._log.error(f"vector {mm['vector']} output {mm['output']}: expected {mm['expected']}, got {mm['got']}")
    assert len(got) == n_vec, f"{len(got)} results for {n_vec} vectors (lost or duplicated outputs)"
    assert not mismatches, f"{len(mismatches)} mismatching outputs; first: {mismatches[0]}"
    assert set(latencies) == {latency}, f"measured latency {sorted(set(latencies))} != stated {latency}"
