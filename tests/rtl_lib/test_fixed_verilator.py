"""The hardware cast in Verilator: every rounding x overflow mode, every input value, against FixedType.cast.

The Amaranth-simulator test (test_fixed_hw.py) checks the cast's logic; this one checks the Verilog we emit as a
real simulator reads it. The RTL fuzzer found Verilator 5.006 sign-extending ``$signed({1'b0, up})`` in the
rounding increment (RND_INF, one dropped bit), which Amaranth's simulator cannot see."""

import itertools
import subprocess

import numpy as np
import pytest
from amaranth.hdl import Cat, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from nn2rtl.fixed import FixedType, Overflow, Rounding
from rtl_lib.fixed import cast, shape_of
from rtl_lib.library import ModuleLibrary, convert

pytestmark = pytest.mark.rtl

SHAPES = [(FixedType(8, 3), (5, 2, True)), (FixedType(7, 4, False), (4, 3, True)), (FixedType(8, 2), (6, 4, False)),
          (FixedType(8, 7), (2, 2, False)), (FixedType(8, 7), (8, 4, True)), (FixedType(5, 5), (3, -1, True))]
MODES = list(itertools.product(Rounding, Overflow))


class AllModes(wiring.Component):
    def __init__(self, src, w, i, s):
        self.src, self.dsts = src, [FixedType(w, i, s, r, o) for r, o in MODES]
        super().__init__({"a": In(shape_of(src)), "y": Out(w * len(MODES))})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.y.eq(Cat(*[cast(self.a, self.src, d) for d in self.dsts]))
        return m


@pytest.mark.parametrize("pair", range(len(SHAPES)))
def test_verilog_cast_equals_software_cast_in_verilator(pair, tmp_path):
    src, (w, i, s) = SHAPES[pair]
    top = AllModes(src, w, i, s)
    (tmp_path / "casts.v").write_text(convert(top, "casts", ModuleLibrary("casts")))
    words = -(-w * len(MODES) // 32)
    emit = (f'for (int k = 0; k < {words}; ++k) printf("%u ", (unsigned)t.y[k]);' if words > 2 else
            'printf("%u %u ", (unsigned)(t.y & 0xffffffffull), (unsigned)((unsigned long long)t.y >> 32));')
    (tmp_path / "main.cpp").write_text(f"""#include "Vcasts.h"
#include <cstdio>
int main() {{
    Vcasts t;
    for (long long v = {src.min_raw}; v <= {src.max_raw}; ++v) {{
        t.a = (unsigned)v & {(1 << src.width) - 1}u; t.eval();
        {emit}
        printf("\\n");
    }}
}}
""")
    b = subprocess.run(["verilator", "--cc", "--exe", "--build", "-Wno-fatal", "casts.v", "main.cpp", "-o", "t"],
                       cwd=tmp_path, capture_output=True, text=True)
    assert b.returncode == 0, b.stdout[-2000:] + b.stderr[-2000:]
    out = subprocess.run([str(tmp_path / "obj_dir" / "t")], capture_output=True, text=True, check=True).stdout
    raw = np.arange(src.min_raw, src.max_raw + 1)
    rows = [sum(int(x) << (32 * k) for k, x in enumerate(line.split())) for line in out.splitlines()]
    assert len(rows) == len(raw)
    for k, d in enumerate(top.dsts):
        got = [(r >> (k * w)) & ((1 << w) - 1) for r in rows]
        got = [g - (1 << w) if s and g >> (w - 1) else g for g in got]
        want = d.cast(raw, src).tolist()
        bad = [(int(v), g, x) for v, g, x in zip(raw, got, want) if g != x]
        assert not bad, (str(src), str(d), bad[:5])
