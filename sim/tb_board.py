"""cocotb testbench of a board top (``boards/top.py``) at the bit level of its UART.

A UART model sends each input vector as a frame on ``rx`` (framed by :mod:`boards.host`, the code ``nn2rtl
board-run`` uses) and decodes the answer on ``tx``; every answer must be
the golden model's output, bit for bit. Frames listed in ``corrupt`` are sent with a wrong checksum and must be
answered with NAK (0x15) and nothing else, and the next frame must still be taken. Job: ``NN2RTL_TB_JOB`` (JSON,
written by :func:`sim.board_runner.run_board`); report: ``{"answers", "mismatches", "naks", "bad_naks", "errors"}``.
"""

import json
import os

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge

from boards.host import LinkError, decode_words, encode_frame
from rtl_lib.uart import NAK, SYNC_OUT, word_bytes
from sim.compat import make_clock, to_uint


async def send_byte(dut, byte, div):
    for bit in [0] + [(byte >> k) & 1 for k in range(8)] + [1]:
        dut.rx.value = bit
        await ClockCycles(dut.clk, div)


async def receive_byte(dut, div, limit):
    """The next byte on ``tx``, or None when no start bit comes within ``limit`` cycles."""
    for _ in range(limit):
        await RisingEdge(dut.clk)
        if to_uint(dut.tx.value) == 0:
            break
    else:
        return None
    await ClockCycles(dut.clk, div // 2)
    value = 0
    for k in range(8):
        await ClockCycles(dut.clk, div)
        value |= to_uint(dut.tx.value) << k
    await ClockCycles(dut.clk, div)
    if to_uint(dut.tx.value) != 1:
        raise AssertionError("stop bit low on tx")
    return value


@cocotb.test()
async def board_answers(dut):
    job = json.load(open(os.environ["NN2RTL_TB_JOB"]))
    data = np.load(job["vectors"], allow_pickle=True)  # our own file, written by sim.board_runner
    inputs, expected = data["inputs"], data["expected"]
    div, w_in, w_out, signed = job["divisor"], job["in_width"], job["out_width"], job["out_signed"]
    corrupt = set(job["corrupt"])
    nb = word_bytes(w_out)
    n_out = expected.shape[1]
    limit = div * 10 * (4 + len(inputs[0]) * word_bytes(w_in)) + job["latency"] + 1000
    report = {"answers": 0, "mismatches": [], "naks": 0, "bad_naks": [], "errors": []}

    cocotb.start_soon(make_clock(dut.clk, 10).start())
    dut.rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 2 * div)
    k = 0
    for v, row in enumerate(inputs):
        bad = v in corrupt
        for byte in encode_frame(row, w_in, bad):
            await send_byte(dut, byte, div)
        first = await receive_byte(dut, div, limit)
        if bad:
            if first == NAK:
                report["naks"] += 1
            else:
                report["bad_naks"].append({"vector": v, "got": first})
            continue
        if first != SYNC_OUT:
            report["errors"].append({"vector": v, "first_byte": first})
            break
        body = []
        for _ in range(n_out * nb + 1):
            b = await receive_byte(dut, div, limit)
            if b is None:
                break
            body.append(b)
        try:
            got = decode_words(body, n_out, w_out, signed)
        except LinkError as e:
            report["errors"].append({"vector": v, "answer": body, "error": str(e)})
            break
        report["answers"] += 1
        want = [int(x) for x in expected[k]]
        if got != want:
            report["mismatches"].append({"vector": v, "expected": want, "got": got})
        k += 1
    with open(job["report"], "w") as f:
        json.dump(report, f)
    assert not report["mismatches"] and not report["bad_naks"] and not report["errors"], report
