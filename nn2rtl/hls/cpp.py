"""A tiny C++ syntax tree for the HLS back end: the declarations nn2rtl emits (typedefs, configuration structs,
constant arrays, local arrays, template calls), each rendered deterministically. Layer code itself lives in static
headers (``include/nn2rtl/*.h``); generated code only declares and calls."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..fixed import FixedType

__all__ = ["Typedef", "Struct", "ConstArray", "LocalArray", "Call", "Pragma", "raw_storage", "int_storage",
           "storage_width"]

#: values per line of a constant array
_PER_LINE = 16


def storage_width(values, signed=True):
    """Bits of a two's-complement (or unsigned) integer type holding every value (at least 1)."""
    lo = min((int(v) for v in values), default=0)
    hi = max((int(v) for v in values), default=0)
    if signed:
        return max(1, (hi).bit_length() + 1, (-lo - 1).bit_length() + 1 if lo < 0 else 1)
    return max(1, hi.bit_length())


def int_storage(bits):
    """The C++ integer type of two's-complement values of ``bits`` bits: the smallest standard integer up to 64
    bits (plain aggregate initialisation: fast to compile), ``ap_int<bits>`` beyond."""
    for n in (8, 16, 32, 64):
        if bits <= n:
            return f"int{n}_t"
    return f"ap_int<{bits}>"


def raw_storage(t: FixedType):
    """The integer type holding ``t``'s raw values (signed; one bit more for an unsigned type)."""
    return int_storage(t.width + (0 if t.signed else 1))


def _literal(v, width):
    v = int(v)
    if width > 64 and not -(1 << 62) <= v < (1 << 62):
        return f'ap_int<{width}>("{v}", 10)'
    if -(1 << 31) <= v < (1 << 31):
        return str(v)
    return f"{v}LL"


@dataclass
class Typedef:
    name: str
    type: FixedType

    def render(self):
        return f"typedef {self.type.cpp()} {self.name};"


@dataclass
class Struct:
    """A layer's configuration: ``static const`` integers and booleans, and typedefs of fixed-point types."""
    name: str
    members: dict = field(default_factory=dict)
    comment: str = ""

    def render(self):
        lines = [f"// {self.comment}"] if self.comment else []
        lines.append(f"struct {self.name} {{")
        for k, v in self.members.items():
            if isinstance(v, FixedType):
                lines.append(f"    typedef {v.cpp()} {k};")
            elif isinstance(v, bool):
                lines.append(f"    static const bool {k} = {'true' if v else 'false'};")
            elif isinstance(v, (int, np.integer)):
                lines.append(f"    static const int {k} = {int(v)};")
            else:
                raise TypeError(f"config member {k}: {v!r}")
        lines.append("};")
        return "\n".join(lines)


@dataclass
class ConstArray:
    """A constant array: raw integers of a fixed-point type (``ctype`` ``ap_int<W>``/``ap_uint<W>``), or plain
    ``int``/``int64_t`` indices."""
    name: str
    ctype: str
    values: np.ndarray
    comment: str = ""

    def render(self):
        vals = np.asarray(self.values).reshape(-1)
        width = 64
        if self.ctype.startswith("ap_int<"):
            width = int(self.ctype.split("<")[1].rstrip(">"))
        items = [_literal(v, width) for v in vals] or ["0"]
        body = ",\n".join("    " + ", ".join(items[i:i + _PER_LINE]) for i in range(0, len(items), _PER_LINE))
        head = f"// {self.comment}\n" if self.comment else ""
        return f"{head}static const {self.ctype} {self.name}[{max(1, vals.size)}] = {{\n{body}\n}};"


@dataclass
class LocalArray:
    ctype: str
    name: str
    size: int

    def render(self):
        return (f"    {self.ctype} {self.name}[{self.size}];\n"
                f"#pragma HLS ARRAY_PARTITION variable={self.name} complete")


@dataclass
class Call:
    func: str
    targs: list
    args: list
    comment: str = ""

    def render(self):
        head = f"    // {self.comment}\n" if self.comment else ""
        t = f"<{', '.join(map(str, self.targs))}>" if self.targs else ""
        return f"{head}    {self.func}{t}({', '.join(map(str, self.args))});"


@dataclass
class Pragma:
    text: str

    def render(self):
        return f"#pragma HLS {self.text}"
