"""The board top: a generated design answering inferences over the board's UART.

:class:`BoardTop` wraps the design's Verilog top (an instance by name, its ports as ``nn2rtl`` writes them:
``clk``, ``rst``, ``in_data``/``in_valid``/``in_ready``, ``out_data``/``out_valid``/``out_ready``) with
:mod:`rtl_lib.uart`: a frame received on ``rx`` becomes one input vector (``in_valid`` held until the design takes
it), each result goes back on ``tx`` as a frame, a frame with a wrong checksum is answered with NAK. ``led``
blinks (a heartbeat: the clock runs and the bitstream is loaded).

Frame (see :mod:`rtl_lib.uart`): ``0xA5``, the input words (``ceil(W / 8)`` bytes each, little-endian, the raw
two's complement values sign-extended), the sum of those bytes modulo 256; the answer: ``0x5A``, the output words
the same way, their checksum. A bad frame gets the single byte ``0x15``.
"""

from amaranth.hdl import ClockSignal, Instance, Module, ResetSignal, Signal
from amaranth.lib import io, wiring
from amaranth.lib.wiring import In, Out

from rtl_lib.library import ModuleLibrary, convert
from rtl_lib.uart import FrameReceiver, FrameSender, UartRx, UartTx

__all__ = ["BoardTop", "board_verilog", "DEFAULT_BAUD"]

DEFAULT_BAUD = 115200


class BoardTop(wiring.Component):
    """``design`` (the Verilog module name) behind a UART at ``baud`` from a ``clk_hz`` clock.

    ``n_in``/``in_width``, ``n_out``/``out_width``/``out_signed``: the design's vectors. Ports ``rx``, ``tx``,
    ``led``; on a platform they are connected to its ``uart`` and ``led`` resources. ``clock``: a
    :class:`boards.platforms.ClockGenerator` making ``clk_hz`` from the board's clock (on a platform only; without
    it the board's clock drives the design)."""

    def __init__(self, design, n_in, in_width, n_out, out_width, out_signed, clk_hz, baud=DEFAULT_BAUD,
                 clock=None):
        divisor = round(clk_hz / baud)
        if divisor < 4:
            raise ValueError(f"a {clk_hz / 1e6:g} MHz clock is too slow for {baud} baud (at least 4 clocks a bit)")
        self.design, self.divisor, self.clk_hz, self.clock = design, divisor, clk_hz, clock
        self.n_in, self.in_width, self.n_out, self.out_width, self.out_signed = (n_in, in_width, n_out, out_width,
                                                                                  out_signed)
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "led": Out(1)})

    @classmethod
    def for_design(cls, design, clk_hz, baud=DEFAULT_BAUD, clock=None):
        """The board top of an :class:`nn2rtl.Design`."""
        tin, tout = design.input, design.output
        return cls(design.top, tin.size, tin.type.width, tout.size, tout.type.width, tout.type.signed, clk_hz, baud,
                   clock)

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx = rx = UartRx(self.divisor)
        m.submodules.tx = tx = UartTx(self.divisor)
        m.submodules.frame_in = fin = FrameReceiver(self.n_in, self.in_width)
        m.submodules.frame_out = fout = FrameSender(self.n_out, self.out_width, self.out_signed)
        if platform is not None:
            if self.clock is not None:
                clk = platform.request(platform.default_clk, 0, dir="-")
                if self.clock.family == "ice40":  # SB_PLL40_PAD takes the pin itself
                    clk_in = clk.io
                else:
                    m.submodules.clk_buf = clk_buf = io.Buffer("i", clk)
                    clk_in = clk_buf.i
                cd = self.clock.elaborate_into(m, clk_in)
                platform.add_clock_constraint(cd.clk, self.clk_hz)
            uart = platform.request("uart", 0, dir="-")
            m.submodules.rx_buf = rx_buf = io.Buffer("i", uart.rx)
            m.submodules.tx_buf = tx_buf = io.Buffer("o", uart.tx)
            m.submodules.led_buf = led_buf = io.Buffer("o", platform.request("led", 0, dir="-"))
            m.d.comb += [self.rx.eq(rx_buf.i), tx_buf.o.eq(self.tx), led_buf.o.eq(self.led)]
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx),
                     fin.byte.eq(rx.data), fin.byte_valid.eq(rx.valid), fout.nak.eq(fin.nak),
                     tx.data.eq(fout.byte), tx.valid.eq(fout.byte_valid), fout.byte_ready.eq(tx.ready)]
        in_ready, out_valid = Signal(), Signal()
        out_data = Signal(self.n_out * self.out_width)
        # the design's reset: held for the first cycles after configuration, since a board's own clock domain may
        # have no reset signal (ECP5's comes from the global set/reset instead)
        power_on = Signal(4, init=15, reset_less=True)
        with m.If(power_on != 0):
            m.d.sync += power_on.eq(power_on - 1)
        m.submodules.design = Instance(
            self.design, i_clk=ClockSignal(), i_rst=ResetSignal(allow_reset_less=True) | (power_on != 0),
            i_in_data=fin.data, i_in_valid=fin.valid, o_in_ready=in_ready,
            o_out_data=out_data, o_out_valid=out_valid, i_out_ready=fout.ready)
        m.d.comb += [fin.ready.eq(in_ready), fout.data.eq(out_data), fout.valid.eq(out_valid)]
        beat = Signal(max(1, int(self.clk_hz).bit_length() - 1))  # about one blink a second
        m.d.sync += beat.eq(beat + 1)
        m.d.comb += self.led.eq(beat[-1])
        return m


def board_verilog(design, clk_hz, baud=DEFAULT_BAUD, name=None):
    """Verilog of the board top (module ``name``, default ``<top>_board``) followed by the design's own."""
    name = name or f"{design.top}_board"
    top = BoardTop.for_design(design, clk_hz, baud)
    return convert(top, name, ModuleLibrary(name)) + "\n" + design.verilog
