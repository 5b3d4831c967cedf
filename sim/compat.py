"""The small seam between cocotb 1.9 (Debian's Verilator 5.006) and cocotb 2.x (Verilator >= 5.036)."""

import warnings

__all__ = ["get_runner", "get_results", "make_clock", "to_uint", "COCOTB_MAJOR"]

import cocotb

COCOTB_MAJOR = int(cocotb.__version__.split(".")[0])

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # cocotb 1.9 warns that its runner is experimental
    try:
        from cocotb_tools.runner import get_results, get_runner  # cocotb 2.x
    except ImportError:  # cocotb 1.9
        from cocotb.runner import get_results, get_runner


def make_clock(signal, period_ns):
    from cocotb.clock import Clock
    try:
        return Clock(signal, period_ns, unit="ns")  # cocotb 2.x
    except TypeError:
        return Clock(signal, period_ns, units="ns")  # cocotb 1.9


def to_uint(value):
    """An unsigned Python int from a handle's value (BinaryValue in 1.9, LogicArray in 2.x)."""
    if hasattr(value, "to_unsigned"):
        return value.to_unsigned()
    return value.integer
