"""UART and framing in Amaranth's simulator: bytes on the line at the bit level, frames in both directions,
a wrong checksum answered with NAK and the next frame still taken, a stop-bit error."""

import numpy as np
from amaranth.hdl import Module
from amaranth.sim import Simulator

from rtl_lib.uart import NAK, SYNC_IN, SYNC_OUT, FrameReceiver, FrameSender, UartRx, UartTx

DIV = 6


def line_bits(byte, stop=1):
    return [0] + [(byte >> k) & 1 for k in range(8)] + [stop]


def frame_bytes(words, width, sync=SYNC_IN, corrupt=False):
    nb = -(-width // 8)
    payload = []
    for v in words:
        payload += [(int(v) >> (8 * k)) & 0xFF for k in range(nb)]
    csum = sum(payload) % 256
    return [sync] + payload + [(csum + 1) % 256 if corrupt else csum]


def test_rx_tx_bytes_at_the_bit_level():
    rx, tx = UartRx(DIV), UartTx(DIV)
    m = Module()
    m.submodules.rx, m.submodules.tx = rx, tx
    sent = [0x00, 0xFF, 0xA5, 0x5A, 0x13]
    got, errors, line = [], [], []

    async def drive(ctx):
        for byte, stop in [(b, 1) for b in sent] + [(0x42, 0), (0x77, 1)]:
            for bit in line_bits(byte, stop):
                ctx.set(rx.rx, bit)
                await ctx.tick().repeat(DIV)
            if not stop:
                ctx.set(rx.rx, 1)
                await ctx.tick().repeat(3 * DIV)
        ctx.set(rx.rx, 1)
        await ctx.tick().repeat(3 * DIV)

    async def watch(ctx):
        async for _, _, valid, error, data in ctx.tick().sample(rx.valid, rx.error, rx.data):
            if valid:
                got.append(data)
            if error:
                errors.append(data)

    async def send(ctx):
        for byte in [0x3C, 0xC3]:
            ctx.set(tx.data, byte)
            ctx.set(tx.valid, 1)
            await ctx.tick().until(tx.ready)
            await ctx.tick()
            ctx.set(tx.valid, 0)

    async def record(ctx):
        for _ in range(40 * DIV):
            line.append(ctx.get(tx.tx))
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(drive)
    sim.add_process(watch)
    sim.add_testbench(send)
    sim.add_testbench(record)
    sim.run()
    assert got == sent + [0x77]  # the byte with a low stop bit is dropped and flagged
    assert errors == [0x42]
    assert 0 in line  # the transmitter started

    # decode the transmitter's line: start bit, 8 data bits LSB first, stop bit, sampled mid-bit
    decoded, k = [], 0

    while k < len(line) and len(decoded) < 2:
        if line[k] == 0:
            bits = [line[k + DIV // 2 + DIV * (j + 1)] for j in range(9)]
            assert bits[8] == 1
            decoded.append(sum(b << j for j, b in enumerate(bits[:8])))
            k += DIV * 10
        else:
            k += 1
    assert decoded == [0x3C, 0xC3]


def test_frames_both_ways_with_a_bad_checksum_answered_by_nak():
    width, n = 10, 3
    rcv, snd = FrameReceiver(n, width), FrameSender(n, width, signed=True)
    m = Module()
    m.submodules.rcv, m.submodules.snd = rcv, snd
    m.d.comb += snd.nak.eq(rcv.nak)  # as the board top wires them
    rng = np.random.default_rng(1)
    vectors = [rng.integers(-512, 512, size=n) for _ in range(3)]
    stream = (frame_bytes(vectors[0], width) + [0x00, 0x13]  # noise between frames is ignored
              + frame_bytes(vectors[1], width, corrupt=True) + frame_bytes(vectors[2], width))
    received, out = [], []

    async def drive(ctx):
        for byte in stream:
            ctx.set(rcv.byte, byte)
            ctx.set(rcv.byte_valid, 1)
            await ctx.tick()
            ctx.set(rcv.byte_valid, 0)
            for _ in range(2):
                if ctx.get(rcv.valid):  # the design takes the vector, then answers it through the sender
                    data = ctx.get(rcv.data)
                    words = [(data >> (k * width)) & ((1 << width) - 1) for k in range(n)]
                    received.append([w - (1 << width) if w >> (width - 1) else w for w in words])
                    ctx.set(rcv.ready, 1)
                    ctx.set(snd.data, data)
                    ctx.set(snd.valid, 1)
                    await ctx.tick()
                    ctx.set(rcv.ready, 0)
                    ctx.set(snd.valid, 0)
                await ctx.tick()
        await ctx.tick().repeat(200)

    async def collect(ctx):
        ctx.set(snd.byte_ready, 1)
        async for _, _, valid, byte in ctx.tick().sample(snd.byte_valid, snd.byte):
            if valid:
                out.append(byte)

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(drive)
    sim.add_process(collect)
    sim.run()
    assert received == [list(vectors[0]), list(vectors[2])]
    # answers: frame 0, NAK for the corrupted one, frame 2 (words sign-extended to two bytes)
    assert out == (frame_bytes([v & 0xFFFF for v in vectors[0]], 16, sync=SYNC_OUT) + [NAK]
                   + frame_bytes([v & 0xFFFF for v in vectors[2]], 16, sync=SYNC_OUT))
