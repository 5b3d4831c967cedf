"""Packing raw values into the flat port vectors of a block, and back."""


def pack(row, w):
    """Element k of ``row`` in bits [k*w +: w], two's complement."""
    return sum((int(v) & ((1 << w) - 1)) << (k * w) for k, v in enumerate(row))


def unpack(word, n, w, signed=True):
    out = []
    for k in range(n):
        v = (word >> (k * w)) & ((1 << w) - 1)
        out.append(v - (1 << w) if signed and v >> (w - 1) else v)
    return out
