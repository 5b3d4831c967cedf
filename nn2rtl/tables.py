"""Lookup tables for nonlinear functions: construction, indexing and measured error.

Two families of tables:

* ``hls4ml`` (the default) — built the way hls4ml's Vivado/Vitis templates build them, so outputs equal its C
  simulation bit for bit. The function is evaluated in the C types of those templates (``float`` arguments,
  ``expf`` from the C library, ``double`` where the template promotes) through the C library itself, then
  converted to the table type. Sigmoid-family tables sample ``[-S/2, S/2)`` at the *lower* edge of each bin and
  are indexed by ``trunc_toward_zero(x * N / S) + N/2`` (so the bin at zero is twice as wide); ELU/SELU tables
  sample ``[-8, 0]`` and are indexed by ``trunc_toward_zero(x * N / -8)``.
* ``centered`` and ``fitted`` — ours. The index is ``floor((x - lo) * N / S)`` (a bit slice of ``x - lo``), each
  entry is the function at the *centre* of its bin, computed in double precision and rounded to nearest. ``fitted``
  also shrinks the input range to where the function still changes by half a result LSB and to the input type's
  own range or widens it to where the function still changes: of the power-of-two windows up to the input range it
takes the one with the smallest measured worst-case error.

Every table is a power of two long with a power-of-two span, so the index is a shift, an add and a clamp in
hardware (:mod:`rtl_lib.activation`). :func:`measure` reports the worst-case error of a whole activation over every
value of its input type.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError
from .fixed import FixedType, Overflow, Rounding

__all__ = ["TableSpec", "TABLE_FUNCS", "TABLE_MODES", "c_eval", "exact_eval", "build_table", "table_index",
           "measure", "fit_candidates", "DEFAULT_TABLE_TYPE", "DEFAULT_TABLE_SIZE"]

DEFAULT_TABLE_SIZE = 1024
DEFAULT_TABLE_TYPE = FixedType(18, 8)
TABLE_MODES = ("hls4ml", "centered", "fitted")

SELU_LAMBDA = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717


def _libm():
    path = ctypes.util.find_library("m") or "libm.so.6"
    lib = ctypes.CDLL(path)
    for name in ("expf", "tanhf", "logf"):
        getattr(lib, name).restype, getattr(lib, name).argtypes = ctypes.c_float, [ctypes.c_float]
    for name in ("exp", "tanh", "log"):
        getattr(lib, name).restype, getattr(lib, name).argtypes = ctypes.c_double, [ctypes.c_double]
    return lib


_LIBM = None


def _m():
    global _LIBM
    if _LIBM is None:
        _LIBM = _libm()
    return _LIBM


def _f32(v):
    return float(np.float32(v))


def c_eval(func, x):
    """``func`` at float ``x`` exactly as hls4ml's table initialisers compute it (C ``float``/``double`` rules, the
    C library's ``expf``/``tanh``/``log``); returns the value (a Python float) that is converted to the table type."""
    m = _m()
    x = _f32(x)
    if func == "sigmoid":     # 1.0 / (1 + std::exp(-input)), returned as float
        return _f32(1.0 / _f32(1.0 + m.expf(-x)))
    if func == "tanh":        # tanh(in_val): the C library's double tanh, assigned to the table type directly
        return m.tanh(x)
    if func == "softplus":    # std::log(std::exp(input) + 1.)
        return _f32(m.log(m.expf(x) + 1.0))
    if func == "softsign":    # input / (std::abs(input) + 1.)
        return _f32(x / (abs(x) + 1.0))
    if func == "elu":         # std::exp(input) - 1.
        return _f32(m.expf(x) - 1.0)
    if func == "selu":        # lambda * (alpha * (std::exp(input) - 1.))
        return _f32(SELU_LAMBDA * (SELU_ALPHA * (m.expf(x) - 1.0)))
    if func == "exp":         # std::exp(float)
        return m.expf(x)
    if func == "inv":         # 1 / x in float
        return _f32(1.0 / x) if x != 0 else math.inf
    raise AssertionError(func)


