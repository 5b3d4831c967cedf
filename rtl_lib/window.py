"""Sliding windows over a stream of pixels: the line buffers that feed a streaming convolution or pooling.

:class:`WindowGenerator` takes one pixel per beat (all its channels packed, ``pixel_bits`` wide) in row-major
order over an ``height`` x ``width`` image and produces one window per output position, row-major: the ``kh * kw``
pixels of the window, position ``(ky, kx)`` at bits ``[(ky * kw + kx) * pixel_bits +: pixel_bits]``. Zero padding
(``pads`` = top, left, bottom, right) is inserted without consuming input; ``strides`` select the output positions
(the floor convention of ONNX and hls4ml).

It walks the padded image one position per step: a step takes the next pixel (or a padding pixel), moves the
column above it out of ``kh - 1`` line buffers (memories of one padded row each, read synchronously so that they
map to block RAM), shifts the ``kh x kw`` window
registers left and, at an output position, registers the window on its output. A step waits for an input beat
only where the position is inside the image, and for the output register to be free. So an image takes
``(height + pads) * (width + pads)`` steps, and the latency from the input beat that completes a window to that
window on the output is one cycle.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["WindowGenerator", "Upsampler", "ZeroPad", "window_steps", "window_schedule"]


def _mask(n, k, s, total_out):
    """Bit p set where a window ending at padded coordinate p is an output position."""
    bits = 0
    for o in range(total_out):
        bits |= 1 << (o * s + k - 1)
    return Const(bits, n)


def window_steps(height, width, pads):
    """Steps (cycles without stalls) per image: one per position of the padded image."""
    top, left, bottom, right = pads
    return (height + top + bottom) * (width + left + right)


def window_schedule(height, width, kernel, strides=(1, 1), pads=(0, 0, 0, 0)):
    """The steps of one image, without stalls: per step (a position of the padded image, row-major), whether it
    takes an input pixel and whether it produces a window. This is the schedule the streaming architecture sizes
    its FIFOs from (a window leaves one cycle after its step)."""
    import numpy as np
    kh, kw = kernel
    top, left, bottom, right = pads
    hp, wp = height + top + bottom, width + left + right
    py, px = np.divmod(np.arange(hp * wp), wp)
    takes = (py >= top) & (py < top + height) & (px >= left) & (px < left + width)
    out_h, out_w = (hp - kh) // strides[0] + 1, (wp - kw) // strides[1] + 1
    ey, ex = py - (kh - 1), px - (kw - 1)
    emits = ((ey >= 0) & (ey % strides[0] == 0) & (ey // strides[0] < out_h)
             & (ex >= 0) & (ex % strides[1] == 0) & (ex // strides[1] < out_w))
    return takes, emits


class WindowGenerator(wiring.Component):
    def __init__(self, height, width, pixel_bits, kernel, strides=(1, 1), pads=(0, 0, 0, 0), pad_pixel=0):
        self.height, self.width, self.pixel_bits = height, width, pixel_bits
        self.kernel, self.strides, self.pads = tuple(kernel), tuple(strides), tuple(pads)
        self.pad_pixel = pad_pixel
        kh, kw = self.kernel
        top, left, bottom, right = self.pads
        self.hp, self.wp = height + top + bottom, width + left + right
        if kh > self.hp or kw > self.wp:
            self._MustUse__silence = True
            raise ValueError(f"a {kh}x{kw} window does not fit the padded {self.hp}x{self.wp} image")
        self.out_h = (self.hp - kh) // self.strides[0] + 1
        self.out_w = (self.wp - kw) // self.strides[1] + 1
        #: bits of line buffer memory (``kh - 1`` padded rows)
        self.memory_bits = (kh - 1) * self.wp * pixel_bits
        super().__init__({"i": In(stream.Signature(pixel_bits)),
                          "o": Out(stream.Signature(kh * kw * pixel_bits))})

    def elaborate(self, platform):
        m = Module()
        kh, kw = self.kernel
        top, left = self.pads[0], self.pads[1]
        pb = self.pixel_bits
        py = Signal(range(self.hp), name="py")
        px = Signal(range(self.wp), name="px")
        inside = Signal()
        m.d.comb += inside.eq((py >= top) & (py < top + self.height) & (px >= left) & (px < left + self.width))
        free = Signal()
        m.d.comb += free.eq(~self.o.valid | self.o.ready)
        step = Signal()
        m.d.comb += step.eq(free & (~inside | self.i.valid))
        m.d.comb += self.i.ready.eq(free & inside)

        pixel = Signal(pb)
        m.d.comb += pixel.eq(self.i.payload)
        with m.If(~inside):
            m.d.comb += pixel.eq(Const(self.pad_pixel, pb))

        # the column at px: kh - 1 rows from the line buffers (oldest first), then the new pixel; each buffer
        # takes the row below it. The buffers read synchronously (block RAM): each cycle reads the position that
        # is current in the next cycle (px + 1 after a step, else px); a read of the position being written (a
        # one-pixel-wide image) sees the new value.
        nxt_px = Signal.like(px)
        m.d.comb += nxt_px.eq(Mux(px == self.wp - 1, 0, px + 1))
        reads, writes = [], []
        for k in range(kh - 1):
            mem = m.submodules[f"line{k}"] = Memory(shape=pb, depth=self.wp, init=[])
            wr = mem.write_port()
            rd = mem.read_port(transparent_for=(wr,))
            m.d.comb += [rd.addr.eq(Mux(step, nxt_px, px)), wr.addr.eq(px), wr.en.eq(step)]
            reads.append(rd.data)
            writes.append(wr)
        col = reads + [pixel]
        for k, wr in enumerate(writes):
            m.d.comb += wr.data.eq(col[k + 1])

        window = [[Signal(pb, name=f"w{ky}_{kx}") for kx in range(kw)] for ky in range(kh)]
        nxt = [[window[ky][kx + 1] if kx + 1 < kw else col[ky] for kx in range(kw)] for ky in range(kh)]
        emit = Signal()
        m.d.comb += emit.eq(_mask(self.hp, kh, self.strides[0], self.out_h).bit_select(py, 1)
                            & _mask(self.wp, kw, self.strides[1], self.out_w).bit_select(px, 1))
        with m.If(step):
            for ky in range(kh):
                for kx in range(kw):
                    m.d.sync += window[ky][kx].eq(nxt[ky][kx])
            with m.If(px == self.wp - 1):
                m.d.sync += [px.eq(0), py.eq(py + 1)]
                with m.If(py == self.hp - 1):
                    m.d.sync += py.eq(0)
            with m.Else():
                m.d.sync += px.eq(px + 1)
        with m.If(step & emit):
            m.d.sync += [self.o.valid.eq(1), self.o.payload.eq(Cat(*[nxt[ky][kx] for ky in range(kh)
                                                                      for kx in range(kw)]))]
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return m


class Upsampler(wiring.Component):
    """Nearest-neighbour upsampling of a pixel stream by integer factors: each pixel of a ``height`` x ``width``
    image (row-major, ``pixel_bits`` per beat) repeated ``sx`` times along its row and each row ``sy`` times.

    The first copy of a row passes the input through (a beat is taken when its last horizontal copy leaves) and
    writes it to a row memory of ``width`` pixels; the other ``sy - 1`` copies are read back from it. No
    latency: the output of the first copy is the input."""

    def __init__(self, height, width, pixel_bits, sy, sx):
        self.height, self.width, self.pixel_bits, self.sy, self.sx = height, width, pixel_bits, int(sy), int(sx)
        if self.sy < 1 or self.sx < 1:
            self._MustUse__silence = True
            raise ValueError("upsampling factors must be positive integers")
        #: bits of row memory (none when rows are not repeated)
        self.memory_bits = width * pixel_bits if self.sy > 1 else 0
        super().__init__({"i": In(stream.Signature(pixel_bits)), "o": Out(stream.Signature(pixel_bits))})

    def elaborate(self, platform):
        m = Module()
        x = Signal(range(self.width), name="x")
        k = Signal(range(self.sx), name="k")
        rep = Signal(range(self.sy), name="rep")
        last_k = k == self.sx - 1
        first = rep == 0
        if self.sy > 1:
            mem = m.submodules.row = Memory(shape=self.pixel_bits, depth=self.width, init=[])
            wr = mem.write_port()
            rd = mem.read_port(domain="comb")
            m.d.comb += [wr.addr.eq(x), wr.data.eq(self.i.payload), rd.addr.eq(x),
                         wr.en.eq(first & self.i.valid & self.i.ready)]
            m.d.comb += [self.o.payload.eq(Mux(first, self.i.payload, rd.data)),
                         self.o.valid.eq(Mux(first, self.i.valid, 1))]
        else:
            m.d.comb += [self.o.payload.eq(self.i.payload), self.o.valid.eq(self.i.valid)]
        m.d.comb += self.i.ready.eq(first & self.o.ready & last_k)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += k.eq(Mux(last_k, 0, k + 1))
            with m.If(last_k):
                m.d.sync += x.eq(Mux(x == self.width - 1, 0, x + 1))
                with m.If(x == self.width - 1):
                    m.d.sync += rep.eq(Mux(rep == self.sy - 1, 0, rep + 1))
        return m


class ZeroPad(wiring.Component):
    """Zero padding of a pixel stream: a ``height`` x ``width`` image (row-major) becomes the padded image
    (``pads`` = top, left, bottom, right), zero pixels inserted where the position is outside the input. No
    memory and no latency: inside the input the beat passes through."""

    def __init__(self, height, width, pixel_bits, pads):
        self.height, self.width, self.pixel_bits = height, width, pixel_bits
        self.pads = tuple(int(p) for p in pads)
        if min(self.pads) < 0:
            self._MustUse__silence = True
            raise ValueError("pads must not be negative")
        top, left, bottom, right = self.pads
        self.hp, self.wp = height + top + bottom, width + left + right
        self.memory_bits = 0
        super().__init__({"i": In(stream.Signature(pixel_bits)), "o": Out(stream.Signature(pixel_bits))})

    def elaborate(self, platform):
        m = Module()
        top, left = self.pads[0], self.pads[1]
        py = Signal(range(self.hp), name="py")
        px = Signal(range(self.wp), name="px")
        inside = Signal()
        m.d.comb += inside.eq((py >= top) & (py < top + self.height) & (px >= left) & (px < left + self.width))
        m.d.comb += [self.o.payload.eq(Mux(inside, self.i.payload, 0)), self.o.valid.eq(~inside | self.i.valid),
                     self.i.ready.eq(inside & self.o.ready)]
        with m.If(self.o.valid & self.o.ready):
            with m.If(px == self.wp - 1):
                m.d.sync += [px.eq(0), py.eq(Mux(py == self.hp - 1, 0, py + 1))]
            with m.Else():
                m.d.sync += px.eq(px + 1)
        return m
