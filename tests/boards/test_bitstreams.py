"""Real bitstreams with the YoWASP tools, as a user on a fresh machine builds them: a small quantised MLP (a real
Brevitas QONNX export, 4-bit weights and activations, shift-and-add layers) on the iCEBreaker (iCE40 UP5K, at the
board's 12 MHz) and on the ULX3S 85F (ECP5, through the PLL at 50 MHz). Each build: the bitstream exists and is one
(the family's preamble), nextpnr met the clock, the utilisation figures are nextpnr's and within the device, and a
second build of the same design comes from the cache."""

import json

import pytest
from helpers import real_exports

import nn2rtl
from boards.build import build_board
from boards.platforms import BOARDS

pytestmark = pytest.mark.board

#: what marks a bitstream: iCE40's sync word, ECP5's preamble
PREAMBLE = {"ice40": b"\x7e\xaa\x99\x7e", "ecp5": b"\xff\xff\xbd\xb3"}


@pytest.mark.parametrize("board,clock", [("icebreaker", None), ("ulx3s-85f", 50.0)])
def test_bitstream_of_a_quantised_mlp(tmp_path, board, clock):
    path = real_exports.export("mlp_fixed_w4a4", tmp_path)
    design = nn2rtl.convert(path, strategy="distributed_arithmetic", top="mlp_fixed")
    b = BOARDS[board]
    r = build_board(design, tmp_path / "out", board, clock_mhz=clock)
    bit = r.files["bitstream"]
    assert bit.exists() and PREAMBLE[b.family] in bit.read_bytes()[:4096]
    info = json.loads((r.directory / "board.json").read_text())
    want = clock or b.make_platform().default_clk_frequency / 1e6
    assert info["clock_mhz"] == pytest.approx(want)
    assert r.fmax_mhz and all(f >= want for f in r.fmax_mhz.values())
    lut_cell = {"ice40": "ICESTORM_LC", "ecp5": "TRELLIS_COMB"}[b.family]
    used, available = map(int, r.utilisation[lut_cell].split("/"))
    assert 0 < used <= available and available >= b.capacity["luts"]
    assert 0 < r.synthesis["luts"] <= b.capacity["luts"] and r.synthesis["dsps"] == 0
    assert (r.directory / f"{design.top}.v").read_text() == design.verilog
    assert "Max frequency for clock" in (r.directory / info["files"]["nextpnr_log"]).read_text()
    again = build_board(design, tmp_path / "again", board, clock_mhz=clock)
    assert again.cached and again.files["bitstream"].read_bytes() == bit.read_bytes()
