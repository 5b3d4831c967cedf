"""Convolution in the parallel architecture: one dense kernel per output pixel (and group), all side by side.

A convolution is a dense product over each output pixel's window, with one weight set shared by every pixel. The
window of pixel ``p`` in group ``g`` is a list of input element indices (``windows[p, g]``; -1 where the window
covers zero padding); it is wiring. The kernel is any dense block with the ports of
:class:`~rtl_lib.dense.DenseParallel` (``i``, ``i_valid``, ``en``, ``o``, ``o_valid``): the fully parallel one at
reuse factor 1, the multiply-accumulate array of :mod:`rtl_lib.mac` above it. Every pixel runs the same schedule,
so the block's latency and initiation interval are the kernel's.

With a :class:`~rtl_lib.library.ModuleLibrary`, each group's kernel is one module definition (its weights inside)
and every pixel an instance of it: conversion time grows with the kernel, not with the image.
"""

import numpy as np
from amaranth.hdl import Cat, ClockSignal, Instance, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .permute import gather

__all__ = ["WindowedDense"]


class WindowedDense(wiring.Component):
    """``o[p, g*n_k:(g+1)*n_k] = kernel_g(i[windows[p, g]])`` for every pixel ``p`` and group ``g``.

    Parameters
    ----------
    n_in : int
        Input elements (``i`` holds ``n_in`` elements of ``in_width`` bits).
    in_width : int
    windows : int array (pixels, groups, window)
        Input element per window position; -1 reads zero.
    kernels : list of callables
        ``kernels[g]()`` builds group ``g``'s kernel; all kernels have equal latency, output count and width.
    key : hashable
        Identifies the kernels in ``library`` (unique per layer).
    library : ModuleLibrary or None
    """

    def __init__(self, n_in, in_width, windows, kernels, key=None, library=None):
        windows = np.asarray(windows)
        if windows.ndim != 3 or windows.size == 0 or windows.min() < -1 or windows.max() >= n_in:
            self._MustUse__silence = True
            raise ValueError(f"windows must be a non-empty (pixels, groups, window) array of indices in range"
                             f"({n_in}) or -1")
        if len(kernels) != windows.shape[1]:
            self._MustUse__silence = True
            raise ValueError(f"need one kernel per group ({windows.shape[1]}), got {len(kernels)}")
        self.n_in, self.in_width, self.windows = n_in, in_width, windows
        self.kernels, self.key, self.library = list(kernels), key, library
        probe = self.kernels[0]()
        probe._MustUse__silence = True
        self.latency = probe.latency
        self.kernel_out = len(probe.o)
        self.pixels, self.groups = windows.shape[:2]
        super().__init__({"i": In(n_in * in_width), "i_valid": In(1), "en": In(1, init=1),
                          "o": Out(self.pixels * self.groups * self.kernel_out), "o_valid": Out(1)})

    def elaborate(self, platform):
        m = Module()
        names = None
        if self.library is not None:
            names = [self.library.request("conv_kernel", (self.key, g), self.kernels[g]) for g in range(self.groups)]
        outs = []
        for p in range(self.pixels):
            for g in range(self.groups):
                x = gather(self.i, self.in_width, self.windows[p, g])
                y = Signal(self.kernel_out, name=f"y{p}_{g}")
                v = Signal(name=f"v{p}_{g}") if (p, g) == (0, 0) else None
                if names is not None:
                    ports = dict(i_clk=ClockSignal(), i_rst=ResetSignal(), i_i=x, i_i_valid=self.i_valid,
                                 i_en=self.en, o_o=y)
                    if v is not None:
                        ports["o_o_valid"] = v
                    m.submodules[f"px{p}_{g}"] = Instance(names[g], **ports)
                else:
                    k = m.submodules[f"px{p}_{g}"] = self.kernels[g]()
                    m.d.comb += [k.i.eq(x), k.i_valid.eq(self.i_valid), k.en.eq(self.en), y.eq(k.o)]
                    if v is not None:
                        m.d.comb += v.eq(k.o_valid)
                if v is not None:
                    m.d.comb += self.o_valid.eq(v)
                outs.append(y)
        m.d.comb += self.o.eq(Cat(*outs))
        return m
