"""The host side of the board link: frames out, answers in (``nn2rtl board-run``), over any byte stream with
``write(bytes)`` and ``read(n)`` (a pyserial port; the cocotb testbench uses the same frame functions).

Frame towards the board: ``0xA5``, the input words (``ceil(W / 8)`` bytes each, little-endian, the raw two's
complement value sign-extended), the sum of those bytes modulo 256. The answer: ``0x5A``, the output words the same
way, their checksum; or the single byte ``0x15`` (NAK) when the board saw a wrong checksum.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from nn2rtl.errors import Nn2rtlError
from rtl_lib.uart import NAK, SYNC_IN, SYNC_OUT, word_bytes

__all__ = ["encode_frame", "decode_words", "BoardLink", "LinkError", "RunResult", "run_vectors"]


class LinkError(Nn2rtlError):
    """The board did not answer as the frame says (no answer, a bad answer, NAK after retries)."""


def encode_frame(words, width, corrupt=False):
    """The bytes of one frame carrying raw ``words`` of ``width`` bits; ``corrupt``: a wrong checksum (tests)."""
    nb = word_bytes(width)
    payload = bytearray()
    for v in words:
        payload += (int(v) & ((1 << (8 * nb)) - 1)).to_bytes(nb, "little")
    csum = sum(payload) % 256
    return bytes([SYNC_IN]) + bytes(payload) + bytes([(csum + 1) % 256 if corrupt else csum])


def decode_words(body, n, width, signed):
    """Raw values of ``n`` words of ``width`` bits from the bytes after the sync byte (checksum included); raises
    :class:`LinkError` when the length or checksum is wrong."""
    nb = word_bytes(width)
    if len(body) != n * nb + 1:
        raise LinkError(f"short answer: {len(body)} of {n * nb + 1} bytes")
    if sum(body[:-1]) % 256 != body[-1]:
        raise LinkError(f"answer checksum 0x{body[-1]:02x}, its bytes sum to 0x{sum(body[:-1]) % 256:02x}")
    out = []
    for j in range(n):
        word = int.from_bytes(bytes(body[j * nb:(j + 1) * nb]), "little")
        if signed and word >> (8 * nb - 1):
            word -= 1 << (8 * nb)
        out.append(word)
    return out


class BoardLink:
    """One design on a board: ``infer(raw)`` sends a frame and returns the raw answer, resending after a NAK."""

    def __init__(self, port, n_in, in_width, n_out, out_width, out_signed, retries=3):
        self.port, self.retries = port, retries
        self.n_in, self.in_width, self.n_out, self.out_width, self.out_signed = (n_in, in_width, n_out, out_width,
                                                                                  out_signed)
        self.naks = 0

    def _read(self, n):
        data = self.port.read(n)
        if len(data) != n:
            raise LinkError("no answer" if not data else f"the answer stopped after {len(data)} of {n} bytes")
        return data

    def infer(self, raw):
        frame = encode_frame(raw, self.in_width)
        for _attempt in range(self.retries + 1):
            self.port.write(frame)
            first = self._read(1)[0]
            if first == NAK:
                self.naks += 1
                continue
            if first != SYNC_OUT:
                raise LinkError(f"the answer began with 0x{first:02x}, not the sync byte 0x{SYNC_OUT:02x}")
            body = self._read(self.n_out * word_bytes(self.out_width) + 1)
            return decode_words(body, self.n_out, self.out_width, self.out_signed)
        raise LinkError(f"the board answered NAK (bad checksum) {self.retries + 1} times to the same frame")


@dataclass
class RunResult:
    outputs: np.ndarray              #: raw answers, one row per input
    expected: np.ndarray             #: the golden model's raw outputs
    seconds: float
    naks: int
    mismatches: list = field(default_factory=list)  #: (vector, output, expected, got)

    @property
    def ok(self):
        return not self.mismatches

    @property
    def inferences_per_second(self):
        return len(self.outputs) / self.seconds if self.seconds else float("inf")


def run_vectors(design, port, raw_inputs, retries=3):
    """Send every row of ``raw_inputs`` to ``design`` on the board behind ``port``; compare with the golden model.
    A :class:`LinkError` names the vector it happened at."""
    tin, tout = design.input, design.output
    link = BoardLink(port, tin.size, tin.type.width, tout.size, tout.type.width, tout.type.signed, retries)
    expected = design.predict_raw(raw_inputs)
    out = np.zeros((len(raw_inputs), tout.size), dtype=np.int64)
    t0 = time.perf_counter()
    for v, row in enumerate(raw_inputs):
        try:
            out[v] = link.infer(row)
        except LinkError as e:
            raise LinkError(f"vector {v}: {e}") from None
    seconds = time.perf_counter() - t0
    bad = np.argwhere(out != expected)
    mismatches = [(int(v), int(j), int(expected[v, j]), int(out[v, j])) for v, j in bad]
    return RunResult(out, expected, seconds, link.naks, mismatches)
