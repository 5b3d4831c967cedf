"""A UART (8 data bits, no parity, 1 stop bit) and the framing that carries vectors of raw words over it.

:class:`UartRx` and :class:`UartTx` run from a clock ``divisor`` times the baud rate. :class:`FrameReceiver` and
:class:`FrameSender` turn bytes into vectors and back, with this frame (both directions)::

    sync byte   (0xA5 towards the design, 0x5A back)
    n words     each ``ceil(width / 8)`` bytes, little-endian; a word's bits above ``width`` are ignored on the
                way in (send the value sign-extended) and are the sign extension on the way out
    checksum    the sum of the word bytes, modulo 256

A frame whose checksum does not match is dropped, and the receiver answers it with the single byte 0x15 (NAK)
instead of a result; it is then ready for the next sync byte at once, so no following frame is lost. Nothing in
here knows about neural networks: the board top (``boards/top.py``) connects these to a design's handshake.
"""

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["UartRx", "UartTx", "FrameReceiver", "FrameSender", "SYNC_IN", "SYNC_OUT", "NAK", "word_bytes"]

SYNC_IN, SYNC_OUT, NAK = 0xA5, 0x5A, 0x15


def word_bytes(width):
    """Bytes that carry one word of ``width`` bits."""
    return -(-width // 8)


def _check_divisor(divisor):
    if not isinstance(divisor, int) or divisor < 4:
        raise ValueError(f"the clock must be at least 4 times the baud rate (divisor {divisor!r})")


class UartRx(wiring.Component):
    """Receives bytes on ``rx`` (idle high): ``data`` with a one-cycle ``valid`` per byte; ``error`` pulses for a
    byte whose stop bit is low (the byte is dropped). ``rx`` goes through two flip-flops first (it comes from
    another clock domain)."""

    def __init__(self, divisor):
        _check_divisor(divisor)
        self.divisor = divisor
        super().__init__({"rx": In(1, init=1), "data": Out(8), "valid": Out(1), "error": Out(1)})

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        sync1, rx = Signal(init=1), Signal(init=1)
        m.d.sync += [sync1.eq(self.rx), rx.eq(sync1)]
        count = Signal(range(d * 3 // 2 + 1))
        bit = Signal(range(10))
        shift = Signal(8)
        m.d.sync += [self.valid.eq(0), self.error.eq(0)]
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):  # a start bit: sample the first data bit one and a half bits later
                    m.d.sync += [count.eq(d + d // 2 - 1), bit.eq(0)]
                    m.next = "BITS"
            with m.State("BITS"):
                with m.If(count != 0):
                    m.d.sync += count.eq(count - 1)
                with m.Elif(bit == 8):  # the stop bit
                    m.d.sync += [self.data.eq(shift), self.valid.eq(rx), self.error.eq(~rx)]
                    with m.If(rx):
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "BREAK"
                with m.Else():
                    m.d.sync += [shift.eq(Cat(shift[1:], rx)), bit.eq(bit + 1), count.eq(d - 1)]
            with m.State("BREAK"):  # a low stop bit: wait for the line to go idle again
                with m.If(rx):
                    m.next = "IDLE"
        return m


class UartTx(wiring.Component):
    """Sends ``data`` on ``tx`` when ``valid`` and ``ready`` are both high; ``ready`` is low while a byte is on
    the line."""

    def __init__(self, divisor):
        _check_divisor(divisor)
        self.divisor = divisor
        super().__init__({"data": In(8), "valid": In(1), "ready": Out(1), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        count = Signal(range(d))
        bits = Signal(10)
        left = Signal(range(11))
        m.d.comb += self.ready.eq(left == 0)
        with m.If(left == 0):
            with m.If(self.valid):
                m.d.sync += [bits.eq(Cat(Const(0, 1), self.data, Const(1, 1))), left.eq(10), count.eq(0)]
        with m.Else():
            with m.If(count == 0):
                m.d.sync += [self.tx.eq(bits[0]), bits.eq(bits >> 1), count.eq(d - 1)]
            with m.Else():
                m.d.sync += count.eq(count - 1)
                with m.If((count == 1) & (left != 0)):
                    m.d.sync += left.eq(left - 1)
        with m.If((left == 0) & ~self.valid):
            m.d.sync += self.tx.eq(1)
        return m


class FrameReceiver(wiring.Component):
    """Bytes (``byte``, ``byte_valid``) in, vectors out: ``n`` words of ``width`` bits, packed word k in bits
    ``[k*width +: width]`` of ``data``, with ``valid``/``ready``. ``nak`` pulses for a frame with a wrong checksum.
    While a vector waits for ``ready``, bytes that arrive are dropped (the host sends the next frame only after
    the answer to the last one)."""

    def __init__(self, n, width):
        if n < 1 or width < 1:
            raise ValueError("a frame carries at least one word of at least one bit")
        self.n, self.width = n, width
        super().__init__({"byte": In(8), "byte_valid": In(1), "data": Out(n * width), "valid": Out(1),
                          "ready": In(1), "nak": Out(1)})

    def elaborate(self, platform):
        m = Module()
        nb = word_bytes(self.width)
        total = self.n * nb
        buf = Signal(total * 8)
        count = Signal(range(total + 1))
        csum = Signal(8)
        m.d.sync += self.nak.eq(0)
        m.d.comb += self.data.eq(Cat(*[buf[k * nb * 8:k * nb * 8 + self.width] for k in range(self.n)]))
        with m.FSM():
            with m.State("SYNC"):
                with m.If(self.byte_valid & (self.byte == SYNC_IN)):
                    m.d.sync += [count.eq(0), csum.eq(0)]
                    m.next = "WORDS"
            with m.State("WORDS"):
                with m.If(self.byte_valid):
                    m.d.sync += [buf.eq(Cat(buf[8:], self.byte)), csum.eq(csum + self.byte), count.eq(count + 1)]
                    with m.If(count == total - 1):
                        m.next = "CHECK"
            with m.State("CHECK"):
                with m.If(self.byte_valid):
                    with m.If(self.byte == csum):
                        m.next = "HOLD"
                    with m.Else():
                        m.d.sync += self.nak.eq(1)
                        m.next = "SYNC"
            with m.State("HOLD"):
                m.d.comb += self.valid.eq(1)
                with m.If(self.ready):
                    m.next = "SYNC"
        return m


class FrameSender(wiring.Component):
    """Vectors in (``data``: ``n`` words of ``width`` bits, ``valid``/``ready``), bytes out (``byte``,
    ``byte_valid``, ``byte_ready``), framed as the module docstring says; ``signed`` words are sign-extended to
    whole bytes. ``nak`` (a pulse) queues the single NAK byte, sent before the next frame."""

    def __init__(self, n, width, signed):
        if n < 1 or width < 1:
            raise ValueError("a frame carries at least one word of at least one bit")
        self.n, self.width, self.signed = n, width, signed
        super().__init__({"data": In(n * width), "valid": In(1), "ready": Out(1), "nak": In(1),
                          "byte": Out(8), "byte_valid": Out(1), "byte_ready": In(1)})

    def elaborate(self, platform):
        m = Module()
        nb = word_bytes(self.width)
        total = self.n * nb
        w = self.width
        words = []
        for k in range(self.n):
            v = self.data[k * w:(k + 1) * w]
            fill = nb * 8 - w
            words.append(Cat(v, (v[-1] if self.signed else Const(0, 1)).replicate(fill)) if fill else v)
        buf = Signal(total * 8)
        count = Signal(range(total + 1))
        csum = Signal(8)
        nak = Signal()
        with m.If(self.nak):
            m.d.sync += nak.eq(1)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(nak | self.nak):
                    m.next = "NAK"
                with m.Elif(self.valid):
                    m.d.comb += self.ready.eq(1)
                    m.d.sync += [buf.eq(Cat(*words)), count.eq(0), csum.eq(0)]
                    m.next = "SYNC"
            with m.State("NAK"):
                m.d.comb += [self.byte.eq(NAK), self.byte_valid.eq(1)]
                with m.If(self.byte_ready):
                    m.d.sync += nak.eq(0)
                    m.next = "IDLE"
            with m.State("SYNC"):
                m.d.comb += [self.byte.eq(SYNC_OUT), self.byte_valid.eq(1)]
                with m.If(self.byte_ready):
                    m.next = "WORDS"
            with m.State("WORDS"):
                m.d.comb += [self.byte.eq(buf[:8]), self.byte_valid.eq(1)]
                with m.If(self.byte_ready):
                    m.d.sync += [buf.eq(buf >> 8), csum.eq(csum + buf[:8]), count.eq(count + 1)]
                    with m.If(count == total - 1):
                        m.next = "CHECK"
            with m.State("CHECK"):
                m.d.comb += [self.byte.eq(csum), self.byte_valid.eq(1)]
                with m.If(self.byte_ready):
                    m.next = "IDLE"
        return m