def exact_eval(func, x):
    """The real function in double precision (the reference for errors and for our tables)."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore", divide="ignore"):
        if func == "sigmoid":
            return 1.0 / (1.0 + np.exp(-x))
        if func == "tanh":
            return np.tanh(x)
        if func == "softplus":
            return np.logaddexp(0.0, x)
        if func == "softsign":
            return x / (np.abs(x) + 1.0)
        if func == "elu":
            return np.expm1(x)
        if func == "selu":
            return SELU_LAMBDA * SELU_ALPHA * np.expm1(x)
        if func == "exp":
            return np.exp(x)
        if func == "inv":
            return np.where(x == 0, np.inf, 1.0 / np.where(x == 0, 1.0, x))
    raise AssertionError(func)


#: hls4ml's ranges: (lo, hi) of the sampled input, and whether the table is one-sided (ELU/SELU: x < 0 only).
TABLE_FUNCS = {
    "sigmoid": (-8.0, 8.0, False), "softplus": (-8.0, 8.0, False), "softsign": (-8.0, 8.0, False),
    "tanh": (-4.0, 4.0, False), "elu": (-8.0, 0.0, True), "selu": (-8.0, 0.0, True),
}


def _is_pow2(v):
    return v > 0 and float(v) == 2.0 ** round(math.log2(v))


@dataclass(frozen=True)
class TableSpec:
    """How one activation table is indexed: ``size`` entries covering ``[lo, hi)``, in ``mode``."""

    func: str
    size: int
    lo: float
    hi: float
    mode: str = "hls4ml"

    @property
    def span(self):
        return self.hi - self.lo

    @property
    def one_sided(self):
        """Whether the table covers ``x < 0`` only (ELU, SELU: the positive branch is computed)."""
        return TABLE_FUNCS[self.func][2]

    @property
    def bin_log2(self):
        """log2 of the bin width (span / size)."""
        return round(math.log2(self.span / self.size))

    def check(self, where):
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 2 or not _is_pow2(self.size):
            raise ConfigError(f"{where}: table size must be a power of two of at least 2, not {self.size!r}")
        if self.mode not in TABLE_MODES:
            raise ConfigError(f"{where}: table mode must be one of {', '.join(TABLE_MODES)}, not {self.mode!r}")
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)) or self.hi <= self.lo or not _is_pow2(self.span):
            raise ConfigError(f"{where}: table range [{self.lo}, {self.hi}) must have a power-of-two width")
        one_sided = self.one_sided
        if self.mode == "hls4ml":
            if one_sided and self.hi != 0.0:
                raise ConfigError(f"{where}: an hls4ml-style {self.func} table must end at 0, not {self.hi}")
            if not one_sided and self.lo != -self.hi:
                raise ConfigError(f"{where}: an hls4ml-style {self.func} table needs a range symmetric about 0, "
                                  f"not [{self.lo}, {self.hi})")
        elif self.lo / 2.0 ** self.bin_log2 != round(self.lo / 2.0 ** self.bin_log2):
            raise ConfigError(f"{where}: the table range must start on a bin edge (a multiple of "
                              f"{2.0 ** self.bin_log2:g}), not at {self.lo}")
        return self

    def sample_points(self):
        i = np.arange(self.size, dtype=np.float64)
        step = self.span / self.size
        if self.mode == "hls4ml":
            if self.one_sided:
                return -step * i                       # -8 * i / N
            return self.lo + step * i                  # S * (i - N/2) / N
        return self.lo + step * (i + 0.5)              # bin centres

    def to_dict(self):
        return {"func": self.func, "size": self.size, "range": [self.lo, self.hi], "mode": self.mode}


def build_table(spec: TableSpec, table_type: FixedType):
    """Raw table entries of ``table_type``."""
    pts = spec.sample_points()
    if spec.mode == "hls4ml":
        vals = np.array([c_eval(spec.func, p) for p in pts], dtype=np.float64)
        return table_type.quantize(vals)
    nearest = table_type.with_modes(Rounding.RND_CONV, Overflow.SAT)
    return nearest.quantize(exact_eval(spec.func, pts))


def table_index(spec: TableSpec, raw, in_type: FixedType):
    """Table index of each raw input (int64 array), clamped to ``[0, size-1]``; the hardware computes the same."""
    raw = np.asarray(raw).astype(np.int64)
    s = spec.bin_log2 + in_type.frac        # index step in input LSBs is 2**s
    if spec.mode == "hls4ml":
        if spec.one_sided:
            v = -raw                            # trunc(x * N / -8): x < 0 here, so a floor of -x
            q = v >> s if s >= 0 else v << -s
        else:
            a = np.abs(raw)
            q = np.sign(raw) * (a >> s if s >= 0 else a << -s)
            q = q + spec.size // 2
    else:
        lo_raw = round(spec.lo * 2.0 ** in_type.frac)
        v = raw - lo_raw
        q = v >> s if s >= 0 else v << -s
    return np.clip(q, 0, spec.size - 1)


def fit_candidates(func, size, in_type: FixedType):
    """Ranges the ``fitted`` mode chooses from: power-of-two windows (symmetric about 0, ``[-S, 0)`` for one-sided
    tables, ``[0, S)`` for unsigned inputs) from a quarter up to the first that covers the input type's range."""
    lo_in = float(in_type.to_fraction(in_type.min_raw))
    hi_in = float(in_type.to_fraction(in_type.max_raw)) + float(in_type.lsb)
    one_sided = TABLE_FUNCS[func][2]
    out = []
    for k in range(-2, 64):
        span = 2.0 ** k
        if one_sided:
            lo, hi = -span, 0.0
        elif not in_type.signed:
            lo, hi = 0.0, span
        else:
            lo, hi = -span / 2, span / 2
        out.append((lo, hi))
        if lo <= lo_in and (one_sided or hi >= hi_in):
            break
    return out


