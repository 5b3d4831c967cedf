"""Pipeline helpers shared by the blocks."""

from amaranth.hdl import Signal

__all__ = ["delayed"]


def delayed(m, signal, cycles, name="valid"):
    """``signal`` delayed by ``cycles`` registers in ``m``'s sync domain (``signal`` itself for 0 cycles): the
    valid bit that travels beside a block's data pipeline."""
    for k in range(cycles):
        r = Signal.like(signal, name=f"{name}{k}")
        m.d.sync += r.eq(signal)
        signal = r
    return signal