def measure(real, golden, in_type: FixedType, out_type: FixedType, limit_bits=20):
    """Worst-case absolute error of ``golden`` (raw in -> raw out) against ``real`` (float -> float) over every value of
    ``in_type`` (for wider types 2**limit_bits values: half spread over the whole range, half over [-16, 16] where
    the tables' bins are) whose true result the output type can hold, and where it happens."""
    if in_type.width <= limit_bits:
        raw = np.arange(in_type.min_raw, in_type.max_raw + 1, dtype=np.int64)
    else:  # the whole range sparsely, and densely where tables live ([-16, 16]): a table's worst error is there
        lo, hi = max(in_type.min_raw, -(16 << in_type.frac) if in_type.frac >= 0 else in_type.min_raw), \
            min(in_type.max_raw, (16 << in_type.frac) if in_type.frac >= 0 else in_type.max_raw)
        raw = np.unique(np.concatenate([
            np.linspace(in_type.min_raw, in_type.max_raw, 1 << (limit_bits - 1)),
            np.linspace(lo, hi, 1 << (limit_bits - 1))]).astype(np.int64))
    x = in_type.dequantize(raw)
    y = out_type.dequantize(golden(raw))
    want = real(x)
    # where the true value lies outside the result type, no table can help: those inputs are counted, not scored
    lo = float(out_type.to_fraction(out_type.min_raw))
    hi = float(out_type.to_fraction(out_type.max_raw)) + float(out_type.lsb)
    ok = (want >= lo) & (want < hi)
    err = np.where(ok, np.abs(y - want), 0.0)
    if not ok.any():  # the result type holds none of the true values (e.g. sigmoid of positive inputs into [-1/4, 1/4))
        return {"max_abs_error": None, "at_input": None, "mean_abs_error": None, "inputs_checked": 0,
                "inputs_beyond_result_type": int((~ok).sum())}
    k = int(np.argmax(err))
    return {"max_abs_error": float(err[k]), "at_input": float(x[k]), "mean_abs_error": float(err[ok].mean()),
            "inputs_checked": int(ok.sum()), "inputs_beyond_result_type": int((~ok).sum())}
